//! Adversarial tests of the structured-concurrency, sync and time layer:
//! `Task` outcomes (panics in drops, double awaits, cancellation from
//! everywhere), `TaskGroup`, `JoinSet`, `wait`, `as_completed`, `race_all`
//! and `shield` under seeded random schedules; model checks of `mpsc`,
//! `oneshot`, `Mutex`, `RwLock` and `Event` driven poll by poll (no lost
//! wake-up, no lost or duplicated message or grant, FIFO order kept under
//! random cancellation); the timer queue at scale and at its edges; and
//! `Builder` with bad values (a clear `io::Error`, never a panic).
//!
//! Nothing here depends on tight wall-clock limits: time-based checks
//! assert ordering or lower bounds only, and every test runs under a
//! watchdog (`util::within`).

mod util;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ringloop::sync::mpsc;
use ringloop::task::{JoinSet, TaskGroup, TaskGroupError, WaitMode, as_completed, race_all, wait};
use ringloop::time::{MissedTickBehavior, interval_at};
use util::Rng;

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future polled by hand, with a waker of its own, so that a test can
/// tell whether it was woken before it became ready.
struct Probe<T> {
    fut: Pin<Box<dyn Future<Output = T>>>,
    flag: Arc<Flag>,
    waker: Waker,
}

impl<T> Probe<T> {
    fn new(fut: impl Future<Output = T> + 'static) -> Probe<T> {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        Probe {
            fut: Box::pin(fut),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    fn woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }

    fn poll(&mut self) -> Poll<T> {
        self.flag.0.store(false, Ordering::SeqCst);
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }

    /// Polls a future that was not woken: it must still be pending (a
    /// primitive that makes a waiter ready wakes it; else the task would
    /// sleep forever).
    fn assert_no_lost_wake(&mut self, what: &str) {
        if !self.woken() {
            assert!(
                self.poll().is_pending(),
                "{what}: ready without having been woken (lost wake-up)"
            );
        }
    }
}

/// Panics when dropped (outside an unwind).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A hand-written future that is ready at once and carries a guard whose
/// drop panics: the panic comes after `Ready`, when the task drops it.
struct ReadyWithBomb {
    _bomb: PanicOnDrop,
    value: u32,
}

impl Future for ReadyWithBomb {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(self.value)
    }
}

// ---------------------------------------------------------------- tasks

/// A task whose future panics while it is dropped after completing was
/// reported as *cancelled* (nobody cancelled it): the panic escaped the
/// task wrapper, so its output was never published and the unpublished
/// output read as a cancellation. It panicked: `is_panic`, with the payload.
#[test]
fn a_panic_in_the_drop_after_ready_is_a_panic_not_a_cancellation() {
    ringloop::run(util::within(10, "drop after ready", async {
        let task = ringloop::spawn(ReadyWithBomb {
            _bomb: PanicOnDrop("bomb after ready"),
            value: 7,
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("bomb after ready"), "{err}");
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("bomb after ready")
        );

        // The same through an async block whose captured guard is dropped
        // when the block completes.
        let bomb = PanicOnDrop("captured bomb");
        let task = ringloop::spawn(async move {
            let _keep = &bomb;
            ringloop::yield_now().await;
            5
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "{err}");
        // The loop is healthy.
        assert_eq!(ringloop::spawn(async { 1 }).await.unwrap(), 1);
        assert_eq!(ringloop::runtime::metrics().unwrap().tasks, 0);
    }));
}

/// Counts drops: a task's future carries one, so a test can tell a
/// cancelled (dropped) task from a running one.
struct DropCount(Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

async fn yields(n: u64) {
    for _ in 0..n {
        ringloop::yield_now().await;
    }
}

/// How a scripted task ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Ok,
    Err,
    Panic,
    /// Never ends by itself.
    Never,
}

fn random_end(rng: &mut Rng) -> End {
    match rng.range(0, 9) {
        0 => End::Err,
        1 => End::Panic,
        2 | 3 => End::Never,
        _ => End::Ok,
    }
}

/// asyncio.TaskGroup semantics under seeded random schedules: the first
/// failure (in the order tasks ended) is the one reported, whether an
/// `Err` or a panic; by the time `join` returns every task's future has
/// been dropped (none left running), the never-ending ones never finished,
/// and the runtime holds no task of the group. Without failures the
/// values come in spawn order, and never-ending tasks are not spawned.
#[test]
fn task_group_reports_the_first_failure_and_leaves_nothing_running() {
    ringloop::run(util::within(30, "task group", async {
        let mut rng = Rng::new(0x7a5c_0001);
        let base = ringloop::runtime::metrics().unwrap().tasks;
        for round in 0..200 {
            let n = rng.range(1, 12) as usize;
            let mut ends: Vec<(End, u64)> = (0..n)
                .map(|_| (random_end(&mut rng), rng.range(0, 8)))
                .collect();
            let any_failure = ends.iter().any(|(e, _)| matches!(e, End::Err | End::Panic));
            if !any_failure {
                // Nothing would stop a never-ending task.
                for (e, _) in &mut ends {
                    if *e == End::Never {
                        *e = End::Ok;
                    }
                }
            }
            let log: Rc<RefCell<Vec<(usize, End)>>> = Rc::default();
            let drops = Rc::new(Cell::new(0));
            let group: TaskGroup<usize, usize> = TaskGroup::new();
            for (i, &(end, delay)) in ends.iter().enumerate() {
                let (log, guard) = (log.clone(), DropCount(drops.clone()));
                assert!(group.spawn(async move {
                    let _guard = guard;
                    yields(delay).await;
                    if end == End::Never {
                        std::future::pending::<()>().await;
                    }
                    log.borrow_mut().push((i, end));
                    match end {
                        End::Ok => Ok(i * 10),
                        End::Err => Err(i),
                        End::Panic => panic!("task {i} panics"),
                        End::Never => unreachable!(),
                    }
                }));
            }
            let result = group.join().await;
            assert_eq!(
                drops.get() as usize,
                n,
                "round {round}: futures still alive"
            );
            let log = log.borrow().clone();
            assert!(
                log.iter().all(|(i, _)| ends[*i].0 != End::Never),
                "round {round}: a never-ending task finished"
            );
            let first_failure = log.iter().find(|(_, e)| *e != End::Ok);
            match (result, first_failure) {
                (Ok(values), None) => {
                    let expected: Vec<usize> = (0..n).map(|i| i * 10).collect();
                    assert_eq!(values, expected, "round {round}");
                }
                (Err(TaskGroupError::Failed(i)), Some(&(first, End::Err))) => {
                    assert_eq!(i, first, "round {round}: not the first failure")
                }
                (Err(TaskGroupError::Join(err)), Some(&(first, End::Panic))) => {
                    assert!(err.is_panic(), "round {round}: {err}");
                    assert!(err.to_string().contains(&format!("task {first} panics")));
                }
                (result, first) => panic!("round {round}: {result:?} vs first failure {first:?}"),
            }
            assert!(group.is_empty());
            assert_eq!(ringloop::runtime::metrics().unwrap().tasks, base);
            // A failed group is closed: a spawn is refused, its future
            // dropped unrun.
            if any_failure {
                let ran = Rc::new(Cell::new(false));
                let flag = ran.clone();
                assert!(!group.spawn(async move {
                    flag.set(true);
                    Ok(0)
                }));
                yields(2).await;
                assert!(!ran.get());
            }
        }
    }));
}

/// `JoinSet::abort_all` at a random moment: a task that had finished by
/// then yields its value; every other one yields a cancellation (a
/// cancelled task is dropped before it is polled again, so it can never
/// finish after the abort) and was dropped. Every outcome comes exactly
/// once; `shutdown` leaves the set empty and nothing running.
#[test]
fn join_set_abort_all_at_random_moments_keeps_finished_outputs_only() {
    ringloop::run(util::within(30, "join set", async {
        let mut rng = Rng::new(0x5e7_0002);
        for round in 0..200 {
            let n = rng.range(1, 16) as usize;
            let finished: Rc<RefCell<Vec<usize>>> = Rc::default();
            let drops = Rc::new(Cell::new(0));
            let mut set = JoinSet::new();
            for i in 0..n {
                let delay = rng.range(0, 10);
                let (finished, guard) = (finished.clone(), DropCount(drops.clone()));
                set.spawn(async move {
                    let _guard = guard;
                    yields(delay).await;
                    finished.borrow_mut().push(i);
                    i
                });
            }
            // Join a few first, perhaps.
            let mut outcomes = Vec::new();
            for _ in 0..rng.range(0, 2) {
                if let Some(outcome) = set.join_next().await {
                    outcomes.push(outcome);
                }
            }
            yields(rng.range(0, 6)).await;
            let done_at_abort: Vec<usize> = finished.borrow().clone();
            set.abort_all();
            while let Some(outcome) = set.join_next().await {
                outcomes.push(outcome);
            }
            assert_eq!(outcomes.len(), n, "round {round}");
            let mut ok: Vec<usize> = Vec::new();
            for outcome in outcomes {
                match outcome {
                    Ok(i) => ok.push(i),
                    Err(err) => assert!(err.is_cancelled(), "round {round}: {err}"),
                }
            }
            ok.sort_unstable();
            let mut expected = done_at_abort.clone();
            expected.sort_unstable();
            assert_eq!(
                ok, expected,
                "round {round}: outputs vs tasks finished before abort"
            );
            assert_eq!(
                *finished.borrow(),
                done_at_abort,
                "round {round}: finished after abort"
            );
            assert_eq!(drops.get() as usize, n);
            set.shutdown().await;
            assert!(set.is_empty());
        }
    }));
}

/// `as_completed` yields outcomes exactly in the order the tasks finished,
/// also when some are cancelled midway (`cancel_all` at a random moment):
/// every index exactly once, values for the tasks that had finished,
/// cancellations for the rest.
#[test]
fn as_completed_follows_the_exact_completion_order() {
    ringloop::run(util::within(30, "as_completed", async {
        let mut rng = Rng::new(0xa5c0_0003);
        for round in 0..150 {
            let n = rng.range(1, 16) as usize;
            let finished: Rc<RefCell<Vec<usize>>> = Rc::default();
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let delay = rng.range(0, 12);
                    let finished = finished.clone();
                    ringloop::spawn(async move {
                        yields(delay).await;
                        finished.borrow_mut().push(i);
                        i
                    })
                })
                .collect();
            let mut stream = as_completed(tasks);
            let cancel_after = rng.range(0, n as u64);
            let mut order = Vec::new();
            let mut cancelled = Vec::new();
            let mut seen = 0;
            while let Some((index, outcome)) = stream.next().await {
                seen += 1;
                match outcome {
                    Ok(v) => {
                        assert_eq!(v, index);
                        order.push(index);
                    }
                    Err(err) => {
                        assert!(err.is_cancelled(), "round {round}: {err}");
                        cancelled.push(index);
                    }
                }
                if seen == cancel_after {
                    stream.cancel_all();
                }
            }
            assert_eq!(order.len() + cancelled.len(), n, "round {round}");
            assert_eq!(
                order,
                *finished.borrow(),
                "round {round}: not in completion order"
            );
            let mut all: Vec<usize> = order.iter().chain(&cancelled).copied().collect();
            all.sort_unstable();
            assert_eq!(
                all,
                (0..n).collect::<Vec<_>>(),
                "round {round}: an index twice or never"
            );
        }
    }));
}

/// `wait` against a seeded schedule: `done` holds exactly the tasks that
/// had finished when it returned, `pending` exactly the others (still
/// running, handed back, not cancelled: they finish later); the modes
/// return at the right moment.
#[test]
fn wait_returns_exactly_the_finished_tasks_in_every_mode() {
    ringloop::run(util::within(30, "wait", async {
        let mut rng = Rng::new(0x3a17_0004);
        for round in 0..150 {
            let mode = [
                WaitMode::FirstCompleted,
                WaitMode::FirstException,
                WaitMode::AllCompleted,
            ][round % 3];
            let n = rng.range(1, 10) as usize;
            let finished: Rc<RefCell<Vec<(usize, bool)>>> = Rc::default();
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let delay = rng.range(0, 10);
                    let fail = rng.range(0, 4) == 0;
                    let finished = finished.clone();
                    ringloop::spawn(async move {
                        yields(delay).await;
                        finished.borrow_mut().push((i, fail));
                        if fail { Err(i) } else { Ok(i) }
                    })
                })
                .collect();
            let (done, pending) = wait(tasks, mode).await;
            let at_return = finished.borrow().clone();
            let mut done_ids: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
            let mut finished_ids: Vec<usize> = at_return.iter().map(|(i, _)| *i).collect();
            done_ids.sort_unstable();
            finished_ids.sort_unstable();
            assert_eq!(
                done_ids, finished_ids,
                "round {round} {mode:?}: done vs finished"
            );
            assert!(
                done.windows(2).all(|w| w[0].0 < w[1].0),
                "done not in index order"
            );
            for (i, outcome) in &done {
                let fail = at_return.iter().any(|&(j, f)| j == *i && f);
                match outcome {
                    Ok(Ok(v)) => assert!(!fail && v == i),
                    Ok(Err(v)) => assert!(fail && v == i),
                    Err(err) => panic!("round {round}: {err}"),
                }
            }
            match mode {
                WaitMode::FirstCompleted => assert!(!done.is_empty()),
                WaitMode::AllCompleted => assert!(pending.is_empty()),
                WaitMode::FirstException => assert!(
                    pending.is_empty() || at_return.iter().any(|&(_, fail)| fail),
                    "round {round}: returned early without a failure"
                ),
            }
            for (i, task) in pending {
                assert!(!task.is_finished(), "round {round}: task {i} was done");
                let outcome = task.await.expect("a pending task was cancelled");
                assert!(matches!(outcome, Ok(v) | Err(v) if v == i));
            }
        }
    }));
}

/// `race_all` returns the first future to finish (ties to the lowest
/// index) and has dropped every loser by the time it returns.
#[test]
fn race_all_picks_the_first_and_drops_every_loser() {
    ringloop::run(util::within(30, "race_all", async {
        let mut rng = Rng::new(0x4ace_0005);
        for round in 0..200 {
            let n = rng.range(1, 12) as usize;
            let delays: Vec<u64> = (0..n).map(|_| rng.range(0, 10)).collect();
            let drops = Rc::new(Cell::new(0));
            let futures = delays.iter().enumerate().map(|(i, &delay)| {
                let guard = DropCount(drops.clone());
                async move {
                    let _guard = guard;
                    yields(delay).await;
                    i
                }
            });
            let (index, value) = race_all(futures).await.expect("not empty");
            let min = *delays.iter().min().unwrap();
            let winner = delays.iter().position(|&d| d == min).unwrap();
            assert_eq!(
                (index, value),
                (winner, winner),
                "round {round}: {delays:?}"
            );
            assert_eq!(
                drops.get() as usize,
                n,
                "round {round}: a loser still alive"
            );
        }
        assert!(
            race_all(Vec::<std::future::Ready<()>>::new())
                .await
                .is_none()
        );
    }));
}

/// The handle's edge cases: a second await after the output was taken is
/// an error that is neither a cancellation nor a panic; `cancel` after
/// the end changes nothing; a task that cancels itself in the poll that
/// returns its value keeps the value (it finished first); a task whose
/// drop spawns a task gets it run.
#[test]
fn task_handle_edges_double_await_late_cancel_self_cancel_and_spawn_in_drop() {
    ringloop::run(util::within(10, "task edges", async {
        let mut task = ringloop::spawn(async { 5 });
        assert_eq!((&mut task).await.unwrap(), 5);
        assert!(task.is_finished());
        task.cancel();
        let err = (&mut task).await.unwrap_err();
        assert!(!err.is_cancelled() && !err.is_panic(), "{err}");
        assert!(err.try_into_panic().is_err());

        // Cancelled by itself in its last poll: it had finished.
        let slot: Rc<RefCell<Option<ringloop::Task<u32>>>> = Rc::default();
        let me = slot.clone();
        let task = ringloop::spawn(async move {
            ringloop::yield_now().await;
            if let Some(me) = me.borrow().as_ref() {
                me.cancel();
            }
            9
        });
        *slot.borrow_mut() = Some(task);
        yields(3).await;
        let task = slot.borrow_mut().take().unwrap();
        assert_eq!(task.await.unwrap(), 9);

        // A drop that spawns: the new task runs (the cancelled one's drop
        // runs with nothing of the executor borrowed).
        struct SpawnOnDrop(Rc<Cell<bool>>);
        impl Drop for SpawnOnDrop {
            fn drop(&mut self) {
                let flag = self.0.clone();
                drop(ringloop::spawn(async move { flag.set(true) }));
            }
        }
        let ran = Rc::new(Cell::new(false));
        let guard = SpawnOnDrop(ran.clone());
        let task = ringloop::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        ringloop::yield_now().await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        yields(3).await;
        assert!(ran.get(), "the task spawned by a drop never ran");
    }));
}

/// A waker kept from a runtime that was dropped, woken on this thread
/// while another runtime runs, must not reach that runtime's tasks (ids
/// are per runtime: the same slot and generation name another task
/// there) and must not panic.
#[test]
fn a_stale_waker_of_a_dropped_runtime_wakes_nothing_elsewhere() {
    let kept: Rc<RefCell<Option<std::task::Waker>>> = Rc::default();
    {
        let rt = ringloop::Runtime::new().unwrap();
        let k = kept.clone();
        rt.block_on(async move {
            let task = ringloop::spawn(std::future::poll_fn(move |cx| {
                *k.borrow_mut() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }));
            yields(2).await;
            drop(task);
        });
    }
    let rt = ringloop::Runtime::new().unwrap();
    rt.block_on(util::within(10, "stale waker", async move {
        let polls = Rc::new(Cell::new(0u32));
        let p = polls.clone();
        // The first task of a fresh runtime: same slot, same generation.
        let task = ringloop::spawn(std::future::poll_fn(move |_| {
            p.set(p.get() + 1);
            Poll::<()>::Pending
        }));
        yields(2).await;
        assert_eq!(polls.get(), 1);
        let waker = kept.borrow_mut().take().expect("a waker was kept");
        waker.wake_by_ref();
        waker.wake();
        yields(5).await;
        assert_eq!(polls.get(), 1, "a dead runtime's waker polled a task here");
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
    }));
}

// ---------------------------------------------------------------- time

/// `MissedTickBehavior::Skip` must land on the first grid point after now.
/// It counted the missed periods in a `u32`, which saturates when more than
/// 2^32 periods were missed (a 1 ns period and 5 s behind): the "next" tick
/// was then still in the past, and a burst of late ticks followed.
#[test]
fn interval_skip_lands_after_now_even_far_behind() {
    let Some(start) = Instant::now().checked_sub(Duration::from_secs(10)) else {
        eprintln!("skipped: the monotonic clock is younger than 10 s");
        return;
    };
    ringloop::run(util::within(10, "skip far behind", async move {
        let period = Duration::from_nanos(1);
        let mut every = interval_at(start, period);
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let before = Instant::now();
        let late = every.tick().await;
        assert_eq!(late, start, "the first tick is the (late) start");
        let next = every.tick().await;
        assert!(
            next > before,
            "Skip: the tick after a late one was still in the past ({:?} behind)",
            before - next
        );

        // A coarser grid, far behind too: the next tick is on the grid,
        // after now.
        let period = Duration::from_micros(1);
        let Some(start) = Instant::now().checked_sub(Duration::from_secs(5)) else {
            return;
        };
        let mut every = interval_at(start, period);
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let before = Instant::now();
        every.tick().await;
        let next = every.tick().await;
        assert!(next > before);
        assert_eq!(
            (next - start).as_nanos() % period.as_nanos(),
            0,
            "off the grid"
        );
    }));
}

fn timers_now() -> usize {
    ringloop::runtime::metrics().unwrap().timers
}

/// Thousands of sleeps reset (earlier, later, into the past) and dropped
/// at random: the timer queue holds exactly one entry per registered,
/// unexpired sleep at every point (a reset or a drop never leaves its old
/// entry behind), a sleep whose deadline has passed completes at its
/// first poll without registering, and every sleep completes no earlier
/// than its last deadline.
#[test]
fn sleep_resets_and_drops_at_scale_leave_no_timer_behind() {
    ringloop::run(util::within(30, "timer churn", async {
        const N: usize = 3000;
        let mut rng = Rng::new(0x71e5_0006);
        // After a yield: the watchdog's own timer registers after the
        // first poll of what it watches.
        ringloop::yield_now().await;
        let base = timers_now();
        let now = Instant::now();
        let mut sleeps: Vec<Option<Pin<Box<ringloop::time::Sleep>>>> = (0..N)
            .map(|_| {
                let at = now + Duration::from_millis(rng.range(5, 60));
                Some(Box::pin(ringloop::time::sleep_until(at)))
            })
            .collect();
        // Registered on their first poll (on a slow machine a deadline may
        // have passed already: then it completes, unregistered).
        std::future::poll_fn(|cx| {
            for s in sleeps.iter_mut() {
                if s.as_mut().unwrap().as_mut().poll(cx).is_ready() {
                    *s = None;
                }
            }
            Poll::Ready(())
        })
        .await;
        // No turn of the loop since (nothing above returned `Pending`), so
        // no timer fired: one entry per pending sleep.
        assert_eq!(timers_now(), base + sleeps.iter().flatten().count());
        // Churn: resets and drops, then poll again.
        let past = Instant::now().checked_sub(Duration::from_millis(1));
        let mut past_count = 0;
        let mut untouched = 0;
        for s in sleeps.iter_mut() {
            let Some(sl) = s.as_mut() else { continue };
            match rng.range(0, 5) {
                0 => *s = None,
                1 => {
                    if let Some(past) = past {
                        sl.as_mut().reset(past);
                        past_count += 1;
                    }
                }
                2 | 3 => {
                    let at = Instant::now() + Duration::from_millis(rng.range(1, 60));
                    sl.as_mut().reset(at);
                }
                _ => untouched += 1,
            }
        }
        // A reset unregisters at once; a dropped sleep too.
        assert_eq!(timers_now(), base + untouched, "stale timer entries");
        let mut ready_at_once = 0;
        std::future::poll_fn(|cx| {
            for s in sleeps.iter_mut() {
                if let Some(sl) = s {
                    if sl.as_mut().poll(cx).is_ready() {
                        assert!(Instant::now() >= sl.deadline());
                        ready_at_once += 1;
                        *s = None;
                    }
                }
            }
            Poll::Ready(())
        })
        .await;
        assert!(ready_at_once >= past_count, "a sleep in the past waited");
        let live = sleeps.iter().flatten().count();
        assert_eq!(timers_now(), base + live, "queue entries vs pending sleeps");
        // The rest complete, never early.
        let rest: Vec<_> = sleeps.into_iter().flatten().collect();
        let mut set = JoinSet::new();
        for s in rest {
            set.spawn(async move {
                let deadline = s.deadline();
                s.await;
                assert!(Instant::now() >= deadline, "a timer fired early");
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        assert_eq!(timers_now(), base);
    }));
}

/// Deadlines at the edges of `Instant`: far in the past completes at
/// once; far in the future (2^62 s, beyond any grid) parks the loop with a
/// huge timeout that the kernel must accept (an error there ends the
/// loop), and the loop still wakes for other work, here a blocking job
/// that completes through the ring.
#[test]
fn deadlines_at_the_edges_of_instant() {
    ringloop::run(util::within(20, "edge deadlines", async {
        ringloop::yield_now().await;
        let base = timers_now();
        if let Some(past) = Instant::now().checked_sub(Duration::from_secs(1)) {
            ringloop::time::sleep_until(past).await;
            let elapsed = ringloop::time::timeout_at(past, std::future::pending::<()>()).await;
            assert!(elapsed.is_err());
        }
        let Some(far) = Instant::now().checked_add(Duration::from_secs(1 << 62)) else {
            eprintln!("skipped: Instant cannot reach 2^62 s ahead here");
            return;
        };
        let job = ringloop::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            7
        });
        match ringloop::task::race(ringloop::time::sleep_until(far), job).await {
            ringloop::task::Either::Right(v) => assert_eq!(v.unwrap(), 7),
            ringloop::task::Either::Left(()) => panic!("a sleep 2^62 s long ended"),
        }
        assert_eq!(ringloop::time::timeout_at(far, async { 3 }).await, Ok(3));
        let mut every = ringloop::time::interval_at(far, Duration::MAX);
        assert!(
            ringloop::time::timeout(Duration::from_millis(3), every.tick())
                .await
                .is_err()
        );
        drop(every);
        assert_eq!(timers_now(), base);
    }));
}

/// An interval whose ticks are always due (a zero period, raised to 1 ns,
/// under every missed-tick behaviour) ticked at every poll without ever
/// returning `Pending`, so a `loop { every.tick().await; .. }` task never
/// gave the loop back: every other task, timer and I/O of the runtime
/// starved (a hang, despite the docs' "rather than spinning"). It still
/// ticks as often as asked, but yields to the loop now and then. Bounded
/// either way: the ticker stops after 100,000 ticks.
#[test]
fn an_always_due_interval_does_not_starve_the_loop() {
    ringloop::run(util::within(30, "always-due interval", async {
        for behavior in [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ] {
            const LIMIT: u64 = 100_000;
            let ticks = Rc::new(Cell::new(0u64));
            let t = ticks.clone();
            let ticker = ringloop::spawn(async move {
                let mut every = ringloop::time::interval(Duration::ZERO);
                every.set_missed_tick_behavior(behavior);
                let mut last = None;
                for _ in 0..LIMIT {
                    let tick = every.tick().await;
                    assert!(last.is_none_or(|l| tick > l), "ticks go forward");
                    last = Some(tick);
                    t.set(t.get() + 1);
                }
            });
            // The ticker runs first; the loop must get back to us long
            // before it is done.
            ringloop::yield_now().await;
            let seen = ticks.get();
            assert!(
                seen < LIMIT,
                "{behavior:?}: the interval ticked {seen} times without yielding"
            );
            // And it keeps ticking while others run.
            yields(3).await;
            assert!(ticks.get() > seen, "{behavior:?}: the ticker stalled");
            ticker.cancel();
            let _ = ticker.await;
        }
    }));
}

// ---------------------------------------------------------------- builder

/// Bad ring sizes are the caller's mistake: an `InvalidInput` error that
/// names the setting, not "this kernel is too old" (the kernel answers
/// EINVAL, which the flag fallback took for a missing feature).
#[test]
fn bad_completion_queue_sizes_are_clear_errors() {
    for (entries, cq) in [(256, 0), (256, 1), (256, 128), (u32::MAX, 16)] {
        let err = ringloop::Runtime::builder()
            .entries(entries)
            .cq_entries(cq)
            .build()
            .expect_err("a completion queue smaller than the submission queue");
        let msg = err.to_string();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{msg}");
        assert!(msg.contains("cq_entries"), "{msg}");
        assert!(!msg.contains("5.11"), "blamed the kernel: {msg}");
    }
    // Equal or larger is fine, and huge is clamped, not refused.
    for (entries, cq) in [(256, 256), (8, 1000), (256, u32::MAX)] {
        let rt = ringloop::Runtime::builder()
            .entries(entries)
            .cq_entries(cq)
            .build()
            .unwrap_or_else(|e| panic!("entries {entries}, cq {cq}: {e}"));
        assert_eq!(rt.block_on(async { 3 }), 3);
        assert!(rt.metrics().cq_entries >= rt.metrics().sq_entries);
    }
}

// ---------------------------------------------------------------- mpsc

/// A waiting send of the model: its future, polled by hand.
type SendProbe = Probe<Result<(), mpsc::SendError<u64>>>;

/// A model check of the bounded channel, polled by hand: producers and
/// consumers start, poll, cancel and `try_` at random. Whatever the
/// interleaving, the values received (in the order their receives
/// complete) are exactly the values sent (in the order their sends
/// complete): nothing lost, duplicated or reordered, and a cancelled send
/// is never delivered. No waiter becomes ready without a wake. Afterwards
/// no slot or claim has leaked: the drained channel takes exactly `bound`
/// messages again.
#[test]
fn mpsc_model_check_under_random_polls_and_cancellation() {
    let mut rng = Rng::new(0x5eed_0001);
    for round in 0..150 {
        let bound = rng.range(1, 4) as usize;
        let (tx, rx) = mpsc::channel::<u64>(bound);
        let (tx, rx) = (Rc::new(tx), Rc::new(rx));
        const PRODUCERS: usize = 4;
        const CONSUMERS: usize = 3;
        let mut sends: Vec<Option<(u64, SendProbe)>> = (0..PRODUCERS).map(|_| None).collect();
        let mut recvs: Vec<Option<Probe<Option<u64>>>> = (0..CONSUMERS).map(|_| None).collect();
        let mut next_value = [0u64; PRODUCERS];
        // In the order the sends (receives) completed.
        let mut pushed: VecDeque<u64> = VecDeque::new();
        let mut popped: Vec<u64> = Vec::new();
        let mut received_in_order = |value: u64, pushed: &mut VecDeque<u64>| {
            assert_eq!(
                pushed.pop_front(),
                Some(value),
                "round {round}: a receive got a message out of order (or one never sent)"
            );
            popped.push(value);
        };
        for _step in 0..300 {
            let p = rng.range(0, PRODUCERS as u64 - 1) as usize;
            let c = rng.range(0, CONSUMERS as u64 - 1) as usize;
            match rng.range(0, 9) {
                0 | 1 => {
                    if sends[p].is_none() {
                        let value = p as u64 * 1_000_000 + next_value[p];
                        next_value[p] += 1;
                        let tx = tx.clone();
                        let mut probe = Probe::new(async move { tx.send(value).await });
                        match probe.poll() {
                            Poll::Ready(Ok(())) => pushed.push_back(value),
                            Poll::Ready(Err(_)) => panic!("round {round}: open channel refused"),
                            Poll::Pending => sends[p] = Some((value, probe)),
                        }
                    }
                }
                2 => {
                    if let Some((value, probe)) = &mut sends[p] {
                        if probe.woken() || rng.range(0, 3) == 0 {
                            if let Poll::Ready(result) = probe.poll() {
                                result.expect("open channel refused a granted send");
                                pushed.push_back(*value);
                                sends[p] = None;
                            }
                        }
                    }
                }
                3 => {
                    // Cancel a waiting send: its message must never arrive.
                    sends[p] = None;
                }
                4 => {
                    if sends[p].is_none() {
                        let value = p as u64 * 1_000_000 + next_value[p];
                        next_value[p] += 1;
                        match tx.try_send(value) {
                            Ok(()) => pushed.push_back(value),
                            Err(mpsc::TrySendError::Full(v)) => assert_eq!(v, value),
                            Err(mpsc::TrySendError::Closed(_)) => panic!("closed"),
                        }
                    }
                }
                5 | 6 => {
                    if recvs[c].is_none() {
                        let rx = rx.clone();
                        let mut probe = Probe::new(async move { rx.recv().await });
                        match probe.poll() {
                            Poll::Ready(Some(v)) => received_in_order(v, &mut pushed),
                            Poll::Ready(None) => panic!("round {round}: open channel ended"),
                            Poll::Pending => recvs[c] = Some(probe),
                        }
                    }
                }
                7 => {
                    if let Some(probe) = &mut recvs[c] {
                        if probe.woken() || rng.range(0, 3) == 0 {
                            if let Poll::Ready(got) = probe.poll() {
                                received_in_order(got.expect("ended"), &mut pushed);
                                recvs[c] = None;
                            }
                        }
                    }
                }
                8 => recvs[c] = None,
                _ => match rx.try_recv() {
                    Ok(v) => received_in_order(v, &mut pushed),
                    Err(mpsc::TryRecvError::Empty) => {}
                    Err(mpsc::TryRecvError::Disconnected) => panic!("disconnected"),
                },
            }
            if rng.range(0, 4) == 0 {
                // Settle: run every woken waiter until none is. Then a
                // waiting receiver means nothing is queued, and a waiting
                // sender means the channel is full (else a waiter was
                // passed over: it would wait forever).
                loop {
                    let mut progressed = false;
                    for slot in sends.iter_mut() {
                        if let Some((value, probe)) = slot {
                            if probe.woken() {
                                progressed = true;
                                if let Poll::Ready(result) = probe.poll() {
                                    result.expect("refused");
                                    pushed.push_back(*value);
                                    *slot = None;
                                }
                            }
                        }
                    }
                    for slot in recvs.iter_mut() {
                        if let Some(probe) = slot {
                            if probe.woken() {
                                progressed = true;
                                if let Poll::Ready(got) = probe.poll() {
                                    received_in_order(got.expect("ended"), &mut pushed);
                                    *slot = None;
                                }
                            }
                        }
                    }
                    if !progressed {
                        break;
                    }
                }
                if recvs.iter().any(Option::is_some) {
                    assert_eq!(
                        rx.len(),
                        0,
                        "round {round}: a receiver waits beside a message"
                    );
                }
                if sends.iter().any(Option::is_some) {
                    assert_eq!(tx.len(), bound, "round {round}: a sender waits beside room");
                }
            }
            for (_, probe) in sends.iter_mut().flatten() {
                probe.assert_no_lost_wake("send");
            }
            for probe in recvs.iter_mut().flatten() {
                probe.assert_no_lost_wake("recv");
            }
            assert!(
                tx.len() <= bound,
                "round {round}: more queued than the bound"
            );
        }
        // Give up every waiter, then drain: what is left is exactly what
        // was sent and not yet received.
        sends.iter_mut().for_each(|s| *s = None);
        recvs.iter_mut().for_each(|r| *r = None);
        while let Ok(v) = rx.try_recv() {
            received_in_order(v, &mut pushed);
        }
        assert!(
            pushed.is_empty(),
            "round {round}: {} sent messages lost",
            pushed.len()
        );
        // No slot or claim leaked.
        for k in 0..bound as u64 {
            tx.try_send(k)
                .unwrap_or_else(|_| panic!("round {round}: a slot leaked"));
        }
        assert!(matches!(tx.try_send(99), Err(mpsc::TrySendError::Full(99))));
        // The channel ends cleanly: the queued messages, then `None`.
        tx.close();
        let mut last = Probe::new({
            let rx = rx.clone();
            async move {
                let mut n = 0;
                while rx.recv().await.is_some() {
                    n += 1;
                }
                n
            }
        });
        assert_eq!(last.poll(), Poll::Ready(bound));
        let _ = popped;
    }
}

// ---------------------------------------------------------------- oneshot

/// A value that counts its drops.
struct Counted(Rc<Cell<u32>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// `oneshot` under every order of its events (send, drop either half,
/// polls of the receiver and of `Sender::closed`), seeded: the
/// receiver yields the value iff it was sent; a send fails (handing the
/// value back) iff the receiver was gone or closed first; the receiver and
/// `closed` are woken whenever they become ready; the value is dropped
/// exactly once whatever happens.
#[test]
fn oneshot_every_event_order_wakes_and_drops_exactly_once() {
    use ringloop::sync::oneshot;
    let mut rng = Rng::new(0x0e5e_0007);
    for round in 0..2000 {
        let drops = Rc::new(Cell::new(0));
        let (tx, rx) = oneshot::channel::<Counted>();
        let mut tx = Some(tx);
        let mut rx = Some(Probe::new(rx));
        let closed_flag = Arc::new(Flag(AtomicBool::new(false)));
        let closed_waker = Waker::from(closed_flag.clone());
        let mut closed_waiting = false;
        let mut rx_waiting = false;
        let mut sent = false;
        let mut refused = false;
        let mut rx_gone = false; // dropped or closed
        let mut got: Option<bool> = None; // Some(true): the value
        for _ in 0..12 {
            match rng.range(0, 6) {
                0 => {
                    if let Some(tx) = tx.take() {
                        closed_waiting = false;
                        match tx.send(Counted(drops.clone())) {
                            Ok(()) => {
                                assert!(!rx_gone, "round {round}: sent to a closed receiver");
                                sent = true;
                            }
                            Err(value) => {
                                assert!(rx_gone, "round {round}: refused by a live receiver");
                                refused = true;
                                drop(value);
                            }
                        }
                        if rx_waiting {
                            assert!(rx.as_ref().is_none_or(|p| p.woken()), "rx not woken");
                        }
                    }
                }
                1 => {
                    if tx.take().is_some() {
                        closed_waiting = false;
                        if rx_waiting {
                            assert!(rx.as_ref().is_none_or(|p| p.woken()), "rx not woken");
                        }
                    }
                }
                2 | 3 => {
                    if got.is_none() {
                        if let Some(probe) = rx.as_mut() {
                            match probe.poll() {
                                Poll::Ready(Ok(_value)) => {
                                    assert!(sent, "round {round}: a value nobody sent");
                                    got = Some(true);
                                }
                                Poll::Ready(Err(_)) => {
                                    assert!(!sent && tx.is_none(), "round {round}: bad error");
                                    got = Some(false);
                                }
                                Poll::Pending => {
                                    assert!(!sent && tx.is_some(), "round {round}: stuck");
                                    rx_waiting = true;
                                }
                            }
                        }
                    }
                }
                4 => {
                    if rx.take().is_some() {
                        rx_gone = true;
                        if closed_waiting {
                            assert!(closed_flag.0.load(Ordering::SeqCst), "closed not woken");
                        }
                    }
                }
                _ => {
                    if let Some(tx) = tx.as_ref() {
                        let mut fut = Box::pin(tx.closed());
                        let ready = fut
                            .as_mut()
                            .poll(&mut Context::from_waker(&closed_waker))
                            .is_ready();
                        assert_eq!(ready, rx_gone, "round {round}: closed() wrong");
                        closed_waiting = !ready;
                        closed_flag.0.store(false, Ordering::SeqCst);
                    }
                }
            }
        }
        drop((tx, rx));
        let expected = u32::from(sent || refused);
        assert_eq!(
            drops.get(),
            expected,
            "round {round}: value dropped {} times",
            drops.get()
        );
    }
}

// ---------------------------------------------------------------- event

/// `Event` polled by hand: every waiter queued when `set` is called
/// completes at its next poll even if the event was cleared again before
/// it ran (asyncio's semantics), was woken, and cancelling woken waiters
/// changes nothing for the others; a waiter first polled while clear
/// waits for the next `set`.
#[test]
fn event_set_then_clear_releases_every_queued_waiter() {
    let mut rng = Rng::new(0xe7e7_0008);
    for round in 0..300 {
        let event = Rc::new(ringloop::sync::Event::new());
        let mut waiters: Vec<(bool, Probe<()>)> = Vec::new(); // (released, probe)
        for _ in 0..60 {
            match rng.range(0, 5) {
                0 | 1 => {
                    let ev = event.clone();
                    let mut probe = Probe::new(async move { ev.wait().await });
                    match probe.poll() {
                        Poll::Ready(()) => assert!(event.is_set(), "round {round}"),
                        Poll::Pending => {
                            assert!(!event.is_set());
                            waiters.push((false, probe));
                        }
                    }
                }
                2 => {
                    event.set();
                    for (released, probe) in waiters.iter_mut() {
                        assert!(probe.woken(), "round {round}: a waiter missed the set");
                        *released = true;
                    }
                    if rng.range(0, 1) == 0 {
                        event.clear();
                    }
                }
                3 => {
                    if !waiters.is_empty() {
                        let k = rng.range(0, waiters.len() as u64 - 1) as usize;
                        waiters.swap_remove(k); // cancelled
                    }
                }
                _ => {
                    waiters.retain_mut(|(released, probe)| match probe.poll() {
                        Poll::Ready(()) => {
                            assert!(*released, "round {round}: released without a set");
                            false
                        }
                        Poll::Pending => {
                            assert!(!*released, "round {round}: a released waiter waits");
                            true
                        }
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------- shield

/// `shield` inside a group that fails: the task awaiting the shield is
/// cancelled with the group, the shielded work runs to its end anyway (its
/// effect happens, its task is not cancelled), and a panic inside a
/// shield is a panic for whoever awaits it.
#[test]
fn shielded_work_survives_a_failing_group() {
    ringloop::run(util::within(10, "shield", async {
        let saved = Rc::new(Cell::new(false));
        let go = Rc::new(ringloop::sync::Event::new());
        let done = Rc::new(ringloop::sync::Event::new());
        let group: TaskGroup<u32, &str> = TaskGroup::new();
        {
            let (saved, go, done) = (saved.clone(), go.clone(), done.clone());
            group.spawn(async move {
                // Cancelled with the group while it awaits the shield.
                ringloop::task::shield(async move {
                    go.wait().await;
                    saved.set(true);
                    done.set();
                    42
                })
                .await
                .map_err(|_| "lost")
            });
        }
        group.spawn(async {
            yields(2).await;
            Err("boom")
        });
        match group.join().await {
            Err(TaskGroupError::Failed(msg)) => assert_eq!(msg, "boom"),
            other => panic!("{other:?}"),
        }
        // The awaiter is gone; the shielded work still waits for `go`,
        // then finishes: it was not cancelled with its awaiter.
        assert!(!saved.get());
        go.set();
        done.wait().await;
        assert!(saved.get());

        let err = ringloop::task::shield(async { panic!("inside") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
    }));
}

// ---------------------------------------------------------------- locks

/// A guard held by a model client.
enum Held {
    Read(ringloop::sync::RwLockReadGuard<'static, u64>),
    Write(ringloop::sync::RwLockWriteGuard<'static, u64>),
    Mutex(ringloop::sync::MutexGuard<'static, u64>),
}

impl Held {
    fn is_read(&self) -> bool {
        matches!(self, Held::Read(_))
    }
}

/// Leaks `value` for a `'static` borrow (the model's futures and guards
/// are `'static`), and keeps its address in a global, so that
/// LeakSanitizer (CI runs the tests under it) finds it reachable and does
/// not report it.
fn kept<T>(value: T) -> &'static T {
    static KEPT: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
    let leaked: &'static T = Box::leak(Box::new(value));
    KEPT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(std::ptr::from_ref(leaked) as usize);
    leaked
}

/// One client of the lock model: idle, waiting (its arrival number and
/// whether it wants to write), or holding a guard.
enum Client {
    Idle,
    Waiting(u64, bool, Probe<Held>),
    Holding(Held),
}

/// Drives `Mutex` (`rw == false`) or `RwLock` by hand with random
/// requests, polls, cancellations (of waiters, some after being granted)
/// and releases, and checks after every step: exclusion; FIFO order (a
/// request is granted only when no earlier waiter that it may not pass is
/// still waiting: for a writer or a mutex, none at all; for a reader, no
/// earlier writer); no waiter ready without a wake; and, once every woken
/// waiter has run, no waiter passed over while the lock could take it.
fn lock_model(seed: u64, rw: bool) {
    let mut rng = Rng::new(seed);
    let rwlock: &'static ringloop::sync::RwLock<u64> = kept(ringloop::sync::RwLock::new(0));
    let mutex: &'static ringloop::sync::Mutex<u64> = kept(ringloop::sync::Mutex::new(0));
    const CLIENTS: usize = 6;
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::Idle).collect();
    let mut arrivals = 0u64;

    fn check_holders(clients: &[Client]) {
        let held: Vec<&Held> = clients
            .iter()
            .filter_map(|c| match c {
                Client::Holding(h) => Some(h),
                _ => None,
            })
            .collect();
        let writers = held.iter().filter(|h| !h.is_read()).count();
        assert!(
            writers == 0 || held.len() == 1,
            "exclusion broken: {} holders with {writers} writer(s)",
            held.len()
        );
    }

    /// A waiter (arrival `seq`, writer or not) was just granted: nobody it
    /// may not pass is still waiting.
    fn check_order(clients: &[Client], seq: u64, write: bool) {
        for c in clients {
            if let Client::Waiting(other, other_write, _) = c {
                if *other < seq && (write || *other_write) {
                    panic!(
                        "FIFO broken: request {seq} (write: {write}) granted before \
                         earlier request {other} (write: {other_write})"
                    );
                }
            }
        }
    }

    for step in 0..4000 {
        let i = rng.range(0, CLIENTS as u64 - 1) as usize;
        match std::mem::replace(&mut clients[i], Client::Idle) {
            Client::Idle => {
                let write = !rw || rng.range(0, 2) == 0;
                let mut probe = match (rw, write) {
                    (false, _) => Probe::new(async move { Held::Mutex(mutex.lock().await) }),
                    (true, false) => Probe::new(async move { Held::Read(rwlock.read().await) }),
                    (true, true) => Probe::new(async move { Held::Write(rwlock.write().await) }),
                };
                arrivals += 1;
                match probe.poll() {
                    Poll::Ready(held) => {
                        // Taken at once: it passed nobody it may not pass
                        // (a reader may join readers that were let in but
                        // have not run yet).
                        check_order(&clients, u64::MAX, write);
                        clients[i] = Client::Holding(held);
                    }
                    Poll::Pending => clients[i] = Client::Waiting(arrivals, write, probe),
                }
            }
            Client::Waiting(seq, write, mut probe) => {
                let roll = rng.range(0, 9);
                if roll < 2 {
                    // Cancelled (perhaps after the lock was handed to it).
                } else if probe.woken() || roll < 4 {
                    match probe.poll() {
                        Poll::Ready(held) => {
                            check_order(&clients, seq, write);
                            clients[i] = Client::Holding(held);
                        }
                        Poll::Pending => clients[i] = Client::Waiting(seq, write, probe),
                    }
                } else {
                    clients[i] = Client::Waiting(seq, write, probe);
                }
            }
            Client::Holding(mut held) => {
                if rng.range(0, 2) != 0 {
                    // Keep it a while longer (and use it); else released.
                    match &mut held {
                        Held::Write(g) => **g += 1,
                        Held::Mutex(g) => **g += 1,
                        Held::Read(g) => assert!(**g < u64::MAX),
                    }
                    clients[i] = Client::Holding(held);
                }
            }
        }
        check_holders(&clients);
        for c in clients.iter_mut() {
            if let Client::Waiting(_, _, probe) = c {
                probe.assert_no_lost_wake("lock waiter");
            }
        }
        if step % 7 == 0 {
            // Settle, then the first waiter must be blocked by a holder.
            loop {
                let mut progressed = false;
                for k in 0..CLIENTS {
                    if let Client::Waiting(seq, write, probe) = &mut clients[k] {
                        if probe.woken() {
                            progressed = true;
                            let (seq, write) = (*seq, *write);
                            if let Poll::Ready(held) = probe.poll() {
                                check_order(&clients, seq, write);
                                clients[k] = Client::Holding(held);
                            }
                        }
                    }
                }
                if !progressed {
                    break;
                }
            }
            check_holders(&clients);
            let first = clients
                .iter()
                .filter_map(|c| match c {
                    Client::Waiting(seq, write, _) => Some((*seq, *write)),
                    _ => None,
                })
                .min();
            if let Some((seq, write)) = first {
                let holders: Vec<bool> = clients
                    .iter()
                    .filter_map(|c| match c {
                        Client::Holding(h) => Some(h.is_read()),
                        _ => None,
                    })
                    .collect();
                let blocked = if write {
                    !holders.is_empty()
                } else {
                    holders.iter().any(|read| !read)
                };
                assert!(
                    blocked,
                    "step {step}: request {seq} (write: {write}) waits on a lock it could take"
                );
            }
        }
    }
    drop(clients);
    // Everything released: the lock is free again.
    if rw {
        assert!(rwlock.try_write().is_ok(), "the rwlock was left held");
    } else {
        assert!(!mutex.is_locked(), "the mutex was left held");
    }
}

#[test]
fn mutex_model_check_fifo_exclusion_and_no_lost_grant() {
    for seed in 0..6 {
        lock_model(0x10c0 + seed, false);
    }
}

#[test]
fn rwlock_model_check_writer_fairness_exclusion_and_no_lost_grant() {
    for seed in 0..6 {
        lock_model(0x2e40 + seed, true);
    }
}

/// Extreme but meaningful settings build a working runtime (or, where the
/// kernel refuses, fail with an error): never a panic, and the loop runs.
#[test]
fn extreme_builder_settings_never_panic() {
    type Setting = fn(&mut ringloop::Builder);
    let settings: [(&str, Setting); 9] = [
        ("entries(1)", |b| {
            b.entries(1);
        }),
        ("tasks_per_tick(0)", |b| {
            b.tasks_per_tick(0);
        }),
        ("tasks_per_tick(MAX)", |b| {
            b.tasks_per_tick(usize::MAX);
        }),
        ("max_blocking_threads(0)", |b| {
            b.max_blocking_threads(0);
        }),
        ("max_blocking_threads(MAX)", |b| {
            b.max_blocking_threads(usize::MAX);
        }),
        ("spin_before_park(MAX)", |b| {
            b.spin_before_park(Duration::MAX);
        }),
        ("spin_before_park(ZERO)", |b| {
            b.spin_before_park(Duration::ZERO);
        }),
        ("direct_descriptors+register_streams(MAX)", |b| {
            b.direct_descriptors(u32::MAX).register_streams(u32::MAX);
        }),
        ("sqpoll(MAX)", |b| {
            b.sqpoll(Duration::MAX);
        }),
    ];
    for (name, apply) in settings {
        let mut builder = ringloop::Runtime::builder();
        apply(&mut builder);
        let rt = match builder.build() {
            Ok(rt) => rt,
            Err(err) => {
                // Only the kernel may refuse (SQPOLL needs privileges on
                // older kernels); the message says why.
                assert!(name.starts_with("sqpoll"), "{name}: {err}");
                assert!(!err.to_string().is_empty());
                continue;
            }
        };
        let out = rt.block_on(util::within(10, name, async {
            ringloop::time::sleep(Duration::from_millis(2)).await;
            let jobs: Vec<_> = (0..4u32)
                .map(|i| ringloop::spawn_blocking(move || i * 2))
                .collect();
            let mut sum = 0;
            for job in jobs {
                sum += job.await.unwrap();
            }
            sum + ringloop::spawn(async { 1 }).await.unwrap()
        }));
        assert_eq!(out, 13, "{name}");
    }
}

/// `wait` at scale: it re-examined every unfinished task each time one
/// finished, which is quadratic (50,000 tasks: tens of seconds, against a
/// fraction of one for a `JoinSet`). Each wake-up now looks only at the
/// tasks that finished. The bound is generous: it only tells linear from
/// quadratic.
#[test]
fn wait_on_fifty_thousand_tasks_is_not_quadratic() {
    ringloop::run(util::within(20, "wait at scale", async {
        const N: usize = 50_000;
        for mode in [WaitMode::AllCompleted, WaitMode::FirstException] {
            let tasks: Vec<_> = (0..N)
                .map(|i| {
                    ringloop::spawn(async move {
                        yields((i % 64) as u64).await;
                        if mode == WaitMode::FirstException && i == N - 1 {
                            Err(i)
                        } else {
                            Ok(i)
                        }
                    })
                })
                .collect();
            let (done, pending) = wait(tasks, mode).await;
            assert!(done.windows(2).all(|w| w[0].0 < w[1].0));
            match mode {
                WaitMode::AllCompleted => {
                    assert_eq!(done.len(), N);
                    assert!(pending.is_empty());
                }
                _ => {
                    assert!(
                        done.iter()
                            .any(|(i, o)| *i == N - 1 && matches!(o, Ok(Err(_))))
                    );
                    for (_, task) in pending {
                        task.await.unwrap().unwrap();
                    }
                }
            }
        }
    }));
}

/// A `block_on` whose future panics leaves the runtime usable: the panic
/// propagates to the caller, the tasks it spawned live on and run at the
/// next `block_on`, timers and sync primitives still work, and the
/// runtime's drop then cancels what is left.
#[test]
fn a_panicking_block_on_leaves_the_runtime_usable() {
    let rt = ringloop::Runtime::new().unwrap();
    let (tx, rx) = mpsc::unbounded::<u32>();
    let rx = Rc::new(rx);
    let worker = {
        let rx = rx.clone();
        rt.spawn(async move {
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        })
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            tx.try_send(1).unwrap();
            ringloop::time::sleep(Duration::from_millis(1)).await;
            let _pending_sleep = ringloop::time::sleep(Duration::from_secs(60));
            panic!("main future panics");
        })
    }));
    assert!(caught.is_err());
    let leftover = rt.spawn(std::future::pending::<()>());
    let sum = rt.block_on(util::within(10, "after a panic", async {
        tx.try_send(2).unwrap();
        ringloop::time::sleep(Duration::from_millis(1)).await;
        drop(tx);
        worker.await.unwrap()
    }));
    assert_eq!(sum, 3);
    assert_eq!(rt.metrics().tasks, 1);
    drop(rt);
    assert!(leftover.is_finished());
    let outcome = ringloop::run(leftover);
    assert!(outcome.unwrap_err().is_cancelled());
}
