//! The event loop made explicit: build a runtime with a chosen ring size,
//! drive several futures on it in turn, look at its counters.

use std::time::Duration;

fn main() -> std::io::Result<()> {
    let runtime = ringloop::Runtime::builder()
        .entries(64) // submission queue slots
        .cq_entries(256) // completion queue slots
        .build()?;

    // A task spawned before the loop runs starts at the next block_on.
    let ticker = runtime.spawn(async {
        let mut every = ringloop::time::interval(Duration::from_millis(20));
        for tick in 1..=3 {
            every.tick().await;
            println!("  background tick {tick}");
        }
    });

    let first = runtime.block_on(async {
        ringloop::io::nop().await?; // one round trip through the ring
        Ok::<_, std::io::Error>("first block_on done")
    })?;
    println!("{first}");

    runtime.block_on(async {
        ticker.await.expect("the ticker finished");
        println!("second block_on: the background task finished");
    });

    let m = runtime.metrics();
    println!(
        "ring: {} SQ / {} CQ entries, DEFER_TASKRUN: {}, registered ring fd: {}; {} SQEs submitted in {} io_uring_enter calls, {} task polls",
        m.sq_entries,
        m.cq_entries,
        m.defer_taskrun,
        m.registered_ring,
        m.sqes_submitted,
        m.enter_calls,
        m.task_polls
    );
    Ok(())
}
