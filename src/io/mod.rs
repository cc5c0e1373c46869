//! Owned-buffer I/O traits, helpers shared by every stream, and pipes.
//!
//! Every read takes a buffer by value and returns it with the result:
//! `(io::Result<usize>, B)`. The kernel owns the buffer while the operation
//! is in flight; if the future is dropped first, the operation is cancelled
//! and the buffer is freed only after the kernel has let go of it.

mod buffered;
mod copy;
mod pipe;
mod shared_fd;

use std::future::Future;
use std::io;

pub use buffered::{BufReader, BufWriter, Lines};
pub use copy::copy;
pub use pipe::{PipeReader, PipeWriter, pipe};
pub(crate) use shared_fd::SharedFd;

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::Op;
use crate::op::nop::Nop;

/// One round trip through the ring (`IORING_OP_NOP`): completes as soon as
/// the kernel sees it. Useful to measure the ring's overhead, or to let the
/// loop submit and reap once.
///
/// ```
/// ringloop::run(async {
///     ringloop::io::nop().await.unwrap();
/// });
/// ```
///
/// # Errors
///
/// Outside a runtime, or after it has shut down.
pub async fn nop() -> io::Result<()> {
    Op::new(Nop).await
}

/// A source that reads into owned buffers (sockets, pipes, buffered
/// readers).
pub trait AsyncReadOwned {
    /// Reads into `buf` (up to its capacity) and returns it with the count;
    /// 0 means end of stream (or a zero-capacity buffer).
    fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)>;
}

/// A sink that writes from owned buffers.
pub trait AsyncWriteOwned {
    /// Writes some of `buf`'s initialized bytes and returns the count.
    fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<usize>, B)>;

    /// Writes all of `buf`'s initialized bytes, looping over short writes.
    fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = (io::Result<()>, B)> {
        write_all(self, buf)
    }
}

/// Writes all of `buf` with repeated `write`s.
pub(crate) async fn write_all<W: AsyncWriteOwned + ?Sized, B: IoBuf>(
    writer: &W,
    buf: B,
) -> (io::Result<()>, B) {
    let len = buf.bytes_init();
    let mut pos = 0;
    let mut buf = buf;
    while pos < len {
        let (result, slice) = writer.write(buf.slice(pos..len)).await;
        buf = slice.into_inner();
        match result {
            Ok(0) => {
                let err = io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the peer accepted no more bytes; the rest of the buffer was not written",
                );
                return (Err(err), buf);
            }
            Ok(n) => pos += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}

/// Fills `buf` up to its capacity with repeated `read`s.
pub(crate) async fn read_exact<R: AsyncReadOwned + ?Sized, B: IoBufMut>(
    reader: &R,
    buf: B,
) -> (io::Result<()>, B) {
    let len = buf.bytes_total();
    let mut pos = 0;
    let mut buf = buf;
    while pos < len {
        let (result, slice) = reader.read(buf.slice(pos..len)).await;
        buf = slice.into_inner();
        match result {
            Ok(0) => {
                let err = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("end of stream after {pos} of {len} bytes"),
                );
                return (Err(err), buf);
            }
            Ok(n) => pos += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (Err(err), buf),
        }
    }
    (Ok(()), buf)
}
