//! wait (FirstCompleted / FirstException / AllCompleted), as_completed,
//! race, race_all and shield.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use ringloop::task::{Either, WaitMode, as_completed, race, race_all, shield, wait};
use ringloop::time::{sleep, timeout};

fn after(ms: u64, result: Result<u64, &'static str>) -> ringloop::Task<Result<u64, &'static str>> {
    ringloop::spawn(async move {
        sleep(Duration::from_millis(ms)).await;
        result
    })
}

#[test]
fn wait_first_completed() {
    ringloop::run(util::within(10, "first completed", async {
        let tasks = vec![after(300, Ok(0)), after(1, Ok(1)), after(400, Ok(2))];
        let (done, pending) = wait(tasks, WaitMode::FirstCompleted).await;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, 1);
        assert_eq!(done[0].1.as_ref().unwrap(), &Ok(1));
        // Pending ones are still running, handed back with their index.
        assert_eq!(pending.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 2]);
        for (i, task) in pending {
            assert_eq!(task.await.unwrap(), Ok(i as u64));
        }
    }));
}

#[test]
fn wait_first_exception_stops_at_an_err_or_a_panic() {
    ringloop::run(util::within(10, "first exception", async {
        let tasks = vec![after(1, Ok(0)), after(5, Err("bad")), after(500, Ok(2))];
        let (done, pending) = wait(tasks, WaitMode::FirstException).await;
        let indices: Vec<_> = done.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [0, 1]);
        assert_eq!(done[1].1.as_ref().unwrap(), &Err("bad"));
        assert_eq!(pending.len(), 1);
        pending[0].1.cancel();

        let panicking = ringloop::spawn(async {
            ringloop::yield_now().await;
            if true {
                panic!("raised");
            }
            Ok::<u64, &str>(0)
        });
        let (done, pending) =
            wait(vec![panicking, after(500, Ok(1))], WaitMode::FirstException).await;
        assert!(done[0].1.as_ref().unwrap_err().is_panic());
        assert_eq!(pending.len(), 1);

        // No failure: waits for all.
        let (done, pending) = wait(
            vec![after(1, Ok(0)), after(3, Ok(1))],
            WaitMode::FirstException,
        )
        .await;
        assert_eq!((done.len(), pending.len()), (2, 0));
    }));
}

#[test]
fn wait_all_completed_and_empty_input() {
    ringloop::run(util::within(10, "all", async {
        let tasks = vec![after(3, Ok(0)), after(1, Err("x")), after(2, Ok(2))];
        let (done, pending) = wait(tasks, WaitMode::AllCompleted).await;
        assert!(pending.is_empty());
        assert_eq!(done.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);
        let (done, pending) = wait(
            Vec::<ringloop::Task<Result<(), ()>>>::new(),
            WaitMode::AllCompleted,
        )
        .await;
        assert!(done.is_empty() && pending.is_empty());
    }));
}

#[test]
fn as_completed_yields_in_finishing_order_and_is_a_stream() {
    ringloop::run(util::within(10, "as_completed", async {
        let tasks = [90u64, 5, 45].map(|ms| {
            ringloop::spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            })
        });
        let mut it = as_completed(tasks);
        assert_eq!(it.len(), 3);
        let mut order = Vec::new();
        while let Some((i, out)) = it.next().await {
            order.push((i, out.unwrap()));
        }
        assert_eq!(order, [(1, 5), (2, 45), (0, 90)]);

        let tasks: Vec<_> = (0..4u64)
            .map(|i| ringloop::spawn(async move { i * i }))
            .collect();
        let mut all: Vec<_> = as_completed(tasks)
            .map(|(_, out)| out.unwrap())
            .collect()
            .await;
        all.sort_unstable();
        assert_eq!(all, [0, 1, 4, 9]);
    }));
}

#[test]
fn race_drops_the_loser() {
    ringloop::run(util::within(10, "race", async {
        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let slow = {
            let dropped = dropped.clone();
            async move {
                let _f = Flag(dropped);
                sleep(Duration::from_secs(30)).await;
                "slow"
            }
        };
        let fast = async {
            sleep(Duration::from_millis(1)).await;
            7
        };
        match race(slow, fast).await {
            Either::Right(v) => assert_eq!(v, 7),
            Either::Left(_) => panic!("slow won"),
        }
        assert!(dropped.get());
        // Ties go to the first.
        assert!(matches!(
            race(async { 1 }, async { 2 }).await,
            Either::Left(1)
        ));

        let futures = [30u64, 2, 10].map(|ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        });
        assert_eq!(race_all(futures).await, Some((1, 2)));
        assert_eq!(race_all(Vec::<std::future::Ready<()>>::new()).await, None);
    }));
}

#[test]
fn shield_keeps_running_when_the_awaiter_gives_up() {
    ringloop::run(util::within(10, "shield", async {
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        let shielded = shield(async move {
            sleep(Duration::from_millis(100)).await;
            flag.set(true);
            5
        });
        assert!(timeout(Duration::from_millis(1), shielded).await.is_err());
        assert!(!done.get());
        sleep(Duration::from_millis(150)).await;
        assert!(done.get(), "the shielded work was cancelled");

        // Kept as a task, its output can be awaited later...
        let shielded = shield(async { 6 });
        let task = shielded.into_task();
        assert_eq!(task.await.unwrap(), 6);
        // ...and awaited directly it is just the value.
        assert_eq!(shield(async { 7 }).await.unwrap(), 7);

        // Cancelling the task that awaits it does not cancel it either.
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        let outer = ringloop::spawn(async move {
            shield(async move {
                sleep(Duration::from_millis(10)).await;
                flag.set(true);
            })
            .await
        });
        ringloop::yield_now().await;
        outer.cancel();
        assert!(outer.await.unwrap_err().is_cancelled());
        sleep(Duration::from_millis(30)).await;
        assert!(done.get());
    }));
}
