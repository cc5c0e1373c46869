//! `IORING_OP_READ_FIXED` / `WRITE_FIXED` (Linux 5.1): I/O into and out of
//! a registered buffer.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, stream_io_len};
use crate::buf::{FixedBuf, IoBuf, IoBufMut};
use crate::io::SharedFd;

pub(crate) struct ReadFixed {
    fd: SharedFd,
    buf: FixedBuf,
    offset: u64,
}

impl ReadFixed {
    pub(crate) fn new(fd: SharedFd, buf: FixedBuf, offset: u64) -> ReadFixed {
        ReadFixed { fd, buf, offset }
    }
}

impl Operation for ReadFixed {
    type Output = (io::Result<usize>, FixedBuf);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = stream_io_len(self.buf.bytes_total());
        let index = self.buf.index();
        opcode::ReadFixed::new(
            types::Fd(self.fd.ring_raw()),
            self.buf.stable_mut_ptr(),
            len,
            index,
        )
        .offset(self.offset)
        .build()
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer,
            // at most the length we passed.
            unsafe { self.buf.set_init(n) };
        }
        (result, self.buf)
    }
}

pub(crate) struct WriteFixed {
    fd: SharedFd,
    buf: FixedBuf,
    offset: u64,
}

impl WriteFixed {
    pub(crate) fn new(fd: SharedFd, buf: FixedBuf, offset: u64) -> WriteFixed {
        WriteFixed { fd, buf, offset }
    }
}

impl Operation for WriteFixed {
    type Output = (io::Result<usize>, FixedBuf);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = stream_io_len(self.buf.bytes_init());
        let index = self.buf.index();
        opcode::WriteFixed::new(
            types::Fd(self.fd.ring_raw()),
            self.buf.stable_ptr(),
            len,
            index,
        )
        .offset(self.offset)
        .build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}
