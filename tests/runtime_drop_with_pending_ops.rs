//! Dropping a runtime with ops in flight: every op is cancelled and waited
//! for, promptly, and no fd is left behind.

mod util;

use std::time::{Duration, Instant};

#[test]
fn drop_with_1000_pending_ops_is_prompt_and_leaks_no_fd() {
    let baseline_fds = util::fd_count();
    let runtime = ringloop::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..100 {
            let (reader, writer) = ringloop::io::pipe().unwrap();
            let reader = std::rc::Rc::new(reader);
            for _ in 0..10 {
                let reader = reader.clone();
                drop(ringloop::spawn(async move {
                    let _ = reader.read(vec![0u8; 128]).await;
                }));
            }
            // Keep the writer open so the reads stay pending.
            drop(ringloop::spawn(async move {
                ringloop::time::sleep(Duration::from_secs(3600)).await;
                drop(writer);
            }));
        }
        for i in 0..1_000u64 {
            drop(ringloop::spawn(ringloop::time::sleep(Duration::from_secs(
                60 + i,
            ))));
        }
        // Let every task start its op (bounded).
        util::within(10, "ops started", async {
            while util::in_flight() < 1_000 || ringloop::runtime::metrics().unwrap().timers < 1_000
            {
                ringloop::yield_now().await;
            }
        })
        .await;
        let m = ringloop::runtime::metrics().unwrap();
        assert!(m.ops_in_flight >= 1_000, "ops in flight: {m:?}");
        assert!(m.timers >= 1_000, "timers: {m:?}");
    });
    assert!(util::fd_count() > baseline_fds);
    let start = Instant::now();
    drop(runtime);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "runtime drop took {took:?}");
    assert_eq!(
        util::fd_count(),
        baseline_fds,
        "every pipe, the ring and the eventfd were closed"
    );
}
