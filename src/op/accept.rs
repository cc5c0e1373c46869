//! `IORING_OP_ACCEPT` (Linux 5.5).

use std::io;
use std::os::fd::OwnedFd;

use io_uring::{opcode, squeue, types};

use super::{Operation, close_returned_fd};
use crate::driver::Completion;
use crate::io::SharedFd;
use crate::sys::socket::SockAddr;

pub(crate) struct Accept {
    fd: SharedFd,
    /// The kernel writes the peer's address and its length here.
    addr: SockAddr,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept {
            fd,
            addr: SockAddr::empty(),
        }
    }
}

impl Operation for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn build(&mut self) -> squeue::Entry {
        // Room for any address again (a retry after the kernel wrote one).
        self.addr = SockAddr::empty();
        let addr = self.addr.as_mut_ptr();
        let len = self.addr.len_mut() as *mut libc::socklen_t;
        opcode::Accept::new(types::Fd(self.fd.raw()), addr, len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let fd = result?;
        Ok((crate::sys::owned(fd as i32), self.addr))
    }

    /// An accept that completed after its future was dropped returned a
    /// connection nobody will serve: close it rather than leak it.
    fn dispose(&mut self, completion: Completion) {
        close_returned_fd(completion);
    }
}
