//! `IORING_OP_FSYNC` (Linux 5.1).

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::io::SharedFd;

pub(crate) struct Fsync {
    fd: SharedFd,
    data_only: bool,
}

impl Fsync {
    pub(crate) fn new(fd: SharedFd, data_only: bool) -> Fsync {
        Fsync { fd, data_only }
    }
}

impl Operation for Fsync {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
