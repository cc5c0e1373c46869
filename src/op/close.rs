//! `IORING_OP_CLOSE` (Linux 5.6).

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::Operation;

pub(crate) struct Close {
    /// Released (not closed) once the kernel reports the close, whatever
    /// its result: Linux frees the fd even when close fails. If the op never
    /// reaches the kernel, dropping it closes the fd here.
    fd: Option<OwnedFd>,
    /// Or: a slot of the ring's file table (a direct descriptor).
    slot: Option<u32>,
}

impl Close {
    fn release(&mut self) {
        if let Some(fd) = self.fd.take() {
            let _ = fd.into_raw_fd();
        }
    }
}

impl Close {
    pub(crate) fn new(fd: OwnedFd) -> Close {
        Close {
            fd: Some(fd),
            slot: None,
        }
    }

    /// Closes slot `slot` of the ring's file table.
    pub(crate) fn fixed(slot: i32) -> Close {
        Close {
            fd: None,
            slot: u32::try_from(slot).ok(),
        }
    }
}

impl Operation for Close {
    type Output = io::Result<()>;

    /// A close interrupted by a signal has still freed the fd; retrying
    /// could close an fd number someone else got since.
    const RETRY_TRANSIENT: bool = false;

    fn build(&mut self) -> squeue::Entry {
        if let Some(slot) = self.slot {
            return opcode::Close::new(types::Fixed(slot)).build();
        }
        let raw = self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        opcode::Close::new(types::Fd(raw)).build()
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        self.release();
        result.map(drop)
    }

    fn dispose(&mut self, _completion: crate::driver::Completion) {
        self.release();
    }
}
