//! `OpenOptions`: how to open a file.

use std::io;
use std::path::Path;

use super::{File, c_path, path_error};
use crate::driver::Op;
use crate::op::open::Open;

/// Options for opening a file, as in `std::fs::OpenOptions`.
///
/// ```
/// use ringloop::fs::OpenOptions;
/// # let path = std::env::temp_dir().join(format!("ringloop-oo-doc-{}", std::process::id()));
/// ringloop::run(async {
///     let file = OpenOptions::new().write(true).create(true).mode(0o600).open(&path).await?;
///     file.close().await
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Nothing set: choose at least `read` or `write`.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Every write goes to the end (implies write).
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Truncate to 0 bytes on open (needs write).
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if missing (needs write or append).
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file; fail with `AlreadyExists` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// Permission bits of a created file (before the umask); default 0o666.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra `O_*` flags (e.g. `libc::O_DIRECT`). Access-mode bits
    /// (`O_ACCMODE`) are ignored: [`read`](Self::read),
    /// [`write`](Self::write) and [`append`](Self::append) choose it.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    fn flags(&self) -> io::Result<libc::c_int> {
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
        let access = match (self.read, self.write || self.append) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => {
                return invalid("open options need read, write or append set");
            }
        };
        let writable = self.write || self.append;
        if (self.truncate || self.create || self.create_new) && !writable {
            return invalid("truncate, create and create_new need write or append set");
        }
        if self.truncate && self.append {
            return invalid("truncate and append exclude each other");
        }
        // The access mode comes from read/write/append only: custom flags
        // that name one (e.g. O_RDWR) must not make a read-only open
        // writable (as in std, which masks them the same way).
        let mut flags = access | (self.custom_flags & !libc::O_ACCMODE);
        if self.append {
            flags |= libc::O_APPEND;
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        Ok(flags)
    }

    /// Opens `path` (an `IORING_OP_OPENAT`).
    ///
    /// # Errors
    ///
    /// `NotFound` (with the path in the message), `PermissionDenied`,
    /// `AlreadyExists` for `create_new`, `InvalidInput` for contradictory
    /// options or a path with a NUL byte.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let opened = async {
            let flags = self.flags()?;
            let c = c_path(path)?;
            Op::new(Open::new(c, flags, self.mode)).await
        };
        let fd = opened.await.map_err(|err| path_error("open", path, err))?;
        Ok(File::from_owned(fd))
    }
}
