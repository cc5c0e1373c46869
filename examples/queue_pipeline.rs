//! A producer/consumer pipeline over a bounded `mpsc` channel, like an
//! `asyncio.Queue(maxsize=...)` shared by several workers:
//!
//! - the producer waits when the queue is full (backpressure), so it can
//!   never run ahead of the consumers by more than the bound;
//! - several consumers share the receiver and each job goes to exactly one;
//! - the close is clean: when the producer is done it drops its sender,
//!   the consumers drain what is queued, see the end (`None`) and return.
//!
//! Run: `cargo run --example queue_pipeline`

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::mpsc;
use ringloop::task::TaskGroup;
use ringloop::time::sleep;

const JOBS: u64 = 20;
const BOUND: usize = 4;
const WORKERS: usize = 3;

fn main() {
    ringloop::run(async {
        let (tx, rx) = mpsc::channel::<u64>(BOUND);
        let rx = Rc::new(rx);
        let max_queued = Rc::new(Cell::new(0));
        // Values in spawn order: the producer's count, then each worker's sum.
        let group: TaskGroup<u64, String> = TaskGroup::new();

        // The producer: fast, so it is held back by the bound.
        {
            let max_queued = max_queued.clone();
            group.spawn(async move {
                for job in 1..=JOBS {
                    tx.send(job)
                        .await
                        .map_err(|e| format!("queue closed: {e}"))?;
                    max_queued.set(max_queued.get().max(tx.len()));
                    println!("produced job {job:>2} (queued: {})", tx.len());
                }
                println!("producer done; dropping the sender closes the queue");
                Ok(JOBS)
            });
        }

        // The consumers: slower; each job takes a few milliseconds.
        for worker in 0..WORKERS {
            let rx = rx.clone();
            group.spawn(async move {
                let mut handled = 0u64;
                let mut sum = 0u64;
                while let Some(job) = rx.recv().await {
                    sleep(Duration::from_millis(2 + job % 3)).await;
                    println!("  worker {worker} finished job {job:>2}");
                    handled += 1;
                    sum += job;
                }
                println!("  worker {worker}: queue closed and empty, {handled} jobs handled");
                Ok(sum)
            });
        }

        let results = match group.join().await {
            Ok(results) => results,
            Err(err) => {
                println!("pipeline failed: {err}");
                return;
            }
        };
        let produced = results[0];
        let total: u64 = results[1..].iter().sum();
        println!(
            "{produced} jobs produced; every one handled once: sum {total} == {}: {}",
            JOBS * (JOBS + 1) / 2,
            total == JOBS * (JOBS + 1) / 2
        );
        println!(
            "most jobs queued at once: {} (bound {BOUND}): backpressure held",
            max_queued.get()
        );
    });
}
