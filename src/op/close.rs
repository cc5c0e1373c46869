//! `IORING_OP_CLOSE` (Linux 5.6).

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::Operation;

pub(crate) struct Close {
    /// Owned until the SQE is built; then the kernel owns the close. If the
    /// op never reaches the kernel, dropping it closes the fd here.
    fd: Option<OwnedFd>,
}

impl Close {
    pub(crate) fn new(fd: OwnedFd) -> Close {
        Close { fd: Some(fd) }
    }
}

impl Operation for Close {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        let raw = self.fd.take().map_or(-1, IntoRawFd::into_raw_fd);
        opcode::Close::new(types::Fd(raw)).build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
