//! Semaphore: FIFO grants, close, and no permit lost when waiters are
//! cancelled at any point (queued, or granted but not yet run).

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::sync::{Semaphore, TryAcquireError};
use ringloop::time::timeout;
use util::Rng;

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Counts the permits held inside the critical section; drops first.
struct Held {
    count: Rc<Cell<usize>>,
    n: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.count.set(self.count.get() - self.n);
    }
}

#[test]
fn fifo_order_and_large_requests_are_not_overtaken() {
    ringloop::run(util::within(10, "fifo", async {
        let sem = Rc::new(Semaphore::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, n) in [(0, 2), (1, 1), (2, 1)] {
            let (sem, order) = (sem.clone(), order.clone());
            tasks.push(ringloop::spawn(async move {
                let permit = sem.acquire_many(n).await.unwrap();
                order.borrow_mut().push(i);
                permit.forget();
            }));
            ringloop::yield_now().await; // queue in this order
        }
        assert_eq!(sem.waiters(), 3);
        // One permit: not enough for the first (2), and the later ones
        // (1 each) must not overtake it.
        sem.add_permits(1);
        for _ in 0..5 {
            ringloop::yield_now().await;
        }
        assert!(order.borrow().is_empty());
        sem.add_permits(3);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2]);
        assert_eq!(sem.available_permits(), 0);
    }));
}

#[test]
fn try_acquire_respects_waiters_and_close() {
    ringloop::run(util::within(10, "try", async {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let mut waiter = pin!(sem.acquire());
        assert!(poll_once(waiter.as_mut()).is_pending());
        drop(held); // handed to the waiter
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        let permit = match poll_once(waiter.as_mut()) {
            Poll::Ready(p) => p.unwrap(),
            Poll::Pending => panic!("granted waiter still pending"),
        };
        assert_eq!(permit.num_permits(), 1);
        drop(permit);
        sem.close();
        assert!(sem.is_closed());
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
        assert!(sem.acquire().await.unwrap_err().is_closed());
        assert_eq!(sem.available_permits(), 1);
    }));
}

#[test]
fn close_wakes_waiters_with_an_error() {
    ringloop::run(util::within(10, "close", async {
        let sem = Rc::new(Semaphore::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let sem = sem.clone();
                ringloop::spawn(async move { sem.acquire().await.map(|_| ()) })
            })
            .collect();
        ringloop::yield_now().await;
        assert_eq!(sem.waiters(), 4);
        sem.close();
        for task in tasks {
            assert!(task.await.unwrap().unwrap_err().is_closed());
        }
        assert_eq!(sem.waiters(), 0);
    }));
}

#[test]
fn zero_permits_and_oversized_requests_do_not_panic() {
    ringloop::run(util::within(10, "edges", async {
        let sem = Semaphore::new(0);
        assert!(sem.try_acquire().is_err());
        // Zero permits is a valid request, granted at once.
        assert_eq!(sem.acquire_many(0).await.unwrap().num_permits(), 0);
        let err = sem.acquire_many(usize::MAX).await.unwrap_err();
        assert!(!err.is_closed());
        sem.add_permits(usize::MAX);
        assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    }));
}

#[test]
fn granted_then_dropped_before_running_returns_the_permits() {
    ringloop::run(util::within(10, "granted then dropped", async {
        // Without tasks: a queued future is granted, then dropped unpolled.
        let sem = Semaphore::new(2);
        let held = sem.acquire_many(2).await.unwrap();
        let mut first = Box::pin(sem.acquire_many(2));
        let mut second = Box::pin(sem.acquire());
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        drop(held); // both permits handed to `first`
        assert_eq!(sem.available_permits(), 0);
        drop(first); // ... which never saw them: they go on to `second`
        assert_eq!(sem.available_permits(), 1);
        let permit = match poll_once(second.as_mut()) {
            Poll::Ready(p) => p.unwrap(),
            Poll::Pending => panic!("the permits were not passed on"),
        };
        drop(permit);
        assert_eq!(sem.available_permits(), 2);

        // With tasks: the waiter's task is cancelled after the grant and
        // before it runs.
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let waiter = {
            let sem = sem.clone();
            ringloop::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                unreachable!("cancelled before it could run");
            })
        };
        ringloop::yield_now().await;
        assert_eq!(sem.waiters(), 1);
        drop(held);
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(sem.available_permits(), 1);
    }));
}

#[test]
fn a_queued_large_request_leaving_unblocks_smaller_ones() {
    ringloop::run(util::within(10, "leave unblocks", async {
        let sem = Semaphore::new(1);
        let mut big = Box::pin(sem.acquire_many(3));
        let mut small = Box::pin(sem.acquire());
        assert!(poll_once(big.as_mut()).is_pending());
        assert!(poll_once(small.as_mut()).is_pending()); // FIFO: behind `big`
        drop(big);
        assert!(matches!(poll_once(small.as_mut()), Poll::Ready(Ok(_))));
    }));
}

#[test]
fn owned_permits_move_into_tasks() {
    ringloop::run(util::within(10, "owned", async {
        let sem = Rc::new(Semaphore::new(2));
        let p = sem.clone().acquire_many_owned(2).await.unwrap();
        assert_eq!(sem.available_permits(), 0);
        ringloop::spawn(async move { drop(p) }).await.unwrap();
        assert_eq!(sem.available_permits(), 2);
    }));
}

/// 50 tasks contend for 3 permits over many rounds while a canceller
/// cancels tasks at random and some acquires run under short timeouts.
/// At the end all 3 permits are back, nobody waits, and the number held
/// at once never went above 3.
#[test]
fn contention_with_random_cancellation_loses_no_permit() {
    ringloop::run(util::within(60, "semaphore stress", async {
        const PERMITS: usize = 3;
        let sem = Rc::new(Semaphore::new(PERMITS));
        let held = Rc::new(Cell::new(0usize));
        let max_held = Rc::new(Cell::new(0usize));
        let completed = Rc::new(Cell::new(0usize));
        let mut rng = Rng::new(0x5E4A);
        let mut cancelled = 0;
        let mut timed_out = 0;
        for _round in 0..30 {
            let timeouts = Rc::new(Cell::new(0usize));
            let mut tasks = Vec::new();
            for _ in 0..50 {
                let (sem, held, max_held, completed, timeouts) = (
                    sem.clone(),
                    held.clone(),
                    max_held.clone(),
                    completed.clone(),
                    timeouts.clone(),
                );
                let n = rng.range(1, 2) as usize;
                let hold_for = rng.range(0, 3);
                let sleepy = rng.range(0, 9) == 0;
                let limit = match rng.range(0, 3) {
                    0 => Some(Duration::ZERO),
                    1 => Some(Duration::from_millis(rng.range(0, 2))),
                    _ => None,
                };
                tasks.push(ringloop::spawn(async move {
                    let permit = match limit {
                        Some(limit) => match timeout(limit, sem.acquire_many(n)).await {
                            Ok(permit) => permit.unwrap(),
                            Err(_) => {
                                timeouts.set(timeouts.get() + 1);
                                return;
                            }
                        },
                        None => sem.acquire_many(n).await.unwrap(),
                    };
                    held.set(held.get() + n);
                    let _held = Held {
                        count: held.clone(),
                        n,
                    };
                    assert!(held.get() <= PERMITS, "{} permits held", held.get());
                    max_held.set(max_held.get().max(held.get()));
                    for _ in 0..hold_for {
                        ringloop::yield_now().await;
                    }
                    if sleepy {
                        ringloop::time::sleep(Duration::from_millis(1)).await;
                    }
                    completed.set(completed.get() + 1);
                    drop(permit);
                }));
            }
            // The canceller runs until every task has ended.
            cancelled += cancel_randomly(tasks, &mut rng, 4).await;
            timed_out += timeouts.get();
            assert_eq!(sem.available_permits(), PERMITS);
            assert_eq!(sem.waiters(), 0);
            assert_eq!(held.get(), 0);
        }
        eprintln!(
            "semaphore stress: {} completed, {cancelled} cancelled, {timed_out} timed out",
            completed.get()
        );
        assert_eq!(max_held.get(), PERMITS, "never saw full contention");
        assert!(cancelled > 0 && timed_out > 0 && completed.get() > 0);
    }));
}

/// Lets `tasks` run while a canceller — a task in the run queue beside
/// them, so it can run between a hand-off and the receiver's next poll —
/// cancels unfinished ones at random (one chance in `one_in` per turn).
/// Returns how many ended cancelled; a panic in a task fails the test.
async fn cancel_randomly(tasks: Vec<ringloop::Task<()>>, rng: &mut Rng, one_in: u64) -> usize {
    let mut rng = Rng::new(rng.next_u64());
    let canceller = ringloop::spawn(async move {
        loop {
            let alive: Vec<usize> = (0..tasks.len())
                .filter(|&i| !tasks[i].is_finished())
                .collect();
            if alive.is_empty() {
                break;
            }
            if rng.range(1, one_in) == 1 {
                tasks[alive[rng.range(0, alive.len() as u64 - 1) as usize]].cancel();
            }
            ringloop::yield_now().await;
        }
        let mut cancelled = 0;
        for task in tasks {
            match task.await {
                Ok(()) => {}
                Err(err) if err.is_cancelled() => cancelled += 1,
                Err(err) => panic!("{err}"),
            }
        }
        cancelled
    });
    match canceller.await {
        Ok(n) => n,
        Err(err) => panic!("{err}"),
    }
}
