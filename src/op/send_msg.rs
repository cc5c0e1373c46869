//! `IORING_OP_SENDMSG` (Linux 5.3): a datagram to an explicit address.

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use crate::buf::IoBuf;
use crate::io::SharedFd;
use crate::sys::socket::SockAddr;

pub(crate) struct SendMsg<B> {
    fd: SharedFd,
    buf: B,
    addr: SockAddr,
    iov: libc::iovec,
    msg: libc::msghdr,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, addr: SockAddr) -> SendMsg<B> {
        SendMsg {
            fd,
            buf,
            addr,
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            msg: empty_msghdr(),
        }
    }
}

pub(crate) fn empty_msghdr() -> libc::msghdr {
    libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: std::ptr::null_mut(),
        msg_iovlen: 0,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    }
}

impl<B: IoBuf> Operation for SendMsg<B> {
    type Output = (io::Result<usize>, B);

    fn build(&mut self) -> squeue::Entry {
        // Every pointer here is into `self`, which stays put until the CQE.
        self.iov = libc::iovec {
            iov_base: self.buf.stable_ptr().cast_mut().cast(),
            iov_len: self.buf.bytes_init(),
        };
        self.msg.msg_name = self.addr.as_ptr().cast_mut().cast();
        self.msg.msg_namelen = self.addr.len();
        self.msg.msg_iov = &raw mut self.iov;
        self.msg.msg_iovlen = 1;
        opcode::SendMsg::new(types::Fd(self.fd.raw()), &raw const self.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
