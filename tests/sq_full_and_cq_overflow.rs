//! A full submission queue and an overflowing completion queue are normal
//! events: every op completes exactly once.

use std::cell::Cell;
use std::rc::Rc;

use futures_util::future::join_all;

#[test]
fn sq_of_8_with_1000_ops_in_one_tick() {
    let runtime = ringloop::Runtime::builder().entries(8).build().unwrap();
    let completed = Rc::new(Cell::new(0u32));
    runtime.block_on(async {
        let ops = (0..1_000).map(|_| {
            let completed = completed.clone();
            async move {
                ringloop::io::nop().await.unwrap();
                completed.set(completed.get() + 1);
            }
        });
        // join_all polls every future on its first poll: 1,000 SQEs in one tick.
        join_all(ops).await;
    });
    assert_eq!(completed.get(), 1_000);
    let m = runtime.metrics();
    assert_eq!(m.sq_entries, 8);
    assert!(m.sq_full_events > 0, "the SQ filled up: {m:?}");
    assert_eq!(m.ops_in_flight, 0);
    assert_eq!(m.stale_cqes, 0);
}

#[test]
fn cq_overflow_with_50000_completions_loses_none() {
    let runtime = ringloop::Runtime::builder()
        .entries(8)
        .cq_entries(16)
        .build()
        .unwrap();
    let completed = Rc::new(Cell::new(0u32));
    runtime.block_on(async {
        let ops = (0..50_000).map(|_| {
            let completed = completed.clone();
            async move {
                ringloop::io::nop().await.unwrap();
                completed.set(completed.get() + 1);
            }
        });
        join_all(ops).await;
    });
    let m = runtime.metrics();
    assert_eq!(completed.get(), 50_000, "{m:?}");
    assert!(m.cq_entries <= 16);
    assert!(m.cq_overflow_events > 0, "the CQ overflowed: {m:?}");
    assert_eq!(m.ops_in_flight, 0);
    assert_eq!(m.stale_cqes, 0, "no duplicate completions");
}
