//! The driver: owns the ring and the table of in-flight operations.
//!
//! It pushes SQEs (keeping a backlog when the submission queue is full),
//! enters the kernel once per executor tick, reaps CQEs into the table,
//! wakes the futures waiting on them, and issues `ASYNC_CANCEL` for ops whose
//! futures were dropped. It knows nothing about tasks: the executor calls
//! [`Driver::turn`] and the op futures call [`Driver::submit`] and
//! [`Driver::orphan`].

mod fault;
mod inline_queue;
mod op;
mod registered_ring;
pub(crate) mod setup;
mod spare_cells;
mod table;
mod user_data;

use std::cell::{Cell, RefCell, RefMut, UnsafeCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, squeue, types};

pub(crate) use fault::stream_len;
pub(crate) use inline_queue::InlineQueue;
pub(crate) use op::{Multishot, Op};
use registered_ring::RegisteredRing;
pub(crate) use table::Start;
pub(crate) use table::{Completion, InFlight};
use table::{CqeEffect, OpTable, Orphan, PollSingle};
pub(crate) use user_data::OpId;

use crate::op::link_timeout::LinkTimeout;
use crate::op::register_fd::RegisterFd;
use crate::op::{OpCell, Operation};

/// How long a turn may block in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Submit and reap, never block: tasks are runnable.
    No,
    /// Block until at least one completion arrives, or the timeout passes.
    Park(Option<Duration>),
}

/// Counters kept by the driver (read by `Runtime::metrics`).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sqes: Cell<u64>,
    pub(crate) enters: Cell<u64>,
    pub(crate) cqes: Cell<u64>,
    pub(crate) sq_full: Cell<u64>,
    pub(crate) cq_overflow: Cell<u64>,
    pub(crate) cancels: Cell<u64>,
    /// Op CQEs whose result was `-ECANCELED`: the kernel confirming a
    /// cancellation.
    pub(crate) cancelled: Cell<u64>,
    /// Ops submitted again after a transient error (EINTR, EAGAIN...).
    pub(crate) retries: Cell<u64>,
    /// Multishot receives the kernel ended with ENOBUFS (buffer ring empty).
    pub(crate) enobufs: Cell<u64>,
    /// Ops completed by a nonblocking syscall instead of the ring.
    pub(crate) eager: Cell<u64>,
    /// `io_uring_enter` calls that could block (the loop had nothing to
    /// run).
    pub(crate) parks: Cell<u64>,
    /// Stream fds registered in the file table now
    /// (`Builder::register_streams`).
    pub(crate) registered_streams: Cell<u64>,
    /// Spins before a park (`Builder::spin_before_park`).
    pub(crate) spins: Cell<u64>,
    /// Spins that found work, so the loop did not sleep.
    pub(crate) spin_wakeups: Cell<u64>,
}

#[inline]
pub(crate) fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

thread_local! {
    /// The driver (its address) whose SQE is being built on this thread, 0
    /// outside a build: a stream registered in one ring's file table names
    /// its slot only in SQEs for that ring (`SharedFd::ring_raw`).
    static BUILDING: Cell<usize> = const { Cell::new(0) };
}

/// The driver (its address) whose SQE is being built now, 0 if none.
#[inline]
pub(crate) fn ring_being_built() -> usize {
    BUILDING.with(Cell::get)
}

/// How a turn that would park spins first (`Builder::spin_before_park`).
struct Spin {
    /// The longest spin.
    limit: Duration,
    /// The last turn reaped at most `SPIN_MAX_REAPED` completions.
    latency_bound: Cell<bool>,
    /// Whether the next park spins. Cleared by a spin that found nothing
    /// (the loop is idle for longer than `limit`); set again by a park
    /// that ended within `limit` (a spin would have caught its work). So a
    /// loop whose gaps are longer than `limit` stops burning CPU on spins.
    worth_it: Cell<bool>,
}

/// A backlogged SQE, or a linked pair that must enter the ring together.
enum Queued {
    One(squeue::Entry),
    Linked([squeue::Entry; 2]),
}

impl Queued {
    fn entries(&self) -> &[squeue::Entry] {
        match self {
            Queued::One(sqe) => std::slice::from_ref(sqe),
            Queued::Linked(pair) => pair,
        }
    }
}

/// CQEs copied out of the ring per batch before they are dispatched.
const REAP_BATCH: usize = 256;
/// A turn that reaped at most this many completions leaves the loop
/// latency-bound for a spin before the next park (one request's receive
/// and its send); a busier turn parks straight away (see `before_park`).
const SPIN_MAX_REAPED: usize = 2;
/// Consecutive non-blocking turns that may skip `io_uring_enter` when the
/// kernel reports nothing pending, before one is made anyway.
const MAX_SKIPPED_ENTERS: u32 = 32;
/// How long runtime shutdown waits for the kernel to return every op
/// before it leaks the remaining state rather than free it under the kernel.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub(crate) struct Driver {
    /// `None` once shut down: nothing can be submitted any more.
    ring: RefCell<Option<IoUring>>,
    /// The ring's fd registered in this thread's io_uring context, which
    /// `enter` names instead of the fd (not with SQPOLL, or where the
    /// kernel refused). Given back before the ring is closed.
    registered: Cell<Option<RegisteredRing>>,
    table: RefCell<OpTable>,
    /// SQEs that did not fit in the submission queue, in order. A linked
    /// pair stays one item: the kernel links only SQEs submitted together.
    backlog: RefCell<VecDeque<Queued>>,
    features: setup::Features,
    stats: Stats,
    /// The eventfd other threads write to wake a parked loop; a read of it
    /// is always in flight (user_data `WAKE`) while the driver runs.
    wake_fd: Arc<OwnedFd>,
    /// The 8 bytes the kernel reads the eventfd counter into. Only the
    /// kernel touches them; they are freed with the driver, after the read's
    /// final CQE (or leaked if shutdown times out).
    wake_buf: Box<UnsafeCell<u64>>,
    wake_armed: Cell<bool>,
    /// Shutdown gave up on the wake read: never free its buffer.
    wake_leaked: Cell<bool>,
    reap_buf: RefCell<Vec<(u64, Completion)>>,
    /// Completions made up by fault injection, dispatched at the next turn
    /// as if the kernel had posted them.
    synthetic: RefCell<VecDeque<(u64, Completion)>>,
    skipped_enters: Cell<u32>,
    /// Eager sends are allowed (`Builder::eager_sends`, never with SQPOLL).
    eager_sends: bool,
    /// One op may still run eagerly before the next turn (see
    /// `take_eager_slot`).
    eager_slot: Cell<bool>,
    /// The spin before a park (`Builder::spin_before_park`), if any.
    spin: Option<Spin>,
    /// New streams register their fd in the file table
    /// (`Builder::register_streams`).
    register_streams: Cell<bool>,
    shutting_down: Cell<bool>,
    /// How many times this runtime is the innermost current one on the
    /// thread (`block_on`, the runtime's drop): 0 while its ring does not
    /// turn (see `polled_elsewhere`), including while a nested `block_on`
    /// of another runtime blocks it.
    entered: Cell<u32>,
    /// Provided-buffer group ids: the next never used, and those freed.
    next_bgid: Cell<u16>,
    free_bgids: RefCell<Vec<u16>>,
}

impl Driver {
    pub(crate) fn new(config: &setup::RingConfig, wake_fd: Arc<OwnedFd>) -> io::Result<Driver> {
        let (ring, features) = setup::build_ring(config)?;
        fault::configure_from_env();
        let eager_sends = config.eager_sends && !features.sqpoll;
        let registered = if features.sqpoll {
            None
        } else {
            RegisteredRing::register(&ring)
        };
        let driver = Driver {
            ring: RefCell::new(Some(ring)),
            registered: Cell::new(registered),
            table: RefCell::new(OpTable::new()),
            backlog: RefCell::new(VecDeque::new()),
            features,
            stats: Stats::default(),
            wake_fd,
            wake_buf: Box::new(UnsafeCell::new(0)),
            wake_armed: Cell::new(false),
            wake_leaked: Cell::new(false),
            reap_buf: RefCell::new(Vec::with_capacity(REAP_BATCH)),
            synthetic: RefCell::new(VecDeque::new()),
            skipped_enters: Cell::new(0),
            eager_sends,
            eager_slot: Cell::new(false),
            spin: config
                .spin_before_park
                .filter(|limit| !limit.is_zero())
                .map(|limit| Spin {
                    limit,
                    latency_bound: Cell::new(true),
                    worth_it: Cell::new(true),
                }),
            register_streams: Cell::new(false),
            shutting_down: Cell::new(false),
            entered: Cell::new(0),
            next_bgid: Cell::new(0),
            free_bgids: RefCell::new(Vec::new()),
        };
        driver.arm_wake();
        Ok(driver)
    }

    pub(crate) fn features(&self) -> &setup::Features {
        &self.features
    }

    /// Whether `io_uring_enter` names the ring by its registered index.
    pub(crate) fn enters_registered(&self) -> bool {
        self.registered.get().is_some()
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(crate) fn table(&self) -> RefMut<'_, OpTable> {
        self.table.borrow_mut()
    }

    /// Ops the kernel has not returned yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.table.borrow().in_kernel()
    }

    /// Runs `build` (an op's SQE being built) with this driver as the ring
    /// the SQE is for.
    #[inline]
    fn building<R>(&self, build: impl FnOnce() -> R) -> R {
        // `with` and the cell's own methods: `LocalKey::replace` and `set`
        // go through a lazy-initialisation path even for a `const` key.
        let outer = BUILDING.with(|ring| ring.replace(std::ptr::from_ref(self) as usize));
        let built = build();
        BUILDING.with(|ring| ring.set(outer));
        built
    }

    /// Registers a provided-buffer ring under a new group id.
    ///
    /// # Safety
    ///
    /// `ring` must point to `entries` page-aligned `io_uring_buf` entries
    /// that stay valid until [`unregister_buf_ring`](Self::unregister_buf_ring)
    /// is called for the returned id, or the driver shuts down.
    pub(crate) unsafe fn register_buf_ring(
        &self,
        ring: u64,
        entries: u16,
        flags: u16,
    ) -> io::Result<u16> {
        let ring_guard = self.ring.borrow();
        let Some(uring) = ring_guard.as_ref() else {
            return Err(shut_down_error());
        };
        let bgid = {
            let mut free = self.free_bgids.borrow_mut();
            match free.pop() {
                Some(id) => id,
                None => {
                    let id = self.next_bgid.get();
                    self.next_bgid.set(id.checked_add(1).ok_or_else(|| {
                        io::Error::other("ringloop: all 65,536 buffer group ids are in use")
                    })?);
                    id
                }
            }
        };
        // SAFETY: forwarded from this function's contract.
        let result = unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring, entries, bgid, flags)
        };
        if let Err(err) = result {
            self.free_bgids.borrow_mut().push(bgid);
            return Err(err);
        }
        Ok(bgid)
    }

    /// Gives the ring a sparse file table of `slots` direct descriptors.
    pub(crate) fn register_file_table(&self, slots: u32) -> io::Result<()> {
        let ring = self.ring.borrow();
        let Some(ring) = ring.as_ref() else {
            return Err(shut_down_error());
        };
        ring.submitter().register_files_sparse(slots)
    }

    /// From now on, each new stream registers its fd in the file table
    /// (which must exist: [`register_file_table`](Self::register_file_table)).
    pub(crate) fn register_streams(&self) {
        self.register_streams.set(true);
    }

    /// Registers a new stream's fd in the file table, if the runtime was
    /// asked to (`Builder::register_streams`): a detached op, whose CQE
    /// records the slot in `fd` (see `op::register_fd`).
    pub(crate) fn register_stream(self: &Rc<Self>, fd: &crate::io::SharedFd) {
        if self.register_streams.get() && !fd.is_fixed() {
            let _ = self.submit_detached(RegisterFd::new(fd.clone(), self));
        }
    }

    /// A stream's fd got a slot of the file table.
    pub(crate) fn stream_registered(&self) {
        bump(&self.stats.registered_streams);
    }

    /// A stream let go of its slot.
    pub(crate) fn stream_unregistered(&self) {
        let n = &self.stats.registered_streams;
        n.set(n.get().saturating_sub(1));
    }

    /// Frees a direct-descriptor slot at once (a connection a multishot
    /// accept placed there after its stream was dropped). Synchronous, so
    /// that it can run while the op table is borrowed.
    pub(crate) fn close_slot_now(&self, slot: u32) {
        if let Ok(ring) = self.ring.try_borrow() {
            if let Some(ring) = ring.as_ref() {
                let _ = ring.submitter().register_files_update(slot, &[-1]);
            }
        }
    }

    /// Registers `iovecs` as the ring's fixed buffers.
    ///
    /// # Safety
    ///
    /// Each iovec's memory must stay valid until
    /// [`unregister_buffers`](Self::unregister_buffers) or driver shutdown.
    pub(crate) unsafe fn register_buffers(&self, iovecs: &[libc::iovec]) -> io::Result<()> {
        let ring = self.ring.borrow();
        let Some(ring) = ring.as_ref() else {
            return Err(shut_down_error());
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { ring.submitter().register_buffers(iovecs) }
    }

    pub(crate) fn unregister_buffers(&self) {
        if let Some(ring) = self.ring.borrow().as_ref() {
            let _ = ring.submitter().unregister_buffers();
        }
    }

    /// Unregisters a buffer ring; after this the kernel no longer touches
    /// its memory (no op using the group may still be in flight).
    pub(crate) fn unregister_buf_ring(&self, bgid: u16) {
        if let Some(uring) = self.ring.borrow().as_ref() {
            let _ = uring.submitter().unregister_buf_ring(bgid);
        }
        self.free_bgids.borrow_mut().push(bgid);
    }

    /// Entries in the op table, of any state.
    pub(crate) fn op_slots(&self) -> usize {
        self.table.borrow().len()
    }

    pub(crate) fn in_flight_by_kind(&self) -> Vec<(&'static str, usize)> {
        self.table.borrow().in_kernel_by_kind()
    }

    pub(crate) fn stale_cqes(&self) -> u64 {
        self.table.borrow().stale_cqes()
    }

    #[inline]
    fn is_shut_down(&self) -> bool {
        self.ring.borrow().is_none()
    }

    /// Shutting down or shut down: a cancelled op is not to be retried.
    pub(crate) fn is_closing(&self) -> bool {
        self.shutting_down.get() || self.is_shut_down()
    }

    /// Whether an op or stream of this ring, polled now, is polled outside
    /// its runtime: another runtime on this thread runs (or none), so this
    /// ring does not turn and its completions do not come. Not once it
    /// shuts down: by then the kernel has returned (or is returning) every
    /// op, with its final result.
    ///
    /// "Elsewhere" means that this runtime is not the innermost one
    /// entered on the thread (one load, for the hot path): no `block_on`
    /// of it is on the stack, or one is but a nested `block_on` of another
    /// runtime blocks it (its ring would turn only once the inner one
    /// returns, and the inner one may be waiting for this very op: a
    /// deadlock).
    #[inline]
    pub(crate) fn polled_elsewhere(&self) -> bool {
        self.entered.get() == 0 && !self.is_closing()
    }

    /// A `block_on` (or the runtime's drop) made this driver's runtime
    /// current, or a nested one of another runtime returned to it;
    /// [`left`](Self::left) when it returns, or a nested one of another
    /// runtime starts (see `context::enter`).
    pub(crate) fn entered(&self) {
        self.entered.set(self.entered.get() + 1);
    }

    pub(crate) fn left(&self) {
        self.entered.set(self.entered.get().saturating_sub(1));
    }

    /// Finishes op `id` of this ring for a future polled outside its
    /// runtime ([`polled_elsewhere`](Self::polled_elsewhere)), which would
    /// otherwise wait until that runtime runs again, maybe never: cancels
    /// the op and turns this ring, as shutdown does, until the op's final
    /// CQE, and returns it (an op that completed before the cancel keeps
    /// its result). `Pending` only if the kernel has not returned the op
    /// within the shutdown grace.
    pub(crate) fn cancel_here(&self, id: OpId, waker: &Waker) -> PollSingle {
        let started = Instant::now();
        let mut last_cancel: Option<Instant> = None;
        loop {
            let polled = self.table.borrow_mut().poll_single(id, waker);
            if !matches!(polled, PollSingle::Pending) || started.elapsed() > SHUTDOWN_GRACE {
                return polled;
            }
            // Again every 100 ms for an op that was busy (EALREADY).
            if last_cancel.is_none_or(|t| t.elapsed() > Duration::from_millis(100)) {
                self.push_cancel(id.to_user_data());
                last_cancel = Some(Instant::now());
            }
            // A failed enter (a broken ring) is tried again until the grace
            // ends.
            let _ = self.turn(Wait::Park(Some(Duration::from_millis(20))));
        }
    }

    /// Moves `op` into the table (entered as `start` says) and queues its
    /// SQE. On failure (the driver has shut down) the op comes back with the
    /// error.
    pub(crate) fn submit<T: Operation>(&self, op: T, start: Start) -> Result<OpId, (T, io::Error)> {
        if self.is_shut_down() {
            return Err((op, shut_down_error()));
        }
        // Only an op whose future retries may be failed on purpose.
        let injectable = T::RETRY_TRANSIENT && matches!(start, Start::Single(_));
        let (id, sqe) = self.enter_table(op, start)?;
        let injected = if injectable { fault::op_error() } else { None };
        match injected {
            // The kernel never sees it: no data moves; the op future retries.
            Some(result) => self
                .synthetic
                .borrow_mut()
                .push_back((id.to_user_data(), Completion { result, flags: 0 })),
            None => self.push(sqe.user_data(id.to_user_data())),
        }
        Ok(id)
    }

    /// Submits an op nobody awaits (a close the driver does on a user's
    /// behalf). Its state is released when its CQE arrives.
    pub(crate) fn submit_detached<T: Operation>(&self, op: T) -> Result<(), T> {
        self.submit(op, Start::Detached)
            .map(drop)
            .map_err(|(op, _)| op)
    }

    /// Moves `op` into a heap cell the table owns (a recycled one when
    /// there is one) and builds its SQE there (without user_data).
    fn enter_table<T: Operation>(
        &self,
        op: T,
        start: Start,
    ) -> Result<(OpId, squeue::Entry), (T, io::Error)> {
        let mut table = self.table.borrow_mut();
        let mut cell = table
            .take_spare::<OpCell<T>>()
            .unwrap_or_else(|| Box::new(OpCell(None)));
        // The op is at its final heap address: pointers the SQE takes into
        // it stay valid while the table owns the cell.
        let state = cell.0.insert(op);
        let sqe = self.building(|| with_fixed_file(state.build(), state.fixed_file()));
        match table.insert(cell, start) {
            Ok(id) => Ok((id, sqe)),
            Err((mut cell, err)) => match cell.0.take() {
                Some(op) => Err((op, err)),
                None => unreachable!("ringloop: an op cell lost its state"),
            },
        }
    }

    /// Submits `op` linked to a `LINK_TIMEOUT` of `timeout`: if the
    /// timeout fires first the kernel cancels the op (its result is then
    /// `-ECANCELED`). One SQE pair, no timer wake-up when the op wins.
    pub(crate) fn submit_linked<T: Operation>(
        &self,
        op: T,
        timeout: std::time::Duration,
        waker: &Waker,
    ) -> Result<OpId, (T, io::Error)> {
        if self.is_shut_down() {
            return Err((op, shut_down_error()));
        }
        if self.features.sq_entries < 2 {
            let err = io::Error::new(
                io::ErrorKind::InvalidInput,
                "ringloop: a linked timeout needs a submission queue of at least 2 entries",
            );
            return Err((op, err));
        }
        let (id, sqe) = self.enter_table(op, Start::Single(Some(waker.clone())))?;
        let mut timer = Box::new(OpCell(None));
        // Built in its heap cell: the SQE points at the cell's timespec.
        let timer_sqe = timer.0.insert(LinkTimeout::new(timeout)).build();
        let timer_id = match self.table.borrow_mut().insert(timer, Start::Detached) {
            Ok(timer_id) => timer_id,
            Err(_) => {
                // Unreachable in practice (2^32 ops); submit unbounded.
                self.push(sqe.user_data(id.to_user_data()));
                return Ok(id);
            }
        };
        self.push_queued(Queued::Linked([
            sqe.user_data(id.to_user_data())
                .flags(squeue::Flags::IO_LINK),
            timer_sqe.user_data(timer_id.to_user_data()),
        ]));
        Ok(id)
    }

    /// Submits again an op whose result was a transient error (the op
    /// future's retry). The op's state is reused as is.
    pub(crate) fn resubmit<T: Operation>(
        &self,
        op: T,
        waker: &Waker,
    ) -> Result<OpId, (T, io::Error)> {
        if self.is_closing() {
            return Err((op, shut_down_error()));
        }
        bump(&self.stats.retries);
        self.submit(op, Start::Single(Some(waker.clone())))
    }

    /// The op's future was dropped: cancel it in the kernel, or release it
    /// now if the kernel is done with it.
    pub(crate) fn orphan(&self, id: OpId) {
        let orphan = self.table.borrow_mut().orphan(id);
        match orphan {
            Orphan::Cancel => self.push_cancel(id.to_user_data()),
            Orphan::Free(op) => drop(op),
            Orphan::Gone => {}
        }
    }

    /// Submits `op` detached into the slot its submitter kept from its
    /// previous op of the same type (`lane`, the id that op was given), or
    /// into a new kept slot: a writer that sends one op after another
    /// allocates no slot and no cell per op (see `Start::Kept`). Returns
    /// the op's id, the lane for the next one. On failure (the driver has
    /// shut down) the op comes back with the error.
    pub(crate) fn submit_kept<T: Operation>(
        &self,
        lane: Option<OpId>,
        op: T,
    ) -> Result<OpId, (T, io::Error)> {
        if self.is_shut_down() {
            return Err((op, shut_down_error()));
        }
        let Some(lane) = lane else {
            return self.submit(op, Start::Kept);
        };
        let refilled = self
            .table
            .borrow_mut()
            .refill(lane, op, |cell: &mut OpCell<T>, op, id| {
                // The cell is at its heap address in the table: pointers
                // the SQE takes into the op stay valid until its CQE.
                let state = cell.0.insert(op);
                let sqe = self.building(|| with_fixed_file(state.build(), state.fixed_file()));
                // Pushing touches the ring, not the table.
                self.push(sqe.user_data(id.to_user_data()));
            });
        match refilled {
            Ok(id) => Ok(id),
            // Another type, or the slot is gone: start a new lane.
            Err(op) => {
                self.drop_kept(lane);
                self.submit(op, Start::Kept)
            }
        }
    }

    /// The keeper of a kept slot lets it go: a parked slot is freed now;
    /// an op still in flight is cancelled (the send of a dropped
    /// `WriteBehind`) and freed at its final CQE.
    pub(crate) fn drop_kept(&self, lane: OpId) {
        let unkept = self.table.borrow_mut().unkeep(lane);
        match unkept {
            Orphan::Cancel => self.push_cancel(lane.to_user_data()),
            Orphan::Free(cell) => self.free(cell),
            Orphan::Gone => {}
        }
    }

    fn push_cancel(&self, target: u64) {
        bump(&self.stats.cancels);
        let mut sqe = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data::CANCEL);
        if self.features.skip_cqe_on_success {
            // A successful cancel needs no CQE: the target's own CQE
            // (-ECANCELED) is what the table waits for.
            sqe = sqe.flags(squeue::Flags::SKIP_SUCCESS);
        }
        self.push(sqe);
    }

    /// Queues an SQE. A full submission queue is a normal event: submit what
    /// is queued and continue; what still does not fit waits in the backlog,
    /// in order, and is pushed at the next turn. Nothing is ever dropped.
    fn push(&self, sqe: squeue::Entry) {
        // The common case, kept apart from `push_queued` because it is per
        // op (about 35 instructions per echoed message cheaper): nothing
        // backlogged and room in the ring.
        {
            let mut ring = self.ring.borrow_mut();
            if let Some(ring) = ring.as_mut() {
                if self.backlog.borrow().is_empty() && try_push(ring, std::slice::from_ref(&sqe)) {
                    bump(&self.stats.sqes);
                    return;
                }
            }
        }
        self.push_queued(Queued::One(sqe));
    }

    fn push_queued(&self, item: Queued) {
        for _ in item.entries() {
            bump(&self.stats.sqes);
        }
        let mut ring = self.ring.borrow_mut();
        let Some(ring) = ring.as_mut() else {
            // Unreachable through `submit`; a cancel after shutdown targets
            // an op that has already completed.
            return;
        };
        let mut backlog = self.backlog.borrow_mut();
        if backlog.is_empty() {
            if try_push(ring, item.entries()) {
                return;
            }
            bump(&self.stats.sq_full);
            // Submitting here is allowed (we are the issuer thread); an
            // error leaves the entries queued for the next turn.
            let _ = self.submit_queued(ring);
            bump(&self.stats.enters);
            if try_push(ring, item.entries()) {
                return;
            }
        }
        backlog.push_back(item);
    }

    /// Submits what the submission queue holds, without waiting; returns
    /// how many SQEs the kernel took.
    fn submit_queued(&self, ring: &mut IoUring) -> io::Result<usize> {
        match self.registered.get() {
            Some(registered) => registered.enter(ring, 0, None),
            None => ring.submit(),
        }
    }

    /// Moves backlogged SQEs into the ring, submitting as it fills.
    fn flush_backlog(&self) {
        let mut backlog = self.backlog.borrow_mut();
        let mut ring = self.ring.borrow_mut();
        let Some(ring) = ring.as_mut() else {
            return;
        };
        while let Some(item) = backlog.front() {
            if try_push(ring, item.entries()) {
                backlog.pop_front();
                continue;
            }
            bump(&self.stats.sq_full);
            bump(&self.stats.enters);
            match self.submit_queued(ring) {
                Ok(n) if n > 0 => {}
                // The kernel took nothing (EBUSY/EAGAIN with a full CQ):
                // reap first, the rest waits for the next turn.
                _ => break,
            }
        }
    }

    /// Arms the eventfd read that lets other threads wake a parked loop.
    fn arm_wake(&self) {
        let sqe = opcode::Read::new(
            types::Fd(self.wake_fd.as_raw_fd()),
            self.wake_buf.get().cast::<u8>(),
            8,
        )
        .build()
        .user_data(user_data::WAKE);
        self.wake_armed.set(true);
        self.push(sqe);
    }

    /// One pass through the kernel: push the backlog, submit every queued
    /// SQE, wait as `wait` says, and dispatch every CQE.
    pub(crate) fn turn(&self, mut wait: Wait) -> io::Result<()> {
        self.flush_backlog();
        let mut reaped = 0;
        let mut park_started = None;
        if self.spin.is_some() && wait != Wait::No {
            (wait, reaped, park_started) = self.before_park(wait)?;
        }
        loop {
            self.enter(wait)?;
            reaped += self.reap();
            // With a CQ overflow the kernel holds completions back until an
            // enter with GETEVENTS flushes them: go round until none remain,
            // without blocking (completions are there to take).
            if !self.cq_overflowed() {
                break;
            }
            bump(&self.stats.cq_overflow);
            self.flush_backlog();
            wait = Wait::No;
        }
        if let Some(started) = park_started {
            self.after_park(started);
        }
        if let Some(spin) = &self.spin {
            spin.latency_bound.set(reaped <= SPIN_MAX_REAPED);
        }
        // A turn that brought one completion (or none) means a latency-bound
        // loop: see `take_eager_slot`.
        self.eager_slot.set(self.eager_sends && reaped <= 1);
        Ok(())
    }

    /// A turn about to park, with a spin configured: submits what the tasks
    /// queued and reaps (the spin waits for those completions too), then
    /// spins if the last idle gaps suggest it pays. Returns how the turn
    /// goes on, what was reaped, and when a park without a spin started
    /// (to judge afterwards whether a spin would have paid). Kept out of
    /// `turn`, whose every call (once per message at one connection) only
    /// checks whether a spin is configured.
    #[inline(never)]
    fn before_park(&self, wait: Wait) -> io::Result<(Wait, usize, Option<Instant>)> {
        let (Wait::Park(timeout), Some(spin)) = (wait, &self.spin) else {
            return Ok((wait, 0, None));
        };
        if self.shutting_down.get() {
            // No spin: shutdown only waits for the kernel.
            return Ok((wait, 0, None));
        }
        // Under load (a turn brings many completions) the next ones are
        // near whenever the loop would park, and the spin would cost an
        // extra `io_uring_enter` per turn (the submit before it) for no
        // gain: park as without a spin. Also the idle-gap guess below
        // only tracks the latency-bound parks.
        if !spin.latency_bound.get() {
            return Ok((wait, 0, None));
        }
        if !spin.worth_it.get() {
            return Ok((wait, 0, Some(Instant::now())));
        }
        self.enter(Wait::No)?;
        let reaped = self.reap();
        // Completions already there end the turn without a spin.
        let wait = if reaped > 0 {
            Wait::No
        } else {
            self.spin(spin.limit, timeout)
        };
        // Nothing came within the spin: do not spin again until an idle
        // gap is shorter than it.
        spin.worth_it.set(wait == Wait::No);
        Ok((wait, reaped, None))
    }

    /// After a park without a spin: if it was shorter than the spin,
    /// spinning would have caught its work, so the next park spins.
    #[inline(never)]
    fn after_park(&self, started: Instant) {
        if let Some(spin) = &self.spin {
            if started.elapsed() < spin.limit {
                spin.worth_it.set(true);
            }
        }
    }

    /// Polls the rings' shared memory until the kernel has something for
    /// the loop ([`has_pending`](Self::has_pending)), for at most `limit`
    /// and never past `timeout` (the nearest timer). Returns how the turn
    /// goes on: without blocking if work came, else parked for what is left
    /// of `timeout`. No syscall while it spins (an epoll loop can only poll
    /// by calling `epoll_wait` again and again).
    fn spin(&self, limit: Duration, timeout: Option<Duration>) -> Wait {
        bump(&self.stats.spins);
        let start = Instant::now();
        let limit = timeout.map_or(limit, |timeout| timeout.min(limit));
        let mut rounds: u32 = 0;
        loop {
            if self.has_pending() {
                bump(&self.stats.spin_wakeups);
                return Wait::No;
            }
            rounds = rounds.wrapping_add(1);
            // The clock (a vDSO call) only every 64 rounds.
            if rounds % 64 == 0 && start.elapsed() >= limit {
                break;
            }
            std::hint::spin_loop();
        }
        Wait::Park(timeout.map(|timeout| timeout.saturating_sub(start.elapsed())))
    }

    /// Whether there is work between the loop and the kernel: completions
    /// in the CQ, deferred completion work the kernel flags
    /// (`IORING_SQ_TASKRUN`), a CQ overflow, or SQEs the kernel has not
    /// taken yet (an enter that failed with `EINTR`, `EAGAIN` or `EBUSY`
    /// submits nothing: a spin must not wait for their completions). Reads
    /// the rings' shared memory only, no syscall, so a loop may spin on it
    /// (see `Builder::spin_before_park`).
    pub(crate) fn has_pending(&self) -> bool {
        if cfg!(feature = "fault-injection") && !self.synthetic.borrow().is_empty() {
            return true;
        }
        if !self.backlog.borrow().is_empty() {
            return true;
        }
        let mut ring = self.ring.borrow_mut();
        let Some(ring) = ring.as_mut() else {
            return false;
        };
        if !ring.completion().is_empty() {
            return true;
        }
        let sq = ring.submission();
        sq.taskrun() || sq.cq_overflow() || !sq.is_empty()
    }

    fn cq_overflowed(&self) -> bool {
        let mut ring = self.ring.borrow_mut();
        ring.as_mut()
            .is_some_and(|ring| ring.submission().cq_overflow())
    }

    fn enter(&self, wait: Wait) -> io::Result<()> {
        // Made-up completions are ready now: never block waiting for more.
        let wait = if !cfg!(feature = "fault-injection") || self.synthetic.borrow().is_empty() {
            wait
        } else {
            Wait::No
        };
        let mut ring = self.ring.borrow_mut();
        let Some(ring) = ring.as_mut() else {
            return Ok(());
        };
        if wait == Wait::No {
            // Entering the kernel only to reap is needless when nothing is
            // queued and the kernel flags no pending work; CQEs already in
            // the ring are read from memory.
            let sq = ring.submission();
            let idle = sq.is_empty() && !sq.taskrun() && !sq.cq_overflow();
            drop(sq);
            if idle && self.skipped_enters.get() < MAX_SKIPPED_ENTERS {
                self.skipped_enters.set(self.skipped_enters.get() + 1);
                return Ok(());
            }
        }
        self.skipped_enters.set(0);
        bump(&self.stats.enters);
        if wait != Wait::No {
            bump(&self.stats.parks);
        }
        let result = if let Some(errno) = fault::enter_error() {
            Err(io::Error::from_raw_os_error(errno))
        } else if let Some(registered) = self.registered.get() {
            match wait {
                Wait::No => registered.enter(ring, 0, None).map(drop),
                Wait::Park(None) => registered.enter(ring, 1, None).map(drop),
                Wait::Park(Some(timeout)) => {
                    let ts = types::Timespec::from(timeout);
                    registered.enter(ring, 1, Some(&ts)).map(drop)
                }
            }
        } else {
            let submitter = ring.submitter();
            match wait {
                Wait::No => submitter.submit_and_wait(0).map(drop),
                Wait::Park(None) => submitter.submit_and_wait(1).map(drop),
                Wait::Park(Some(timeout)) => {
                    let ts = types::Timespec::from(timeout);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    submitter.submit_with_args(1, &args).map(drop)
                }
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(err) => match err.raw_os_error() {
                // The park timed out, a signal arrived, or the kernel asks
                // us to reap before it takes more: all normal.
                Some(libc::ETIME | libc::EINTR | libc::EAGAIN | libc::EBUSY) => Ok(()),
                _ => Err(err),
            },
        }
    }

    /// Dispatches every completion there is; returns how many.
    fn reap(&self) -> usize {
        let mut reaped = 0;
        // Only fault injection makes up completions.
        if cfg!(feature = "fault-injection") {
            let synthetic = std::mem::take(&mut *self.synthetic.borrow_mut());
            reaped += synthetic.len();
            for (user_data, completion) in synthetic {
                self.dispatch(user_data, completion);
            }
        }
        let mut batch = std::mem::take(&mut *self.reap_buf.borrow_mut());
        loop {
            {
                let mut ring = self.ring.borrow_mut();
                let Some(ring) = ring.as_mut() else { break };
                for cqe in ring.completion().take(REAP_BATCH) {
                    batch.push((
                        cqe.user_data(),
                        Completion {
                            result: cqe.result(),
                            flags: cqe.flags(),
                        },
                    ));
                }
            }
            let full = batch.len() == REAP_BATCH;
            reaped += batch.len();
            for (user_data, completion) in batch.drain(..) {
                self.dispatch(user_data, completion);
            }
            if !full {
                break;
            }
        }
        *self.reap_buf.borrow_mut() = batch;
        reaped
    }

    /// Whether the op about to be submitted may run eagerly instead: by one
    /// nonblocking syscall now ([`Operation::try_now`]), with no SQE, no
    /// CQE and no second poll of its task.
    ///
    /// Only while the loop is latency-bound: the last turn brought at most
    /// one completion, and no SQE is queued (an enter is not due anyway,
    /// and no queued op on the same fd can be overtaken). Then the ring
    /// costs an extra `io_uring_enter` and a wake-up per op, and the
    /// syscall wins. Under load turns bring many completions and every op
    /// batches through the ring. At most one op per turn takes this path,
    /// so a fan-out (one message written to many sockets) still batches.
    #[inline]
    pub(crate) fn take_eager_slot(&self) -> bool {
        if !self.eager_slot.replace(false) || !self.backlog.borrow().is_empty() {
            return false;
        }
        // Fault injection sends some ops to the ring (where it may fail
        // them), so that both paths are exercised.
        if fault::op_error().is_some() {
            return false;
        }
        let mut ring = self.ring.borrow_mut();
        ring.as_mut()
            .is_some_and(|ring| ring.submission().is_empty())
    }

    /// Runs `op` at once by its syscall ([`Operation::try_now`]) if the loop
    /// is latency-bound (see [`take_eager_slot`](Self::take_eager_slot)):
    /// its result as a CQE would carry it. `None`: it goes through the ring
    /// (not eligible, or it would block).
    pub(crate) fn run_eagerly<T: Operation>(&self, op: &mut T) -> Option<i32> {
        if !T::EAGER || !self.take_eager_slot() {
            return None;
        }
        let result = op.try_now()?;
        if op::is_transient(result) {
            return None;
        }
        bump(&self.stats.eager);
        Some(result)
    }

    /// Routes one CQE. Runs with nothing borrowed, because waking a future or
    /// freeing an op's state (which may close an fd) can reach the driver.
    fn dispatch(&self, user_data: u64, completion: Completion) {
        bump(&self.stats.cqes);
        match user_data {
            user_data::CANCEL => {}
            user_data::WAKE => {
                self.wake_armed.set(false);
                if !self.shutting_down.get() {
                    self.arm_wake();
                }
            }
            _ => {
                let Some(id) = OpId::from_user_data(user_data) else {
                    // A reserved value we never use: count it as stale.
                    self.table.borrow_mut().complete(
                        OpId {
                            key: u32::MAX,
                            generation: 0,
                        },
                        completion,
                    );
                    return;
                };
                if completion.result == -libc::ECANCELED {
                    bump(&self.stats.cancelled);
                }
                let effect = self.table.borrow_mut().complete(id, completion);
                match effect {
                    CqeEffect::Wake(waker) => waker.wake(),
                    CqeEffect::Forward(id, completion) => self.forward(id, completion),
                    CqeEffect::Free(op) => self.free(op),
                    CqeEffect::Park(id, cell) => self.park(id, cell),
                    CqeEffect::Again(id) => self.submit_again(id),
                    CqeEffect::Nothing | CqeEffect::Stale => {}
                }
            }
        }
    }

    /// A CQE of a forwarding receive: its item goes to the receive's
    /// target (`net::forward`), which sends it on from here, with no task
    /// woken.
    fn forward(&self, id: OpId, completion: Completion) {
        use crate::op::MultishotOperation;
        use crate::op::recv_multi::RecvMulti;
        let taken = {
            let mut table = self.table.borrow_mut();
            table
                .cell_mut::<OpCell<RecvMulti>>(id)
                .and_then(|cell| cell.0.as_mut())
                .and_then(|op| Some((op.forward_target()?, op.item(completion))))
        };
        if let Some((target, item)) = taken {
            target.deliver(self, item, completion.has_more());
        }
    }

    /// A detached op (or an orphaned one) the kernel is done with: its
    /// state is dropped here, with nothing borrowed, and the emptied cell
    /// kept for the next op of its type.
    fn free(&self, mut op: Box<dyn InFlight>) {
        if op.release() {
            self.table.borrow_mut().recycle_released(op);
        }
    }

    /// A kept op the kernel is done with: its state is dropped here, with
    /// nothing borrowed, and the emptied cell goes back to its parked slot
    /// for the keeper's next op (or to the spares, if the keeper let the
    /// slot go meanwhile).
    fn park(&self, id: OpId, mut cell: Box<dyn InFlight>) {
        if !cell.release() {
            // It cannot carry another op: the slot keeps its stand-in,
            // which the keeper's next op will not fit.
            return;
        }
        let unparked = self.table.borrow_mut().unpark(id, cell);
        if let Some(cell) = unparked {
            self.table.borrow_mut().recycle_released(cell);
        }
    }

    /// A detached op asked to go again after its final CQE (a write-behind
    /// send the kernel ended short): its next SQE, under the same
    /// user_data, so a cancel aimed at it still finds it. Not while
    /// shutting down: then it is given up and freed.
    fn submit_again(&self, id: OpId) {
        let sqe = if self.is_closing() {
            None
        } else {
            self.building(|| self.table.borrow_mut().rebuild(id))
        };
        if let Some(sqe) = sqe {
            bump(&self.stats.retries);
            self.push(sqe.user_data(id.to_user_data()));
            return;
        }
        let op = self.table.borrow_mut().give_up(id);
        if let Some(op) = op {
            self.free(op);
        }
    }

    /// Cancels every op the kernel owns and waits until the kernel has
    /// returned each of them; then closes the ring. Called once, after the
    /// runtime dropped every task.
    pub(crate) fn shutdown(&self) {
        if self.is_shut_down() {
            return;
        }
        self.shutting_down.set(true);
        let started = Instant::now();
        let mut last_cancel: Option<Instant> = None;
        while self.table.borrow().in_kernel() > 0 || self.wake_armed.get() {
            // Cancel (again, every 100 ms, for ops that were busy the first
            // time: EALREADY) everything the kernel still owns.
            if last_cancel.is_none_or(|t| t.elapsed() > Duration::from_millis(100)) {
                if self.wake_armed.get() {
                    self.push_cancel(user_data::WAKE);
                }
                let owned = self.table.borrow().kernel_owned();
                for id in owned {
                    self.push_cancel(id.to_user_data());
                }
                last_cancel = Some(Instant::now());
            }
            if self
                .turn(Wait::Park(Some(Duration::from_millis(20))))
                .is_err()
                || started.elapsed() > SHUTDOWN_GRACE
            {
                // The kernel did not give everything back. Freeing the rest
                // could let it write into freed memory: leak it instead.
                self.leak_kernel_owned();
                break;
            }
        }
        // The kernel owns nothing of ours any more: closing the ring is safe.
        let ring = self.ring.borrow_mut().take();
        if let (Some(ring), Some(registered)) = (&ring, self.registered.take()) {
            // Else the thread's registration keeps the ring alive.
            registered.unregister(ring);
        }
        drop(ring);
    }

    fn leak_kernel_owned(&self) {
        let table = std::mem::replace(&mut *self.table.borrow_mut(), OpTable::new());
        std::mem::forget(table);
        // The wake read may still land too: its buffer is leaked on drop.
        self.wake_leaked.set(self.wake_armed.get());
        self.wake_armed.set(false);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The runtime shuts the driver down first; this is the safety net for
        // a driver dropped some other way.
        self.shutdown();
        if self.wake_leaked.get() {
            let buf = std::mem::replace(&mut self.wake_buf, Box::new(UnsafeCell::new(0)));
            std::mem::forget(buf);
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("in_flight", &self.table.borrow().in_kernel())
            .field("backlog", &self.backlog.borrow().len())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Sets `IOSQE_FIXED_FILE` on the SQE of an op on a direct descriptor.
pub(crate) fn with_fixed_file(sqe: squeue::Entry, fixed: bool) -> squeue::Entry {
    if fixed {
        sqe.flags(squeue::Flags::FIXED_FILE)
    } else {
        sqe
    }
}

/// Pushes `entries` into the submission queue: all of them (a linked pair
/// forms only within one submission) or, if they do not fit, none.
fn try_push(ring: &mut IoUring, entries: &[squeue::Entry]) -> bool {
    let mut sq = ring.submission();
    // Every SQE the driver pushes points only into memory that outlives the
    // operation: op SQEs into the op's heap state, which the op table owns
    // until the op's final CQE; the wake read into `Driver::wake_buf`, freed
    // only after that read's CQE; cancels into nothing. The driver never
    // frees any of it before the CQE, even when `io_uring_enter` fails.
    // SAFETY: by the above, the entries' memory stays valid until their CQE.
    unsafe { sq.push_multiple(entries).is_ok() }
}

pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other(
        "ringloop: the runtime this operation belongs to has shut down; start the operation inside a running runtime",
    )
}
