//! Adversarial tests of the runtime layer: tasks, timers, the blocking
//! pool, cross-thread wakes and the sync primitives, at their edges.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::{Arc, Mutex as StdMutex, mpsc as std_mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringloop::sync::{Barrier, Condition, Event, Mutex, Notify, RwLock, Semaphore, mpsc, oneshot};
use ringloop::time::{MissedTickBehavior, interval, sleep, timeout};

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Panics when dropped (outside an unwind), like a future with a buggy
/// destructor.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

// ---------------------------------------------------------------- tasks

/// A task whose future panics while being dropped at runtime shutdown must
/// not take the process down: the panic used to escape `Runtime::drop`
/// (skipping the driver's shutdown), and a second one, raised while the
/// first unwound through the rest of the tasks, aborted the process. (The
/// bombs here stay quiet while unwinding, so the test fails instead of
/// aborting.) Every task must still be dropped, its handle told it was
/// cancelled, as for a panic in the drop of a cancelled task.
#[test]
fn panicking_drops_at_runtime_shutdown_are_contained() {
    let dropped = Rc::new(Cell::new(0));
    struct Count(Rc<Cell<u32>>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let rt = ringloop::Runtime::new().unwrap();
    let handles = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..4 {
            let count = Count(dropped.clone());
            handles.push(ringloop::spawn(async move {
                let _count = count;
                let _bomb = (i % 2 == 0).then(|| PanicOnDrop("drop at shutdown"));
                std::future::pending::<()>().await;
            }));
        }
        ringloop::yield_now().await;
        handles
    });
    let result = catch_unwind(AssertUnwindSafe(move || drop(rt)));
    assert!(
        result.is_ok(),
        "a task's panicking drop escaped Runtime::drop"
    );
    assert_eq!(dropped.get(), 4, "every task future was dropped");
    for handle in handles {
        assert!(handle.is_finished());
        // Polled outside any runtime: the outcome is already there.
        let mut handle = pin!(handle);
        match poll_once(handle.as_mut()) {
            Poll::Ready(Err(err)) => assert!(err.is_cancelled(), "{err}"),
            other => panic!("expected a cancellation, got {other:?}"),
        }
    }
}

/// A panicking task never corrupts the loop: panics in poll, in drop after
/// cancel, and in both at once, interleaved with healthy tasks.
#[test]
fn panics_in_polls_and_drops_leave_the_loop_healthy() {
    {
        ringloop::run(util::within(10, "panics", async {
            let mut crashers = Vec::new();
            for i in 0..20u32 {
                crashers.push(ringloop::spawn(async move {
                    let _bomb = (i % 3 == 0).then(|| PanicOnDrop("drop"));
                    ringloop::yield_now().await;
                    if i % 2 == 0 {
                        panic!("poll {i}");
                    }
                    std::future::pending::<()>().await;
                }));
            }
            ringloop::yield_now().await;
            for task in &crashers {
                task.cancel();
            }
            let healthy = ringloop::spawn(async {
                sleep(Duration::from_millis(1)).await;
                7
            });
            for (i, task) in crashers.into_iter().enumerate() {
                let err = task.await.unwrap_err();
                if i % 2 == 0 {
                    assert!(err.is_panic(), "task {i}: {err}");
                } else {
                    assert!(err.is_cancelled(), "task {i}: {err}");
                }
            }
            assert_eq!(healthy.await.unwrap(), 7);
            assert_eq!(ringloop::runtime::metrics().unwrap().tasks, 0);
        }));
    }
}

/// `yield_now` lets every other ready task run before the caller goes on.
#[test]
fn yield_now_runs_every_other_ready_task_first() {
    ringloop::run(util::within(10, "yield", async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                ringloop::spawn(async move { log.borrow_mut().push(i) })
            })
            .collect();
        ringloop::yield_now().await;
        assert_eq!(*log.borrow(), [0, 1, 2]);
        for task in tasks {
            task.await.unwrap();
        }
    }));
}

// ---------------------------------------------------------------- timers

/// `Interval::reset` with a huge period (the usual "never") used to panic
/// with "overflow when adding duration to instant".
#[test]
fn interval_reset_with_a_huge_period_does_not_panic() {
    ringloop::run(util::within(10, "interval reset", async {
        for behavior in [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ] {
            let mut every = interval(Duration::MAX);
            every.set_missed_tick_behavior(behavior);
            every.tick().await; // the first tick is immediate
            every.reset();
            assert!(
                timeout(Duration::from_millis(2), every.tick())
                    .await
                    .is_err(),
                "a tick came long before its period"
            );
        }
    }));
}

/// `reset` moves the next tick one period from now; missed ticks behave as
/// documented.
#[test]
fn interval_reset_and_missed_ticks() {
    ringloop::run(util::within(10, "interval", async {
        let period = Duration::from_millis(20);
        let mut every = interval(period);
        let start = every.tick().await;
        every.reset();
        let reset_at = Instant::now();
        let next = every.tick().await;
        assert!(next >= reset_at + period - Duration::from_millis(1));
        assert!(Instant::now() >= next);
        let _ = start;

        // Delay: a late tick starts a fresh schedule from now.
        let mut every = interval(Duration::from_millis(5));
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        every.tick().await;
        std::thread::sleep(Duration::from_millis(16)); // the loop is busy
        let late = every.tick().await; // the missed tick, at once
        let after = Instant::now();
        let next = every.tick().await;
        assert!(
            next >= after + Duration::from_millis(5) - Duration::from_micros(100),
            "Delay: the tick after a late one came early"
        );
        assert!(late < after);

        // Burst: missed ticks fire at once, on the original grid.
        let mut every = interval(Duration::from_millis(5));
        let first = every.tick().await;
        std::thread::sleep(Duration::from_millis(16));
        let t0 = Instant::now();
        let mut ticks = Vec::new();
        for _ in 0..3 {
            ticks.push(every.tick().await);
        }
        assert!(
            t0.elapsed() < Duration::from_millis(5),
            "burst ticks waited"
        );
        for (k, tick) in ticks.iter().enumerate() {
            assert_eq!(*tick, first + Duration::from_millis(5) * (k as u32 + 1));
        }
    }));
}

/// A timeout around a future that completes in the same poll as its
/// deadline passes yields the value (the future is polled first), and
/// `timeout(Duration::MAX, ..)` never fires.
#[test]
fn timeout_edges() {
    ringloop::run(util::within(10, "timeout edges", async {
        assert_eq!(timeout(Duration::ZERO, async { 3 }).await, Ok(3));
        let pending = ringloop::spawn(timeout(Duration::MAX, std::future::pending::<()>()));
        sleep(Duration::from_millis(2)).await;
        assert!(!pending.is_finished());
        pending.cancel();
        assert!(pending.await.unwrap_err().is_cancelled());
        assert_eq!(ringloop::runtime::metrics().unwrap().timers, 1, "watchdog");
    }));
}

// ---------------------------------------------------------- spawn_blocking

#[test]
fn blocking_jobs_panic_saturate_and_detach() {
    let rt = ringloop::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    {
        rt.block_on(util::within(20, "blocking", async {
            // A panicking job is a JoinError with its payload.
            let err = ringloop::spawn_blocking(|| -> u32 { panic!("job panic") })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert!(err.to_string().contains("job panic"), "{err}");
            // Saturated pool: jobs queue and all complete, in order.
            let (gate_tx, gate_rx) = std_mpsc::channel::<()>();
            let first = ringloop::spawn_blocking(move || gate_rx.recv().is_ok());
            let rest: Vec<_> = (0..8u32)
                .map(|i| ringloop::spawn_blocking(move || i))
                .collect();
            // A dropped handle does not stop the job; its result is dropped.
            let seen = Arc::new(StdMutex::new(false));
            let s = seen.clone();
            drop(ringloop::spawn_blocking(move || *s.lock().unwrap() = true));
            gate_tx.send(()).unwrap();
            assert!(first.await.unwrap());
            for (i, task) in rest.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), i as u32);
            }
            // The detached job ran before the next one (one thread, FIFO).
            ringloop::spawn_blocking(|| ()).await.unwrap();
            assert!(*seen.lock().unwrap());
            let m = ringloop::runtime::metrics().unwrap();
            assert_eq!(m.blocking_threads_peak, 1);
        }));
    }
}

/// Dropping the runtime while a job runs and others are queued: the queued
/// jobs' tasks end as cancelled, the running job finishes on its thread and
/// its late wake (into a dropped runtime) is harmless.
#[test]
fn runtime_drop_with_running_and_queued_blocking_jobs() {
    let rt = ringloop::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = std_mpsc::channel::<()>();
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let (done_tx, done_rx) = std_mpsc::channel::<()>();
    let (running, queued) = rt.block_on(async {
        let running = ringloop::spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            done_tx.send(()).unwrap();
            1
        });
        let queued = ringloop::spawn_blocking(|| 2);
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        (running, queued)
    });
    drop(rt);
    release_tx.send(()).unwrap();
    done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    for task in [running, queued] {
        let mut task = pin!(task);
        match poll_once(task.as_mut()) {
            Poll::Ready(Err(err)) => assert!(err.is_cancelled(), "{err}"),
            other => panic!("expected cancelled, got {other:?}"),
        }
    }
}

// ----------------------------------------------------- cross-thread wakes

/// A waker sent to another thread and woken after its runtime was dropped
/// does nothing harmful; one woken while the loop is parked ends the park.
#[test]
fn wakes_from_other_threads_before_and_after_runtime_drop() {
    let (waker_tx, waker_rx) = std_mpsc::channel::<Waker>();
    let (go_tx, go_rx) = std_mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // First waker: woken at once (the loop is parked or about to be).
        waker_rx.recv().unwrap().wake();
        // Second: held across the runtime's drop, then woken.
        let late = waker_rx.recv().unwrap();
        go_rx.recv().unwrap();
        late.wake_by_ref();
        late.wake();
    });
    let rt = ringloop::Runtime::new().unwrap();
    rt.block_on(util::within(10, "remote wake", async {
        let mut sent = false;
        std::future::poll_fn(|cx| {
            if sent {
                return Poll::Ready(());
            }
            sent = true;
            waker_tx.send(cx.waker().clone()).unwrap();
            Poll::Pending
        })
        .await;
        let task = ringloop::spawn({
            let waker_tx = waker_tx.clone();
            std::future::poll_fn(move |cx| {
                waker_tx.send(cx.waker().clone()).unwrap();
                Poll::<()>::Pending
            })
        });
        ringloop::yield_now().await;
        drop(task);
    }));
    drop(rt);
    go_tx.send(()).unwrap();
    thread.join().unwrap();
}

// ------------------------------------------------------------- semaphore

/// "Waits for `n` permits at once (0 completes at once)": a request for
/// zero permits must not queue behind a waiter that may never be served.
#[test]
fn acquire_many_zero_completes_at_once_even_behind_waiters() {
    ringloop::run(util::within(10, "acquire_many(0)", async {
        let sem = Semaphore::new(0);
        let mut big = pin!(sem.acquire());
        assert!(poll_once(big.as_mut()).is_pending());
        let mut zero = pin!(sem.acquire_many(0));
        match poll_once(zero.as_mut()) {
            Poll::Ready(Ok(permit)) => assert_eq!(permit.num_permits(), 0),
            Poll::Ready(Err(err)) => panic!("acquire_many(0): {err}"),
            Poll::Pending => panic!("acquire_many(0) waited behind a waiter"),
        }
        assert_eq!(sem.waiters(), 1);
        // Too many: an error, not a panic, not a hang.
        let err = sem
            .acquire_many(Semaphore::MAX_PERMITS + 1)
            .await
            .unwrap_err();
        assert!(!err.is_closed());
        assert!(!err.to_string().is_empty());
    }));
}

/// Randomized cancellation of semaphore waiters at every stage: the
/// permits always add up, and the survivors all get through.
#[test]
fn semaphore_permits_survive_random_cancellation() {
    ringloop::run(util::within(20, "semaphore churn", async {
        let mut rng = util::Rng::new(7);
        for round in 0..30 {
            let total = 4usize;
            let sem = Rc::new(Semaphore::new(total));
            let held = Rc::new(Cell::new(0usize));
            let mut tasks = Vec::new();
            for _ in 0..12 {
                let n = rng.range(1, total as u64) as usize;
                let hold = rng.range(0, 3);
                let (sem, held) = (sem.clone(), held.clone());
                tasks.push(ringloop::spawn(async move {
                    let permit = sem.acquire_many(n).await.unwrap();
                    held.set(held.get() + n);
                    assert!(held.get() <= total);
                    for _ in 0..hold {
                        ringloop::yield_now().await;
                    }
                    held.set(held.get() - n);
                    drop(permit);
                }));
            }
            for _ in 0..rng.range(0, 3) {
                ringloop::yield_now().await;
            }
            let mut cancelled = 0;
            for task in &tasks {
                if rng.range(0, 2) == 0 {
                    task.cancel();
                    cancelled += 1;
                }
            }
            for task in tasks {
                match task.await {
                    Ok(()) => {}
                    Err(err) => assert!(err.is_cancelled(), "round {round}: {err}"),
                }
            }
            let _ = cancelled;
            assert_eq!(sem.available_permits(), total, "round {round}: leak");
            assert_eq!(sem.waiters(), 0);
        }
    }));
}

// --------------------------------------------------------- notify & co.

/// A `notify_one` that picked a waiter which is then cancelled goes on to
/// the next waiter, not into the void.
#[test]
fn notify_one_passes_on_when_the_chosen_waiter_is_cancelled() {
    ringloop::run(util::within(10, "notify pass-on", async {
        let notify = Rc::new(Notify::new());
        let spawn_waiter = |notify: Rc<Notify>| {
            ringloop::spawn(async move {
                notify.notified().await;
            })
        };
        let first = spawn_waiter(notify.clone());
        let second = spawn_waiter(notify.clone());
        ringloop::yield_now().await;
        notify.notify_one(); // chooses `first`
        first.cancel(); // before it runs
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        // No permit is left over: exactly one notification was sent.
        let mut extra = pin!(notify.notified());
        assert!(poll_once(extra.as_mut()).is_pending());
    }));
}

/// A lock handed to a waiter that is cancelled before it runs goes to the
/// next waiter (mutex and rwlock), and FIFO order holds.
#[test]
fn locks_handed_to_cancelled_waiters_are_passed_on() {
    ringloop::run(util::within(10, "lock pass-on", async {
        let mutex = Rc::new(Mutex::new(Vec::new()));
        let guard = mutex.lock().await;
        let waiters: Vec<_> = (0..4)
            .map(|i| {
                let mutex = mutex.clone();
                ringloop::spawn(async move { mutex.lock().await.push(i) })
            })
            .collect();
        ringloop::yield_now().await;
        drop(guard); // handed to waiter 0
        waiters[0].cancel();
        waiters[2].cancel();
        for w in waiters {
            let _ = w.await;
        }
        assert_eq!(*mutex.lock().await, [1, 3]);
        assert!(mutex.try_lock().is_ok());

        let lock = Rc::new(RwLock::new(0));
        let writer = lock.write().await;
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let lock = lock.clone();
                ringloop::spawn(async move { *lock.read().await })
            })
            .collect();
        let w2 = {
            let lock = lock.clone();
            ringloop::spawn(async move { *lock.write().await += 1 })
        };
        ringloop::yield_now().await;
        drop(writer);
        readers[0].cancel();
        w2.cancel();
        for r in readers {
            let _ = r.await;
        }
        let _ = w2.await;
        assert!(lock.try_write().is_ok(), "rwlock leaked a reader or writer");
    }));
}

/// Condition: a notified waiter cancelled before it re-takes the lock
/// passes the notification on.
#[test]
fn condition_notification_survives_cancellation() {
    ringloop::run(util::within(10, "condition", async {
        let shared = Rc::new((Mutex::new(0u32), Condition::new()));
        let spawn_waiter = |shared: Rc<(Mutex<u32>, Condition)>| {
            ringloop::spawn(async move {
                let (m, c) = &*shared;
                let guard = m.lock().await;
                let _guard = c.wait(guard).await;
            })
        };
        let a = spawn_waiter(shared.clone());
        let b = spawn_waiter(shared.clone());
        ringloop::yield_now().await;
        ringloop::yield_now().await;
        assert_eq!(shared.1.waiters(), 2);
        shared.1.notify(1); // picks `a`
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        b.await.unwrap();
    }));
}

/// Bad input to the other primitives: errors or documented clamping, never
/// a panic.
#[test]
fn bad_input_to_primitives_does_not_panic() {
    ringloop::run(util::within(10, "bad input", async {
        let barrier = Barrier::new(0);
        assert!(barrier.wait().await.is_leader());
        assert!(barrier.wait().await.is_leader());
        let (tx, rx) = mpsc::channel::<u8>(0);
        assert_eq!(tx.capacity(), Some(1));
        tx.send(1).await.unwrap();
        assert!(tx.try_send(2).is_err());
        assert_eq!(rx.recv().await, Some(1));
        drop(tx);
        assert_eq!(rx.recv().await, None);
        let (tx, mut rx) = oneshot::channel::<u8>();
        rx.close();
        assert_eq!(tx.send(1), Err(1));
        let event = Event::new();
        event.set();
        event.wait().await;
    }));
}

/// Barrier: a waiter cancelled before the barrier opens no longer counts.
#[test]
fn barrier_cancelled_waiter_does_not_count() {
    ringloop::run(util::within(10, "barrier", async {
        let barrier = Rc::new(Barrier::new(2));
        let b = barrier.clone();
        let quitter = ringloop::spawn(async move {
            b.wait().await;
        });
        ringloop::yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        quitter.cancel();
        assert!(quitter.await.unwrap_err().is_cancelled());
        assert_eq!(barrier.n_waiting(), 0);
        let mut lone = pin!(barrier.wait());
        assert!(poll_once(lone.as_mut()).is_pending(), "opened with one");
        let result = barrier.wait().await;
        assert!(result.is_leader());
        assert!(!lone.await.is_leader());
    }));
}

/// mpsc: a bounded channel's slot reserved for a cancelled sender and a
/// message set aside for a cancelled receiver both go to the next in line.
#[test]
fn mpsc_slots_and_messages_pass_on_under_cancellation() {
    ringloop::run(util::within(10, "mpsc", async {
        let (tx, rx) = mpsc::channel::<u32>(1);
        let (tx, rx) = (Rc::new(tx), Rc::new(rx));
        tx.send(0).await.unwrap();
        let senders: Vec<_> = (1..=3)
            .map(|i| {
                let tx = tx.clone();
                ringloop::spawn(async move { tx.send(i).await.unwrap() })
            })
            .collect();
        ringloop::yield_now().await;
        assert_eq!(rx.recv().await, Some(0)); // frees the slot for sender 1
        senders[0].cancel();
        let mut senders = senders.into_iter();
        assert!(senders.next().unwrap().await.unwrap_err().is_cancelled());
        senders.next().unwrap().await.unwrap(); // got the passed-on slot
        assert_eq!(rx.recv().await, Some(2));
        senders.next().unwrap().await.unwrap();
        assert_eq!(rx.recv().await, Some(3));
        assert!(rx.try_recv().is_err());

        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                ringloop::spawn(async move { rx.recv().await })
            })
            .collect();
        ringloop::yield_now().await;
        tx.send(42).await.unwrap(); // set aside for receiver 0
        receivers[0].cancel();
        let mut receivers = receivers.into_iter();
        assert!(receivers.next().unwrap().await.unwrap_err().is_cancelled());
        assert_eq!(receivers.next().unwrap().await.unwrap(), Some(42));
    }));
}

/// "Cancelling the task stops waiting for the result; a job that has
/// started runs to completion": a job cancelled while still queued (the
/// pool saturated) must not run at all, as with tokio's abort; one whose
/// handle is merely dropped (detached) still runs.
#[test]
fn a_blocking_job_cancelled_while_queued_never_runs() {
    let rt = ringloop::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(util::within(20, "queued cancel", async {
        let (gate_tx, gate_rx) = std_mpsc::channel::<()>();
        let (started_tx, started_rx) = std_mpsc::channel::<()>();
        let busy = ringloop::spawn_blocking(move || {
            started_tx.send(()).unwrap();
            gate_rx.recv().unwrap();
        });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let ran = Arc::new(StdMutex::new(Vec::new()));
        let r = ran.clone();
        let cancelled = ringloop::spawn_blocking(move || r.lock().unwrap().push("cancelled"));
        let r = ran.clone();
        drop(ringloop::spawn_blocking(move || {
            r.lock().unwrap().push("detached")
        }));
        cancelled.cancel();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        gate_tx.send(()).unwrap();
        busy.await.unwrap();
        // One thread, FIFO: this runs after both queued jobs were taken.
        ringloop::spawn_blocking(|| ()).await.unwrap();
        assert_eq!(*ran.lock().unwrap(), ["detached"]);
    }));
}
