//! `IORING_OP_SEND` (Linux 5.6) from an owned buffer.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, io_len, stream_io_len};
use crate::buf::IoBuf;
use crate::io::SharedFd;

pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
    /// A datagram's length is its boundary: never shortened.
    datagram: bool,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Send<B> {
        Send {
            fd,
            buf,
            datagram: false,
        }
    }

    pub(crate) fn datagram(fd: SharedFd, buf: B) -> Send<B> {
        Send {
            fd,
            buf,
            datagram: true,
        }
    }
}

impl<B: IoBuf> Operation for Send<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.is_fixed()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = if self.datagram {
            io_len(self.buf.bytes_init())
        } else {
            stream_io_len(self.buf.bytes_init())
        };
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            // A peer that went away is an EPIPE result, not a SIGPIPE.
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
