//! Reliability: 100,000 timers.
//!
//! 100,000 sleeps with seeded random deadlines in [0, 1 s] from a common
//! start, one task each; 10% of them are cancelled at a random moment
//! before their deadline, half by `Task::cancel`, half by dropping the
//! `Sleep` future itself while the task lives on. Checked:
//!
//! - every sleep that was not cancelled completes exactly once, and never
//!   before its deadline (`Instant::now()` after the wake-up);
//! - a cancelled sleep never completes after its cancel: a task cancelled
//!   with `Task::cancel` never runs again (its join says cancelled), and a
//!   task whose `Sleep` was dropped is never woken again by that timer
//!   (its polls are counted until the test releases it);
//! - the timer queue and the task table are empty afterwards.
//!
//! A cancel is issued by a canceller task whose own timer is due no later
//! than the target's deadline. Cancellers are spawned (and so first
//! polled) before the targets, and timers due in the same pass wake in
//! deadline order, so the cancel always lands first — except when the
//! target's deadline had already passed at its first poll (spawning
//! 100,000 tasks takes a while), so that its sleep completed at once. That
//! race is legitimate and counted; a cancelled target whose sleep was
//! registered and still fired is a failure (timers out of order), and so
//! is any sleep completing *after* its cancel was issued.
//!
//! Also: a 1 ms sleep right after (and while) a 1 s sleep does not wait
//! for the 1 s one.

mod util;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ringloop::Task;
use ringloop::time::{Sleep, sleep, sleep_until};

const TIMERS: usize = 100_000;
const SPAN_US: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Plain,
    /// Cancelled with `Task::cancel`.
    TaskCancel,
    /// The `Sleep` is dropped; the task goes on.
    DropSleep,
}

/// What happened to one timer.
#[derive(Default)]
struct Record {
    fired: Cell<u32>,
    /// Set by the canceller when it issues the cancel.
    cancel_issued: Cell<bool>,
    /// The target saw the cancel and dropped its sleep.
    dropped: Cell<bool>,
    /// Polls of a `DropSleep` target after it dropped its sleep.
    polls_after_drop: Cell<u32>,
    /// The target's waker while its sleep is pending (`DropSleep`).
    waker: RefCell<Option<Waker>>,
    /// The sleep completed at its first poll (its deadline had passed
    /// before the target first ran): the only way a cancel, issued before
    /// the deadline by a task polled earlier, can lose the race.
    ready_at_first_poll: Cell<bool>,
}

/// Released at the end: wakes every `DropSleep` target for its last poll.
#[derive(Default)]
struct End {
    done: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

struct Totals {
    late_max: Duration,
    late_sum: Duration,
    fired: usize,
}

/// The body of a `Plain` or `TaskCancel` target.
async fn plain_target(deadline: Instant, rec: Rc<Record>, totals: Rc<RefCell<Totals>>) {
    let mut sleep = Box::pin(sleep_until(deadline));
    let mut first = true;
    poll_fn(|cx| {
        let poll = sleep.as_mut().poll(cx);
        if std::mem::take(&mut first) && poll.is_ready() {
            rec.ready_at_first_poll.set(true);
        }
        poll
    })
    .await;
    let now = Instant::now();
    assert!(now >= deadline, "a timer fired {:?} early", deadline - now);
    assert!(
        !rec.cancel_issued.get(),
        "a sleep completed after Task::cancel was issued"
    );
    rec.fired.set(rec.fired.get() + 1);
    let mut t = totals.borrow_mut();
    t.late_max = t.late_max.max(now - deadline);
    t.late_sum += now - deadline;
    t.fired += 1;
}

/// The body of a `DropSleep` target: drops its sleep when the canceller
/// says so, then waits for the end, counting every poll meanwhile.
async fn drop_target(deadline: Instant, rec: Rc<Record>, end: Rc<End>) {
    let mut sleep: Option<Pin<Box<Sleep>>> = Some(Box::pin(sleep_until(deadline)));
    let mut first = true;
    poll_fn(|cx| {
        let first = std::mem::take(&mut first);
        if rec.dropped.get() {
            rec.polls_after_drop.set(rec.polls_after_drop.get() + 1);
            if end.done.get() {
                return Poll::Ready(());
            }
            end.wakers.borrow_mut().push(cx.waker().clone());
            return Poll::Pending;
        }
        if rec.cancel_issued.get() {
            sleep = None; // unregisters the timer
            rec.dropped.set(true);
            end.wakers.borrow_mut().push(cx.waker().clone());
            return Poll::Pending;
        }
        match sleep.as_mut().expect("sleep present").as_mut().poll(cx) {
            Poll::Ready(()) => {
                let now = Instant::now();
                assert!(now >= deadline, "a timer fired {:?} early", deadline - now);
                rec.ready_at_first_poll.set(first);
                rec.fired.set(rec.fired.get() + 1);
                Poll::Ready(())
            }
            Poll::Pending => {
                *rec.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await;
}

#[test]
fn hundred_thousand_timers_fire_once_never_early_never_after_cancel() {
    let runtime = ringloop::Runtime::new().unwrap();
    runtime.block_on(async {
        let baseline_timers = ringloop::runtime::metrics().unwrap().timers;
        let mut rng = util::Rng::new(0x7131_4e55);
        let start = Instant::now();
        let totals = Rc::new(RefCell::new(Totals {
            late_max: Duration::ZERO,
            late_sum: Duration::ZERO,
            fired: 0,
        }));
        let end = Rc::new(End::default());

        struct Plan {
            kind: Kind,
            deadline: Instant,
            cancel_at: Instant,
            rec: Rc<Record>,
        }
        let plans: Vec<Plan> = (0..TIMERS)
            .map(|_| {
                let offset = rng.range(0, SPAN_US);
                let roll = rng.range(0, 99);
                let kind = match roll {
                    0..=89 => Kind::Plain,
                    90..=94 => Kind::TaskCancel,
                    _ => Kind::DropSleep,
                };
                Plan {
                    kind,
                    deadline: start + Duration::from_micros(offset),
                    cancel_at: start + Duration::from_micros(rng.range(0, offset)),
                    rec: Rc::new(Record::default()),
                }
            })
            .collect();

        // Cancellers first: each one's first poll comes before its target's.
        let mut slots: Vec<Rc<RefCell<Option<Task<()>>>>> = Vec::new();
        let mut cancellers = Vec::new();
        for plan in plans.iter().filter(|p| p.kind != Kind::Plain) {
            let slot: Rc<RefCell<Option<Task<()>>>> = Rc::default();
            slots.push(slot.clone());
            let (kind, cancel_at, rec) = (plan.kind, plan.cancel_at, plan.rec.clone());
            cancellers.push(ringloop::spawn(async move {
                sleep_until(cancel_at).await;
                rec.cancel_issued.set(true);
                match kind {
                    Kind::TaskCancel => slot.borrow().as_ref().expect("target spawned").cancel(),
                    Kind::DropSleep => {
                        if let Some(waker) = rec.waker.borrow_mut().take() {
                            waker.wake();
                        }
                    }
                    Kind::Plain => unreachable!(),
                }
            }));
        }
        let mut targets = Vec::with_capacity(TIMERS);
        let mut next_slot = slots.iter();
        for plan in &plans {
            let rec = plan.rec.clone();
            let task = match plan.kind {
                Kind::Plain | Kind::TaskCancel => {
                    ringloop::spawn(plain_target(plan.deadline, rec, totals.clone()))
                }
                Kind::DropSleep => ringloop::spawn(drop_target(plan.deadline, rec, end.clone())),
            };
            if plan.kind == Kind::Plain {
                targets.push((plan.kind, Some(task)));
            } else {
                let slot = next_slot.next().unwrap();
                if plan.kind == Kind::TaskCancel {
                    *slot.borrow_mut() = Some(task);
                    targets.push((plan.kind, None));
                } else {
                    targets.push((plan.kind, Some(task)));
                }
            }
        }
        let spawned = start.elapsed();

        // Every canceller has run and every plain timer has fired.
        util::within(30, "cancellers", async {
            for canceller in cancellers {
                canceller.await.unwrap();
            }
        })
        .await;
        util::within(30, "plain timers", async {
            for (kind, task) in &mut targets {
                if *kind == Kind::Plain {
                    task.take().unwrap().await.unwrap();
                }
            }
        })
        .await;
        let all_fired = start.elapsed();
        // Deadlines end at 1 s; allow for a slow (debug, sanitizer) build
        // on a busy machine, but not for a timer stuck behind another.
        assert!(
            all_fired < Duration::from_secs(5),
            "the last plain timer fired {all_fired:?} after the start"
        );
        // Past every deadline: a stale timer of a dropped sleep would have
        // woken its task by now. Let the loop turn a few more times.
        sleep_until(start + Duration::from_micros(SPAN_US) + Duration::from_millis(20)).await;
        for _ in 0..10 {
            ringloop::yield_now().await;
        }
        let m = ringloop::runtime::metrics().unwrap();
        assert_eq!(
            m.timers, baseline_timers,
            "only live sleeps hold timers (none now): {m:?}"
        );

        // Release the DropSleep targets and collect the cancelled ones.
        end.done.set(true);
        for waker in end.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
        let (mut task_cancelled, mut sleeps_dropped, mut raced) = (0, 0, 0);
        util::within(30, "cancelled targets", async {
            for (kind, task) in &mut targets {
                if let Some(task) = task.take() {
                    assert_ne!(*kind, Kind::Plain);
                    task.await.unwrap();
                }
            }
            for slot in &slots {
                let task = slot.borrow_mut().take();
                if let Some(task) = task {
                    match task.await {
                        Err(err) if err.is_cancelled() => task_cancelled += 1,
                        Err(err) => panic!("a cancelled timer task failed: {err}"),
                        Ok(()) => raced += 1,
                    }
                }
            }
        })
        .await;
        let (mut plain, mut cancelled_kinds) = (0, 0);
        for plan in &plans {
            let rec = &plan.rec;
            match plan.kind {
                Kind::Plain => {
                    plain += 1;
                    assert_eq!(
                        rec.fired.get(),
                        1,
                        "a timer fired {} times",
                        rec.fired.get()
                    );
                }
                Kind::TaskCancel => {
                    cancelled_kinds += 1;
                    assert!(rec.fired.get() <= 1);
                    assert!(
                        rec.fired.get() == 0 || rec.ready_at_first_poll.get(),
                        "a registered timer fired before an earlier-due cancel \
                         (timers out of deadline order?)"
                    );
                }
                Kind::DropSleep => {
                    cancelled_kinds += 1;
                    assert!(rec.fired.get() <= 1);
                    if rec.dropped.get() {
                        sleeps_dropped += 1;
                        assert_eq!(rec.fired.get(), 0, "a dropped sleep fired");
                        assert_eq!(
                            rec.polls_after_drop.get(),
                            1,
                            "a task was woken after its sleep was dropped (stale timer)"
                        );
                    } else {
                        raced += 1;
                        assert_eq!(rec.fired.get(), 1, "a sleep neither fired nor was dropped");
                        assert!(
                            rec.ready_at_first_poll.get(),
                            "a registered timer fired before an earlier-due cancel \
                             (timers out of deadline order?)"
                        );
                    }
                }
            }
        }
        let totals = totals.borrow();
        eprintln!(
            "{TIMERS} timers: spawned in {spawned:?}, all fired by {all_fired:?}; \
             {plain} fired (late by {:?} on average, {:?} at most); \
             {task_cancelled} cancelled with Task::cancel, {sleeps_dropped} sleeps dropped, \
             {raced} fired before their canceller ran",
            totals.late_sum / u32::try_from(totals.fired.max(1)).unwrap(),
            totals.late_max,
        );
        assert!(plain >= TIMERS * 85 / 100 && cancelled_kinds >= TIMERS * 8 / 100);
        assert_eq!(plain + cancelled_kinds, TIMERS);
        assert_eq!(task_cancelled + sleeps_dropped + raced, cancelled_kinds);
        assert!(
            task_cancelled > 0 && sleeps_dropped > 0,
            "both ways of cancelling were exercised"
        );
        let m = ringloop::runtime::metrics().unwrap();
        assert_eq!(m.timers, baseline_timers, "{m:?}");
        assert_eq!(m.tasks, 0, "{m:?}");
    });
}

#[test]
fn short_sleep_after_a_long_one_does_not_hang() {
    ringloop::run(async {
        // In sequence: the 1 s sleep has fired; the 1 ms one must not wait
        // on anything stale.
        let t0 = Instant::now();
        util::within(5, "1 s sleep", sleep(Duration::from_secs(1))).await;
        assert!(t0.elapsed() >= Duration::from_secs(1));
        let t1 = Instant::now();
        util::within(
            1,
            "1 ms sleep after a 1 s sleep",
            sleep(Duration::from_millis(1)),
        )
        .await;
        let took = t1.elapsed();
        assert!(took >= Duration::from_millis(1), "fired early: {took:?}");
        assert!(
            took < Duration::from_millis(200),
            "1 ms sleep took {took:?}"
        );

        // Concurrently: a 1 ms sleep registered while the loop is parked
        // on a 1 s deadline fires in about 1 ms, not 1 s.
        let long = ringloop::spawn(sleep(Duration::from_secs(1)));
        ringloop::yield_now().await; // the long sleep registers
        ringloop::yield_now().await;
        assert!(ringloop::runtime::metrics().unwrap().timers >= 1);
        let t2 = Instant::now();
        util::within(
            1,
            "1 ms sleep during a 1 s sleep",
            sleep(Duration::from_millis(1)),
        )
        .await;
        let took = t2.elapsed();
        assert!(took >= Duration::from_millis(1), "fired early: {took:?}");
        assert!(
            took < Duration::from_millis(200),
            "1 ms sleep took {took:?}"
        );
        assert!(!long.is_finished(), "the 1 s sleep is still pending");
        util::within(5, "the 1 s sleep", long).await.unwrap();

        // And the reverse: a task parked on 1 ms while 1 s is pending.
        for _ in 0..100 {
            let long = ringloop::spawn(sleep(Duration::from_secs(1)));
            let short = ringloop::spawn(sleep(Duration::from_millis(1)));
            let t = Instant::now();
            util::within(1, "1 ms task", short).await.unwrap();
            assert!(t.elapsed() < Duration::from_millis(200));
            long.cancel();
            assert!(long.await.unwrap_err().is_cancelled());
        }
        assert_eq!(ringloop::runtime::metrics().unwrap().timers, 0);
    });
}
