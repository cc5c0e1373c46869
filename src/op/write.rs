//! `IORING_OP_WRITE` (Linux 5.6) from an owned buffer, and `WRITEV`.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, stream_io_len};
use crate::buf::IoBuf;
use crate::io::SharedFd;

pub(crate) struct Write<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBuf> Write<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> Write<B> {
        Write { fd, buf, offset }
    }
}

impl<B: IoBuf> Operation for Write<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = stream_io_len(self.buf.bytes_init());
        opcode::Write::new(types::Fd(self.fd.ring_raw()), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// Vectored write of several owned buffers, in order.
pub(crate) struct Writev<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBuf> Writev<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> Writev<B> {
        Writev {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }
}

impl<B: IoBuf> Operation for Writev<B> {
    type Output = (io::Result<usize>, Vec<B>);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        self.iovecs = self
            .bufs
            .iter()
            .map(|buf| libc::iovec {
                iov_base: buf.stable_ptr().cast_mut().cast(),
                iov_len: buf.bytes_init(),
            })
            .collect();
        let count = u32::try_from(self.iovecs.len()).unwrap_or(u32::MAX);
        opcode::Writev::new(types::Fd(self.fd.ring_raw()), self.iovecs.as_ptr(), count)
            .offset(self.offset)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}
