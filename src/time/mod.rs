//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`interval`].
//!
//! Timers cost no SQE. Each runtime keeps its timers ordered by deadline;
//! when the loop has nothing to run it parks in `io_uring_enter` with the
//! nearest deadline as the wait's timeout (`IORING_ENTER_EXT_ARG`), and after
//! each pass through the kernel it wakes the timers that are due. A hundred
//! thousand sleeps are a hundred thousand map entries, not a hundred thousand
//! syscalls. A timer never fires early: it fires only once the monotonic
//! clock has reached its deadline.

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::{Handle, context};

/// A timer's place in the queue: its deadline, then a sequence number that
/// keeps timers with equal deadlines apart (and in order).
type TimerKey = (Instant, u64);

/// The timers of one runtime.
#[derive(Default)]
pub(crate) struct TimerQueue {
    timers: BTreeMap<TimerKey, Waker>,
    next_seq: u64,
}

impl TimerQueue {
    fn insert(&mut self, deadline: Instant, waker: &Waker) -> TimerKey {
        let key = (deadline, self.next_seq);
        self.next_seq += 1;
        self.timers.insert(key, waker.clone());
        key
    }

    /// Refreshes the waker of a pending timer; `false` if it has fired.
    fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.timers.get_mut(&key) {
            Some(stored) => {
                if !stored.will_wake(waker) {
                    *stored = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, key: TimerKey) {
        self.timers.remove(&key);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers
            .first_key_value()
            .map(|((deadline, _), _)| *deadline)
    }

    /// Removes and returns the waker of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        let entry = self.timers.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }

    pub(crate) fn clear(&mut self) {
        self.timers.clear();
    }
}

/// A deadline far enough away to mean "never", for durations that overflow
/// `Instant` (`Duration::MAX`).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

fn deadline_after(duration: Duration) -> Instant {
    Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future)
}

/// Waits until `duration` has elapsed.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringloop::run(async {
///     let start = Instant::now();
///     ringloop::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
    }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// # Panics
///
/// Polling it on a thread without a running ringloop runtime panics: there
/// is no loop to wake it.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    registered: Option<(TimerKey, Rc<Handle>)>,
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline; the sleep waits again.
    pub fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.deadline = deadline;
    }

    fn unregister(&mut self) {
        if let Some((key, handle)) = self.registered.take() {
            handle.timers.borrow_mut().remove(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((key, handle)) = &self.registered {
            // A timer fires only in the turns of the runtime whose queue
            // holds it. Polled while another runtime runs on this thread
            // (that one may never turn again, or was dropped, which empties
            // its queue), it moves to the runtime running now: else it
            // would wait for a loop that does not run, or fire early.
            let elsewhere =
                context::with_current(|current| !Rc::ptr_eq(current, handle)).unwrap_or(false);
            if !elsewhere {
                if handle.timers.borrow_mut().update(*key, cx.waker()) {
                    return Poll::Pending;
                }
                // Gone from the queue: it fired (the queue removes a timer
                // only once its deadline passed), or its runtime was
                // dropped, which empties the queue, and this poll comes
                // from no runtime at all (then it must not fire early: the
                // deadline decides, below).
                self.registered = None;
            } else {
                self.unregister();
            }
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let Some(handle) = context::handle() else {
            panic!(
                "ringloop::time::Sleep polled outside a ringloop runtime; await it inside ringloop::run or Runtime::block_on"
            );
        };
        let key = handle.timers.borrow_mut().insert(self.deadline, cx.waker());
        self.registered = Some((key, handle));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.registered.is_some())
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(err: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, err)
    }
}

/// Runs `future` for at most `duration`, like `asyncio.wait_for`. When the
/// time is up the future is dropped — which cancels its in-flight I/O — and
/// the result is `Err(Elapsed)`.
///
/// ```
/// use std::time::Duration;
/// use ringloop::time::{sleep, timeout};
/// ringloop::run(async {
///     let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await;
///     assert!(slow.is_err());
///     let fast = timeout(Duration::from_secs(10), async { 7 }).await;
///     assert_eq!(fast, Ok(7));
/// });
/// ```
///
/// An elapsed deadline (`Duration::ZERO`, or a past `timeout_at`) completes
/// at once when the future is not ready, without yielding to other tasks:
/// a loop that retries such a timeout should `yield_now().await` between
/// tries, or it keeps the loop busy.
///
/// # Errors
///
/// [`Elapsed`] if the deadline passes before the future completes.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout_at(deadline_after(duration), future).await
}

/// Like [`timeout`], with an absolute deadline.
///
/// # Errors
///
/// [`Elapsed`] if the deadline passes before the future completes.
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut sleep = sleep_until(deadline);
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// What an [`Interval`] does when ticks were missed (the task was busy
/// longer than a period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, then keep the original schedule.
    #[default]
    Burst,
    /// Start a fresh schedule from now: one period after the late tick.
    Delay,
    /// Drop the missed ticks and keep to the original grid.
    Skip,
}

/// Ticks every `period`; the first tick completes at once.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let mut every = ringloop::time::interval(Duration::from_millis(2));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// });
/// ```
///
/// A zero `period` is raised to 1 ns rather than panicking. Such a period
/// (like any shorter than a tick takes) is always behind: the interval
/// then ticks at every poll, but it yields to the loop after every 32
/// ticks in a row that came without waiting, so a
/// `loop { every.tick().await; .. }` cannot starve the other tasks.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        next: start,
        period: period.max(Duration::from_nanos(1)),
        sleep: sleep_until(start),
        missed: MissedTickBehavior::default(),
        immediate: 0,
    }
}

/// Ticks in a row that an [`Interval`] delivers without waiting before it
/// yields to the loop once.
const IMMEDIATE_TICKS: u32 = 32;

/// The stream of ticks of [`interval`].
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Sleep,
    missed: MissedTickBehavior,
    /// Ticks delivered in a row without the sleep ever being pending.
    immediate: u32,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.deadline() != self.next {
            self.sleep.reset(self.next);
        }
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            self.immediate = 0;
            return Poll::Pending;
        }
        // A tick that is always due already (a period shorter than a tick
        // takes, e.g. a zero one raised to 1 ns, never catches up) would
        // make `tick().await` complete at every poll, and a loop around it
        // would never give the loop back: every other task would starve.
        // So after a run of ticks that came without waiting, yield once
        // (the sleep stays ready: the next poll delivers this tick).
        self.immediate += 1;
        if self.immediate > IMMEDIATE_TICKS {
            self.immediate = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let tick = self.next;
        let now = Instant::now();
        let next = tick.checked_add(self.period).unwrap_or_else(far_future);
        self.next = if next > now {
            next
        } else {
            match self.missed {
                MissedTickBehavior::Burst => next,
                MissedTickBehavior::Delay => {
                    now.checked_add(self.period).unwrap_or_else(far_future)
                }
                MissedTickBehavior::Skip => {
                    // The first grid point after now. Counted in u128
                    // nanoseconds: a `u32` count of periods saturated when
                    // more than 2^32 were missed (a 1 ns period, 5 s
                    // behind), which left the "next" tick in the past and
                    // gave a burst of late ticks instead of a skip.
                    let behind = now.duration_since(tick).as_nanos();
                    let period = self.period.as_nanos();
                    let ahead = (behind / period + 1).saturating_mul(period);
                    u64::try_from(ahead)
                        .ok()
                        .and_then(|ns| tick.checked_add(Duration::from_nanos(ns)))
                        .unwrap_or_else(far_future)
                }
            }
        };
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Sets what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        // Checked: a huge period (`Duration::MAX`, "never") would overflow
        // `Instant` and panic.
        self.next = deadline_after(self.period);
    }
}

impl futures_util::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
