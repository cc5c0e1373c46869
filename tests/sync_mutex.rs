//! Mutex: mutual exclusion across awaits, FIFO hand-off, and no lost lock
//! or lost update when lockers are cancelled at any point.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::sync::{Mutex, MutexGuard};
use ringloop::time::timeout;
use util::Rng;

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn lock_is_handed_over_in_fifo_order() {
    ringloop::run(util::within(10, "fifo", async {
        let m = Rc::new(Mutex::new(Vec::new()));
        let guard = m.lock().await;
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let m = m.clone();
                ringloop::spawn(async move { m.lock().await.push(i) })
            })
            .collect();
        for _ in 0..3 {
            ringloop::yield_now().await;
        }
        // Held: everyone queued, and try_lock fails.
        assert!(m.try_lock().is_err());
        drop(guard);
        // Handed to the first waiter directly: still locked for newcomers.
        assert!(m.is_locked());
        assert!(m.try_lock().is_err());
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*m.lock().await, [0, 1, 2, 3, 4]);
        assert!(!m.is_locked());
    }));
}

#[test]
fn a_lock_future_dropped_after_the_hand_off_passes_it_on() {
    ringloop::run(util::within(10, "hand-off", async {
        let m = Mutex::new(0);
        let guard = m.lock().await;
        let mut a = Box::pin(m.lock());
        let mut b = Box::pin(m.lock());
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        drop(guard); // handed to `a`
        drop(a); // which never took it: on to `b`
        let mut g = match poll_once(b.as_mut()) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("the lock was not handed on"),
        };
        *g += 1;
        drop(g);
        drop(b);
        // Nobody left: the lock is free.
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 1);

        // The same with tasks: the owner-to-be is cancelled before it runs.
        let m = Rc::new(Mutex::new(0));
        let guard = m.lock().await;
        let doomed = {
            let m = m.clone();
            ringloop::spawn(async move {
                *m.lock().await += 100;
            })
        };
        ringloop::yield_now().await;
        drop(guard);
        doomed.cancel();
        assert!(doomed.await.unwrap_err().is_cancelled());
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 0);
    }));
}

#[test]
fn guard_gives_access_to_its_mutex() {
    let m = Mutex::new(String::from("a"));
    let mut g = m.try_lock().unwrap();
    g.push('b');
    assert!(std::ptr::eq(MutexGuard::mutex(&g), &m));
    drop(g);
    assert_eq!(m.into_inner(), "ab");
}

/// Many tasks increment a counter under the lock, reading it, yielding,
/// and writing it back (a lost update if two ever held it at once), while
/// a canceller cancels tasks and some lock attempts run under timeouts.
/// The final value equals the number of increments that happened.
#[test]
fn counter_under_contention_and_cancellation() {
    ringloop::run(util::within(60, "mutex stress", async {
        let m = Rc::new(Mutex::new(0u64));
        let inside = Rc::new(Cell::new(false));
        let increments = Rc::new(Cell::new(0u64));
        let mut rng = Rng::new(0x10C4);
        let (mut cancelled, mut timed_out) = (0, 0);
        for _round in 0..150 {
            let timeouts = Rc::new(Cell::new(0));
            let mut tasks = Vec::new();
            for _ in 0..12 {
                let (m, inside, increments, timeouts) = (
                    m.clone(),
                    inside.clone(),
                    increments.clone(),
                    timeouts.clone(),
                );
                let limit = match rng.range(0, 3) {
                    0 => Some(Duration::ZERO),
                    1 => Some(Duration::from_millis(rng.range(1, 2))),
                    _ => None,
                };
                let yields = rng.range(0, 2);
                let sleepy = rng.range(0, 9) == 0;
                tasks.push(ringloop::spawn(async move {
                    let mut guard = match limit {
                        Some(limit) => match timeout(limit, m.lock()).await {
                            Ok(guard) => guard,
                            Err(_) => {
                                timeouts.set(timeouts.get() + 1);
                                return;
                            }
                        },
                        None => m.lock().await,
                    };
                    assert!(!inside.replace(true), "two tasks inside the lock");
                    struct Leave(Rc<Cell<bool>>);
                    impl Drop for Leave {
                        fn drop(&mut self) {
                            self.0.set(false);
                        }
                    }
                    let _leave = Leave(inside.clone());
                    let value = *guard;
                    for _ in 0..yields {
                        ringloop::yield_now().await;
                    }
                    if sleepy {
                        ringloop::time::sleep(Duration::from_millis(1)).await;
                    }
                    *guard = value + 1;
                    increments.set(increments.get() + 1);
                    ringloop::yield_now().await; // may be cancelled here too
                }));
            }
            cancelled += cancel_randomly(tasks, &mut rng, 2).await;
            timed_out += timeouts.get();
            assert!(!m.is_locked(), "the lock was left held");
            assert_eq!(*m.try_lock().unwrap(), increments.get());
        }
        eprintln!(
            "mutex stress: {} increments, {cancelled} cancelled, {timed_out} timed out",
            increments.get()
        );
        assert!(increments.get() > 0 && cancelled > 0 && timed_out > 0);
    }));
}

#[test]
fn debug_shows_the_value_or_locked() {
    let m = Mutex::new(5);
    assert!(format!("{m:?}").contains('5'));
    let _g = m.try_lock().unwrap();
    assert!(format!("{m:?}").contains("locked"));
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
