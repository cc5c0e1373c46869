//! Socket creation, options and addresses: the plain syscalls made before
//! (or beside) the ring's I/O on a socket.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::{cvt, owned};

/// A socket address in the kernel's layout, for the families ringloop uses.
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
    un: libc::sockaddr_un,
}

/// A socket address and its length, as the kernel reads or writes them.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    raw: RawAddr,
    len: libc::socklen_t,
}

const MAX_ADDR_LEN: libc::socklen_t = size_of::<RawAddr>() as libc::socklen_t;

impl SockAddr {
    /// Room for the kernel to write any address into (accept, recvmsg).
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            raw: RawAddr {
                un: libc::sockaddr_un {
                    sun_family: 0,
                    sun_path: [0; 108],
                },
            },
            len: MAX_ADDR_LEN,
        }
    }

    pub(crate) fn from_inet(addr: SocketAddr) -> SockAddr {
        match addr {
            SocketAddr::V4(a) => SockAddr {
                raw: RawAddr {
                    v4: libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: a.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.ip().octets()),
                        },
                        sin_zero: [0; 8],
                    },
                },
                len: size_of::<libc::sockaddr_in>() as libc::socklen_t,
            },
            SocketAddr::V6(a) => SockAddr {
                raw: RawAddr {
                    v6: libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as libc::sa_family_t,
                        sin6_port: a.port().to_be(),
                        sin6_flowinfo: a.flowinfo(),
                        sin6_addr: libc::in6_addr {
                            s6_addr: a.ip().octets(),
                        },
                        sin6_scope_id: a.scope_id(),
                    },
                },
                len: size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            },
        }
    }

    /// A Unix socket path (a leading NUL byte names the abstract namespace).
    pub(crate) fn from_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut sun_path = [0 as libc::c_char; 108];
        if bytes.is_empty() {
            // With nothing in it, `sun_path` holds just its NUL, which the
            // kernel reads as the abstract name "\0": one name that every
            // socket bound to "" would silently share.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty Unix socket path: give a filesystem path, or a NUL byte then a name for the abstract namespace",
            ));
        }
        if bytes.len() >= sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Unix socket path {} is {} bytes; the limit is {}: use a shorter path",
                    path.display(),
                    bytes.len(),
                    sun_path.len() - 1
                ),
            ));
        }
        if bytes.first() != Some(&0) && bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Unix socket path contains a NUL byte",
            ));
        }
        for (dst, &src) in sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let offset = size_of::<libc::sa_family_t>();
        // Pathnames count their terminating NUL; abstract names do not.
        let nul = usize::from(bytes.first() != Some(&0));
        Ok(SockAddr {
            raw: RawAddr {
                un: libc::sockaddr_un {
                    sun_family: libc::AF_UNIX as libc::sa_family_t,
                    sun_path,
                },
            },
            len: (offset + bytes.len() + nul) as libc::socklen_t,
        })
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.raw).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.raw).cast()
    }

    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    pub(crate) fn len_mut(&mut self) -> &mut libc::socklen_t {
        &mut self.len
    }

    fn family(&self) -> libc::c_int {
        // SAFETY: every variant starts with its `sa_family_t`, and every bit
        // pattern is a valid integer.
        libc::c_int::from(unsafe { self.raw.v4.sin_family })
    }

    /// The address as an IP socket address.
    pub(crate) fn to_inet(self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET if self.len as usize >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the kernel wrote a sockaddr_in, and
                // it is plain data valid for any bit pattern.
                let a = unsafe { self.raw.v4 };
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 if self.len as usize >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { self.raw.v6 };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected an IPv4 or IPv6 address, got address family {family}"),
            )),
        }
    }

    /// The path of a Unix socket address; `None` for an unnamed one. An
    /// abstract name is returned with its leading NUL byte.
    pub(crate) fn to_unix_path(self) -> Option<std::path::PathBuf> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        let offset = size_of::<libc::sa_family_t>();
        let len = (self.len as usize).saturating_sub(offset).min(108);
        if len == 0 {
            return None;
        }
        // SAFETY: the family says the kernel wrote a sockaddr_un; plain data.
        let sun = unsafe { self.raw.un };
        let mut bytes: Vec<u8> = sun.sun_path[..len].iter().map(|&c| c as u8).collect();
        if bytes[0] != 0 {
            // A pathname: up to its NUL.
            if let Some(end) = bytes.iter().position(|&b| b == 0) {
                bytes.truncate(end);
            }
        }
        Some(std::ffi::OsString::from_vec(bytes).into())
    }
}

/// One send(2) that never blocks (`MSG_DONTWAIT`): the bytes the socket
/// took, or the error (`EAGAIN`: no room now). A peer that went away is an
/// `EPIPE` error, not a SIGPIPE.
///
/// # Safety
///
/// `ptr` must point to `len` initialised bytes that stay valid and
/// unchanged for the duration of the call.
pub(crate) unsafe fn send_now(fd: RawFd, ptr: *const u8, len: usize) -> io::Result<usize> {
    // SAFETY: the caller guarantees `ptr..ptr+len` is readable for the
    // call; send(2) keeps no reference to it after returning.
    let sent = unsafe { libc::send(fd, ptr.cast(), len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

/// A close-on-exec socket.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) })?;
    Ok(owned(fd))
}

/// A connected pair of close-on-exec Unix sockets.
pub(crate) fn socketpair(ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

pub(crate) fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points to `addr.len()` bytes of a valid address.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len()) }).map(drop)
}

/// A synchronous connect, for datagram sockets (it only records the peer).
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: as for `bind`.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len()) }).map(drop)
}

pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub(crate) fn int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live int.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast(),
            &raw mut len,
        )
    })?;
    Ok(value)
}

/// The pending socket error (`SO_ERROR`), cleared by reading it.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let errno = int_option(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((errno != 0).then(|| io::Error::from_raw_os_error(errno)))
}

pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `len` bytes into `addr`.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), addr.len_mut()) })?;
    Ok(addr)
}

pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    // SAFETY: as for `local_addr`.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), addr.len_mut()) })?;
    Ok(addr)
}

/// `SO_LINGER`.
pub(crate) fn set_linger(
    fd: BorrowedFd<'_>,
    linger: Option<std::time::Duration>,
) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some().into(),
        l_linger: linger.map_or(0, |d| {
            // The kernel counts whole seconds. Round a fraction up: only
            // `Duration::ZERO` may mean "reset on close". Truncated, 500 ms
            // would become 0, turning a graceful linger into an abortive
            // close that discards the data not yet sent.
            let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
            libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX)
        }),
    };
    // SAFETY: passes a pointer to a live `linger` and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const value).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}
