//! TaskGroup: values in spawn order; the first failure (Err or panic)
//! cancels the siblings, which observe it (their drop guards run, they
//! never reach their end) before join returns; groups nest; dropping a
//! group cancels its tasks.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use ringloop::task::{TaskGroup, TaskGroupError};
use ringloop::time::sleep;

/// Counts drops (cancellation or completion) and completions.
#[derive(Clone, Default)]
struct Probe {
    dropped: Rc<Cell<usize>>,
    finished: Rc<Cell<usize>>,
}

struct Guard(Rc<Cell<usize>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

impl Probe {
    fn guard(&self) -> Guard {
        Guard(self.dropped.clone())
    }
    fn finish(&self) {
        self.finished.set(self.finished.get() + 1);
    }
}

#[test]
fn join_returns_values_in_spawn_order() {
    ringloop::run(util::within(10, "gather", async {
        let group = TaskGroup::new();
        for ms in [20u64, 1, 10] {
            group.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                Ok::<_, ()>(ms)
            });
        }
        assert_eq!(group.len(), 3);
        assert_eq!(group.join().await.unwrap(), [20, 1, 10]);
        assert!(group.is_empty());
        // Reusable after a successful join.
        group.spawn(async { Ok(5) });
        assert_eq!(group.join().await.unwrap(), [5]);
        // An empty group joins at once.
        assert_eq!(TaskGroup::<(), ()>::new().join().await.unwrap(), []);
    }));
}

#[test]
fn first_error_cancels_siblings_before_join_returns() {
    ringloop::run(util::within(10, "first error", async {
        let probe = Probe::default();
        let group = TaskGroup::new();
        for _ in 0..5 {
            let probe = probe.clone();
            group.spawn(async move {
                let _guard = probe.guard();
                sleep(Duration::from_secs(30)).await;
                probe.finish();
                Ok(0)
            });
        }
        group.spawn(async {
            sleep(Duration::from_millis(5)).await;
            Err("first")
        });
        group.spawn(async {
            sleep(Duration::from_millis(50)).await;
            Err("second, never seen")
        });
        let started = std::time::Instant::now();
        match group.join().await {
            Err(TaskGroupError::Failed(e)) => assert_eq!(e, "first"),
            other => panic!("unexpected {:?}", other.map_err(|e| e.to_string())),
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        // Every sibling was cancelled and has ended by now.
        assert_eq!(probe.dropped.get(), 5);
        assert_eq!(probe.finished.get(), 0);
        assert!(group.is_empty());
        // A failed group is closed.
        assert!(!group.spawn(async { Ok(1) }));
    }));
}

#[test]
fn a_panic_surfaces_as_an_error_and_cancels_siblings() {
    ringloop::run(util::within(10, "panic", async {
        let probe = Probe::default();
        let group: TaskGroup<u8, String> = TaskGroup::new();
        for _ in 0..3 {
            let probe = probe.clone();
            group.spawn(async move {
                let _guard = probe.guard();
                sleep(Duration::from_secs(30)).await;
                probe.finish();
                Ok(0)
            });
        }
        group.spawn(async {
            ringloop::yield_now().await;
            panic!("kaboom");
        });
        let err = group.join().await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("kaboom"), "{err}");
        let TaskGroupError::Join(join) = err else {
            panic!("not a JoinError")
        };
        let payload = join.into_panic();
        assert!(
            payload.downcast_ref::<&str>().is_some() || payload.downcast_ref::<String>().is_some()
        );
        assert_eq!((probe.dropped.get(), probe.finished.get()), (3, 0));
    }));
}

#[test]
fn nested_groups_are_cancelled_with_their_parent_task() {
    ringloop::run(util::within(10, "nested cancel", async {
        let inner_probe = Probe::default();
        let inner_joined = Rc::new(Cell::new(false));
        let outer: TaskGroup<(), &str> = TaskGroup::new();
        {
            let (probe, joined) = (inner_probe.clone(), inner_joined.clone());
            outer.spawn(async move {
                let inner: TaskGroup<(), &str> = TaskGroup::new();
                for _ in 0..4 {
                    let probe = probe.clone();
                    inner.spawn(async move {
                        let _guard = probe.guard();
                        sleep(Duration::from_secs(30)).await;
                        probe.finish();
                        Ok(())
                    });
                }
                inner.join().await.map_err(|_| "inner failed")?;
                joined.set(true);
                Ok(())
            });
        }
        outer.spawn(async {
            sleep(Duration::from_millis(5)).await;
            Err("outer sibling failed")
        });
        let err = outer.join().await.unwrap_err().into_failed();
        assert_eq!(err, Some("outer sibling failed"));
        // The task holding the inner group was cancelled, which dropped
        // the inner group, which cancelled its tasks; those have ended by
        // the next turn of the loop.
        util::within(5, "inner tasks cancelled", async {
            while inner_probe.dropped.get() < 4 {
                ringloop::yield_now().await;
            }
        })
        .await;
        assert_eq!(inner_probe.finished.get(), 0);
        assert!(!inner_joined.get());
    }));
}

#[test]
fn a_failure_in_a_nested_group_propagates_out() {
    ringloop::run(util::within(10, "nested failure", async {
        let outer_probe = Probe::default();
        let outer: TaskGroup<u32, String> = TaskGroup::new();
        {
            let probe = outer_probe.clone();
            outer.spawn(async move {
                let _guard = probe.guard();
                sleep(Duration::from_secs(30)).await;
                probe.finish();
                Ok(1)
            });
        }
        outer.spawn(async {
            let inner: TaskGroup<u32, String> = TaskGroup::new();
            inner.spawn(async { Ok(2) });
            inner.spawn(async {
                ringloop::yield_now().await;
                Err("deep".to_string())
            });
            let values = inner.join().await.map_err(|e| format!("inner: {e}"))?;
            Ok(values.iter().sum())
        });
        let err = outer.join().await.unwrap_err();
        assert_eq!(
            err.into_failed().as_deref(),
            Some("inner: a task of the group failed: deep")
        );
        assert_eq!(
            (outer_probe.dropped.get(), outer_probe.finished.get()),
            (1, 0)
        );
    }));
}

#[test]
fn dropping_the_group_cancels_its_tasks() {
    ringloop::run(util::within(10, "drop", async {
        let probe = Probe::default();
        let group: TaskGroup<(), ()> = TaskGroup::new();
        for _ in 0..3 {
            let probe = probe.clone();
            group.spawn(async move {
                let _guard = probe.guard();
                sleep(Duration::from_secs(30)).await;
                probe.finish();
                Ok(())
            });
        }
        ringloop::yield_now().await;
        drop(group);
        util::within(5, "cancelled", async {
            while probe.dropped.get() < 3 {
                ringloop::yield_now().await;
            }
        })
        .await;
        assert_eq!(probe.finished.get(), 0);
    }));
}

#[test]
fn tasks_can_spawn_into_the_group_while_it_is_joined() {
    ringloop::run(util::within(10, "spawn during join", async {
        let group: Rc<TaskGroup<u32, ()>> = Rc::new(TaskGroup::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        {
            let (g, log) = (group.clone(), log.clone());
            group.spawn(async move {
                ringloop::yield_now().await;
                let log2 = log.clone();
                g.spawn(async move {
                    sleep(Duration::from_millis(5)).await;
                    log2.borrow_mut().push("child");
                    Ok(2)
                });
                log.borrow_mut().push("parent");
                Ok(1)
            });
        }
        // The child is spawned after join started, and join waits for it.
        assert_eq!(group.join().await.unwrap(), [1, 2]);
        assert_eq!(*log.borrow(), ["parent", "child"]);
    }));
}

#[test]
fn a_late_spawned_failure_is_seen_promptly() {
    ringloop::run(util::within(10, "late failure", async {
        let group: Rc<TaskGroup<(), &str>> = Rc::new(TaskGroup::new());
        {
            let g = group.clone();
            group.spawn(async move {
                // Spawns a failing child, then keeps running for long.
                g.spawn(async { Err("child failed") });
                sleep(Duration::from_secs(30)).await;
                Ok(())
            });
        }
        let started = std::time::Instant::now();
        let err = group.join().await.unwrap_err();
        assert_eq!(err.into_failed(), Some("child failed"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }));
}

#[test]
fn spawning_wakes_a_pending_join() {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    ringloop::run(util::within(10, "wake on spawn", async {
        let group: TaskGroup<(), ()> = TaskGroup::new();
        group.spawn(std::future::pending());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut join = Box::pin(group.join());
        assert!(
            join.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let before = count.0.load(Ordering::SeqCst);
        group.spawn(async { Err(()) });
        assert!(
            count.0.load(Ordering::SeqCst) > before,
            "join not woken by spawn"
        );
    }));
}
