//! `IORING_OP_UNLINKAT` (Linux 5.11): remove a file or an empty directory.

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;

pub(crate) struct Unlink {
    path: CString,
    dir: bool,
}

impl Unlink {
    pub(crate) fn file(path: CString) -> Unlink {
        Unlink { path, dir: false }
    }

    pub(crate) fn dir(path: CString) -> Unlink {
        Unlink { path, dir: true }
    }
}

impl Operation for Unlink {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        let flags = if self.dir { libc::AT_REMOVEDIR } else { 0 };
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(flags)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
