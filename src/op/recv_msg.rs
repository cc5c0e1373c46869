//! `IORING_OP_RECVMSG` (Linux 5.3): a datagram and the address it came
//! from.

use std::io;

use io_uring::{opcode, squeue, types};

use super::Operation;
use super::send_msg::empty_msghdr;
use crate::buf::IoBufMut;
use crate::io::SharedFd;
use crate::sys::socket::SockAddr;

pub(crate) struct RecvMsg<B> {
    fd: SharedFd,
    buf: B,
    addr: SockAddr,
    iov: libc::iovec,
    msg: libc::msghdr,
}

impl<B: IoBufMut> RecvMsg<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> RecvMsg<B> {
        RecvMsg {
            fd,
            buf,
            addr: SockAddr::empty(),
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            msg: empty_msghdr(),
        }
    }
}

impl<B: IoBufMut> Operation for RecvMsg<B> {
    type Output = (io::Result<(usize, SockAddr)>, B);

    fn build(&mut self) -> squeue::Entry {
        // Every pointer here is into `self`, which stays put until the CQE.
        self.iov = libc::iovec {
            iov_base: self.buf.stable_mut_ptr().cast(),
            iov_len: self.buf.bytes_total(),
        };
        self.msg.msg_name = self.addr.as_mut_ptr().cast();
        self.msg.msg_namelen = self.addr.len();
        self.msg.msg_iov = &raw mut self.iov;
        self.msg.msg_iovlen = 1;
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &raw mut self.msg).build()
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        match result {
            Ok(n) => {
                let n = n as usize;
                // SAFETY: the kernel wrote `n` bytes (at most the iovec's
                // `bytes_total`) at the start of the buffer.
                unsafe { self.buf.set_init(n) };
                *self.addr.len_mut() = self.msg.msg_namelen;
                (Ok((n, self.addr)), self.buf)
            }
            Err(err) => (Err(err), self.buf),
        }
    }

    /// A read that completed after its future was dropped: the kernel
    /// wrote the bytes, so the buffer is told (`set_init`) before it is
    /// freed — a buffer type that reports its contents on drop can account
    /// for every byte (nothing silently vanishes).
    fn dispose(&mut self, completion: crate::driver::Completion) {
        if let Ok(n) = completion.to_io_result() {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer,
            // at most the length we passed.
            unsafe { self.buf.set_init(n as usize) };
        }
    }
}
