//! Gather: run several tasks concurrently and wait for all of them, like
//! `asyncio.gather`. The total time is about the longest task, not the sum.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

async fn work(name: &'static str, millis: u64) -> &'static str {
    ringloop::time::sleep(Duration::from_millis(millis)).await;
    println!("  {name} done after {millis} ms");
    name
}

fn main() {
    ringloop::run(async {
        let start = Instant::now();
        let tasks = vec![
            ringloop::spawn(work("fetch", 300)),
            ringloop::spawn(work("parse", 200)),
            ringloop::spawn(work("store", 100)),
        ];
        let names: Vec<_> = join_all(tasks)
            .await
            .into_iter()
            .map(|result| result.expect("no task failed"))
            .collect();
        let elapsed = start.elapsed();
        println!("gathered {names:?} in {elapsed:?}");
        println!(
            "sum of the sleeps: 600 ms; elapsed ≈ the longest (300 ms): they ran concurrently: {}",
            elapsed < Duration::from_millis(450)
        );
    });
}
