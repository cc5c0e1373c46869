//! `Metadata`, from `statx`.

use std::fmt;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// Information about a file, from `statx(2)`.
#[derive(Clone)]
pub struct Metadata {
    stx: libc::statx,
}

impl From<libc::statx> for Metadata {
    fn from(stx: libc::statx) -> Metadata {
        Metadata { stx }
    }
}

fn file_type(mode: u16) -> u32 {
    u32::from(mode) & libc::S_IFMT
}

impl Metadata {
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        file_type(self.stx.stx_mode) == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        file_type(self.stx.stx_mode) == libc::S_IFDIR
    }

    /// A symbolic link (only from [`symlink_metadata`](super::symlink_metadata)).
    pub fn is_symlink(&self) -> bool {
        file_type(self.stx.stx_mode) == libc::S_IFLNK
    }

    /// The permission bits.
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(u32::from(self.stx.stx_mode) & 0o7777)
    }

    /// The whole `st_mode` (type and permissions).
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode)
    }

    /// Owner user id.
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// Owner group id.
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.stx.stx_nlink
    }

    /// Preferred I/O block size.
    pub fn blksize(&self) -> u32 {
        self.stx.stx_blksize
    }

    /// 512-byte blocks allocated.
    pub fn blocks(&self) -> u64 {
        self.stx.stx_blocks
    }

    /// Last modification.
    ///
    /// # Errors
    ///
    /// Never on Linux; kept fallible like `std::fs::Metadata::modified`.
    pub fn modified(&self) -> io::Result<SystemTime> {
        Ok(to_system_time(self.stx.stx_mtime))
    }

    /// Last access.
    ///
    /// # Errors
    ///
    /// Never on Linux; kept fallible like `std::fs::Metadata::accessed`.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        Ok(to_system_time(self.stx.stx_atime))
    }

    /// Creation (birth) time.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the filesystem does not record it.
    pub fn created(&self) -> io::Result<SystemTime> {
        if self.stx.stx_mask & libc::STATX_BTIME == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this filesystem does not record creation times",
            ));
        }
        Ok(to_system_time(self.stx.stx_btime))
    }
}

fn to_system_time(ts: libc::statx_timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(ts.tv_nsec));
    match u64::try_from(ts.tv_sec) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + nanos,
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(ts.tv_sec.unsigned_abs()) + nanos,
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("is_dir", &self.is_dir())
            .finish_non_exhaustive()
    }
}
