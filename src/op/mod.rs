//! The op layer: one file per io_uring operation.
//!
//! An operation is a struct that owns everything the kernel will read or
//! write (buffer, sockaddr, path, timespec) and implements [`Operation`]:
//! how to build its SQE from that owned state, and how to turn its CQE back
//! into a typed result that hands the owned state back. Adding an opcode is
//! adding one file here; the driver's generic future (`driver::Op`) does the
//! rest — submission, waiting, cancel on drop and disposal of late results.

use std::io;

use io_uring::squeue;

use crate::driver::{Completion, InFlight, with_fixed_file};
use crate::io::SharedFd;

pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod fixed;
pub(crate) mod fsync;
pub(crate) mod link_timeout;
pub(crate) mod mkdir;
pub(crate) mod nop;
pub(crate) mod open;
pub(crate) mod poll;
pub(crate) mod read;
pub(crate) mod recv;
pub(crate) mod recv_msg;
pub(crate) mod recv_multi;
pub(crate) mod register_fd;
pub(crate) mod rename;
pub(crate) mod send;
pub(crate) mod send_msg;
pub(crate) mod send_zc;
pub(crate) mod shutdown;
pub(crate) mod statx;
pub(crate) mod unlink;
pub(crate) mod write;

/// An io_uring operation with owned state.
pub(crate) trait Operation: Sized + 'static {
    /// What awaiting the operation yields: usually the result together with
    /// the buffer it owned.
    type Output;

    /// Whether the op may run again after `EINTR`, `EAGAIN`, `ENOBUFS` or an
    /// unrequested `ECANCELED` (results that mean it had no effect). `build`
    /// must then be callable again on the same state. Not for ops that are
    /// not idempotent after an interruption (close, connect).
    const RETRY_TRANSIENT: bool = true;

    /// Builds the SQE. Called after `self` has been moved to its final place
    /// (a heap cell owned by the driver's op table), so pointers into `self`
    /// stay valid until the op's final CQE; called again, in its new cell,
    /// for each resubmission (see `RETRY_TRANSIENT`), so it must take every
    /// pointer afresh.
    fn build(&mut self) -> squeue::Entry;

    /// Turns the final CQE into the output. `result` is the CQE's result,
    /// or the error that kept the op from being submitted at all.
    fn complete(self, result: io::Result<u32>, flags: u32) -> Self::Output;

    /// Releases what a result nobody will consume carries: an fd from a late
    /// accept or open, a provided buffer. Must not submit operations.
    fn dispose(&mut self, completion: Completion) {
        let _ = completion;
    }

    /// The op's fd is a direct descriptor (a slot of the ring's file
    /// table): the driver sets `IOSQE_FIXED_FILE` on its SQE.
    fn fixed_file(&self) -> bool {
        false
    }

    /// The op has a [`try_now`](Self::try_now).
    const EAGER: bool = false;

    /// Runs the op at once with one nonblocking syscall instead of the ring
    /// (an eager send: see `Driver::take_eager_slot`). Returns the result as
    /// a CQE would carry it (a count, or `-errno`); a transient error sends
    /// the op to the ring after all. `None`: this op has no such syscall.
    /// The syscall must not keep any reference to the op's state once it
    /// returns.
    fn try_now(&mut self) -> Option<i32> {
        None
    }

    /// Sees every CQE of the op as it arrives, once (see
    /// [`InFlight::observe`]).
    fn observe(&mut self, completion: Completion) {
        let _ = completion;
    }

    /// After `dispose` saw the final CQE of a detached op: whether to
    /// submit it again, `build` afresh, under the same user_data (see
    /// [`InFlight::again`]). Must not submit operations.
    fn again(&mut self) -> bool {
        false
    }

    /// The op wanted to go again but the runtime is shutting down.
    fn give_up(&mut self) {}

    /// An op that posts a notification after its result (`SEND_ZC`), whose
    /// result has come while no future awaits it: gives up its fd, which
    /// the notification does not need (see [`InFlight::shed`]). `build` is
    /// never called again after it.
    fn shed_fd(&mut self) -> Option<SharedFd> {
        None
    }
}

/// A multishot operation: one SQE, many CQEs, each turned into an item.
pub(crate) trait MultishotOperation: Operation {
    /// What one CQE becomes.
    type Item;

    /// Turns one CQE into an item, with the owned state at hand (e.g. the
    /// buffer ring a received buffer belongs to).
    fn item(&mut self, completion: Completion) -> Self::Item;
}

/// The heap cell an op's owned state lives in while the driver's table owns
/// it. The state is taken out when its result is handed back; the emptied
/// cell can then carry the next op of the same type (no allocation per op).
pub(crate) struct OpCell<T>(pub(crate) Option<T>);

impl<T: Operation> InFlight for OpCell<T> {
    fn orphaned(&mut self, completion: Completion) {
        if let Some(op) = &mut self.0 {
            op.dispose(completion);
        }
    }

    fn observe(&mut self, completion: Completion) {
        if let Some(op) = &mut self.0 {
            op.observe(completion);
        }
    }

    fn kind(&self) -> &'static str {
        std::any::type_name::<T>()
    }

    fn release(&mut self) -> bool {
        drop(self.0.take());
        true
    }

    fn again(&mut self) -> bool {
        self.0.as_mut().is_some_and(Operation::again)
    }

    fn rebuild(&mut self) -> Option<squeue::Entry> {
        let op = self.0.as_mut()?;
        Some(with_fixed_file(op.build(), op.fixed_file()))
    }

    fn give_up(&mut self) {
        if let Some(op) = &mut self.0 {
            op.give_up();
        }
    }

    fn shed(&mut self) -> Option<Box<dyn InFlight>> {
        let fd = self.0.as_mut()?.shed_fd()?;
        Some(Box::new(Shed { _fd: fd }))
    }
}

/// An fd an op gave up before its final CQE ([`Operation::shed_fd`]),
/// handed to the driver to be dropped outside the table borrow.
struct Shed {
    /// Held only to be dropped (closing the fd if it is the last clone).
    _fd: SharedFd,
}

impl InFlight for Shed {
    fn orphaned(&mut self, _: Completion) {}
}

/// Closes the fd a successful late result carries (accept, open, socket).
pub(crate) fn close_returned_fd(completion: Completion) {
    if completion.result >= 0 {
        crate::sys::close_fd(completion.result);
    }
}

/// The most one transfer may ask for: Linux's `MAX_RW_COUNT` (`INT_MAX`
/// rounded down to a page). Stream send and receive refuse more (`EINVAL`).
const MAX_TRANSFER: u32 = 0x7FFF_F000;

/// The length of a buffer as the kernel takes it, clamped: one call moves
/// at most `MAX_TRANSFER` bytes, and a short transfer is a valid result.
/// (Datagrams never come near it: their length is their boundary.)
#[inline]
pub(crate) fn io_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX).min(MAX_TRANSFER)
}

/// As [`io_len`], for streams (files, pipes, stream sockets), where a
/// shorter transfer is always legal: fault injection may shorten it.
#[inline]
pub(crate) fn stream_io_len(len: usize) -> u32 {
    io_len(crate::driver::stream_len(len))
}
