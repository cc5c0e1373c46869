//! `IORING_OP_OPENAT` (Linux 5.6).

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;

use io_uring::{opcode, squeue, types};

use super::{Operation, close_returned_fd};
use crate::driver::Completion;

pub(crate) struct Open {
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl Open {
    pub(crate) fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> Open {
        Open { path, flags, mode }
    }
}

impl Operation for Open {
    type Output = io::Result<OwnedFd>;

    fn build(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags | libc::O_CLOEXEC)
            .mode(self.mode)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<OwnedFd> {
        result.map(|fd| crate::sys::owned(fd as i32))
    }

    /// A file opened after its future was dropped: close it.
    fn dispose(&mut self, completion: Completion) {
        close_returned_fd(completion);
    }
}
