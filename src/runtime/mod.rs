//! The event loop: [`Runtime`], [`Builder`], [`run`], [`spawn`] and
//! [`Task`].
//!
//! One runtime is one thread: a ring, a run queue of local tasks and a timer
//! queue. A tick polls the ready tasks (up to a budget), then submits every
//! queued SQE and reaps every CQE with one `io_uring_enter`, blocking in it
//! only when no task is runnable, until the next completion or the nearest
//! timer.

pub(crate) mod context;
mod executor;
mod remote;
mod task;
mod waker;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::driver::setup::RingConfig;
pub use crate::driver::setup::{Cause, SetupError};
use crate::driver::{Driver, Wait};
use crate::time::TimerQueue;
use executor::{Executor, MAIN};
pub use task::{JoinError, Task};
use waker::{Shared, TaskWaker};

/// Timers due within one such slot wake the loop once.
const TIMER_GRANULARITY: Duration = Duration::from_millis(1);

/// Threads of the blocking pool.
const DEFAULT_MAX_BLOCKING_THREADS: usize = 64;

/// Tasks polled per tick before the loop goes back to the ring.
const DEFAULT_TASKS_PER_TICK: usize = 128;

/// Everything one runtime owns; shared (`Rc`) by the `Runtime`, the thread's
/// context and the futures that need it.
pub(crate) struct Handle {
    pub(crate) driver: Rc<Driver>,
    pub(crate) executor: Executor,
    pub(crate) timers: RefCell<TimerQueue>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) signals: RefCell<crate::signal::Registry>,
    pub(crate) blocking: crate::blocking::BlockingPool,
    main: Arc<TaskWaker>,
    main_waker: Waker,
    tasks_per_tick: usize,
    in_block_on: Cell<bool>,
    /// Origin of the timer grid.
    epoch: Instant,
}

impl Handle {
    pub(crate) fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (handle, output) = Task::new();
        let state = self
            .executor
            .spawn(Box::pin(task::run_task(future, output)), &self.shared);
        handle.set_task(state);
        handle
    }

    /// Spawns a task whose future yields the outcome itself (`None`:
    /// cancelled), e.g. a blocking job's delivered result.
    pub(crate) fn spawn_outcome<T, F>(&self, future: F) -> Task<T>
    where
        F: Future<Output = Option<Result<T, JoinError>>> + 'static,
        T: 'static,
    {
        let (handle, output) = Task::new();
        let state = self
            .executor
            .spawn(Box::pin(task::run_outcome(future, output)), &self.shared);
        handle.set_task(state);
        handle
    }

    /// One tick: run ready tasks, then one pass through the kernel, then
    /// fire due timers.
    fn tick(&self) {
        self.executor.run_ready(self.tasks_per_tick);
        // Wakes from other threads are collected after the turn; one pending
        // now only keeps the turn from blocking.
        let next_deadline = self.timers.borrow().next_deadline();
        let wait = if self.executor.has_ready() || self.shared.has_remote() {
            Wait::No
        } else {
            match next_deadline {
                None => Wait::Park(None),
                Some(deadline) => {
                    let now = Instant::now();
                    if deadline <= now {
                        Wait::No
                    } else {
                        Wait::Park(Some(self.timer_grid(deadline) - now))
                    }
                }
            }
        };
        if let Err(err) = self.driver.turn(wait) {
            // Only a broken ring gets here (EBADF, EFAULT): no way to go on.
            panic!("ringloop: io_uring_enter failed: {err}");
        }
        // Only tasks arm timers, and none ran during the turn: the nearest
        // deadline is still `next_deadline`.
        if next_deadline.is_some() {
            self.fire_timers();
        }
        self.drain_remote();
    }

    /// Rounds a deadline up to the runtime's 1 ms timer grid, so that
    /// timers due within the same millisecond wake the loop once. Rounding
    /// up means a timer never fires early; it may fire up to 1 ms late.
    fn timer_grid(&self, deadline: Instant) -> Instant {
        let since = deadline.saturating_duration_since(self.epoch);
        let ms = since.as_nanos().div_ceil(TIMER_GRANULARITY.as_nanos());
        let grid = u32::try_from(ms)
            .ok()
            .and_then(|ms| self.epoch.checked_add(TIMER_GRANULARITY * ms));
        grid.unwrap_or(deadline).max(deadline)
    }

    fn drain_remote(&self) {
        self.shared.drain(|id| self.executor.schedule(id));
    }

    /// Wakes the tasks whose timers are due. (The caller skips it when no
    /// timer is armed: reading the clock is a vDSO call per tick.)
    fn fire_timers(&self) {
        let now = Instant::now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(waker) => waker.wake(),
                None => break,
            }
        }
    }
}

/// A ringloop runtime: an io_uring instance, a local executor and timers.
///
/// Most programs call [`run`] instead. Build one explicitly to choose the
/// ring size, to handle a refused io_uring as an error, or to drive several
/// futures one after the other on the same loop.
///
/// ```
/// let rt = ringloop::Runtime::builder().entries(64).build()?;
/// let answer = rt.block_on(async { 42 });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping the runtime drops every task still alive (a panic in a task's
/// drop is contained, as for a cancelled task), cancels every operation
/// still in the kernel and waits until the kernel has returned each of
/// them before it frees their buffers and closes the ring.
pub struct Runtime {
    handle: Rc<Handle>,
}

impl Runtime {
    /// A runtime with the default settings.
    ///
    /// # Errors
    ///
    /// When io_uring cannot be set up: the error's inner
    /// [`SetupError`] keeps the errno and says the cause (disabled by
    /// `kernel.io_uring_disabled`, refused by seccomp, kernel too old,
    /// memory limit) and the fix.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder to configure the runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, driving every task
    /// spawned on this runtime meanwhile, and returns its output.
    ///
    /// Tasks still alive when it returns stay on the runtime: they run
    /// again at the next `block_on` and are dropped with the runtime.
    ///
    /// # Panics
    ///
    /// If called from inside a `block_on` of the same runtime (a task cannot
    /// block the loop it runs on: await the future instead), or if the ring
    /// fails in a way that leaves no way to go on (never seen in practice).
    /// A panic of `future` itself propagates.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let handle = &self.handle;
        assert!(
            !handle.in_block_on.replace(true),
            "ringloop: Runtime::block_on called from inside the same runtime; await the future instead"
        );
        struct Leave<'a>(&'a Cell<bool>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _leave = Leave(&handle.in_block_on);
        let _context = context::enter(handle.clone());

        let mut future = pin!(future);
        let mut cx = Context::from_waker(&handle.main_waker);
        handle.executor.schedule(MAIN);
        loop {
            if handle.executor.take_main_ready() {
                handle
                    .main
                    .scheduled
                    .store(false, std::sync::atomic::Ordering::Release);
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            handle.tick();
        }
    }

    /// Spawns a task onto this runtime from outside it; it starts running at
    /// the next [`block_on`](Self::block_on).
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.handle.spawn(future)
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        metrics_of(&self.handle)
    }
}

fn metrics_of(handle: &Handle) -> RuntimeMetrics {
    let stats = handle.driver.stats();
    let features = handle.driver.features();
    RuntimeMetrics {
        sqes_submitted: stats.sqes.get(),
        enter_calls: stats.enters.get(),
        cqes_reaped: stats.cqes.get(),
        sq_full_events: stats.sq_full.get(),
        cq_overflow_events: stats.cq_overflow.get(),
        cancels_issued: stats.cancels.get(),
        ops_cancelled: stats.cancelled.get(),
        ops_retried: stats.retries.get(),
        enobufs_events: stats.enobufs.get(),
        eager_sends: stats.eager.get(),
        parks: stats.parks.get(),
        registered_streams: stats.registered_streams.get(),
        spins: stats.spins.get(),
        spin_wakeups: stats.spin_wakeups.get(),
        stale_cqes: handle.driver.stale_cqes(),
        ops_in_flight: handle.driver.in_flight(),
        ops_in_flight_by_kind: handle.driver.in_flight_by_kind(),
        op_slots: handle.driver.op_slots(),
        tasks: handle.executor.len(),
        task_polls: handle.executor.polls(),
        timers: handle.timers.borrow().len(),
        blocking_threads: handle.blocking.threads().0,
        blocking_threads_peak: handle.blocking.threads().1,
        sq_entries: features.sq_entries,
        cq_entries: features.cq_entries,
        defer_taskrun: features.defer_taskrun,
        registered_ring: handle.driver.enters_registered(),
    }
}

/// The counters of the runtime running on this thread, `None` outside one.
///
/// ```
/// ringloop::run(async {
///     let m = ringloop::runtime::metrics().unwrap();
///     assert_eq!(m.ops_in_flight, 0);
/// });
/// ```
pub fn metrics() -> Option<RuntimeMetrics> {
    context::with_current(|handle| metrics_of(handle))
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _context = context::enter(self.handle.clone());
        // Jobs not started are discarded; running ones are not waited for.
        self.handle.blocking.shutdown();
        // Dropping the tasks drops their op futures, which queues a cancel
        // for each op they had in the kernel.
        self.handle.executor.drop_all();
        self.handle.driver.shutdown();
        // Anything spawned by drops during shutdown.
        self.handle.executor.drop_all();
        self.handle.timers.borrow_mut().clear();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Counters of one runtime, from [`Runtime::metrics`] or [`metrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// SQEs pushed (operations, cancels, internal reads).
    pub sqes_submitted: u64,
    /// `io_uring_enter` calls.
    pub enter_calls: u64,
    /// CQEs reaped.
    pub cqes_reaped: u64,
    /// Times the submission queue was full when an SQE was pushed.
    pub sq_full_events: u64,
    /// Times the kernel reported a completion-queue overflow (no completion
    /// is lost: they are flushed).
    pub cq_overflow_events: u64,
    /// `ASYNC_CANCEL` requests issued (futures dropped before completion,
    /// shutdown).
    pub cancels_issued: u64,
    /// Operations the kernel ended with `-ECANCELED` (cancel confirmed).
    pub ops_cancelled: u64,
    /// Operations submitted again after a transient error (`EINTR`,
    /// `EAGAIN`, `ENOBUFS`, an unrequested `ECANCELED`), or to send the
    /// rest of a write-behind send the kernel ended short.
    pub ops_retried: u64,
    /// Multishot receives ended by `ENOBUFS` (their buffer ring ran dry);
    /// each is re-armed once buffers come back.
    pub enobufs_events: u64,
    /// Sends completed at once by a nonblocking `send(2)`, without the ring
    /// (see [`Builder::eager_sends`]).
    pub eager_sends: u64,
    /// Times the loop blocked in `io_uring_enter` because it had nothing
    /// to run (it then sleeps until a completion or a timer).
    pub parks: u64,
    /// Stream fds registered in the ring's file table now
    /// ([`Builder::register_streams`]).
    pub registered_streams: u64,
    /// Spins before parking ([`Builder::spin_before_park`]).
    pub spins: u64,
    /// Spins that saw work arrive, so the loop went on without sleeping.
    pub spin_wakeups: u64,
    /// CQEs that named no live operation (ignored).
    pub stale_cqes: u64,
    /// Operations whose final CQE has not arrived.
    pub ops_in_flight: usize,
    /// The same, by kind of operation (`Recv`, `AcceptMulti`, ...), most
    /// numerous first.
    pub ops_in_flight_by_kind: Vec<(&'static str, usize)>,
    /// Entries in the op table: the operations in flight, results not yet
    /// taken by their futures, and the one slot each
    /// [`WriteBehind`](crate::net::WriteBehind) keeps between its sends.
    pub op_slots: usize,
    /// Live tasks.
    pub tasks: usize,
    /// Task polls so far.
    pub task_polls: u64,
    /// Registered timers.
    pub timers: usize,
    /// Threads of the blocking pool alive now.
    pub blocking_threads: usize,
    /// Most blocking-pool threads alive at once so far.
    pub blocking_threads_peak: usize,
    /// Submission queue size.
    pub sq_entries: u32,
    /// Completion queue size.
    pub cq_entries: u32,
    /// Whether the ring runs with `IORING_SETUP_DEFER_TASKRUN`.
    pub defer_taskrun: bool,
    /// Whether the loop enters the kernel through a registered ring fd
    /// (`IORING_REGISTER_RING_FDS`, Linux 5.18), which spares the kernel a
    /// file lookup per `io_uring_enter`. Not with SQPOLL, and not for more
    /// than 16 runtimes alive at once on one thread (the kernel's limit).
    pub registered_ring: bool,
}

/// Configures a [`Runtime`].
///
/// ```
/// let rt = ringloop::Runtime::builder()
///     .entries(256)
///     .cq_entries(1024)
///     .build()?;
/// # drop(rt);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    entries: u32,
    cq_entries: Option<u32>,
    sqpoll_idle: Option<Duration>,
    tasks_per_tick: usize,
    max_blocking_threads: usize,
    direct_descriptors: u32,
    eager_sends: bool,
    spin_before_park: Option<Duration>,
    register_streams: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: 256 SQ entries, the kernel's default CQ size (twice the
    /// SQ), no SQPOLL.
    pub fn new() -> Builder {
        Builder {
            entries: 256,
            cq_entries: None,
            sqpoll_idle: None,
            tasks_per_tick: DEFAULT_TASKS_PER_TICK,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            direct_descriptors: 0,
            eager_sends: true,
            spin_before_park: None,
            register_streams: 0,
        }
    }

    /// Submission queue size (rounded up to a power of two; clamped to the
    /// kernel's maximum). More SQEs than this per tick are fine: they are
    /// submitted in several batches.
    pub fn entries(&mut self, entries: u32) -> &mut Builder {
        self.entries = entries;
        self
    }

    /// Completion queue size. Completions beyond it are not lost (the
    /// kernel keeps them until the loop reaps), only slower. It must be at
    /// least the submission queue's size ([`entries`](Self::entries), both
    /// rounded up to a power of two); a smaller one (or 0) makes
    /// [`build`](Self::build) fail with `InvalidInput`. Larger than the
    /// kernel's maximum is clamped to it.
    pub fn cq_entries(&mut self, entries: u32) -> &mut Builder {
        self.cq_entries = Some(entries);
        self
    }

    /// Lets a kernel thread poll the submission queue, idling after `idle`
    /// without work. Costs a CPU; saves the submit syscall under load.
    pub fn sqpoll(&mut self, idle: Duration) -> &mut Builder {
        self.sqpoll_idle = Some(idle);
        self
    }

    /// Tasks polled per tick before I/O is reaped again (default 128; at
    /// least 1).
    pub fn tasks_per_tick(&mut self, tasks: usize) -> &mut Builder {
        self.tasks_per_tick = tasks.max(1);
        self
    }

    /// Most threads the blocking pool ([`spawn_blocking`](crate::spawn_blocking))
    /// runs at once (default 64; at least 1). More jobs wait in a queue.
    pub fn max_blocking_threads(&mut self, threads: usize) -> &mut Builder {
        self.max_blocking_threads = threads.max(1);
        self
    }

    /// Gives the ring a table of `slots` direct descriptors, for
    /// [`TcpListener::incoming_direct`](crate::net::TcpListener::incoming_direct)
    /// (default 0: none). Each slot is one connection held without an fd.
    /// The kernel caps the table at `RLIMIT_NOFILE` (`ulimit -n`); a larger
    /// request is clamped to it.
    pub fn direct_descriptors(&mut self, slots: u32) -> &mut Builder {
        self.direct_descriptors = slots;
        self
    }

    /// Registers each stream socket the runtime makes (accepted, connected,
    /// adopted with `from_std`; TCP and Unix) in the ring's file table as
    /// well, up to `slots` at a time (default 0: none).
    ///
    /// Each operation on a plain fd makes the kernel look the file up and
    /// take a reference (`fget`/`fput`); on a registered file it does not.
    /// A registered stream keeps its fd for everything else (socket
    /// options, eager sends, `into_std`), unlike a direct descriptor
    /// ([`direct_descriptors`](Self::direct_descriptors)). The registration
    /// is one more operation per connection, which nothing waits for: the
    /// stream's operations use the fd until it completes, and the slot from
    /// then on. Streams beyond `slots` simply stay unregistered; a slot is
    /// freed when its stream is closed (and every operation on it has
    /// ended). It pays off for long-lived, busy connections (about one per
    /// cent of a loaded echo server's CPU here); for a connection that
    /// sends one message it is one more operation. The table holds
    /// `direct_descriptors + slots` entries, capped at `RLIMIT_NOFILE`.
    /// Needs Linux 5.19; earlier kernels leave every stream unregistered.
    /// [`RuntimeMetrics::registered_streams`] counts the slots in use.
    /// A new stream's registration completes at the next turn of the
    /// loop; `into_std` before that turns the ring itself until it has
    /// (`into_std` consumes the stream: it cannot be retried). The slot is
    /// let go at once by `into_std`, and by a stream closed outside its
    /// runtime's loop, so that the socket is not held open by a ring that
    /// is not turning.
    ///
    /// ```
    /// let rt = ringloop::Runtime::builder().register_streams(4096).build()?;
    /// # drop(rt);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn register_streams(&mut self, slots: u32) -> &mut Builder {
        self.register_streams = slots;
        self
    }

    /// Whether a send may skip the ring when the loop is latency-bound
    /// (default on; always off with [`sqpoll`](Self::sqpoll)).
    ///
    /// With one request in flight, a send through the ring costs an
    /// `io_uring_enter` of its own and a second wake-up of its task, only to
    /// learn that the kernel copied the bytes at once. So when the last
    /// turn of the ring brought at most one completion and no SQE is
    /// queued, the next socket send (one, not bound by a linked timeout) is
    /// tried as one nonblocking `send(2)`; if the socket has no room it
    /// goes through the ring as usual. Under load
    /// every send batches through the ring. Nothing changes for the caller:
    /// the same result, the same errno, the buffer back. Off, every send is
    /// an SQE (for a syscall count of exactly zero besides
    /// `io_uring_enter`, or to compare).
    pub fn eager_sends(&mut self, on: bool) -> &mut Builder {
        self.eager_sends = on;
        self
    }

    /// Before the loop sleeps, it polls the completion ring for up to
    /// `spin` (default: not at all; `Duration::ZERO` turns it off).
    ///
    /// With nothing to run, the loop blocks in `io_uring_enter` until a
    /// completion arrives, and waking it up again costs the kernel a
    /// context switch and the CPU an exit from idle: at one connection,
    /// several microseconds of every round trip, more in a virtual
    /// machine. With a spin the loop first watches the rings' shared
    /// memory (new completions, and the kernel's flag for completion work
    /// it deferred to the loop) with no syscall at all, and goes on at
    /// once when something comes; only after `spin` without work, or at
    /// the next timer, does it sleep. This trades CPU for latency, as
    /// `SO_BUSY_POLL` does: while requests keep arriving within `spin` of
    /// each other the core stays busy even when the work is small, so use
    /// it where latency matters more than an idle core (tens of
    /// microseconds is typical). An idle loop still sleeps after one spin.
    /// The loop spins only while it is latency-bound: after a turn that
    /// brought at most two completions (one request's receive and send).
    /// Under load, where a turn brings many, the next completions are near
    /// whenever it would park, and it parks as without a spin (which saves
    /// the extra submit a spin costs per turn).
    /// Counted in [`RuntimeMetrics::spins`],
    /// [`RuntimeMetrics::spin_wakeups`] and [`RuntimeMetrics::parks`].
    ///
    /// ```
    /// let rt = ringloop::Runtime::builder()
    ///     .spin_before_park(std::time::Duration::from_micros(50))
    ///     .build()?;
    /// # drop(rt);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spin_before_park(&mut self, spin: Duration) -> &mut Builder {
        self.spin_before_park = Some(spin);
        self
    }

    /// Creates the runtime.
    ///
    /// # Errors
    ///
    /// When io_uring cannot be set up (see [`Runtime::new`]), or the
    /// eventfd used for cross-thread wakes cannot be created.
    pub fn build(&self) -> io::Result<Runtime> {
        let eventfd = Arc::new(crate::sys::eventfd()?);
        let config = RingConfig {
            entries: self.entries,
            cq_entries: self.cq_entries,
            sqpoll_idle: self
                .sqpoll_idle
                .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            eager_sends: self.eager_sends,
            spin_before_park: self.spin_before_park,
        };
        let driver = Rc::new(Driver::new(&config, eventfd.clone())?);
        let table = self
            .direct_descriptors
            .saturating_add(self.register_streams);
        if table > 0 {
            let cap = u32::try_from(crate::sys::nofile_limit()).unwrap_or(u32::MAX);
            driver.register_file_table(table.min(cap).max(1))?;
        }
        if self.register_streams > 0 {
            driver.register_streams();
        }
        let shared = Arc::new(Shared::new(eventfd));
        let main = Arc::new(TaskWaker::new(MAIN, shared.clone()));
        let main_waker = Waker::from(main.clone());
        Ok(Runtime {
            handle: Rc::new(Handle {
                driver,
                executor: Executor::default(),
                timers: RefCell::new(TimerQueue::default()),
                shared,
                signals: RefCell::default(),
                blocking: crate::blocking::BlockingPool::new(self.max_blocking_threads),
                main,
                main_waker,
                tasks_per_tick: self.tasks_per_tick,
                in_block_on: Cell::new(false),
                epoch: Instant::now(),
            }),
        })
    }
}

/// Runs `future` on a new runtime and returns its output, like asyncio's
/// `asyncio.run`. Tasks still running when it returns are cancelled.
///
/// ```
/// let n = ringloop::run(async { 1 + 1 });
/// assert_eq!(n, 2);
/// ```
///
/// # Panics
///
/// If io_uring cannot be set up; the message names the cause and the fix.
/// Use [`Runtime::new`] to handle that as an error instead.
pub fn run<F: Future>(future: F) -> F::Output {
    match Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("{err}"),
    }
}

/// Spawns a task on the runtime running on this thread. The future may be
/// `!Send`; it runs on this thread only.
///
/// Outside a runtime nothing is spawned and awaiting the returned task
/// yields an error that says so.
///
/// ```
/// ringloop::run(async {
///     let a = ringloop::spawn(async { 1 });
///     let b = ringloop::spawn(async { 2 });
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// });
/// ```
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match context::handle() {
        Some(handle) => handle.spawn(future),
        None => Task::failed(JoinError::no_runtime()),
    }
}

/// Lets other tasks (and I/O completions) run before this task continues,
/// like `await asyncio.sleep(0)`.
///
/// ```
/// ringloop::run(async {
///     ringloop::yield_now().await;
/// });
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}
