//! Notify: notify_one wakes one waiter or stores one permit,
//! notify_waiters wakes all; a notify_one given to a waiter that is
//! cancelled before it runs is passed on, never lost or duplicated.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::sync::Notify;
use ringloop::time::timeout;
use util::Rng;

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn notify_one_stores_a_single_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_one(); // not a count
    let mut a = Box::pin(n.notified());
    let mut b = Box::pin(n.notified());
    assert!(poll_once(a.as_mut()).is_ready());
    assert!(poll_once(b.as_mut()).is_pending());
    n.notify_one();
    assert!(poll_once(b.as_mut()).is_ready());
}

#[test]
fn notify_waiters_wakes_all_current_and_created_waiters_only() {
    let n = Notify::new();
    let mut polled = Box::pin(n.notified());
    assert!(poll_once(polled.as_mut()).is_pending());
    let mut created = Box::pin(n.notified()); // not yet polled
    n.notify_waiters();
    let mut later = Box::pin(n.notified());
    assert!(poll_once(polled.as_mut()).is_ready());
    assert!(poll_once(created.as_mut()).is_ready());
    // Nothing stored for later waiters.
    assert!(poll_once(later.as_mut()).is_pending());
}

#[test]
fn a_notified_waiter_dropped_before_running_passes_it_on() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    let mut b = Box::pin(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    n.notify_one(); // to `a`, the first
    drop(a);
    assert!(poll_once(b.as_mut()).is_ready());
    // No waiter left to pass it to: it becomes the stored permit.
    let mut c = Box::pin(n.notified());
    assert!(poll_once(c.as_mut()).is_pending());
    n.notify_one();
    drop(c);
    let mut d = Box::pin(n.notified());
    assert!(poll_once(d.as_mut()).is_ready());
    // A notify_waiters wake-up is not passed on.
    let mut e = Box::pin(n.notified());
    let mut f = Box::pin(n.notified());
    assert!(poll_once(e.as_mut()).is_pending());
    n.notify_waiters();
    drop(e);
    let mut g = Box::pin(n.notified());
    assert!(poll_once(g.as_mut()).is_pending());
    assert!(poll_once(f.as_mut()).is_ready());
}

/// One notify_one at a time; each must be received exactly once although
/// waiters are cancelled right after being chosen, time out, and come and
/// go.
#[test]
fn every_notify_one_is_received_once_despite_cancellation() {
    ringloop::run(util::within(60, "notify stress", async {
        const N: u64 = 400;
        let notify = Rc::new(Notify::new());
        let received = Rc::new(Cell::new(0u64));
        let stop = Rc::new(Cell::new(false));
        let waiter = |limit: Option<Duration>, once: bool| {
            let (notify, received, stop) = (notify.clone(), received.clone(), stop.clone());
            ringloop::spawn(async move {
                while !stop.get() {
                    match limit {
                        Some(d) => {
                            if timeout(d, notify.notified()).await.is_err() {
                                if once {
                                    return;
                                }
                                // A zero timeout completes without waiting.
                                ringloop::yield_now().await;
                                continue;
                            }
                        }
                        None => notify.notified().await,
                    }
                    if stop.get() {
                        return; // woken by the final notify_waiters
                    }
                    received.set(received.get() + 1);
                    if once {
                        return;
                    }
                }
            })
        };
        let immortal: Vec<_> = (0..3).map(|_| waiter(None, false)).collect();
        let mut mortal = Vec::new();
        let mut rng = Rng::new(77);
        let mut cancelled = 0;
        for i in 0..N {
            // Keep some short-lived waiters around.
            mortal.retain(|t: &ringloop::Task<()>| !t.is_finished());
            while mortal.len() < 6 {
                let limit = match rng.range(0, 2) {
                    0 => None,
                    1 => Some(Duration::ZERO),
                    _ => Some(Duration::from_millis(rng.range(1, 2))),
                };
                mortal.push(waiter(limit, rng.range(0, 1) == 0));
            }
            for _ in 0..rng.range(0, 2) {
                ringloop::yield_now().await;
            }
            notify.notify_one();
            // Cancel some waiters at once — often the one just chosen,
            // before it can run.
            if rng.range(0, 1) == 0 {
                for task in &mortal {
                    if rng.range(0, 2) == 0 {
                        task.cancel();
                        cancelled += 1;
                    }
                }
            }
            util::within(5, "notification received", async {
                while received.get() < i + 1 {
                    ringloop::yield_now().await;
                }
            })
            .await;
            assert_eq!(received.get(), i + 1, "a notification was duplicated");
        }
        stop.set(true);
        notify.notify_waiters();
        for task in mortal {
            task.cancel();
        }
        for task in immortal {
            task.await.unwrap();
        }
        assert_eq!(received.get(), N);
        assert!(cancelled > 0);
    }));
}
