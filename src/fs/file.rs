//! `File`: positional reads and writes on owned buffers.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use super::{Metadata, OpenOptions};
use crate::buf::{FixedBuf, IoBuf, IoBufMut};
use crate::driver::Op;
use crate::io::SharedFd;
use crate::op::fixed::{ReadFixed, WriteFixed};
use crate::op::fsync::Fsync;
use crate::op::read::{Read, Readv};
use crate::op::statx::Statx;
use crate::op::write::{Write, Writev};

/// An open file. Reads and writes are positional (`read_at`, `write_at`):
/// there is no shared cursor, so concurrent operations never race on one.
///
/// Dropping a `File` closes it through the ring once no operation uses it;
/// [`close`](File::close) does it now and reports the kernel's result.
pub struct File {
    fd: SharedFd,
}

impl File {
    pub(crate) fn from_owned(fd: OwnedFd) -> File {
        File {
            fd: SharedFd::new(fd),
        }
    }

    /// Opens `path` for reading.
    ///
    /// # Errors
    ///
    /// `NotFound` (with the path in the message), `PermissionDenied`.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for writing, creating it or truncating it.
    ///
    /// # Errors
    ///
    /// `NotFound` when the directory is missing, `PermissionDenied`.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Options to open a file with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Reads into `buf` (up to its capacity) from offset `pos`. Returns 0 at
    /// or past the end of the file.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an offset above `i64::MAX` (the kernel's limit),
    /// or a read that would end past it; the kernel's errors.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        if let Err(err) = check_range(pos, buf.bytes_total()) {
            return (Err(err), buf);
        }
        Op::new(Read::new(self.fd.clone(), buf, pos)).await
    }

    /// Fills `buf` to its capacity from `pos`, or fails with
    /// `UnexpectedEof`.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> (io::Result<()>, B) {
        let len = buf.bytes_total();
        let mut done = 0;
        let mut buf = buf;
        while done < len {
            let Some(at) = pos.checked_add(done as u64) else {
                return (Err(offset_error(pos)), buf);
            };
            let (result, slice) = self.read_at(buf.slice(done..len), at).await;
            buf = slice.into_inner();
            match result {
                Ok(0) => {
                    let err = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("end of file after {done} of {len} bytes from offset {pos}"),
                    );
                    return (Err(err), buf);
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Reads into several buffers, in order, from `pos`.
    pub async fn readv_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> (io::Result<usize>, Vec<B>) {
        if let Err(err) = check_range(pos, total_len(bufs.iter().map(IoBuf::bytes_total))) {
            return (Err(err), bufs);
        }
        Op::new(Readv::new(self.fd.clone(), bufs, pos)).await
    }

    /// Reads into a registered buffer (see
    /// [`FixedBufRegistry`](crate::buf::FixedBufRegistry)) from `pos`.
    pub async fn read_fixed_at(&self, buf: FixedBuf, pos: u64) -> (io::Result<usize>, FixedBuf) {
        if let Err(err) = check_range(pos, buf.bytes_total()) {
            return (Err(err), buf);
        }
        Op::new(ReadFixed::new(self.fd.clone(), buf, pos)).await
    }

    /// Writes a registered buffer's bytes at `pos`.
    pub async fn write_fixed_at(&self, buf: FixedBuf, pos: u64) -> (io::Result<usize>, FixedBuf) {
        if let Err(err) = check_range(pos, buf.bytes_init()) {
            return (Err(err), buf);
        }
        Op::new(WriteFixed::new(self.fd.clone(), buf, pos)).await
    }

    /// Writes some of `buf` at offset `pos`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an offset above `i64::MAX`, or a write that would
    /// end past it; the kernel's errors (`EFBIG` past the file system's
    /// largest file).
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> (io::Result<usize>, B) {
        if let Err(err) = check_range(pos, buf.bytes_init()) {
            return (Err(err), buf);
        }
        Op::new(Write::new(self.fd.clone(), buf, pos)).await
    }

    /// Writes all of `buf` at `pos`, looping over short writes.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> (io::Result<()>, B) {
        let len = buf.bytes_init();
        let mut done = 0;
        let mut buf = buf;
        while done < len {
            let Some(at) = pos.checked_add(done as u64) else {
                return (Err(offset_error(pos)), buf);
            };
            let (result, slice) = self.write_at(buf.slice(done..len), at).await;
            buf = slice.into_inner();
            match result {
                Ok(0) => {
                    let err = io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("the file took no more bytes after {done} of {len}"),
                    );
                    return (Err(err), buf);
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes several buffers, in order, at `pos`.
    pub async fn writev_at<B: IoBuf>(&self, bufs: Vec<B>, pos: u64) -> (io::Result<usize>, Vec<B>) {
        if let Err(err) = check_range(pos, total_len(bufs.iter().map(IoBuf::bytes_init))) {
            return (Err(err), bufs);
        }
        Op::new(Writev::new(self.fd.clone(), bufs, pos)).await
    }

    /// Reads from offset 0 to the end.
    pub(crate) async fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let hint = self.metadata().await.map_or(0, |m| m.len());
        let mut data = Vec::with_capacity(
            usize::try_from(hint)
                .unwrap_or(0)
                .saturating_add(1)
                .max(4096),
        );
        loop {
            if data.len() == data.capacity() {
                data.reserve(data.capacity().max(4096));
            }
            let start = data.len();
            let cap = data.capacity();
            let (result, slice) = self.read_at(data.slice(start..cap), start as u64).await;
            data = slice.into_inner();
            match result {
                Ok(0) => return Ok(data),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Flushes data and metadata to the device (`fsync`).
    ///
    /// # Errors
    ///
    /// `EIO` and friends: the data may not be on the device.
    pub async fn sync_all(&self) -> io::Result<()> {
        Op::new(Fsync::new(self.fd.clone(), false)).await
    }

    /// Flushes data, and only the metadata needed to read it (`fdatasync`).
    ///
    /// # Errors
    ///
    /// As for [`sync_all`](Self::sync_all).
    pub async fn sync_data(&self) -> io::Result<()> {
        Op::new(Fsync::new(self.fd.clone(), true)).await
    }

    /// The file's metadata (`statx` on the open file).
    ///
    /// # Errors
    ///
    /// The kernel's error for `statx`.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        Op::new(Statx::of_fd(self.fd.clone()))
            .await
            .map(Metadata::from)
    }

    /// Closes the file and reports the kernel's result (an error here can
    /// mean written data was lost, e.g. on NFS).
    ///
    /// # Errors
    ///
    /// The error `close(2)` returned.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close().await
    }

    /// Adopts a file opened by the standard library.
    pub fn from_std(file: std::fs::File) -> File {
        File::from_owned(OwnedFd::from(file))
    }

    /// Gives the file to the standard library.
    ///
    /// # Errors
    ///
    /// `WouldBlock` while an operation on it is still in flight.
    pub fn into_std(self) -> io::Result<std::fs::File> {
        self.fd
            .try_into_owned()
            .map(std::fs::File::from)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "an operation on this file is still in flight; retry once it has completed",
                )
            })
    }
}

/// The kernel takes offsets up to `i64::MAX`; for io_uring `u64::MAX` (-1)
/// even means "the file's current position", which a positional call must
/// never mean by accident. A transfer whose end (`pos` plus the length the
/// kernel is asked for) would pass `i64::MAX` the kernel refuses too
/// (`EINVAL`); checked here, so that the answer does not depend on how many
/// bytes one call happens to ask for.
fn check_range(pos: u64, len: usize) -> io::Result<()> {
    if i64::try_from(pos).is_err() {
        return Err(offset_error(pos));
    }
    let len = u64::from(crate::op::io_len(len));
    match pos.checked_add(len) {
        Some(end) if i64::try_from(end).is_ok() => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{len} bytes at file offset {pos} would end past the largest offset the kernel \
                 takes ({}); ask for at most {} bytes there",
                i64::MAX,
                i64::MAX.unsigned_abs() - pos
            ),
        )),
    }
}

/// The bytes of several buffers together (saturating: the kernel takes
/// at most `MAX_RW_COUNT` of them anyway).
fn total_len(lens: impl Iterator<Item = usize>) -> usize {
    lens.fold(0, usize::saturating_add)
}

fn offset_error(pos: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "file offset {pos} is past the largest the kernel takes ({})",
            i64::MAX
        ),
    )
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the SharedFd keeps the fd open while `self` lives.
        unsafe { BorrowedFd::borrow_raw(self.fd.raw()) }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("File").field(&self.fd.raw()).finish()
    }
}
