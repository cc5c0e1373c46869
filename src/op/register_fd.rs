//! `IORING_OP_FILES_UPDATE` into a slot the kernel picks (Linux 5.19):
//! registers a stream's fd in the ring's file table, so that its later ops
//! name the slot (`IOSQE_FIXED_FILE`) and the kernel skips the file lookup
//! (`fget`/`fput`) each op would otherwise pay. The stream keeps its fd for
//! everything else (socket options, eager sends, `into_std`).
//!
//! Submitted detached when the stream is made (`Builder::register_streams`):
//! nothing waits for it. Ops submitted before its CQE use the fd, those
//! after it the slot. The op holds a clone of the stream's `SharedFd`, so
//! the slot it gets is recorded there before the last owner can let go of
//! the fd; the slot is closed with the fd.

use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};

use io_uring::{opcode, squeue};

use super::Operation;
use crate::driver::{Completion, Driver};
use crate::io::SharedFd;

/// `IORING_FILE_INDEX_ALLOC`: the kernel picks a free slot (in the
/// table's allocation range) and writes it back over the fd.
const FILE_INDEX_ALLOC: i32 = -1;

pub(crate) struct RegisterFd {
    fd: SharedFd,
    /// The ring whose table the slot is in.
    ring: Weak<Driver>,
    /// What the kernel reads (the fd to register) and then overwrites with
    /// the slot it allocated. Lives in the op's heap cell until the CQE.
    fds: [RawFd; 1],
}

impl RegisterFd {
    pub(crate) fn new(fd: SharedFd, ring: &Rc<Driver>) -> RegisterFd {
        let raw = fd.raw();
        // Until this op is gone, `into_std` turns `ring` to finish it.
        fd.registration_started(ring);
        RegisterFd {
            fd,
            ring: Rc::downgrade(ring),
            fds: [raw],
        }
    }

    fn record(&self, result: i32) {
        // One file updated: the kernel wrote the slot it chose over the fd.
        if result == 1 {
            if let Ok(slot) = u32::try_from(self.fds[0]) {
                self.fd.set_registered(slot, self.ring.clone());
                if let Some(driver) = self.ring.upgrade() {
                    driver.stream_registered();
                }
            }
        }
        // Otherwise (the table is full: ENFILE; no table; an old kernel:
        // EINVAL) the stream simply goes on with its fd.
    }
}

impl Drop for RegisterFd {
    fn drop(&mut self) {
        // Completed, or never submitted: the fd no longer waits for it.
        self.fd.registration_ended();
    }
}

impl Operation for RegisterFd {
    type Output = ();

    /// Detached: a failed registration is not worth a retry.
    const RETRY_TRANSIENT: bool = false;

    fn build(&mut self) -> squeue::Entry {
        // Rebuilt from the fd each time: `fds[0]` holds a slot after a CQE.
        self.fds[0] = self.fd.raw();
        opcode::FilesUpdate::new(self.fds.as_ptr(), 1)
            .offset(FILE_INDEX_ALLOC)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) {
        self.record(result.map_or(-1, |n| i32::try_from(n).unwrap_or(-1)));
    }

    fn dispose(&mut self, completion: Completion) {
        self.record(completion.result);
    }
}
