//! Waking tasks from other threads: 1,000,000 wakes from 2 threads, none
//! lost, including wakes that must end a parked `io_uring_enter`.

mod util;

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;

struct Channel {
    items: Mutex<VecDeque<u64>>,
    waker: Mutex<Option<Waker>>,
}

impl Channel {
    fn push(&self, item: u64) {
        self.items.lock().unwrap().push_back(item);
        if let Some(waker) = self.waker.lock().unwrap().as_ref() {
            waker.wake_by_ref();
        }
    }
}

#[test]
fn a_million_wakes_from_two_threads_none_lost() {
    const PER_THREAD: u64 = 500_000;
    let channel = Arc::new(Channel {
        items: Mutex::new(VecDeque::new()),
        waker: Mutex::new(None),
    });
    let received = ringloop::run(async {
        // Register the waker before the threads start.
        poll_fn(|cx| {
            *channel.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        let producers: Vec<_> = (0..2u64)
            .map(|t| {
                let channel = channel.clone();
                thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        channel.push(t * PER_THREAD + i);
                    }
                })
            })
            .collect();
        let mut received = 0u64;
        let mut sum = 0u64;
        util::within(
            60,
            "a million wakes",
            poll_fn(|cx| {
                *channel.waker.lock().unwrap() = Some(cx.waker().clone());
                let drained: Vec<u64> = channel.items.lock().unwrap().drain(..).collect();
                received += drained.len() as u64;
                sum += drained.iter().sum::<u64>();
                if received == 2 * PER_THREAD {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
        )
        .await;
        for p in producers {
            p.join().unwrap();
        }
        let n = 2 * PER_THREAD;
        assert_eq!(sum, n * (n - 1) / 2);
        received
    });
    assert_eq!(received, 2 * PER_THREAD);
}

#[test]
fn a_wake_from_another_thread_ends_a_parked_loop() {
    ringloop::run(async {
        for _ in 0..200 {
            let flag = Arc::new(AtomicBool::new(false));
            let registered = Arc::new(Mutex::new(None::<Waker>));
            let (f, r) = (flag.clone(), registered.clone());
            let waker_thread = thread::spawn(move || {
                // Wait until the task has parked its waker, then wake it.
                loop {
                    if let Some(w) = r.lock().unwrap().take() {
                        f.store(true, Ordering::SeqCst);
                        w.wake();
                        return;
                    }
                    thread::yield_now();
                }
            });
            // Nothing else is runnable: the loop parks in io_uring_enter
            // with no timeout, and only the eventfd can wake it.
            util::within(
                10,
                "parked wake",
                poll_fn(|cx| {
                    if flag.load(Ordering::SeqCst) {
                        return Poll::Ready(());
                    }
                    *registered.lock().unwrap() = Some(cx.waker().clone());
                    Poll::Pending
                }),
            )
            .await;
            waker_thread.join().unwrap();
        }
    });
}

#[test]
fn wakers_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    ringloop::run(poll_fn(|cx| {
        assert_send_sync(cx.waker());
        Poll::Ready(())
    }));
}
