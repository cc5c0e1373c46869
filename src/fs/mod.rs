//! Files and the filesystem, through the ring: open, read, write, sync,
//! stat, rename, remove — each an io_uring operation.
//!
//! ```
//! use ringloop::fs::{self, File};
//! # let dir = std::env::temp_dir().join(format!("ringloop-fs-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let path = dir.join("greeting.txt");
//! ringloop::run(async {
//!     fs::write(&path, "hello, file").await?;
//!     let file = File::open(&path).await?;
//!     let (res, buf) = file.read_exact_at(Vec::with_capacity(4), 7).await;
//!     res?;
//!     assert_eq!(buf, b"file");
//!     file.close().await?;
//!     assert_eq!(fs::metadata(&path).await?.len(), 11);
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod file;
mod metadata;
mod open_options;

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use crate::buf::IoBuf;
use crate::driver::Op;
use crate::op::mkdir::MkDir;
use crate::op::rename::Rename;
use crate::op::statx::Statx;
use crate::op::unlink::Unlink;

/// The path as the kernel takes it.
pub(crate) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "path {} contains a NUL byte; the kernel cannot take it",
                path.display()
            ),
        )
    })
}

/// An error from an operation on a path: says which operation on which path
/// failed; the kernel's error (with its errno) is the `source`.
#[derive(Debug)]
pub struct PathError {
    operation: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl PathError {
    /// The path the operation was given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kernel's errno, if the error came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not {} {}: {}",
            self.operation,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `err` with the operation and path, keeping its kind.
pub(crate) fn path_error(operation: &'static str, path: &Path, err: io::Error) -> io::Error {
    if err.get_ref().is_some_and(|inner| inner.is::<PathError>()) {
        return err;
    }
    io::Error::new(
        err.kind(),
        PathError {
            operation,
            path: path.to_owned(),
            source: err,
        },
    )
}

async fn on_path<T>(
    operation: &'static str,
    path: &Path,
    run: impl AsyncFnOnce(CString) -> io::Result<T>,
) -> io::Result<T> {
    let result = match c_path(path) {
        Ok(c) => run(c).await,
        Err(err) => Err(err),
    };
    result.map_err(|err| path_error(operation, path, err))
}

/// Reads a whole file into a `Vec`.
///
/// # Errors
///
/// `NotFound` (with the path in the message) when it does not exist; the
/// errors of opening and reading.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    let file = File::open(path).await?;
    let result = file.read_to_end().await;
    let closed = file.close().await;
    let data = result.map_err(|err| path_error("read", path, err))?;
    closed.map_err(|err| path_error("close", path, err))?;
    Ok(data)
}

/// Writes `contents` to a file, creating it or truncating it first.
///
/// # Errors
///
/// The errors of opening (with the path in the message), writing and
/// closing the file.
pub async fn write<B: IoBuf>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let path = path.as_ref();
    let file = File::create(path).await?;
    let (result, _) = file.write_all_at(contents, 0).await;
    let closed = file.close().await;
    result.map_err(|err| path_error("write", path, err))?;
    closed.map_err(|err| path_error("close", path, err))
}

/// Removes a file.
///
/// # Errors
///
/// `NotFound` when it does not exist; `IsADirectory` for a directory.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("remove", path.as_ref(), async |c| {
        Op::new(Unlink::file(c)).await
    })
    .await
}

/// Removes an empty directory.
///
/// # Errors
///
/// `NotFound`, `DirectoryNotEmpty`, `NotADirectory`.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("remove directory", path.as_ref(), async |c| {
        Op::new(Unlink::dir(c)).await
    })
    .await
}

/// Creates a directory (mode 0o777 minus the umask).
///
/// # Errors
///
/// `AlreadyExists`, or `NotFound` when the parent is missing.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("create directory", path.as_ref(), async |c| {
        Op::new(MkDir::new(c, 0o777)).await
    })
    .await
}

/// Creates a directory and its missing parents.
///
/// # Errors
///
/// The first error other than `AlreadyExists` for a directory.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    // Walk up to the first ancestor that exists (whatever it is).
    let mut missing = Vec::new();
    let mut current = Some(path);
    while let Some(dir) = current {
        if dir.as_os_str().is_empty() {
            break;
        }
        match symlink_metadata(dir).await {
            Ok(meta) => {
                if dir == path && !meta.is_dir() && !metadata(dir).await.is_ok_and(|m| m.is_dir()) {
                    let err = io::Error::from(io::ErrorKind::AlreadyExists);
                    return Err(path_error("create directory", dir, err));
                }
                break;
            }
            Err(_) => missing.push(dir),
        }
        current = dir.parent();
    }
    // Create them top-down; a file in the way fails with NotADirectory.
    for dir in missing.into_iter().rev() {
        match create_dir(dir).await {
            Ok(()) => {}
            // Made meanwhile by someone else: fine if it is a directory.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                if !metadata(dir).await.is_ok_and(|m| m.is_dir()) {
                    return Err(err);
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Renames `from` to `to`, replacing `to` if it exists.
///
/// # Errors
///
/// `NotFound` when `from` does not exist, and the kernel's other errors.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    let to_c = c_path(to).map_err(|err| path_error("rename to", to, err))?;
    on_path("rename", from, async |c| {
        Op::new(Rename::new(c, to_c)).await
    })
    .await
}

/// The metadata of a path, following symlinks (`statx`).
///
/// # Errors
///
/// `NotFound` (with the path in the message) when it does not exist.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_path("stat", path.as_ref(), async |c| {
        Op::new(Statx::of_path(c, true)).await.map(Metadata::from)
    })
    .await
}

/// The metadata of a path itself, not following a final symlink.
///
/// # Errors
///
/// As for [`metadata`].
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_path("stat", path.as_ref(), async |c| {
        Op::new(Statx::of_path(c, false)).await.map(Metadata::from)
    })
    .await
}
