//! `IORING_OP_SHUTDOWN` (Linux 5.11).

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::io::SharedFd;

pub(crate) struct Shutdown {
    fd: SharedFd,
    how: libc::c_int,
}

impl Shutdown {
    pub(crate) fn new(fd: SharedFd, how: std::net::Shutdown) -> Shutdown {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        Shutdown { fd, how }
    }
}

impl Operation for Shutdown {
    type Output = io::Result<()>;

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::Shutdown::new(types::Fd(self.fd.ring_raw()), self.how).build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
