//! `IORING_OP_CONNECT` (Linux 5.5).

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::io::SharedFd;
use crate::sys::socket::SockAddr;

pub(crate) struct Connect {
    fd: SharedFd,
    addr: SockAddr,
}

impl Connect {
    pub(crate) fn new(fd: SharedFd, addr: SockAddr) -> Connect {
        Connect { fd, addr }
    }
}

impl Operation for Connect {
    type Output = io::Result<()>;

    /// An interrupted connect goes on in the kernel; a second one would
    /// fail with EALREADY.
    const RETRY_TRANSIENT: bool = false;

    fn build(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.fd.raw()),
            self.addr.as_ptr(),
            self.addr.len(),
        )
        .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
