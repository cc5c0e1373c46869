//! `IORING_OP_SEND_ZC` (Linux 6.0): the kernel sends straight from the
//! buffer. Two CQEs: the result (with `F_MORE`), then a notification once
//! the kernel no longer reads the buffer. The op table completes the op only
//! on the notification, so the buffer is handed back only then — also after
//! a cancel. The notification waits until the data the kernel queued has
//! been sent (on TCP, until the peer has room for it), so once the result
//! has come and the future is gone the op gives up its fd (`shed_fd`): a
//! stream dropped meanwhile is closed, not held open by the buffer's wait.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, stream_io_len};
use crate::buf::IoBuf;
use crate::io::SharedFd;

pub(crate) struct SendZc<B> {
    /// `None` once given up (`shed_fd`), after the result CQE.
    fd: Option<SharedFd>,
    buf: B,
}

impl<B: IoBuf> SendZc<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> SendZc<B> {
        SendZc { fd: Some(fd), buf }
    }
}

impl<B: IoBuf> Operation for SendZc<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.as_ref().is_some_and(SharedFd::in_table)
    }

    fn build(&mut self) -> squeue::Entry {
        let len = stream_io_len(self.buf.bytes_init());
        // Never built after `shed_fd` (an orphaned op is not resubmitted);
        // -1 would fail with EBADF, naming no other file.
        let fd = self.fd.as_ref().map_or(-1, SharedFd::ring_raw);
        opcode::SendZc::new(types::Fd(fd), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }

    /// The request is done with the socket (its result CQE has come); the
    /// kernel reads only the buffer's pages until the notification.
    fn shed_fd(&mut self) -> Option<SharedFd> {
        self.fd.take()
    }
}
