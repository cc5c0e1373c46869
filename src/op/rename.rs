//! `IORING_OP_RENAMEAT` (Linux 5.11).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;

pub(crate) struct Rename {
    from: CString,
    to: CString,
}

impl Rename {
    pub(crate) fn new(from: CString, to: CString) -> Rename {
        Rename { from, to }
    }
}

impl Operation for Rename {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
