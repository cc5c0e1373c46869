//! Unix-domain sockets: streams, listeners and datagrams.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::socket::Socket;
use super::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::Op;
use crate::op::accept::Accept;
use crate::op::connect::Connect;
use crate::op::recv_msg::RecvMsg;
use crate::op::send_msg::SendMsg;
use crate::sys::socket::{self as sys, SockAddr};

/// The address of a Unix socket: a filesystem path, an abstract name, or
/// unnamed (an unbound socket, a connected client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixSocketAddr {
    /// The raw `sun_path` bytes: a pathname, or a NUL then an abstract name.
    path: Option<PathBuf>,
}

impl UnixSocketAddr {
    fn from_raw(addr: &SockAddr) -> UnixSocketAddr {
        UnixSocketAddr {
            path: (*addr).to_unix_path(),
        }
    }

    /// The filesystem path, for a pathname address.
    pub fn as_pathname(&self) -> Option<&Path> {
        use std::os::unix::ffi::OsStrExt;
        self.path
            .as_deref()
            .filter(|p| p.as_os_str().as_bytes().first() != Some(&0))
    }

    /// The name without its leading NUL, for an abstract address.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = self.path.as_deref()?.as_os_str().as_bytes();
        bytes.strip_prefix(&[0])
    }

    /// Whether the socket has no name.
    pub fn is_unnamed(&self) -> bool {
        self.path.is_none()
    }
}

/// A Unix-domain socket listening for connections.
///
/// ```
/// use ringloop::net::{UnixListener, UnixStream};
/// # let dir = std::env::temp_dir().join(format!("ringloop-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("sock");
/// ringloop::run(async {
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (server, _) = listener.accept().await?;
///     let (res, _) = client.write_all(b"hi".to_vec()).await;
///     res?;
///     let (res, buf) = server.read_exact(Vec::with_capacity(2)).await;
///     res?;
///     assert_eq!(buf, b"hi");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    socket: Socket,
}

impl UnixListener {
    /// Binds to `path` and listens (backlog 1024). The path must not exist.
    ///
    /// # Errors
    ///
    /// `AddrInUse` when the path exists; `InvalidInput` for an empty path,
    /// or one longer than 107 bytes or containing a NUL byte.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sys::bind(fd.as_fd(), &addr)?;
        sys::listen(fd.as_fd(), 1024)?;
        Ok(UnixListener {
            socket: Socket::new(fd),
        })
    }

    /// Waits for a connection. Dropping the future cancels the accept
    /// without leaking a connection that raced with the cancel.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of file descriptors.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddr)> {
        let (fd, addr) = Op::new(Accept::new(self.socket.fd.clone())).await?;
        Ok((
            UnixStream {
                socket: Socket::stream(fd),
            },
            UnixSocketAddr::from_raw(&addr),
        ))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&sys::local_addr(
            self.socket.borrow_fd(),
        )?))
    }

    /// Stops listening now and reports the kernel's result. (Dropping the
    /// listener closes it too, through the ring, once no accept is in
    /// flight.) The socket file stays on disk, as with std.
    ///
    /// # Errors
    ///
    /// The error `close(2)` returned.
    pub async fn close(self) -> io::Result<()> {
        self.socket.fd.close().await
    }

    /// Adopts a listener made by the standard library.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> UnixListener {
        UnixListener {
            socket: Socket::new(OwnedFd::from(listener)),
        }
    }
}

/// A Unix-domain stream connection. Same I/O as [`TcpStream`](super::TcpStream).
pub struct UnixStream {
    socket: Socket,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound` when nothing is at `path`, `ConnectionRefused` when
    /// nothing listens there.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let socket = Socket::new(sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?);
        Op::new(Connect::new(socket.fd.clone(), addr)).await?;
        socket.register();
        Ok(UnixStream { socket })
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// When the process is out of file descriptors.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::socketpair(libc::SOCK_STREAM)?;
        Ok((
            UnixStream {
                socket: Socket::stream(a),
            },
            UnixStream {
                socket: Socket::stream(b),
            },
        ))
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getpeername`.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&sys::peer_addr(
            self.socket.borrow_fd(),
        )?))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&sys::local_addr(
            self.socket.borrow_fd(),
        )?))
    }

    /// Splits into halves usable from two tasks.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        OwnedReadHalf::split(self.socket)
    }

    /// Adopts a stream made by the standard library.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream {
            socket: Socket::stream(OwnedFd::from(stream)),
        }
    }

    /// Gives the stream to the standard library.
    ///
    /// # Errors
    ///
    /// `WouldBlock` while an operation on it is still in flight; the
    /// stream is dropped with the error (see `TcpStream::into_std`).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        super::tcp::into_owned(self.socket).map(std::os::unix::net::UnixStream::from)
    }
}

/// A Unix-domain datagram socket.
pub struct UnixDatagram {
    socket: Socket,
}

impl UnixDatagram {
    /// Binds to `path`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` when the path exists; `InvalidInput` for a bad path.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = SockAddr::from_path(path.as_ref())?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        sys::bind(fd.as_fd(), &addr)?;
        Ok(UnixDatagram {
            socket: Socket::new(fd),
        })
    }

    /// A socket with no name (it can send, and receive once connected).
    ///
    /// # Errors
    ///
    /// When the process is out of file descriptors.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            socket: Socket::new(sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?),
        })
    }

    /// A connected pair.
    ///
    /// # Errors
    ///
    /// When the process is out of file descriptors.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sys::socketpair(libc::SOCK_DGRAM)?;
        Ok((
            UnixDatagram {
                socket: Socket::new(a),
            },
            UnixDatagram {
                socket: Socket::new(b),
            },
        ))
    }

    /// Sets the default peer.
    ///
    /// # Errors
    ///
    /// `NotFound`/`ConnectionRefused` when nothing is bound at `path`.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        sys::connect(
            self.socket.borrow_fd(),
            &SockAddr::from_path(path.as_ref())?,
        )
    }

    /// Sends one datagram to `path`.
    pub async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        path: impl AsRef<Path>,
    ) -> (io::Result<usize>, B) {
        match SockAddr::from_path(path.as_ref()) {
            Ok(addr) => Op::new(SendMsg::new(self.socket.fd.clone(), buf, addr)).await,
            Err(err) => (Err(err), buf),
        }
    }

    /// Receives one datagram and its sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, UnixSocketAddr)>, B) {
        let (result, buf) = Op::new(RecvMsg::new(self.socket.fd.clone(), buf)).await;
        (
            result.map(|(n, addr)| (n, UnixSocketAddr::from_raw(&addr))),
            buf,
        )
    }

    /// Sends to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.send_datagram(buf).await
    }

    /// Receives from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.recv_datagram(buf).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&sys::local_addr(
            self.socket.borrow_fd(),
        )?))
    }
}

macro_rules! unix_common {
    ($ty:ident) => {
        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.socket.fd.raw()
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.socket.borrow_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.socket.fd.raw())
                    .field("local_addr", &self.local_addr().ok())
                    .finish()
            }
        }
    };
}

unix_common!(UnixListener);
unix_common!(UnixStream);
unix_common!(UnixDatagram);

super::stream_io::stream_io_methods!(UnixStream);
