//! asyncio's ways of waiting for several tasks, in ringloop:
//!
//! - gather with a `TaskGroup` (values in spawn order; the first failure
//!   cancels the rest), and with a `JoinSet` (outcomes as they finish);
//! - `asyncio.wait(..., return_when=FIRST_COMPLETED)` with `task::wait`;
//! - `asyncio.as_completed` with `task::as_completed`.
//!
//! Run: `cargo run --example gather_and_wait`

use std::time::{Duration, Instant};

use ringloop::task::{JoinSet, TaskGroup, TaskGroupError, WaitMode, as_completed, wait};
use ringloop::time::sleep;

/// Pretends to fetch `name`, taking `ms` milliseconds; "broken" fails.
async fn fetch(name: &'static str, ms: u64) -> Result<String, String> {
    sleep(Duration::from_millis(ms)).await;
    if name == "broken" {
        return Err(format!("{name}: connection reset"));
    }
    Ok(format!("{name} ({ms} ms)"))
}

fn main() {
    ringloop::run(async {
        let start = Instant::now();

        println!("1. gather with a TaskGroup: values in spawn order");
        let group = TaskGroup::new();
        for (name, ms) in [("alpha", 60), ("beta", 20), ("gamma", 40)] {
            group.spawn(fetch(name, ms));
        }
        match group.join().await {
            Ok(values) => println!("   {values:?} after {:?}", start.elapsed()),
            Err(err) => println!("   failed: {err}"),
        }

        println!("2. a TaskGroup whose task fails: the others are cancelled");
        let group = TaskGroup::new();
        group.spawn(fetch("slow", 5_000));
        group.spawn(fetch("broken", 10));
        let t = Instant::now();
        match group.join().await {
            Ok(values) => println!("   unexpected success: {values:?}"),
            Err(TaskGroupError::Failed(err)) => {
                println!(
                    "   first error: {err}; the 5 s task was cancelled ({:?})",
                    t.elapsed()
                )
            }
            Err(TaskGroupError::Join(err)) => println!("   a task panicked: {err}"),
        }

        println!("3. a JoinSet: outcomes in the order the tasks finish");
        let mut set = JoinSet::new();
        for (name, ms) in [("one", 30), ("two", 10), ("three", 20)] {
            set.spawn(fetch(name, ms));
        }
        while let Some(outcome) = set.join_next().await {
            println!("   finished: {:?}", outcome.expect("no panic"));
        }

        println!("4. wait(FirstCompleted): act on the first, keep the rest");
        let tasks = [("mirror-a", 80), ("mirror-b", 15), ("mirror-c", 50)]
            .map(|(name, ms)| ringloop::spawn(fetch(name, ms)));
        let (done, pending) = wait(tasks, WaitMode::FirstCompleted).await;
        for (index, outcome) in &done {
            println!(
                "   first: task {index}: {:?}",
                outcome.as_ref().expect("no panic")
            );
        }
        println!(
            "   still running: {} task(s); cancelling them",
            pending.len()
        );
        for (_, task) in pending {
            task.cancel();
            assert!(task.await.unwrap_err().is_cancelled());
        }

        println!("5. as_completed: handle each as soon as it is done");
        let tasks =
            [("x", 45), ("y", 5), ("z", 25)].map(|(name, ms)| ringloop::spawn(fetch(name, ms)));
        let mut finished = as_completed(tasks);
        while let Some((index, outcome)) = finished.next().await {
            println!("   task {index}: {:?}", outcome.expect("no panic"));
        }

        println!("all done in {:?}", start.elapsed());
    });
}
