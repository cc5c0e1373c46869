//! Condition: wait releases and re-takes the lock; notify(n)/notify_all
//! wake in FIFO order; a notification given to a waiter cancelled before
//! it used it goes to the next waiter.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::{Condition, Mutex};
use ringloop::time::timeout;
use util::Rng;

type Shared = Rc<(Mutex<VecDeque<u64>>, Condition, Cell<bool>)>;

#[test]
fn wait_releases_the_lock_and_takes_it_back() {
    ringloop::run(util::within(10, "wait", async {
        let shared: Shared = Rc::new((
            Mutex::new(VecDeque::new()),
            Condition::new(),
            Cell::new(false),
        ));
        let waiter = {
            let shared = shared.clone();
            ringloop::spawn(async move {
                let (m, cond, _) = &*shared;
                let guard = m.lock().await;
                let guard = cond.wait(guard).await;
                // The lock is ours again.
                assert!(m.try_lock().is_err());
                guard.front().copied()
            })
        };
        ringloop::yield_now().await;
        let (m, cond, _) = &*shared;
        assert_eq!(cond.waiters(), 1);
        // Released while waiting.
        m.try_lock().unwrap().push_back(9);
        cond.notify(1);
        assert_eq!(waiter.await.unwrap(), Some(9));
        assert!(!m.is_locked());
    }));
}

#[test]
fn notify_n_wakes_n_in_order_and_notify_all_wakes_the_rest() {
    ringloop::run(util::within(10, "notify order", async {
        let m = Rc::new(Mutex::new(()));
        let cond = Rc::new(Condition::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (m, cond, order) = (m.clone(), cond.clone(), order.clone());
                ringloop::spawn(async move {
                    let guard = m.lock().await;
                    let _guard = cond.wait(guard).await;
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        for _ in 0..5 {
            ringloop::yield_now().await;
        }
        assert_eq!(cond.waiters(), 5);
        cond.notify(2);
        for _ in 0..5 {
            ringloop::yield_now().await;
        }
        assert_eq!(*order.borrow(), [0, 1]);
        cond.notify_all();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
        cond.notify(3); // nobody waits: nothing stored, no panic
        assert_eq!(cond.waiters(), 0);
    }));
}

#[test]
fn a_notification_to_a_cancelled_waiter_goes_to_the_next() {
    ringloop::run(util::within(10, "pass on", async {
        let m = Rc::new(Mutex::new(()));
        let cond = Rc::new(Condition::new());
        let spawn_waiter = |tag: &'static str| {
            let (m, cond) = (m.clone(), cond.clone());
            ringloop::spawn(async move {
                let guard = m.lock().await;
                let _guard = cond.wait(guard).await;
                tag
            })
        };
        let a = spawn_waiter("a");
        let b = spawn_waiter("b");
        for _ in 0..3 {
            ringloop::yield_now().await;
        }
        cond.notify(1); // to `a`...
        a.cancel(); // ...cancelled before it runs
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(b.await.unwrap(), "b");

        // Cancelled while re-taking the lock: passed on as well.
        let a = spawn_waiter("a");
        let b = spawn_waiter("b");
        for _ in 0..3 {
            ringloop::yield_now().await;
        }
        let held = m.lock().await;
        cond.notify(1);
        for _ in 0..3 {
            ringloop::yield_now().await; // `a` now waits for the lock
        }
        assert_eq!(cond.waiters(), 1);
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(cond.waiters(), 0, "the notification was not passed on");
        drop(held);
        assert_eq!(b.await.unwrap(), "b");
    }));
}

/// Items are produced one at a time, each with notify(1), and must each be
/// consumed exactly once although consumers are cancelled right after
/// being notified and others give up under timeouts. A lost notification
/// leaves an item unconsumed (the watchdog fails); consumers re-check
/// under the lock, so none is consumed twice.
#[test]
fn every_item_consumed_once_despite_cancellation() {
    ringloop::run(util::within(60, "condition stress", async {
        const N: u64 = 300;
        let shared: Shared = Rc::new((
            Mutex::new(VecDeque::new()),
            Condition::new(),
            Cell::new(false),
        ));
        let consumed = Rc::new(RefCell::new(Vec::new()));
        let consumer = |limit: Option<Duration>, once: bool| {
            let (shared, consumed) = (shared.clone(), consumed.clone());
            ringloop::spawn(async move {
                let (m, cond, stop) = &*shared;
                loop {
                    let guard = m.lock().await;
                    let wait = cond.wait_for(guard, |q| !q.is_empty() || stop.get());
                    let mut guard = match limit {
                        Some(d) => match timeout(d, wait).await {
                            Ok(g) => g,
                            Err(_) => return,
                        },
                        None => wait.await,
                    };
                    if let Some(item) = guard.pop_front() {
                        consumed.borrow_mut().push(item);
                    } else if stop.get() {
                        return;
                    }
                    if once {
                        return;
                    }
                }
            })
        };
        let immortal: Vec<_> = (0..3).map(|_| consumer(None, false)).collect();
        let mut mortal: Vec<ringloop::Task<()>> = Vec::new();
        let mut rng = Rng::new(11);
        let mut cancelled = 0;
        for i in 0..N {
            mortal.retain(|t| !t.is_finished());
            while mortal.len() < 6 {
                let limit = (rng.range(0, 2) == 0).then(|| Duration::from_millis(rng.range(0, 2)));
                mortal.push(consumer(limit, rng.range(0, 1) == 0));
            }
            for _ in 0..rng.range(0, 3) {
                ringloop::yield_now().await;
            }
            let (m, cond, _) = &*shared;
            m.lock().await.push_back(i);
            cond.notify(1);
            if rng.range(0, 1) == 0 {
                for task in &mortal {
                    if rng.range(0, 2) == 0 {
                        task.cancel();
                        cancelled += 1;
                    }
                }
            }
            util::within(5, "item consumed", async {
                while consumed.borrow().len() < i as usize + 1 {
                    ringloop::yield_now().await;
                }
            })
            .await;
        }
        let (_, cond, stop) = &*shared;
        stop.set(true);
        cond.notify_all();
        for task in mortal {
            task.cancel();
        }
        for task in immortal {
            task.await.unwrap();
        }
        let consumed = consumed.borrow();
        assert_eq!(*consumed, (0..N).collect::<Vec<_>>());
        assert!(cancelled > 0);
    }));
}
