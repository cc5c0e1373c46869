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
    /// On a socket: sent with `IORING_OP_SENDMSG` and `MSG_NOSIGNAL` (the
    /// header points at `iovecs`), because a `WRITEV` on a socket whose
    /// peer is gone raises SIGPIPE, which kills a process that does not
    /// ignore it; every other stream write says `MSG_NOSIGNAL` already.
    msg: Option<libc::msghdr>,
}

/// The most iovecs one call takes (`UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

impl<B: IoBuf> Writev<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> Writev<B> {
        Writev {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
            msg: None,
        }
    }

    /// A vectored send on a stream socket: an `EPIPE` result, never a
    /// SIGPIPE, when the peer has gone away.
    pub(crate) fn socket(fd: SharedFd, bufs: Vec<B>) -> Writev<B> {
        Writev {
            msg: Some(super::send_msg::empty_msghdr()),
            ..Writev::new(fd, bufs, u64::MAX)
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
        // More iovecs than the kernel takes stay a WRITEV: it fails with
        // EINVAL (as writev(2) does) before touching the socket, so no
        // signal can come of it, where SENDMSG would say EMSGSIZE.
        if let Some(msg) = self.msg.as_mut().filter(|_| self.iovecs.len() <= IOV_MAX) {
            // Every pointer here is into `self`, which stays put until the
            // CQE; `build` runs again in place for a resubmission.
            msg.msg_iov = self.iovecs.as_mut_ptr();
            msg.msg_iovlen = self.iovecs.len();
            return opcode::SendMsg::new(types::Fd(self.fd.ring_raw()), &raw const *msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build();
        }
        let count = u32::try_from(self.iovecs.len()).unwrap_or(u32::MAX);
        opcode::Writev::new(types::Fd(self.fd.ring_raw()), self.iovecs.as_ptr(), count)
            .offset(self.offset)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.bufs)
    }
}
