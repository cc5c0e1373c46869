//! Event: set wakes every waiter (even if cleared before they run), clear
//! makes later waits wait; cancelled waiters leave without harm.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::Event;
use ringloop::time::timeout;
use util::Rng;

#[test]
fn set_clear_is_set() {
    ringloop::run(util::within(10, "basics", async {
        let e = Event::new();
        assert!(!e.is_set());
        e.set();
        assert!(e.is_set());
        e.wait().await; // at once
        e.clear();
        assert!(!e.is_set());
        assert!(timeout(Duration::from_millis(2), e.wait()).await.is_err());
    }));
}

#[test]
fn waiters_woken_by_set_complete_even_if_cleared_at_once() {
    ringloop::run(util::within(10, "set then clear", async {
        let e = Rc::new(Event::new());
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let e = e.clone();
                ringloop::spawn(async move { e.wait().await })
            })
            .collect();
        ringloop::yield_now().await;
        e.set();
        e.clear();
        for task in tasks {
            task.await.unwrap();
        }
    }));
}

/// Rounds of waiters, some under timeouts, some cancelled; after `set`,
/// every waiter still there completes, and none completes before it.
#[test]
fn every_live_waiter_wakes_on_set_despite_cancellation() {
    ringloop::run(util::within(60, "event stress", async {
        let mut rng = Rng::new(3);
        let mut total_cancelled = 0;
        for _round in 0..50 {
            let e = Rc::new(Event::new());
            let woken = Rc::new(Cell::new(0));
            let timed_out = Rc::new(Cell::new(0));
            let mut tasks = Vec::new();
            for _ in 0..20 {
                let (e, woken, timed_out) = (e.clone(), woken.clone(), timed_out.clone());
                let limit = (rng.range(0, 3) == 0).then(|| Duration::from_millis(rng.range(0, 1)));
                tasks.push(ringloop::spawn(async move {
                    match limit {
                        Some(d) => {
                            if timeout(d, e.wait()).await.is_err() {
                                timed_out.set(timed_out.get() + 1);
                                return;
                            }
                        }
                        None => e.wait().await,
                    }
                    woken.set(woken.get() + 1);
                }));
            }
            for _ in 0..rng.range(0, 3) {
                ringloop::yield_now().await;
            }
            let mut cancelled = 0;
            for task in &tasks {
                if !task.is_finished() && rng.range(0, 4) == 0 {
                    task.cancel();
                    cancelled += 1;
                }
            }
            assert_eq!(woken.get(), 0, "woken before set");
            e.set();
            for task in tasks {
                let _ = task.await;
            }
            // Cancelled before they ran (a cancel may also land on one
            // that timed out already: it then ended normally).
            assert!(woken.get() + timed_out.get() + cancelled >= 20);
            assert!(woken.get() + timed_out.get() <= 20);
            total_cancelled += cancelled;
            assert!(format!("{e:?}").contains("waiters: 0"), "{e:?}");
        }
        assert!(total_cancelled > 0);
    }));
}
