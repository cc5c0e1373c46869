//! `IORING_OP_READ` (Linux 5.6) into an owned buffer, and `READV`.

use std::io;

use io_uring::{opcode, squeue, types};

use super::{Operation, io_len, stream_io_len};
use crate::buf::IoBufMut;
use crate::io::SharedFd;

/// The offset that means "the file's current position" (pipes, sockets).
pub(crate) const CURRENT_POSITION: u64 = u64::MAX;

pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
    /// The fd returns whole records (signalfd, eventfd): a shorter request
    /// is an error, not a short read, so the length is never shortened.
    records: bool,
}

impl<B: IoBufMut> Read<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> Read<B> {
        Read {
            fd,
            buf,
            offset,
            records: false,
        }
    }

    /// A read of whole records (signalfd, eventfd).
    pub(crate) fn records(fd: SharedFd, buf: B) -> Read<B> {
        Read {
            fd,
            buf,
            offset: CURRENT_POSITION,
            records: true,
        }
    }
}

impl<B: IoBufMut> Operation for Read<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        let len = if self.records {
            io_len(self.buf.bytes_total())
        } else {
            stream_io_len(self.buf.bytes_total())
        };
        opcode::Read::new(
            types::Fd(self.fd.ring_raw()),
            self.buf.stable_mut_ptr(),
            len,
        )
        .offset(self.offset)
        .build()
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(n) = result {
            // SAFETY: the kernel wrote `n` bytes at the start of the buffer,
            // and `n` is at most the length we passed, `bytes_total`.
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

/// Vectored read into several owned buffers, filled in order.
pub(crate) struct Readv<B> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBufMut> Readv<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> Readv<B> {
        Readv {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }
}

impl<B: IoBufMut> Operation for Readv<B> {
    type Output = (io::Result<usize>, Vec<B>);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        self.iovecs = self
            .bufs
            .iter_mut()
            .map(|buf| libc::iovec {
                iov_base: buf.stable_mut_ptr().cast(),
                iov_len: buf.bytes_total(),
            })
            .collect();
        let count = u32::try_from(self.iovecs.len()).unwrap_or(u32::MAX);
        opcode::Readv::new(types::Fd(self.fd.ring_raw()), self.iovecs.as_ptr(), count)
            .offset(self.offset)
            .build()
    }

    fn complete(mut self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        let result = result.map(|n| n as usize);
        if let Ok(mut left) = result {
            for buf in &mut self.bufs {
                let n = left.min(buf.bytes_total());
                // SAFETY: the kernel filled the iovecs in order, so this
                // buffer's first `n` bytes were written.
                unsafe { buf.set_init(n) };
                left -= n;
            }
        }
        (result, self.bufs)
    }
}
