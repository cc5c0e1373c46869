//! Timers: ordering, never early, timeout, interval, and many at once.

mod util;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;

use futures_util::future::join_all;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::time::{Elapsed, MissedTickBehavior, interval, sleep, sleep_until, timeout};

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    ringloop::run(async {
        let fired = Rc::new(RefCell::new(Vec::new()));
        // Set once every sleep is registered (join_all polls them all in its
        // first poll): only timers that were waiting are bound by order; a
        // deadline that passed before its first poll completes at once.
        let registered = Rc::new(Cell::new(false));
        let mut rng = util::Rng::new(7);
        let start = Instant::now() + Duration::from_millis(20);
        let sleeps = (0..2_000).map(|i| {
            let deadline = start + Duration::from_micros(rng.range(0, 50_000));
            let (fired, registered) = (fired.clone(), registered.clone());
            async move {
                sleep_until(deadline).await;
                let now = Instant::now();
                assert!(
                    now >= deadline,
                    "timer {i} fired {:?} early",
                    deadline - now
                );
                fired.borrow_mut().push((deadline, registered.get()));
            }
        });
        let mut all = pin!(join_all(sleeps));
        poll_fn(|cx| {
            let poll = all.as_mut().poll(cx);
            registered.set(true);
            poll
        })
        .await;
        let fired = fired.borrow();
        assert_eq!(fired.len(), 2_000);
        let waited: Vec<Instant> = fired.iter().filter(|f| f.1).map(|f| f.0).collect();
        assert!(
            waited.len() >= 1_000,
            "most timers waited: {}",
            waited.len()
        );
        assert!(
            waited.windows(2).all(|w| w[0] <= w[1]),
            "timers completed out of deadline order"
        );
    });
}

#[test]
fn many_sleeps_cost_few_syscalls() {
    ringloop::run(async {
        let before = ringloop::runtime::metrics().unwrap();
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| ringloop::spawn(sleep(Duration::from_micros(i % 200_000))))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let after = ringloop::runtime::metrics().unwrap();
        let enters = after.enter_calls - before.enter_calls;
        // One wake-up per 1 ms timer slot at most, plus ticks: far below one
        // syscall per sleep.
        assert!(
            enters < 5_000,
            "{enters} io_uring_enter calls for 100,000 sleeps"
        );
        assert_eq!(
            after.sqes_submitted, before.sqes_submitted,
            "timers need no SQE"
        );
    });
}

#[test]
fn short_sleep_after_long_sleep_started_does_not_hang() {
    ringloop::run(async {
        let long = ringloop::spawn(sleep(Duration::from_secs(1)));
        ringloop::yield_now().await;
        let start = Instant::now();
        sleep(Duration::from_millis(1)).await;
        assert!(start.elapsed() < Duration::from_millis(500));
        long.cancel();
    });
}

#[test]
fn timeout_elapses_and_passes_through() {
    ringloop::run(async {
        let start = Instant::now();
        let slow = timeout(Duration::from_millis(20), sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, Err(Elapsed::clone(&slow.unwrap_err())));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(timeout(Duration::from_secs(5), async { 3 }).await, Ok(3));
        let err: std::io::Error = timeout(Duration::ZERO, std::future::pending::<()>())
            .await
            .unwrap_err()
            .into();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn timeout_cancels_the_inner_io() {
    ringloop::run(async {
        let (reader, _writer) = ringloop::io::pipe().unwrap();
        let baseline = util::in_flight();
        let res = timeout(Duration::from_millis(5), reader.read(vec![0u8; 8])).await;
        assert!(res.is_err());
        util::within(5, "cancel CQE", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}

#[test]
fn interval_ticks_on_schedule() {
    ringloop::run(async {
        let start = Instant::now();
        let mut ticker = interval(Duration::from_millis(5));
        let first = ticker.tick().await;
        assert!(
            first - start < Duration::from_millis(5),
            "first tick is immediate"
        );
        let mut last = first;
        for _ in 0..5 {
            let t = ticker.tick().await;
            assert_eq!(t - last, Duration::from_millis(5));
            assert!(Instant::now() >= t);
            last = t;
        }
    });
}

#[test]
fn interval_skip_drops_missed_ticks() {
    ringloop::run(async {
        let mut ticker = interval(Duration::from_millis(2));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let first = ticker.tick().await;
        std::thread::sleep(Duration::from_millis(11)); // block the loop: miss ticks
        let late = ticker.tick().await; // the missed one, late
        let next = ticker.tick().await;
        assert!(next > late);
        assert!(
            next >= first + Duration::from_millis(12),
            "skipped to the grid after now"
        );
        assert_eq!(
            (next - first).as_nanos() % 2_000_000,
            0,
            "stays on the grid"
        );
    });
}

#[test]
fn huge_durations_do_not_panic() {
    ringloop::run(async {
        let res = timeout(Duration::MAX, async { 1 }).await;
        assert_eq!(res, Ok(1));
        let s = sleep(Duration::MAX);
        assert!(!s.is_elapsed());
        let _ = interval(Duration::ZERO); // raised to 1 ns, no panic
    });
}
