//! Anonymous pipes read and written through the ring.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::{AsyncReadOwned, AsyncWriteOwned, SharedFd};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::Op;
use crate::op::read::{CURRENT_POSITION, Read};
use crate::op::write::Write;

/// Creates a pipe: what is written to the [`PipeWriter`] is read from the
/// [`PipeReader`].
///
/// ```
/// ringloop::run(async {
///     let (reader, writer) = ringloop::io::pipe()?;
///     let (res, _) = writer.write_all(b"ping".to_vec()).await;
///     res?;
///     let (res, buf) = reader.read_exact(Vec::with_capacity(4)).await;
///     res?;
///     assert_eq!(buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// When the process is out of file descriptors (`EMFILE`).
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (read, write) = crate::sys::pipe()?;
    Ok((PipeReader::from(read), PipeWriter::from(write)))
}

/// The read end of a pipe.
#[derive(Debug)]
pub struct PipeReader {
    fd: SharedFd,
}

/// The write end of a pipe.
#[derive(Debug)]
pub struct PipeWriter {
    fd: SharedFd,
}

impl PipeReader {
    /// Reads into `buf`; 0 means every writer is closed.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        Op::new(Read::new(self.fd.clone(), buf, CURRENT_POSITION)).await
    }

    /// Fills `buf` to its capacity.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        super::read_exact(self, buf).await
    }

    /// Closes the read end and reports the kernel's result.
    ///
    /// # Errors
    ///
    /// The error `close(2)` returned.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close().await
    }
}

impl PipeWriter {
    /// Writes some of `buf`.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Write::new(self.fd.clone(), buf, CURRENT_POSITION)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        super::write_all(self, buf).await
    }

    /// Closes the write end (the reader then sees end of stream).
    ///
    /// # Errors
    ///
    /// The error `close(2)` returned.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close().await
    }
}

impl AsyncReadOwned for PipeReader {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        PipeReader::read(self, buf).await
    }
}

impl AsyncWriteOwned for PipeWriter {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        PipeWriter::write(self, buf).await
    }
}

macro_rules! fd_conversions {
    ($ty:ident) => {
        impl From<OwnedFd> for $ty {
            fn from(fd: OwnedFd) -> $ty {
                $ty {
                    fd: SharedFd::new(fd),
                }
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.fd.raw()
            }
        }
    };
}

fd_conversions!(PipeReader);
fd_conversions!(PipeWriter);
