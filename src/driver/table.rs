//! The table of in-flight operations: the op lifecycle as a pure state
//! machine, with no ring attached, so that it can be driven by synthetic
//! CQEs in tests.
//!
//! Every entry owns the operation's kernel-visible memory (its `Box<dyn
//! InFlight>`) from the moment its SQE is pushed until the CQE that ends it
//! (the one without `IORING_CQE_F_MORE`) has been seen. Nothing in this file
//! ever frees an op the kernel may still use:
//!
//! ```text
//!                 insert
//!                   |
//!        +----------+-----------+
//!        v                      v
//!     Waiting  --final CQE-->  Completed --poll--> (removed, op handed to the future)
//!        |                      |
//!      orphan                 orphan --> (removed, late result disposed)
//!        v
//!     Orphaned --final CQE--> (removed, late result disposed)
//!
//!     Streaming (multishot): CQEs queue; the final one marks it ended;
//!     orphan before the end -> Orphaned, after the end -> removed.
//!
//!     Kept (a detached op whose submitter keeps the slot):
//!     Orphaned --final CQE--> Parked --refill--> Orphaned (new generation)
//!                               |
//!                            unkeep --> (removed)
//! ```

use std::any::{Any, TypeId};
use std::io;
use std::task::{Poll, Waker};

use io_uring::squeue;
use slab::Slab;

use super::inline_queue::InlineQueue;
use super::spare_cells::SpareCells;
use super::user_data::OpId;

/// What a CQE carries for its op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    /// The raw result: a count or a new fd when non-negative, `-errno` when
    /// negative.
    pub(crate) result: i32,
    /// The CQE flags (`IORING_CQE_F_*`).
    pub(crate) flags: u32,
}

impl Completion {
    /// More CQEs will follow for the same `user_data`.
    pub(crate) fn has_more(&self) -> bool {
        io_uring::cqueue::more(self.flags)
    }

    /// A `SEND_ZC` notification: the kernel no longer reads the buffer.
    pub(crate) fn is_notification(&self) -> bool {
        io_uring::cqueue::notif(self.flags)
    }

    /// The result as `io::Result`, keeping the kernel's errno.
    pub(crate) fn to_io_result(self) -> io::Result<u32> {
        if self.result < 0 {
            Err(io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result.unsigned_abs())
        }
    }
}

/// The driver's view of an operation's owned state.
///
/// Implemented once, for every op type, in `op/mod.rs`.
pub(crate) trait InFlight: Any {
    /// A completion that no future will ever consume: the op's future was
    /// dropped first. Release what the result carries (close an fd a late
    /// accept returned, give back a provided buffer).
    ///
    /// Called with the table borrowed: it must not submit operations.
    fn orphaned(&mut self, completion: Completion);

    /// Sees every CQE of a multishot op as it arrives, whatever the op's
    /// state, exactly once (for accounting that must not wait until the CQE
    /// is consumed, e.g. which provided buffers the kernel has taken).
    /// Single-shot ops are not shown their CQE: they have one.
    fn observe(&mut self, completion: Completion) {
        let _ = completion;
    }

    /// The op's type name, for in-flight counts by kind.
    fn kind(&self) -> &'static str {
        "op"
    }

    /// Asked after the final CQE of an orphaned (or detached) op went to
    /// [`orphaned`](Self::orphaned): whether the op wants to be submitted
    /// again, from the same state and under the same user_data (a
    /// write-behind send the kernel ended short sends the rest). Called
    /// with the table borrowed: it must not submit operations.
    fn again(&mut self) -> bool {
        false
    }

    /// The SQE of an op going again, built afresh (without user_data).
    fn rebuild(&mut self) -> Option<squeue::Entry> {
        None
    }

    /// An op that wanted to go again will not (the driver is closing):
    /// record that it was cut short. Called with the table borrowed.
    fn give_up(&mut self) {}

    /// Asked when the result CQE of a single-shot op that posts a
    /// notification after it (`SEND_ZC`) has come and no future awaits the
    /// op: the request is done, only the notification is due, and it needs
    /// nothing but the buffer. Returns what else the op holds (its fd), for
    /// the caller to drop outside the table borrow (dropping the last
    /// clone of an fd submits its close). Else a dropped stream's socket
    /// would stay open until the notification, which waits until the
    /// peer has taken the queued data: forever, if it never reads.
    fn shed(&mut self) -> Option<Box<dyn InFlight>> {
        None
    }

    /// Drops the owned state of an op the kernel is done with, keeping the
    /// emptied cell; `false` if this cell cannot carry another op.
    fn release(&mut self) -> bool {
        false
    }

    /// The cell's concrete type, to find it again among the spares.
    fn cell_type(&self) -> TypeId {
        TypeId::of::<Self>()
    }
}

enum Lifecycle {
    /// A single-shot op the kernel still owns; its future is alive.
    /// `first` keeps the result CQE of an op that posts a notification
    /// after it (`SEND_ZC`): the op completes only on the final CQE.
    Waiting {
        waker: Option<Waker>,
        first: Option<Completion>,
    },
    /// The final CQE arrived; the future takes it at its next poll.
    Completed(Completion),
    /// A multishot op: completions queue until the future takes them;
    /// `ended` once the CQE without `F_MORE` arrived.
    Streaming {
        /// The oldest pending CQE is kept inline (see `InlineQueue`).
        queue: InlineQueue<Completion>,
        waker: Option<Waker>,
        ended: bool,
    },
    /// The future is gone; the entry lives until the final CQE.
    Orphaned,
    /// A kept slot between two ops: the kernel is done with the last one,
    /// its state has been released, and the emptied cell waits for the
    /// keeper's next op ([`OpTable::refill`]).
    Parked,
}

struct Slot {
    generation: u32,
    /// Entered as multishot: its CQEs are shown to `observe`.
    multishot: bool,
    /// Entered as [`Start::Kept`] and not yet given up by its keeper: the
    /// final CQE parks the slot instead of removing it.
    kept: bool,
    /// Entered as [`Start::Forward`]: its CQEs go to the driver as
    /// [`CqeEffect::Forward`] instead of queueing for a future.
    forward: bool,
    lifecycle: Lifecycle,
    op: Box<dyn InFlight>,
}

/// How an op enters the table.
pub(crate) enum Start {
    /// A single-shot op, with the waker of the future awaiting it (if it is
    /// known yet).
    Single(Option<Waker>),
    /// A multishot op: its completions queue until its stream takes them.
    Multishot,
    /// An op no future awaits (a close the driver issues on its own).
    Detached,
    /// A multishot op whose CQEs the driver hands to the op's forwarding
    /// target as they come (`net::forward`), with no future polling it.
    Forward,
    /// A detached op whose submitter keeps the slot for its next op of the
    /// same type (one write-behind send after another): after the final
    /// CQE the slot is parked with its emptied cell, and
    /// [`OpTable::refill`] reuses both, so that no slot or cell is
    /// allocated per op. The keeper ends it with [`OpTable::unkeep`].
    Kept,
}

/// What the driver must do after a CQE was recorded.
pub(crate) enum CqeEffect {
    /// Nothing (an intermediate CQE of an orphaned or zero-copy op).
    Nothing,
    /// Wake the op's future.
    Wake(Waker),
    /// Hand this CQE of a forwarding op to its target.
    Forward(OpId, Completion),
    /// The op ended with no future waiting: drop its state (outside any
    /// borrow of the driver, as dropping it may submit a close). Also what
    /// an orphaned op awaiting only its notification gave up
    /// ([`InFlight::shed`]).
    Free(Box<dyn InFlight>),
    /// A kept op ended: its slot is parked, and its cell is lent out so
    /// that the driver can release the state outside any borrow, then
    /// give the emptied cell back with [`OpTable::unpark`].
    Park(OpId, Box<dyn InFlight>),
    /// An orphaned op's final CQE, but the op asked to go again
    /// ([`InFlight::again`]): it keeps its slot and id, and the driver
    /// submits its [`rebuild`](OpTable::rebuild) (or gives it up).
    Again(OpId),
    /// The CQE names no live op (a stale generation, a duplicate, a key
    /// never used): ignored, counted.
    Stale,
}

/// What dropping an op's future requires.
pub(crate) enum Orphan {
    /// The kernel still owns the op: queue an `ASYNC_CANCEL` for it.
    Cancel,
    /// The op had ended: its state is released now (outside any borrow).
    /// Also what an op awaiting only its notification gave up
    /// ([`InFlight::shed`]): no cancel then, the request is done.
    Free(Box<dyn InFlight>),
    /// The id names no live op (already released).
    Gone,
}

/// What polling a single-shot op yields.
pub(crate) enum PollSingle {
    Ready(Completion, Box<dyn InFlight>),
    Pending,
    /// The id names no live single-shot op: a bug, reported as an error
    /// rather than a panic.
    Gone,
}

/// The in-flight operations of one ring.
pub(crate) struct OpTable {
    slots: Slab<Slot>,
    /// Emptied op cells kept for the next op of the same type, so that the
    /// hot path (one send per echoed message) allocates nothing.
    spares: SpareCells,
    next_generation: u32,
    /// Ops whose final CQE has not arrived yet.
    in_kernel: usize,
    stale_cqes: u64,
}

impl OpTable {
    pub(crate) fn new() -> OpTable {
        OpTable {
            slots: Slab::new(),
            spares: SpareCells::default(),
            next_generation: 1,
            in_kernel: 0,
            stale_cqes: 0,
        }
    }

    fn generation(&mut self) -> u32 {
        let generation = self.next_generation;
        // 0 marks reserved user_data values; skip it when wrapping.
        self.next_generation = self.next_generation.checked_add(1).unwrap_or(1);
        generation
    }

    /// Enters an op whose SQE is about to be pushed.
    /// On failure (2^32 live ops) the op comes back untouched.
    pub(crate) fn insert<T: InFlight>(
        &mut self,
        op: Box<T>,
        start: Start,
    ) -> Result<OpId, (Box<T>, io::Error)> {
        let generation = self.generation();
        let entry = self.slots.vacant_entry();
        let Ok(key) = u32::try_from(entry.key()) else {
            let err = io::Error::other(
                "ringloop: more than 4 billion operations in flight; finish some before starting more",
            );
            return Err((op, err));
        };
        let multishot = matches!(start, Start::Multishot | Start::Forward);
        let forward = matches!(start, Start::Forward);
        let kept = matches!(start, Start::Kept);
        let lifecycle = match start {
            Start::Single(waker) => Lifecycle::Waiting { waker, first: None },
            Start::Multishot | Start::Forward => Lifecycle::Streaming {
                queue: InlineQueue::default(),
                waker: None,
                ended: false,
            },
            Start::Detached | Start::Kept => Lifecycle::Orphaned,
        };
        entry.insert(Slot {
            generation,
            multishot,
            kept,
            forward,
            lifecycle,
            op,
        });
        self.in_kernel += 1;
        Ok(OpId { key, generation })
    }

    fn slot_mut(&mut self, id: OpId) -> Option<&mut Slot> {
        slot_in(&mut self.slots, id)
    }

    /// Records one CQE.
    pub(crate) fn complete(&mut self, id: OpId, completion: Completion) -> CqeEffect {
        let Some(slot) = slot_in(&mut self.slots, id) else {
            self.stale_cqes += 1;
            return CqeEffect::Stale;
        };
        if slot.multishot && !matches!(slot.lifecycle, Lifecycle::Streaming { ended: true, .. }) {
            slot.op.observe(completion);
        }
        let is_final = !completion.has_more();
        match &mut slot.lifecycle {
            Lifecycle::Waiting { waker, first } => {
                if !is_final {
                    if first.is_none() && !completion.is_notification() {
                        *first = Some(completion);
                    }
                    return CqeEffect::Nothing;
                }
                let result = match (completion.is_notification(), first.take()) {
                    (true, Some(first)) => first,
                    _ => completion,
                };
                let waker = waker.take();
                slot.lifecycle = Lifecycle::Completed(result);
                self.in_kernel -= 1;
                waker.map_or(CqeEffect::Nothing, CqeEffect::Wake)
            }
            Lifecycle::Streaming {
                queue,
                waker,
                ended,
            } => {
                if *ended {
                    self.stale_cqes += 1;
                    return CqeEffect::Stale;
                }
                if slot.forward {
                    if is_final {
                        *ended = true;
                        self.in_kernel -= 1;
                    }
                    return CqeEffect::Forward(id, completion);
                }
                if !completion.is_notification() {
                    queue.push_back(completion);
                }
                if is_final {
                    *ended = true;
                    self.in_kernel -= 1;
                }
                waker.take().map_or(CqeEffect::Nothing, CqeEffect::Wake)
            }
            Lifecycle::Orphaned => {
                if !completion.is_notification() {
                    slot.op.orphaned(completion);
                }
                if !is_final {
                    // A zero-copy send's result: only its notification is
                    // due, which needs no fd (see `InFlight::shed`).
                    if !slot.multishot && !completion.is_notification() {
                        if let Some(shed) = slot.op.shed() {
                            return CqeEffect::Free(shed);
                        }
                    }
                    return CqeEffect::Nothing;
                }
                if slot.op.again() {
                    // Still the kernel's: its next SQE goes out at once.
                    return CqeEffect::Again(id);
                }
                self.in_kernel -= 1;
                if slot.kept {
                    between_plain_states(&mut slot.lifecycle, Lifecycle::Parked);
                    // A zero-sized stand-in: no allocation.
                    let cell = std::mem::replace(&mut slot.op, Box::new(Vacant));
                    return CqeEffect::Park(id, cell);
                }
                let slot = self.slots.remove(id.key as usize);
                CqeEffect::Free(slot.op)
            }
            Lifecycle::Completed(_) | Lifecycle::Parked => {
                self.stale_cqes += 1;
                CqeEffect::Stale
            }
        }
    }

    /// Gives a parked slot its emptied cell back (after
    /// [`CqeEffect::Park`]). The cell comes back if the slot is no longer
    /// parked under `id` (its keeper gave it up meanwhile): the caller
    /// frees or recycles it.
    pub(crate) fn unpark(
        &mut self,
        id: OpId,
        cell: Box<dyn InFlight>,
    ) -> Option<Box<dyn InFlight>> {
        match slot_in(&mut self.slots, id) {
            Some(slot) if matches!(slot.lifecycle, Lifecycle::Parked) => {
                slot.op = cell;
                None
            }
            _ => Some(cell),
        }
    }

    /// Fills the kept slot `id` (parked, with a cell of type `C`) with the
    /// keeper's next op: `fill` puts `value` into the cell and submits it
    /// under the slot's new id (a new generation, so a late CQE or cancel
    /// aimed at the previous op cannot reach this one); then the slot is
    /// the kernel's again. Should `fill` panic before it submits, the slot
    /// stays parked: nothing is waited for that never reached the kernel.
    /// `value` comes back if the slot is not parked under `id` or holds
    /// another cell type: the caller unkeeps it and inserts afresh.
    pub(crate) fn refill<C: InFlight, V>(
        &mut self,
        id: OpId,
        value: V,
        fill: impl FnOnce(&mut C, V, OpId),
    ) -> Result<OpId, V> {
        let generation = self.generation();
        let Some(slot) = slot_in(&mut self.slots, id) else {
            return Err(value);
        };
        if !matches!(slot.lifecycle, Lifecycle::Parked) {
            return Err(value);
        }
        let op: &mut dyn Any = &mut *slot.op;
        let Some(cell) = op.downcast_mut::<C>() else {
            return Err(value);
        };
        let id = OpId {
            key: id.key,
            generation,
        };
        fill(cell, value, id);
        slot.generation = generation;
        between_plain_states(&mut slot.lifecycle, Lifecycle::Orphaned);
        self.in_kernel += 1;
        Ok(id)
    }

    /// The keeper of the kept slot `id` lets it go: a parked slot leaves
    /// the table now (`Free`); an op still in flight becomes an ordinary
    /// detached one, freed at its final CQE (`Cancel`: the caller cancels
    /// it if it wants it stopped).
    pub(crate) fn unkeep(&mut self, id: OpId) -> Orphan {
        let Some(slot) = slot_in(&mut self.slots, id) else {
            return Orphan::Gone;
        };
        match slot.lifecycle {
            Lifecycle::Parked => Orphan::Free(self.slots.remove(id.key as usize).op),
            Lifecycle::Orphaned if slot.kept => {
                slot.kept = false;
                Orphan::Cancel
            }
            _ => Orphan::Gone,
        }
    }

    /// The SQE of an op that asked to go again (`CqeEffect::Again`).
    pub(crate) fn rebuild(&mut self, id: OpId) -> Option<squeue::Entry> {
        slot_in(&mut self.slots, id).and_then(|slot| slot.op.rebuild())
    }

    /// An op that asked to go again will not: it leaves the table, to be
    /// freed by the caller outside the borrow.
    pub(crate) fn give_up(&mut self, id: OpId) -> Option<Box<dyn InFlight>> {
        let slot = slot_in(&mut self.slots, id)?;
        slot.op.give_up();
        self.in_kernel -= 1;
        Some(self.slots.remove(id.key as usize).op)
    }

    /// Polls a single-shot op: takes its result and state when it has
    /// completed, or remembers the waker.
    pub(crate) fn poll_single(&mut self, id: OpId, new_waker: &Waker) -> PollSingle {
        let Some(slot) = self.slot_mut(id) else {
            return PollSingle::Gone;
        };
        match &mut slot.lifecycle {
            Lifecycle::Completed(completion) => {
                let completion = *completion;
                let slot = self.slots.remove(id.key as usize);
                PollSingle::Ready(completion, slot.op)
            }
            Lifecycle::Waiting { waker, .. } => {
                store_waker(waker, new_waker);
                PollSingle::Pending
            }
            Lifecycle::Streaming { .. } | Lifecycle::Orphaned | Lifecycle::Parked => {
                PollSingle::Gone
            }
        }
    }

    /// Polls a multishot op: the next queued completion, `None` once the
    /// stream ended and is drained.
    #[cfg(test)]
    pub(crate) fn poll_stream(&mut self, id: OpId, new_waker: &Waker) -> Poll<Option<Completion>> {
        match self.slot_mut(id) {
            Some(slot) => next_in_stream(&mut slot.lifecycle, new_waker),
            None => Poll::Ready(None),
        }
    }

    /// As `poll_stream`, and turns the completion into an item with the
    /// op's owned state (of type `C`) at hand, in one lookup.
    pub(crate) fn poll_stream_item<C: InFlight, R>(
        &mut self,
        id: OpId,
        new_waker: &Waker,
        item: impl FnOnce(&mut C, Completion) -> R,
    ) -> Poll<Option<R>> {
        let Some(Slot { lifecycle, op, .. }) = self.slot_mut(id) else {
            return Poll::Ready(None);
        };
        let Some(completion) = std::task::ready!(next_in_stream(lifecycle, new_waker)) else {
            return Poll::Ready(None);
        };
        let op: &mut dyn Any = &mut **op;
        match op.downcast_mut::<C>() {
            Some(op) => Poll::Ready(Some(item(op, completion))),
            None => Poll::Ready(None),
        }
    }

    /// The state of a live op, if it is of type `C`.
    pub(crate) fn cell_mut<C: InFlight>(&mut self, id: OpId) -> Option<&mut C> {
        let slot = self.slot_mut(id)?;
        let op: &mut dyn Any = &mut *slot.op;
        op.downcast_mut::<C>()
    }

    /// An emptied cell of type `C` kept by [`recycle`](Self::recycle), if
    /// there is one.
    pub(crate) fn take_spare<C: InFlight>(&mut self) -> Option<Box<C>> {
        self.spares.take()
    }

    /// Keeps an emptied op cell (one that owns nothing the kernel may use)
    /// for the next op of its type (a bounded number per type).
    pub(crate) fn recycle<C: InFlight>(&mut self, cell: Box<C>) {
        self.spares.put(TypeId::of::<C>(), cell);
    }

    /// As [`recycle`](Self::recycle), for a cell whose type is known only
    /// to itself (a detached op's, freed at its CQE), already emptied.
    pub(crate) fn recycle_released(&mut self, cell: Box<dyn InFlight>) {
        self.spares.put(cell.cell_type(), cell);
    }

    /// The op's future was dropped.
    pub(crate) fn orphan(&mut self, id: OpId) -> Orphan {
        let Some(slot) = self.slot_mut(id) else {
            return Orphan::Gone;
        };
        match &mut slot.lifecycle {
            Lifecycle::Waiting { first, .. } => {
                let Some(first) = first.take() else {
                    slot.lifecycle = Lifecycle::Orphaned;
                    return Orphan::Cancel;
                };
                // A zero-copy send whose result came: the request is done
                // (nothing to cancel), only its notification is due.
                slot.op.orphaned(first);
                slot.lifecycle = Lifecycle::Orphaned;
                match slot.op.shed() {
                    Some(shed) => Orphan::Free(shed),
                    None => Orphan::Cancel,
                }
            }
            Lifecycle::Completed(completion) => {
                let completion = *completion;
                let mut slot = self.slots.remove(id.key as usize);
                slot.op.orphaned(completion);
                Orphan::Free(slot.op)
            }
            Lifecycle::Streaming { queue, ended, .. } => {
                let ended = *ended;
                for completion in queue.drain() {
                    slot.op.orphaned(completion);
                }
                if ended {
                    let slot = self.slots.remove(id.key as usize);
                    Orphan::Free(slot.op)
                } else {
                    slot.lifecycle = Lifecycle::Orphaned;
                    Orphan::Cancel
                }
            }
            Lifecycle::Orphaned | Lifecycle::Parked => Orphan::Gone,
        }
    }

    /// Whether `id` is a detached (or orphaned) op whose final CQE has not
    /// come yet.
    #[cfg(test)]
    pub(crate) fn is_orphaned(&mut self, id: OpId) -> bool {
        self.slot_mut(id)
            .is_some_and(|slot| matches!(slot.lifecycle, Lifecycle::Orphaned))
    }

    /// Ops the kernel still owns (their final CQE has not arrived).
    pub(crate) fn in_kernel(&self) -> usize {
        self.in_kernel
    }

    /// Entries of any kind, including completed ones a future has yet to
    /// take and parked ones.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// CQEs that named no live op.
    pub(crate) fn stale_cqes(&self) -> u64 {
        self.stale_cqes
    }

    /// Ops the kernel still owns, counted by kind (the op type's name
    /// without its path and generics), most numerous first.
    pub(crate) fn in_kernel_by_kind(&self) -> Vec<(&'static str, usize)> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for (_, slot) in &self.slots {
            let in_kernel = match &slot.lifecycle {
                Lifecycle::Waiting { .. } | Lifecycle::Orphaned => true,
                Lifecycle::Streaming { ended, .. } => !ended,
                Lifecycle::Completed(_) | Lifecycle::Parked => false,
            };
            if !in_kernel {
                continue;
            }
            let name = short_type_name(slot.op.kind());
            match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => *count += 1,
                None => counts.push((name, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        counts
    }

    /// The ids of the ops the kernel still owns, for cancelling them all at
    /// shutdown.
    pub(crate) fn kernel_owned(&self) -> Vec<OpId> {
        self.slots
            .iter()
            .filter(|(_, slot)| match &slot.lifecycle {
                Lifecycle::Waiting { .. } | Lifecycle::Orphaned => true,
                Lifecycle::Streaming { ended, .. } => !ended,
                Lifecycle::Completed(_) | Lifecycle::Parked => false,
            })
            .map(|(key, slot)| OpId {
                key: key as u32,
                generation: slot.generation,
            })
            .collect()
    }
}

/// `ringloop::op::read::Read<alloc::vec::Vec<u8>>` -> `Read`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Moves a kept slot between `Orphaned` and `Parked`, states that own
/// nothing: without the general drop glue of the state it leaves (an out
/// of line call, twice per write-behind message).
#[inline]
fn between_plain_states(lifecycle: &mut Lifecycle, to: Lifecycle) {
    debug_assert!(matches!(lifecycle, Lifecycle::Orphaned | Lifecycle::Parked));
    // Forgetting a state that owns nothing leaks nothing.
    std::mem::forget(std::mem::replace(lifecycle, to));
}

/// What a parked slot holds while its cell is lent out (`CqeEffect::Park`).
struct Vacant;

impl InFlight for Vacant {
    fn orphaned(&mut self, _: Completion) {}
}

#[inline]
fn slot_in(slots: &mut Slab<Slot>, id: OpId) -> Option<&mut Slot> {
    slots
        .get_mut(id.key as usize)
        .filter(|slot| slot.generation == id.generation)
}

#[inline]
fn next_in_stream(lifecycle: &mut Lifecycle, new_waker: &Waker) -> Poll<Option<Completion>> {
    match lifecycle {
        Lifecycle::Streaming {
            queue,
            waker,
            ended,
        } => match queue.pop_front() {
            Some(completion) => Poll::Ready(Some(completion)),
            None if *ended => Poll::Ready(None),
            None => {
                store_waker(waker, new_waker);
                Poll::Pending
            }
        },
        _ => Poll::Ready(None),
    }
}

#[inline]
fn store_waker(slot: &mut Option<Waker>, new_waker: &Waker) {
    match slot {
        Some(waker) if waker.will_wake(new_waker) => {}
        _ => *slot = Some(new_waker.clone()),
    }
}

#[cfg(test)]
mod tests {
    //! The lifecycle driven by synthetic CQEs: no ring, no kernel.
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    const F_MORE: u32 = 1 << 1; // IORING_CQE_F_MORE
    const F_NOTIF: u32 = 1 << 3; // IORING_CQE_F_NOTIF

    /// A fake op that records what the table did to it.
    struct FakeOp {
        log: Rc<RefCell<Vec<String>>>,
        name: &'static str,
    }

    impl InFlight for FakeOp {
        fn orphaned(&mut self, c: Completion) {
            self.log
                .borrow_mut()
                .push(format!("{} orphaned {}", self.name, c.result));
        }
    }

    impl Drop for FakeOp {
        fn drop(&mut self) {
            self.log.borrow_mut().push(format!("{} dropped", self.name));
        }
    }

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn fake(log: &Rc<RefCell<Vec<String>>>, name: &'static str) -> Box<FakeOp> {
        Box::new(FakeOp {
            log: log.clone(),
            name,
        })
    }

    fn done(result: i32) -> Completion {
        Completion { result, flags: 0 }
    }

    /// Another op type, for the spare-cell test.
    struct OtherOp;

    impl InFlight for OtherOp {
        fn orphaned(&mut self, _: Completion) {}
    }

    #[test]
    fn a_released_cell_is_kept_under_its_concrete_type() {
        let log = Rc::default();
        let mut table = OpTable::new();
        // Type-erased, as a detached op's cell reaches the driver.
        let cell: Box<dyn InFlight> = fake(&log, "detached");
        table.recycle_released(cell);
        assert!(
            table.take_spare::<OtherOp>().is_none(),
            "kept under the trait object's type, not the cell's"
        );
        let spare = table.take_spare::<FakeOp>().expect("the released cell");
        assert_eq!(spare.name, "detached");
    }

    #[test]
    fn a_forwarding_op_hands_over_its_cqes_until_its_owner_lets_go() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let more = Completion {
            result: 8,
            flags: F_MORE,
        };
        // Every CQE goes to the driver, none is queued; the last ends it.
        let id = table
            .insert(fake(&log, "a"), Start::Forward)
            .unwrap_or_else(|_| panic!("insert"));
        for _ in 0..3 {
            assert!(
                matches!(table.complete(id, more), CqeEffect::Forward(f, c) if f == id && c == more)
            );
        }
        assert!(matches!(table.complete(id, done(0)), CqeEffect::Forward(_, c) if !c.has_more()));
        assert_eq!(table.in_kernel(), 0);
        assert!(matches!(table.complete(id, more), CqeEffect::Stale));
        assert!(table.cell_mut::<FakeOp>(id).is_some(), "kept until let go");
        assert!(table.cell_mut::<OtherOp>(id).is_none(), "typed access");
        match table.orphan(id) {
            Orphan::Free(op) => drop(op),
            _ => panic!("an ended op is freed when let go"),
        }
        // Let go while the kernel still owns it: cancelled, and from then
        // on its CQEs are disposed of, not handed over.
        let id = table
            .insert(fake(&log, "b"), Start::Forward)
            .unwrap_or_else(|_| panic!("insert"));
        assert!(matches!(table.orphan(id), Orphan::Cancel));
        assert!(matches!(table.complete(id, more), CqeEffect::Nothing));
        match table.complete(id, done(-libc::ECANCELED)) {
            CqeEffect::Free(op) => drop(op),
            _ => panic!("freed at its final CQE"),
        }
        assert_eq!(
            *log.borrow(),
            ["a dropped", "b orphaned 8", "b orphaned -125", "b dropped"]
        );
    }

    #[test]
    fn single_shot_completes_and_wakes_once() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "a"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        assert!(matches!(table.poll_single(id, &waker), PollSingle::Pending));
        assert_eq!(table.in_kernel(), 1);
        match table.complete(id, done(42)) {
            CqeEffect::Wake(w) => w.wake(),
            _ => panic!("expected a wake"),
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(table.in_kernel(), 0);
        match table.poll_single(id, &waker) {
            PollSingle::Ready(c, op) => {
                assert_eq!(c.result, 42);
                drop(op);
            }
            _ => panic!("expected ready"),
        }
        assert_eq!(table.len(), 0);
        // A duplicate of the same CQE names no live op.
        assert!(matches!(table.complete(id, done(42)), CqeEffect::Stale));
        assert_eq!(*log.borrow(), ["a dropped"]);
    }

    #[test]
    fn stale_generation_never_completes_the_new_op() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let old = table
            .insert(fake(&log, "old"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        assert!(matches!(table.complete(old, done(1)), CqeEffect::Nothing));
        let waker = Waker::from(Arc::new(CountingWaker::default()));
        let PollSingle::Ready(_, op) = table.poll_single(old, &waker) else {
            panic!()
        };
        drop(op);
        let new = table
            .insert(fake(&log, "new"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        assert_eq!(old.key, new.key, "the slab reuses the key");
        assert_ne!(old.generation, new.generation);
        assert!(matches!(table.complete(old, done(7)), CqeEffect::Stale));
        assert!(matches!(
            table.poll_single(new, &waker),
            PollSingle::Pending
        ));
        assert_eq!(table.stale_cqes(), 1);
    }

    #[test]
    fn orphan_keeps_state_until_the_final_cqe_and_disposes_the_result() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "accept"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        assert!(matches!(table.orphan(id), Orphan::Cancel));
        assert!(
            log.borrow().is_empty(),
            "nothing freed while the kernel owns it"
        );
        assert_eq!(table.in_kernel(), 1);
        // The op succeeded anyway (an accept returned fd 9): disposed, then freed.
        let CqeEffect::Free(op) = table.complete(id, done(9)) else {
            panic!("expected free")
        };
        assert_eq!(*log.borrow(), ["accept orphaned 9"]);
        drop(op);
        assert_eq!(*log.borrow(), ["accept orphaned 9", "accept dropped"]);
        assert_eq!(table.in_kernel(), 0);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn orphan_after_completion_disposes_the_untaken_result() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "open"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        table.complete(id, done(5));
        let Orphan::Free(op) = table.orphan(id) else {
            panic!()
        };
        drop(op);
        assert_eq!(*log.borrow(), ["open orphaned 5", "open dropped"]);
        assert!(matches!(table.orphan(id), Orphan::Gone));
    }

    #[test]
    fn zero_copy_send_completes_on_the_notification_with_the_first_result() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "zc"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        let first = Completion {
            result: 100,
            flags: F_MORE,
        };
        assert!(matches!(table.complete(id, first), CqeEffect::Nothing));
        assert_eq!(table.in_kernel(), 1, "the buffer is still the kernel's");
        let notif = Completion {
            result: 0,
            flags: F_NOTIF,
        };
        table.complete(id, notif);
        let waker = Waker::from(Arc::new(CountingWaker::default()));
        let PollSingle::Ready(c, _) = table.poll_single(id, &waker) else {
            panic!()
        };
        assert_eq!(c.result, 100);
    }

    #[test]
    fn orphaned_zero_copy_send_is_freed_only_by_the_notification() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "zc"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        table.orphan(id);
        let first = Completion {
            result: 100,
            flags: F_MORE,
        };
        assert!(matches!(table.complete(id, first), CqeEffect::Nothing));
        assert_eq!(*log.borrow(), ["zc orphaned 100"]);
        let notif = Completion {
            result: 0,
            flags: F_NOTIF,
        };
        assert!(matches!(table.complete(id, notif), CqeEffect::Free(_)));
    }

    /// A zero-copy send that gives up its fd after its result
    /// (`InFlight::shed`): logs when the fd goes.
    struct SheddingOp {
        log: Rc<RefCell<Vec<String>>>,
        fd: Option<FakeOp>,
    }

    impl InFlight for SheddingOp {
        fn orphaned(&mut self, c: Completion) {
            self.log
                .borrow_mut()
                .push(format!("zc orphaned {}", c.result));
        }
        fn shed(&mut self) -> Option<Box<dyn InFlight>> {
            Some(Box::new(self.fd.take()?))
        }
    }

    #[test]
    fn an_orphaned_zero_copy_send_gives_up_its_fd_at_its_result() {
        let notif = Completion {
            result: 0,
            flags: F_NOTIF,
        };
        let first = Completion {
            result: 100,
            flags: F_MORE,
        };
        // Dropped before its result: the fd goes with the result CQE.
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let op = Box::new(SheddingOp {
            log: log.clone(),
            fd: Some(*fake(&log, "fd")),
        });
        let id = table
            .insert(op, Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        assert!(matches!(table.orphan(id), Orphan::Cancel));
        let CqeEffect::Free(fd) = table.complete(id, first) else {
            panic!("the fd is handed out")
        };
        drop(fd);
        assert_eq!(*log.borrow(), ["zc orphaned 100", "fd dropped"]);
        assert_eq!(table.in_kernel(), 1, "the buffer is still the kernel's");
        assert!(matches!(table.complete(id, notif), CqeEffect::Free(_)));
        assert_eq!(table.len(), 0);
        // Dropped after its result: nothing to cancel, the fd goes now.
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let op = Box::new(SheddingOp {
            log: log.clone(),
            fd: Some(*fake(&log, "fd")),
        });
        let id = table
            .insert(op, Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        assert!(matches!(table.complete(id, first), CqeEffect::Nothing));
        assert!(log.borrow().is_empty(), "a live future's op keeps its fd");
        let Orphan::Free(fd) = table.orphan(id) else {
            panic!("the fd is handed out, no cancel")
        };
        drop(fd);
        assert_eq!(*log.borrow(), ["zc orphaned 100", "fd dropped"]);
        assert_eq!(table.in_kernel(), 1);
        assert!(matches!(table.complete(id, notif), CqeEffect::Free(_)));
        assert_eq!(table.in_kernel(), 0);
    }

    #[test]
    fn multishot_queues_in_order_until_the_final_cqe() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "multi"), Start::Multishot)
            .unwrap_or_else(|_| panic!("insert"));
        let waker = Waker::from(Arc::new(CountingWaker::default()));
        assert!(table.poll_stream(id, &waker).is_pending());
        for fd in 10..13 {
            table.complete(
                id,
                Completion {
                    result: fd,
                    flags: F_MORE,
                },
            );
        }
        table.complete(id, done(-105)); // ENOBUFS ends it
        assert_eq!(table.in_kernel(), 0);
        let mut got = Vec::new();
        while let Poll::Ready(Some(c)) = table.poll_stream(id, &waker) {
            got.push(c.result);
        }
        assert_eq!(got, [10, 11, 12, -105]);
        assert_eq!(table.poll_stream(id, &waker), Poll::Ready(None));
        // A CQE after the end is stale.
        assert!(matches!(table.complete(id, done(1)), CqeEffect::Stale));
        assert!(matches!(table.orphan(id), Orphan::Free(_)));
    }

    #[test]
    fn orphaned_multishot_disposes_queued_and_late_items() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let id = table
            .insert(fake(&log, "m"), Start::Multishot)
            .unwrap_or_else(|_| panic!("insert"));
        table.complete(
            id,
            Completion {
                result: 20,
                flags: F_MORE,
            },
        );
        assert!(matches!(table.orphan(id), Orphan::Cancel));
        table.complete(
            id,
            Completion {
                result: 21,
                flags: F_MORE,
            },
        );
        let CqeEffect::Free(op) = table.complete(id, done(-125)) else {
            panic!()
        };
        drop(op);
        assert_eq!(
            *log.borrow(),
            [
                "m orphaned 20",
                "m orphaned 21",
                "m orphaned -125",
                "m dropped"
            ]
        );
    }

    #[test]
    fn kernel_owned_lists_exactly_the_ops_awaiting_a_final_cqe() {
        let log = Rc::default();
        let mut table = OpTable::new();
        let waiting = table
            .insert(fake(&log, "w"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        let done_op = table
            .insert(fake(&log, "d"), Start::Single(None))
            .unwrap_or_else(|_| panic!("insert"));
        let orphan = table
            .insert(fake(&log, "o"), Start::Detached)
            .unwrap_or_else(|_| panic!("insert"));
        table.complete(done_op, done(0));
        let mut owned = table.kernel_owned();
        owned.sort_by_key(|id| id.key);
        assert_eq!(owned, [waiting, orphan]);
    }

    /// A detached op that asks to go again `rounds` times (as a
    /// write-behind send ended short does).
    struct AgainOp {
        log: Rc<RefCell<Vec<String>>>,
        rounds: u32,
    }

    impl InFlight for AgainOp {
        fn orphaned(&mut self, c: Completion) {
            self.log.borrow_mut().push(format!("cqe {}", c.result));
        }
        fn again(&mut self) -> bool {
            let again = self.rounds > 0;
            self.rounds = self.rounds.saturating_sub(1);
            again
        }
        fn rebuild(&mut self) -> Option<squeue::Entry> {
            self.log.borrow_mut().push("rebuilt".into());
            Some(io_uring::opcode::Nop::new().build())
        }
        fn give_up(&mut self) {
            self.log.borrow_mut().push("given up".into());
        }
    }

    impl Drop for AgainOp {
        fn drop(&mut self) {
            self.log.borrow_mut().push("dropped".into());
        }
    }

    /// Enters an `AgainOp` that goes again `rounds` times.
    fn insert_again(
        table: &mut OpTable,
        log: &Rc<RefCell<Vec<String>>>,
        rounds: u32,
        start: Start,
    ) -> OpId {
        let op = Box::new(AgainOp {
            log: log.clone(),
            rounds,
        });
        table.insert(op, start).unwrap_or_else(|_| panic!("insert"))
    }

    #[test]
    fn an_op_going_again_keeps_its_slot_and_id_until_it_stops() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let id = insert_again(&mut table, &log, 2, Start::Detached);
        for round in 0..2 {
            match table.complete(id, done(100)) {
                CqeEffect::Again(again) => assert_eq!(again, id, "round {round}"),
                _ => panic!("round {round}: the op asked to go again"),
            }
            assert_eq!(table.in_kernel(), 1, "still the kernel's");
            assert!(table.is_orphaned(id), "a cancel must still find it");
            assert!(table.rebuild(id).is_some());
        }
        // It stops asking: freed at this CQE, and its id is dead after.
        let CqeEffect::Free(op) = table.complete(id, done(50)) else {
            panic!("freed at the last CQE");
        };
        drop(op);
        assert_eq!(table.in_kernel(), 0);
        assert!(matches!(table.complete(id, done(0)), CqeEffect::Stale));
        assert!(table.rebuild(id).is_none());
        assert_eq!(
            *log.borrow(),
            [
                "cqe 100", "rebuilt", "cqe 100", "rebuilt", "cqe 50", "dropped"
            ]
        );
    }

    #[test]
    fn an_op_given_up_leaves_the_table_once() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let id = insert_again(&mut table, &log, 5, Start::Detached);
        assert!(matches!(table.complete(id, done(1)), CqeEffect::Again(_)));
        let op = table.give_up(id).expect("the op");
        assert_eq!(table.in_kernel(), 0);
        assert!(table.give_up(id).is_none(), "only once");
        assert!(matches!(table.complete(id, done(0)), CqeEffect::Stale));
        drop(op);
        assert_eq!(*log.borrow(), ["cqe 1", "given up", "dropped"]);
    }

    /// Enters a fake send as a kept op.
    fn insert_kept(table: &mut OpTable, log: &Rc<RefCell<Vec<String>>>) -> OpId {
        table
            .insert(fake(log, "send"), Start::Kept)
            .unwrap_or_else(|_| panic!("insert"))
    }

    /// The cell a kept op's final CQE lends out: the fake op itself.
    fn parked(effect: CqeEffect) -> (OpId, Box<dyn InFlight>) {
        match effect {
            CqeEffect::Park(id, cell) => (id, cell),
            _ => panic!("a kept op's final CQE parks its slot"),
        }
    }

    #[test]
    fn a_kept_slot_is_parked_and_refilled_under_a_new_generation() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let first = insert_kept(&mut table, &log);
        assert_eq!(table.in_kernel(), 1);
        let (id, cell) = parked(table.complete(first, done(64)));
        assert_eq!(id, first);
        assert_eq!(table.in_kernel(), 0, "parked: not the kernel's");
        assert_eq!(table.len(), 1, "the slot stays");
        assert!(
            table.refill::<FakeOp, _>(first, (), |_, (), _| ()).is_err(),
            "no refill while the cell is lent out"
        );
        assert!(table.unpark(first, cell).is_none(), "the cell goes back");
        assert!(
            table
                .refill::<OtherOp, _>(first, (), |_, (), _| ())
                .is_err(),
            "a cell of another type is never handed out"
        );
        assert!(table.kernel_owned().is_empty());

        let mut submitted = None;
        let second = table
            .refill::<FakeOp, _>(first, "next", |cell, name, id| {
                cell.name = name;
                submitted = Some(id);
            })
            .unwrap_or_else(|_| panic!("refilled"));
        assert_eq!(submitted, Some(second), "submitted under the new id");
        assert_eq!(second.key, first.key, "the same slot");
        assert_ne!(second.generation, first.generation, "a new name");
        assert_eq!(table.in_kernel(), 1);
        assert_eq!(table.kernel_owned(), [second]);
        assert!(
            matches!(table.complete(first, done(1)), CqeEffect::Stale),
            "a late CQE of the previous op reaches nothing"
        );
        assert!(
            table
                .refill::<FakeOp, _>(second, (), |_, (), _| ())
                .is_err(),
            "not while in flight"
        );
        let (_, cell) = parked(table.complete(second, done(64)));
        assert!(table.unpark(second, cell).is_none());
        let Orphan::Free(cell) = table.unkeep(second) else {
            panic!("a parked slot is freed when its keeper lets go");
        };
        drop(cell);
        assert_eq!(table.len(), 0);
        assert!(matches!(table.unkeep(second), Orphan::Gone), "only once");
        assert_eq!(
            *log.borrow(),
            ["send orphaned 64", "next orphaned 64", "next dropped"]
        );
    }

    #[test]
    fn a_refill_that_panics_leaves_the_slot_parked() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let id = insert_kept(&mut table, &log);
        let (_, cell) = parked(table.complete(id, done(1)));
        assert!(table.unpark(id, cell).is_none());
        // Building the SQE panicked (say, a buffer's `stable_ptr`): no SQE
        // was pushed, so the kernel must not be waited for.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = table.refill::<FakeOp, _>(id, (), |_, (), _| panic!("build failed"));
        }));
        assert!(panicked.is_err());
        assert_eq!(table.in_kernel(), 0, "nothing reached the kernel");
        assert!(
            table.kernel_owned().is_empty(),
            "shutdown would wait for it"
        );
        let refilled = table.refill::<FakeOp, _>(id, (), |_, (), _| ());
        assert!(refilled.is_ok(), "still parked, under the same id");
    }

    #[test]
    fn a_kept_op_let_go_in_flight_is_freed_at_its_final_cqe() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let id = insert_kept(&mut table, &log);
        assert!(
            matches!(table.unkeep(id), Orphan::Cancel),
            "still the kernel's: the keeper may cancel it"
        );
        assert!(matches!(table.unkeep(id), Orphan::Gone), "only once");
        assert_eq!(table.in_kernel(), 1);
        let CqeEffect::Free(op) = table.complete(id, done(-libc::ECANCELED)) else {
            panic!("an op no longer kept is freed at its final CQE");
        };
        drop(op);
        assert_eq!(table.len(), 0);
        assert_eq!(table.in_kernel(), 0);
        assert_eq!(
            *log.borrow(),
            [
                format!("send orphaned {}", -libc::ECANCELED),
                "send dropped".into()
            ]
        );
    }

    #[test]
    fn a_cell_lent_out_when_its_slot_was_let_go_comes_back_to_the_caller() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let id = insert_kept(&mut table, &log);
        let (_, cell) = parked(table.complete(id, done(1)));
        // The keeper lets go while the cell is out (its release woke it).
        let Orphan::Free(stand_in) = table.unkeep(id) else {
            panic!("parked");
        };
        drop(stand_in);
        assert!(log.borrow().iter().all(|l| l != "send dropped"));
        let cell = table.unpark(id, cell).expect("nowhere to go back to");
        drop(cell);
        assert_eq!(table.len(), 0);
        assert_eq!(
            log.borrow().last().map(String::as_str),
            Some("send dropped")
        );
    }

    #[test]
    fn a_kept_op_going_again_keeps_its_id_until_it_parks() {
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut table = OpTable::new();
        let id = insert_again(&mut table, &log, 1, Start::Kept);
        assert!(matches!(table.complete(id, done(10)), CqeEffect::Again(again) if again == id));
        assert_eq!(table.in_kernel(), 1);
        let (parked_id, cell) = parked(table.complete(id, done(20)));
        assert_eq!(parked_id, id);
        assert!(table.unpark(id, cell).is_none());
        assert_eq!(*log.borrow(), ["cqe 10", "cqe 20"]);
    }

    #[test]
    fn unknown_ids_are_stale_not_panics() {
        let mut table = OpTable::new();
        let bogus = OpId {
            key: 12345,
            generation: 9,
        };
        assert!(matches!(table.complete(bogus, done(0)), CqeEffect::Stale));
        assert!(matches!(table.orphan(bogus), Orphan::Gone));
        let waker = Waker::from(Arc::new(CountingWaker::default()));
        assert!(matches!(table.poll_single(bogus, &waker), PollSingle::Gone));
        assert_eq!(table.poll_stream(bogus, &waker), Poll::Ready(None));
    }

    /// A model-checked random walk: ops are inserted, polled, orphaned and
    /// completed by a fake kernel that also sends duplicates, stale
    /// generations, unknown keys and intermediate (F_MORE) completions.
    /// Kept slots (write-behind) are parked at their final CQE, refilled
    /// with the next op under a new generation, and let go by their keeper
    /// at any point, also while the cell is lent out.
    /// Checked: no panic, a wake only ever reaches the op its CQE named,
    /// every op's state is freed (or, in a kept cell, released) exactly
    /// once and only after its final CQE.
    #[test]
    fn random_cqe_sequences_never_wake_the_wrong_op_or_free_early() {
        use std::collections::HashMap;

        struct ModelOp {
            tag: u64,
            state: Rc<RefCell<Shared>>,
        }
        #[derive(Default)]
        struct Shared {
            /// tag -> the kernel sent the final CQE
            kernel_done: HashMap<u64, bool>,
            /// tag -> times its state was dropped with its cell
            drops: HashMap<u64, u32>,
            /// tag -> times its state was released from a kept cell
            released: HashMap<u64, u32>,
            violations: Vec<String>,
        }
        impl Shared {
            fn check_done(&mut self, tag: u64, what: &str) {
                if !self.kernel_done.get(&tag).copied().unwrap_or(false) {
                    self.violations
                        .push(format!("op {tag} {what} before its final CQE"));
                }
            }
        }
        impl InFlight for ModelOp {
            fn orphaned(&mut self, _c: Completion) {}
        }
        impl Drop for ModelOp {
            fn drop(&mut self) {
                let mut s = self.state.borrow_mut();
                *s.drops.entry(self.tag).or_default() += 1;
                s.check_done(self.tag, "freed");
            }
        }
        // The wakers only run on this thread; `Wake` needs Send + Sync, so
        // the log of wakes goes through a thread-local instead.
        thread_local! {
            static WOKEN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
        }
        struct Tag(u64);
        impl Wake for Tag {
            fn wake(self: Arc<Self>) {
                WOKEN.with(|w| w.borrow_mut().push(self.0));
            }
        }

        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Phase {
            InKernel,
            Done,
        }
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Kind {
            Single,
            Multishot,
            Kept,
            Forward,
        }
        struct Live {
            id: OpId,
            tag: u64,
            kind: Kind,
            phase: Phase,
            /// The future was dropped (for a kept slot: its keeper let go).
            orphaned: bool,
            taken: bool,
        }

        /// What the driver does with a parked slot's lent cell: the op's
        /// state is released (here: recorded), and the cell goes back.
        fn release(shared: &Rc<RefCell<Shared>>, cell: &mut dyn InFlight) {
            let op: &mut dyn Any = cell;
            let tag = op.downcast_mut::<ModelOp>().expect("a model cell").tag;
            let mut s = shared.borrow_mut();
            *s.released.entry(tag).or_default() += 1;
            s.check_done(tag, "released");
        }

        for seed in 1..=20u64 {
            let shared = Rc::new(RefCell::new(Shared::default()));
            let mut table = OpTable::new();
            let mut live: Vec<Live> = Vec::new();
            let mut retired: Vec<OpId> = Vec::new();
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move |n: u64| {
                rng ^= rng >> 12;
                rng ^= rng << 25;
                rng ^= rng >> 27;
                rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
            };
            let mut next_tag = 0u64;
            for _step in 0..5_000 {
                WOKEN.with(|w| w.borrow_mut().clear());
                match next(10) {
                    0 | 1 => {
                        next_tag += 1;
                        let kind = match next(5) {
                            0 => Kind::Multishot,
                            1 => Kind::Kept,
                            2 => Kind::Forward,
                            _ => Kind::Single,
                        };
                        shared.borrow_mut().kernel_done.insert(next_tag, false);
                        let op = Box::new(ModelOp {
                            tag: next_tag,
                            state: shared.clone(),
                        });
                        let start = match kind {
                            Kind::Single => Start::Single(None),
                            Kind::Multishot => Start::Multishot,
                            Kind::Kept => Start::Kept,
                            Kind::Forward => Start::Forward,
                        };
                        let id = table.insert(op, start).unwrap_or_else(|_| panic!("insert"));
                        live.push(Live {
                            id,
                            tag: next_tag,
                            kind,
                            phase: Phase::InKernel,
                            orphaned: false,
                            taken: false,
                        });
                    }
                    2..=4 if !live.is_empty() => {
                        // The kernel completes an op it owns (a kept op,
                        // a single send, only with its final CQE).
                        let i = next(live.len() as u64) as usize;
                        if live[i].phase != Phase::InKernel {
                            continue;
                        }
                        let kept = live[i].kind == Kind::Kept;
                        let more = !kept && next(3) == 0;
                        let flags = if more {
                            1 << 1
                        } else if !kept && next(4) == 0 {
                            1 << 3
                        } else {
                            0
                        };
                        if !more {
                            live[i].phase = Phase::Done;
                            shared.borrow_mut().kernel_done.insert(live[i].tag, true);
                        }
                        let (id, tag) = (live[i].id, live[i].tag);
                        match table.complete(id, Completion { result: 1, flags }) {
                            CqeEffect::Wake(w) => {
                                w.wake();
                                let woken = WOKEN.with(|w| w.borrow().clone());
                                assert_eq!(woken, vec![tag], "seed {seed}: wrong op woken");
                            }
                            CqeEffect::Free(op) => {
                                assert!(
                                    !kept || live[i].orphaned,
                                    "seed {seed}: a kept slot was freed"
                                );
                                drop(op);
                            }
                            CqeEffect::Park(parked, mut cell) => {
                                assert!(kept && !live[i].orphaned, "seed {seed}: parked");
                                assert_eq!(parked, id, "seed {seed}: parked another slot");
                                release(&shared, &mut *cell);
                                if next(5) == 0 {
                                    // The keeper lets go while the cell is out.
                                    match table.unkeep(id) {
                                        Orphan::Free(stand_in) => drop(stand_in),
                                        _ => panic!("seed {seed}: a parked slot not freed"),
                                    }
                                    live[i].orphaned = true;
                                    let cell = table
                                        .unpark(id, cell)
                                        .expect("the slot is gone: the cell comes back");
                                    // Its state was released: this drop
                                    // frees the (re-tagged) empty cell.
                                    next_tag += 1;
                                    shared.borrow_mut().kernel_done.insert(next_tag, true);
                                    retag(cell, next_tag);
                                } else {
                                    assert!(table.unpark(id, cell).is_none(), "seed {seed}");
                                }
                            }
                            CqeEffect::Forward(forwarded, c) => {
                                assert!(
                                    live[i].kind == Kind::Forward && !live[i].orphaned,
                                    "seed {seed}: forwarded a CQE of a non-forwarding op"
                                );
                                assert_eq!(forwarded, id, "seed {seed}: forwarded another op");
                                assert_eq!(c.has_more(), more, "seed {seed}");
                            }
                            CqeEffect::Nothing => {}
                            CqeEffect::Again(_) => panic!("seed {seed}: no model op goes again"),
                            CqeEffect::Stale => panic!("seed {seed}: a live op's CQE was stale"),
                        }
                    }
                    5 => {
                        // Garbage: a retired id, an unknown key, a reserved value.
                        let id = match next(3) {
                            0 if !retired.is_empty() => {
                                retired[next(retired.len() as u64) as usize]
                            }
                            1 => OpId {
                                key: next(1 << 20) as u32,
                                generation: next(1000) as u32 + 1,
                            },
                            _ => OpId {
                                key: 0,
                                generation: u32::MAX,
                            },
                        };
                        if live.iter().any(|l| l.id == id) {
                            continue;
                        }
                        let flags = next(16) as u32;
                        assert!(
                            matches!(
                                table.complete(id, Completion { result: -1, flags }),
                                CqeEffect::Stale
                            ),
                            "seed {seed}: a garbage CQE had an effect"
                        );
                    }
                    6 | 7 if !live.is_empty() => {
                        // The future polls (a keeper sends its next op).
                        let i = next(live.len() as u64) as usize;
                        if live[i].orphaned || live[i].taken {
                            continue;
                        }
                        let waker = Waker::from(Arc::new(Tag(live[i].tag)));
                        match live[i].kind {
                            // Nothing polls a forwarding op: its owner only
                            // lets it go (below).
                            Kind::Forward => continue,
                            Kind::Multishot => {
                                if let Poll::Ready(None) = table.poll_stream(live[i].id, &waker) {
                                    live[i].taken = true;
                                }
                            }
                            Kind::Single => match table.poll_single(live[i].id, &waker) {
                                PollSingle::Ready(_, op) => {
                                    assert_eq!(
                                        live[i].phase,
                                        Phase::Done,
                                        "seed {seed}: ready too early"
                                    );
                                    drop(op);
                                    live[i].taken = true;
                                }
                                PollSingle::Pending => {}
                                PollSingle::Gone => panic!("seed {seed}: live op gone"),
                            },
                            Kind::Kept => {
                                let old = live[i].id;
                                let tag = next_tag + 1;
                                let refilled =
                                    table.refill::<ModelOp, _>(old, tag, |cell, tag, _| {
                                        cell.tag = tag
                                    });
                                if live[i].phase == Phase::InKernel {
                                    assert!(refilled.is_err(), "seed {seed}: refilled in flight");
                                    continue;
                                }
                                let id = refilled.unwrap_or_else(|_| {
                                    panic!("seed {seed}: a parked slot refills")
                                });
                                assert_eq!(id.key, old.key, "seed {seed}: another slot");
                                assert_ne!(id.generation, old.generation, "seed {seed}");
                                next_tag = tag;
                                shared.borrow_mut().kernel_done.insert(next_tag, false);
                                retired.push(old);
                                live[i].id = id;
                                live[i].tag = next_tag;
                                live[i].phase = Phase::InKernel;
                            }
                        }
                    }
                    _ if !live.is_empty() => {
                        // The future is dropped (a keeper lets go).
                        let i = next(live.len() as u64) as usize;
                        if live[i].orphaned {
                            continue;
                        }
                        live[i].orphaned = true;
                        let orphan = if live[i].kind == Kind::Kept {
                            table.unkeep(live[i].id)
                        } else {
                            table.orphan(live[i].id)
                        };
                        match orphan {
                            Orphan::Free(op) => {
                                if live[i].kind == Kind::Kept {
                                    // A parked cell, its state released:
                                    // freeing the cell ends nothing new.
                                    next_tag += 1;
                                    shared.borrow_mut().kernel_done.insert(next_tag, true);
                                    retag(op, next_tag);
                                } else {
                                    drop(op);
                                }
                            }
                            Orphan::Cancel => {
                                assert_eq!(
                                    live[i].phase,
                                    Phase::InKernel,
                                    "seed {seed}: cancel after the end"
                                );
                            }
                            Orphan::Gone => assert!(live[i].taken, "seed {seed}: lost an op"),
                        }
                    }
                    _ => {}
                }
                // Forget ops that are fully gone (freed and no future).
                live.retain(|l| {
                    // A drained stream keeps its slot until its future drops.
                    let gone = l.phase == Phase::Done
                        && (l.orphaned || (l.taken && l.kind == Kind::Single));
                    if gone {
                        retired.push(l.id);
                    }
                    !gone
                });
            }
            // Wind down: the kernel finishes everything, every future drops.
            for l in &mut live {
                if l.phase == Phase::InKernel {
                    shared.borrow_mut().kernel_done.insert(l.tag, true);
                    match table.complete(
                        l.id,
                        Completion {
                            result: 0,
                            flags: 0,
                        },
                    ) {
                        CqeEffect::Free(op) => drop(op),
                        CqeEffect::Park(id, mut cell) => {
                            release(&shared, &mut *cell);
                            assert!(table.unpark(id, cell).is_none());
                        }
                        _ => {}
                    }
                }
                if !l.orphaned {
                    let orphan = if l.kind == Kind::Kept {
                        table.unkeep(l.id)
                    } else {
                        table.orphan(l.id)
                    };
                    if let Orphan::Free(op) = orphan {
                        if l.kind == Kind::Kept {
                            next_tag += 1;
                            shared.borrow_mut().kernel_done.insert(next_tag, true);
                            retag(op, next_tag);
                        } else {
                            drop(op);
                        }
                    }
                }
            }
            assert_eq!(table.len(), 0, "seed {seed}: entries left behind");
            assert_eq!(table.in_kernel(), 0);
            let shared = shared.borrow();
            assert!(
                shared.violations.is_empty(),
                "seed {seed}: {:?}",
                shared.violations
            );
            for tag in 1..=next_tag {
                let ended = shared.drops.get(&tag).copied().unwrap_or(0)
                    + shared.released.get(&tag).copied().unwrap_or(0);
                assert_eq!(ended, 1, "seed {seed}: op {tag} freed or released wrongly");
            }
        }

        /// Frees an emptied kept cell (its last op's state was released)
        /// under a fresh tag, so that the op's own tag is ended once.
        fn retag(mut cell: Box<dyn InFlight>, tag: u64) {
            let op: &mut dyn Any = &mut *cell;
            op.downcast_mut::<ModelOp>().expect("a model cell").tag = tag;
        }
    }
}
