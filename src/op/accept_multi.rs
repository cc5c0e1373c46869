//! Multishot `IORING_OP_ACCEPT` (Linux 5.19): one SQE accepts connection
//! after connection until the kernel ends it.

use std::io;
use std::os::fd::OwnedFd;

use io_uring::{opcode, squeue, types};

use super::{MultishotOperation, Operation, close_returned_fd};
use crate::driver::Completion;
use crate::io::SharedFd;

pub(crate) struct AcceptMulti {
    fd: SharedFd,
}

impl AcceptMulti {
    pub(crate) fn new(fd: SharedFd) -> AcceptMulti {
        AcceptMulti { fd }
    }
}

impl Operation for AcceptMulti {
    /// Items come through [`MultishotOperation::item`].
    type Output = ();

    const MULTISHOT: bool = true;

    fn build(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn complete(self, _result: io::Result<u32>, _flags: u32) {}

    /// A connection accepted after the stream was dropped: close it.
    fn dispose(&mut self, completion: Completion) {
        close_returned_fd(completion);
    }
}

impl MultishotOperation for AcceptMulti {
    type Item = io::Result<OwnedFd>;

    fn item(&mut self, completion: Completion) -> io::Result<OwnedFd> {
        completion
            .to_io_result()
            .map(|fd| crate::sys::owned(fd as i32))
    }
}
