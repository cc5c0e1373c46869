//! `IORING_OP_SEND` (Linux 5.6) from an owned buffer.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, io_len, stream_io_len};
use crate::buf::IoBuf;
use crate::io::SharedFd;
use crate::sys;

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

    /// The bytes to ask the kernel to send.
    fn len(&self) -> u32 {
        if self.datagram {
            io_len(self.buf.bytes_init())
        } else {
            stream_io_len(self.buf.bytes_init())
        }
    }
}

impl<B: IoBuf> Operation for Send<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.is_fixed()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len())
            // A peer that went away is an EPIPE result, not a SIGPIPE.
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    const EAGER: bool = true;

    fn try_now(&mut self) -> Option<i32> {
        if self.fd.is_fixed() {
            // A direct descriptor has no fd a syscall could name.
            return None;
        }
        // `len` is at most `bytes_init`, which the `IoBuf` contract says are
        // initialised at `stable_ptr`; `self` owns the buffer and does not
        // move or touch it during the call.
        let (fd, ptr, len) = (self.fd.raw(), self.buf.stable_ptr(), self.len() as usize);
        // SAFETY: `ptr..ptr+len` is initialised and stays valid for the call.
        let sent = unsafe { sys::socket::send_now(fd, ptr, len) };
        Some(match sent {
            Ok(n) => i32::try_from(n).unwrap_or(i32::MAX),
            Err(err) => -err.raw_os_error().unwrap_or(libc::EIO),
        })
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
