//! `IORING_OP_POLL_ADD` (Linux 5.1): wait until an fd is ready (used for
//! pidfds, which signal a child's exit by becoming readable).

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::io::SharedFd;

pub(crate) struct PollAdd {
    fd: SharedFd,
    events: u32,
}

impl PollAdd {
    pub(crate) fn readable(fd: SharedFd) -> PollAdd {
        PollAdd {
            fd,
            events: libc::POLLIN as u32,
        }
    }
}

impl Operation for PollAdd {
    /// The ready events.
    type Output = io::Result<u32>;

    fn build(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), self.events).build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<u32> {
        result
    }
}
