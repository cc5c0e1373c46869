//! The blocking pool: many jobs, bounded threads, panics, shutdown.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

#[test]
fn ten_thousand_jobs_bounded_pool() {
    let rt = ringloop::Runtime::builder()
        .max_blocking_threads(8)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..10_000u64)
            .map(|i| {
                let (running, max_running) = (running.clone(), max_running.clone());
                ringloop::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    max_running.fetch_max(now, Ordering::SeqCst);
                    if i % 1000 == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += util::within(60, "blocking job", t).await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 9_999 * 10_000 / 2);
    let m = rt.metrics();
    assert!(m.blocking_threads_peak <= 8, "{m:?}");
    assert!(max_running.load(Ordering::SeqCst) <= 8);
    assert!(m.blocking_threads_peak >= 1);
}

#[test]
fn a_panicking_job_is_a_join_error() {
    ringloop::run(async {
        let err = ringloop::spawn_blocking(|| -> u32 { panic!("blocking boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("blocking boom"));
        // The pool still works.
        assert_eq!(ringloop::spawn_blocking(|| 5).await.unwrap(), 5);
    });
}

#[test]
fn the_result_wakes_a_parked_loop() {
    ringloop::run(async {
        // Nothing else is runnable: the loop parks without a timeout and
        // only the job's cross-thread wake (eventfd in the ring) ends it.
        let start = Instant::now();
        let v = util::within(
            10,
            "parked loop",
            ringloop::spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(30));
                "done"
            }),
        )
        .await
        .unwrap();
        assert_eq!(v, "done");
        assert!(start.elapsed() >= Duration::from_millis(30));
    });
}

#[test]
fn shutdown_does_not_wait_for_running_jobs_and_drops_queued_ones() {
    let rt = ringloop::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (release, blocked) = mpsc::channel::<()>();
    let started = Arc::new(AtomicBool::new(false));
    let queued_ran = Arc::new(AtomicBool::new(false));
    let (s, q) = (started.clone(), queued_ran.clone());
    let (running, queued) = rt.block_on(async move {
        let running = ringloop::spawn_blocking(move || {
            s.store(true, Ordering::SeqCst);
            let _ = blocked.recv_timeout(Duration::from_secs(30));
        });
        let queued = ringloop::spawn_blocking(move || q.store(true, Ordering::SeqCst));
        util::within(10, "job start", async {
            while !started.load(Ordering::SeqCst) {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        (running, queued)
    });
    let start = Instant::now();
    drop(rt);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "runtime drop waited for a running blocking job"
    );
    assert!(running.is_finished() && queued.is_finished());
    let rt2 = ringloop::Runtime::new().unwrap();
    assert!(rt2.block_on(running).unwrap_err().is_cancelled());
    assert!(rt2.block_on(queued).unwrap_err().is_cancelled());
    assert!(
        !queued_ran.load(Ordering::SeqCst),
        "a queued job never starts after shutdown"
    );
    release.send(()).unwrap();
}

#[test]
fn outside_a_runtime_it_is_an_error() {
    let task = ringloop::spawn_blocking(|| 1);
    let err = ringloop::Runtime::new()
        .unwrap()
        .block_on(task)
        .unwrap_err();
    assert!(err.to_string().contains("no ringloop runtime"));
}
