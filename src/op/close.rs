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
        Close { fd: Some(fd) }
    }
}

impl Operation for Close {
    type Output = io::Result<()>;

    /// A close interrupted by a signal has still freed the fd; retrying
    /// could close an fd number someone else got since.
    const RETRY_TRANSIENT: bool = false;

    fn build(&mut self) -> squeue::Entry {
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
