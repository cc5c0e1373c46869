//! Entering the kernel through a registered ring fd.
//!
//! `io_uring_enter` on a plain ring fd makes the kernel look the fd up and
//! take a reference on the file at every call. A ring registered with
//! `IORING_REGISTER_RING_FDS` (Linux 5.18) is named by its index in the
//! thread's own io_uring context instead: on the development machine a
//! one-NOP round trip went from 285 to 250 ns. The io-uring crate keeps the
//! index only in a `Submitter` that borrows the ring, which the driver
//! cannot hold across calls, so the two syscalls are made here.
//!
//! Two rules come with it:
//! - The registration belongs to the thread that made it. The runtime is
//!   `!Send`, so its driver enters only from the thread that built it.
//! - It holds a reference to the ring's file: the ring stays alive after
//!   its fd is closed until it is unregistered (or the thread exits), with
//!   every buffer and file it holds. [`RegisteredRing::unregister`] runs
//!   before the driver closes the ring.
//!
//! SQPOLL rings do not use it: their enters are rare, and deciding whether
//! one is needed at all is the io-uring crate's job there.

use std::io;
use std::os::fd::AsRawFd;
use std::ptr;

use io_uring::{EnterFlags, IoUring, types};

/// `IORING_REGISTER_RING_FDS` / `IORING_UNREGISTER_RING_FDS`.
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;
/// Tells `IORING_REGISTER_RING_FDS` to pick a free index.
const ANY_INDEX: u32 = u32::MAX;

/// `struct io_uring_rsrc_update`: the argument of both registrations.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// A ring fd registered in this thread's io_uring context.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RegisteredRing {
    index: u32,
}

impl RegisteredRing {
    /// Registers `ring`'s fd, or `None` where the kernel says no: before
    /// 5.18 (`EINVAL`), or when this thread already holds the 16 the kernel
    /// allows (`EBUSY`). The driver then enters through the plain fd.
    pub(crate) fn register(ring: &IoUring) -> Option<RegisteredRing> {
        let mut update = RsrcUpdate {
            offset: ANY_INDEX,
            resv: 0,
            data: u64::try_from(ring.as_raw_fd()).ok()?,
        };
        // SAFETY: `update` is a live `io_uring_rsrc_update`, and the count
        // (1) says the kernel reads and writes exactly that one.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring.as_raw_fd(),
                REGISTER_RING_FDS,
                ptr::from_mut(&mut update),
                1,
            )
        };
        // The kernel returns how many it registered, and writes the index
        // it chose into `offset`.
        (ret == 1).then_some(RegisteredRing {
            index: update.offset,
        })
    }

    /// Gives the index back, so that the kernel drops its reference to the
    /// ring: called before the ring's fd is closed.
    pub(crate) fn unregister(self, ring: &IoUring) {
        let update = RsrcUpdate {
            offset: self.index,
            resv: 0,
            data: 0,
        };
        // A failure leaves the reference to the thread's exit, which also
        // drops it: nothing to do.
        // SAFETY: as in `register`; the kernel only reads `update`.
        unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring.as_raw_fd(),
                UNREGISTER_RING_FDS,
                ptr::from_ref(&update),
                1,
            );
        }
    }

    /// Submits what is queued and waits for `want` completions, for at
    /// most `timeout` if one is given; returns how many SQEs the kernel
    /// took. The same call as the io-uring crate's `submit_and_wait` /
    /// `submit_with_args` on a ring without SQPOLL, through the registered
    /// index.
    pub(crate) fn enter(
        &self,
        ring: &mut IoUring,
        want: u32,
        timeout: Option<&types::Timespec>,
    ) -> io::Result<usize> {
        let sq = ring.submission();
        let to_submit = u32::try_from(sq.len()).unwrap_or(u32::MAX);
        let mut flags = EnterFlags::REGISTERED_RING;
        // Deferred task work and overflowed CQEs are only processed by an
        // enter that asks for completions.
        if want > 0 || sq.taskrun() || sq.cq_overflow() {
            flags |= EnterFlags::GETEVENTS;
        }
        drop(sq);
        let args = timeout.map(|ts| types::SubmitArgs::new().timespec(ts));
        let (arg, arg_len) = match &args {
            Some(args) => {
                flags |= EnterFlags::EXT_ARG;
                (
                    ptr::from_ref(args).cast::<libc::c_void>(),
                    size_of::<types::SubmitArgs<'_, '_>>(),
                )
            }
            None => (ptr::null(), 0),
        };
        // `arg` is null or a `SubmitArgs`: a transparent
        // `io_uring_getevents_arg` whose timespec outlives this call.
        // SAFETY: queued SQEs point only at memory kept until their CQEs
        // (see `try_push`), and `arg` is valid for the `arg_len` passed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.index,
                to_submit,
                want,
                flags.bits(),
                arg,
                arg_len,
            )
        };
        // Negative only as -1, with the errno set.
        usize::try_from(ret).map_err(|_| io::Error::last_os_error())
    }
}
