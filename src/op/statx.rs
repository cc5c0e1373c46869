//! `IORING_OP_STATX` (Linux 5.6).

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::io::SharedFd;

pub(crate) struct Statx {
    /// `Some` to stat an open file (with an empty path), `None` for a path
    /// relative to the working directory.
    fd: Option<SharedFd>,
    path: CString,
    flags: libc::c_int,
    /// The kernel writes the result here (boxed: it is large, and the op
    /// moves before it is built).
    out: Box<MaybeUninit<libc::statx>>,
}

impl Statx {
    pub(crate) fn of_fd(fd: SharedFd) -> Statx {
        Statx {
            fd: Some(fd),
            path: CString::default(),
            flags: libc::AT_EMPTY_PATH,
            out: Box::new(MaybeUninit::zeroed()),
        }
    }

    pub(crate) fn of_path(path: CString, follow_symlinks: bool) -> Statx {
        Statx {
            fd: None,
            path,
            flags: if follow_symlinks {
                0
            } else {
                libc::AT_SYMLINK_NOFOLLOW
            },
            out: Box::new(MaybeUninit::zeroed()),
        }
    }
}

impl Operation for Statx {
    type Output = io::Result<libc::statx>;

    fn build(&mut self) -> squeue::Entry {
        let dirfd = self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        let out: *mut libc::statx = self.out.as_mut_ptr();
        opcode::Statx::new(types::Fd(dirfd), self.path.as_ptr(), out.cast())
            .flags(self.flags)
            .mask(libc::STATX_BASIC_STATS | libc::STATX_BTIME)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<libc::statx> {
        result?;
        // SAFETY: the buffer started zeroed, a valid `statx` (plain
        // integers), and the kernel only wrote more integers into it.
        Ok(unsafe { self.out.assume_init_read() })
    }
}
