//! `IORING_OP_SEND_ZC` (Linux 6.0): the kernel sends straight from the
//! buffer. Two CQEs: the result (with `F_MORE`), then a notification once
//! the kernel no longer reads the buffer. The op table completes the op only
//! on the notification, so the buffer is handed back only then — also after
//! a cancel.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, stream_io_len};
use crate::buf::IoBuf;
use crate::io::SharedFd;

pub(crate) struct SendZc<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBuf> SendZc<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> SendZc<B> {
        SendZc { fd, buf }
    }
}

impl<B: IoBuf> Operation for SendZc<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = stream_io_len(self.buf.bytes_init());
        opcode::SendZc::new(types::Fd(self.fd.ring_raw()), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
