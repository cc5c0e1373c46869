//! `IORING_OP_MKDIRAT` (Linux 5.15).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;

pub(crate) struct MkDir {
    path: CString,
    mode: libc::mode_t,
}

impl MkDir {
    pub(crate) fn new(path: CString, mode: libc::mode_t) -> MkDir {
        MkDir { path, mode }
    }
}

impl Operation for MkDir {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
