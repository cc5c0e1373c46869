//! `IORING_OP_RECV` (Linux 5.6) into an owned buffer.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, io_len, stream_io_len};
use crate::buf::IoBufMut;
use crate::io::SharedFd;

pub(crate) struct Recv<B> {
    fd: SharedFd,
    buf: B,
    /// A datagram's length is its boundary: never shortened.
    datagram: bool,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Recv<B> {
        Recv {
            fd,
            buf,
            datagram: false,
        }
    }

    pub(crate) fn datagram(fd: SharedFd, buf: B) -> Recv<B> {
        Recv {
            fd,
            buf,
            datagram: true,
        }
    }
}

impl<B: IoBufMut> Operation for Recv<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = if self.datagram {
            io_len(self.buf.bytes_total())
        } else {
            stream_io_len(self.buf.bytes_total())
        };
        opcode::Recv::new(
            types::Fd(self.fd.ring_raw()),
            self.buf.stable_mut_ptr(),
            len,
        )
        .build()
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer,
            // at most the `bytes_total` we passed.
            unsafe { self.buf.set_init(n) };
        }
        (result, self.buf)
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
