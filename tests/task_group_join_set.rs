//! JoinSet: outcomes in completion order, abort_all, shutdown, drop
//! cancels, panics surface as JoinError, join_next is cancel-safe.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::task::JoinSet;
use ringloop::time::{sleep, timeout};

struct Guard(Rc<Cell<usize>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn outcomes_come_in_completion_order() {
    ringloop::run(util::within(10, "order", async {
        let mut set = JoinSet::new();
        for ms in [60u64, 1, 30] {
            set.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        assert_eq!(set.len(), 3);
        let mut order = Vec::new();
        while let Some(out) = set.join_next().await {
            order.push(out.unwrap());
        }
        assert_eq!(order, [1, 30, 60]);
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    }));
}

#[test]
fn panics_and_cancellations_are_join_errors() {
    ringloop::run(util::within(10, "errors", async {
        let mut set = JoinSet::new();
        set.spawn(async {
            ringloop::yield_now().await;
            panic!("in a set");
        });
        let err = set.join_next().await.unwrap().unwrap_err();
        assert!(err.is_panic());

        set.spawn(std::future::pending::<()>());
        set.abort_all();
        let err = set.join_next().await.unwrap().unwrap_err();
        assert!(err.is_cancelled());
    }));
}

#[test]
fn abort_all_keeps_finished_outputs_and_shutdown_waits() {
    ringloop::run(util::within(10, "abort", async {
        let dropped = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        set.spawn(async { 1 });
        for _ in 0..4 {
            let dropped = dropped.clone();
            set.spawn(async move {
                let _g = Guard(dropped);
                sleep(Duration::from_secs(30)).await;
                2
            });
        }
        // Let the first finish.
        ringloop::yield_now().await;
        ringloop::yield_now().await;
        set.abort_all();
        let outcomes = set.join_all().await;
        assert_eq!(outcomes.len(), 5);
        assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(1))).count(), 1);
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, Err(e) if e.is_cancelled()))
                .count(),
            4
        );
        assert_eq!(dropped.get(), 4);

        let mut set = JoinSet::new();
        for _ in 0..3 {
            let dropped = dropped.clone();
            set.spawn(async move {
                let _g = Guard(dropped);
                std::future::pending::<()>().await;
            });
        }
        ringloop::yield_now().await;
        set.shutdown().await;
        assert!(set.is_empty());
        assert_eq!(dropped.get(), 7);
    }));
}

#[test]
fn dropping_the_set_cancels_its_tasks() {
    ringloop::run(util::within(10, "drop", async {
        let dropped = Rc::new(Cell::new(0));
        let finished = Rc::new(Cell::new(false));
        let mut set = JoinSet::new();
        for _ in 0..3 {
            let (dropped, finished) = (dropped.clone(), finished.clone());
            set.spawn(async move {
                let _g = Guard(dropped);
                sleep(Duration::from_millis(20)).await;
                finished.set(true);
            });
        }
        ringloop::yield_now().await;
        drop(set);
        sleep(Duration::from_millis(40)).await;
        assert_eq!(dropped.get(), 3);
        assert!(!finished.get());
    }));
}

#[test]
fn join_next_under_a_timeout_loses_no_outcome() {
    ringloop::run(util::within(10, "cancel-safe", async {
        let mut set: JoinSet<u32> = (0..20u32)
            .map(|i| async move {
                sleep(Duration::from_millis(u64::from(i % 4))).await;
                i
            })
            .collect();
        let mut seen = Vec::new();
        let mut timeouts = 0;
        while !set.is_empty() {
            match timeout(Duration::ZERO, set.join_next()).await {
                Ok(Some(out)) => seen.push(out.unwrap()),
                Ok(None) => break,
                Err(_) => {
                    timeouts += 1;
                    ringloop::yield_now().await;
                }
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        assert!(timeouts > 0);
    }));
}

#[test]
fn outside_a_runtime_the_outcome_is_an_error() {
    let mut set = JoinSet::new();
    set.spawn(async { 1 });
    let rt = ringloop::Runtime::new().unwrap();
    let err = rt.block_on(set.join_next()).unwrap().unwrap_err();
    assert!(err.to_string().contains("no ringloop runtime"), "{err}");
}
