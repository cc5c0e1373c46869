//! TCP: `TcpListener`, `TcpStream`, and `TcpSocket` to set options before
//! binding or connecting.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::socket::Socket;
use super::split::{OwnedReadHalf, OwnedWriteHalf};
use super::{each_addr, resolve};
use crate::driver::Driver;
use crate::driver::{Multishot, Op};
use crate::io::SharedFd;
use crate::op::accept::Accept;
use crate::op::accept_multi::{AcceptMulti, Accepted};
use crate::op::connect::Connect;
use crate::sys::socket::{self as sys, SockAddr};
use std::rc::Rc;

/// The listen backlog of [`TcpListener::bind`]; the kernel caps it at
/// `net.core.somaxconn`.
const DEFAULT_BACKLOG: i32 = 1024;

/// A TCP socket that is not yet listening or connected: set options, then
/// [`listen`](TcpSocket::listen) or [`connect`](TcpSocket::connect).
///
/// ```
/// use ringloop::net::TcpSocket;
/// ringloop::run(async {
///     let socket = TcpSocket::new_v4()?;
///     socket.set_reuseaddr(true)?;
///     socket.set_reuseport(true)?;
///     socket.bind("127.0.0.1:0".parse().unwrap())?;
///     let listener = socket.listen(128)?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    ///
    /// # Errors
    ///
    /// When the process is out of file descriptors.
    pub fn new_v4() -> io::Result<TcpSocket> {
        Self::new(libc::AF_INET)
    }

    /// A new IPv6 TCP socket.
    ///
    /// # Errors
    ///
    /// When the process is out of file descriptors, or IPv6 is unavailable.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Self::new(libc::AF_INET6)
    }

    fn new(domain: libc::c_int) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: sys::socket(domain, libc::SOCK_STREAM)?,
        })
    }

    fn for_addr(addr: &SocketAddr) -> io::Result<TcpSocket> {
        Self::new(sys::domain_of(addr))
    }

    /// `SO_REUSEADDR`: rebind a port whose old connections are in TIME_WAIT.
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            on.into(),
        )
    }

    /// `SO_REUSEPORT`: several sockets (one per core, thread-per-core) bind
    /// the same port and the kernel spreads connections among them.
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`.
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            on.into(),
        )
    }

    /// `SO_RCVBUF`: the receive buffer size (the kernel doubles it).
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`; a size beyond `i32::MAX` is
    /// `InvalidInput`.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        sys::set_int_option(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            buffer_size(size)?,
        )
    }

    /// `SO_SNDBUF`: the send buffer size (the kernel doubles it).
    ///
    /// # Errors
    ///
    /// As for [`set_recv_buffer_size`](Self::set_recv_buffer_size).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        sys::set_int_option(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            buffer_size(size)?,
        )
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(
            self.fd.as_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on.into(),
        )
    }

    /// Binds to `addr`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` when another socket holds the address; `AddrNotAvailable`
    /// for an address not on this host.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        sys::bind(self.fd.as_fd(), &SockAddr::from_inet(addr))
    }

    /// The local address (after [`bind`](Self::bind), with the real port
    /// when binding port 0).
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_fd())?.to_inet()
    }

    /// Starts listening with room for `backlog` pending connections.
    ///
    /// # Errors
    ///
    /// The kernel's error for `listen`.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        sys::listen(self.fd.as_fd(), backlog)?;
        Ok(TcpListener {
            socket: Socket::new(self.fd),
        })
    }

    /// Connects to `addr` (an `IORING_OP_CONNECT`).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there; `TimedOut`,
    /// `HostUnreachable` and so on from the network.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(self.fd);
        Op::new(Connect::new(socket.fd.clone(), SockAddr::from_inet(addr))).await?;
        socket.register();
        Ok(TcpStream { socket })
    }
}

fn buffer_size(size: usize) -> io::Result<libc::c_int> {
    libc::c_int::try_from(size).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket buffer size {size} is too large; the kernel takes at most {}",
                i32::MAX
            ),
        )
    })
}

/// A TCP socket listening for connections.
///
/// ```no_run
/// use ringloop::net::TcpListener;
/// ringloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:8080")?;
///     let (stream, peer) = listener.accept().await?;
///     println!("{peer} connected");
///     # drop(stream);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    socket: Socket,
}

impl TcpListener {
    /// Binds to `addr` (the first of its resolutions that works) with
    /// `SO_REUSEADDR` and a backlog of 1024, and listens. For other options
    /// (`SO_REUSEPORT`, another backlog) use [`TcpSocket`].
    ///
    /// # Errors
    ///
    /// `AddrInUse` when another socket holds the address, and the errors of
    /// resolving `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |addr| {
            let socket = TcpSocket::for_addr(&addr)?;
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(DEFAULT_BACKLOG as u32)
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Dropping the future cancels the accept; a connection the kernel
    /// accepted at that very moment is closed, never leaked.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of file descriptors (the listener stays
    /// usable: back off and retry), `ECONNABORTED` for a connection reset
    /// while queued.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = Op::new(Accept::new(self.socket.fd.clone())).await?;
        let addr = addr.to_inet()?;
        Ok((
            TcpStream {
                socket: Socket::stream(fd),
            },
            addr,
        ))
    }

    /// The connections as they come, from one multishot accept (Linux
    /// 5.19): a single SQE serves every connection until the kernel ends it,
    /// then it is re-armed. On older kernels it falls back to one accept per
    /// connection. Peer addresses are not collected (call
    /// [`TcpStream::peer_addr`] if needed), which saves a copy per accept.
    ///
    /// ```no_run
    /// use ringloop::net::TcpListener;
    /// async fn serve() -> std::io::Result<()> {
    ///     let listener = TcpListener::bind("127.0.0.1:8080")?;
    ///     let mut incoming = listener.incoming();
    ///     loop {
    ///         let stream = incoming.next().await?;
    ///         ringloop::spawn(async move { drop(stream) });
    ///     }
    /// }
    /// ringloop::run(serve())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Connections accepted but not yet taken when the `Incoming` is
    /// dropped are closed.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            acceptor: Acceptor::new(self, None),
        }
    }

    /// Like [`incoming`](Self::incoming), but each connection is accepted
    /// straight into the ring's file table as a [`DirectTcpStream`] (Linux
    /// 5.19). Needs a runtime built with
    /// [`Builder::direct_descriptors`](crate::Builder::direct_descriptors).
    ///
    /// # Errors
    ///
    /// An error outside a runtime.
    pub fn incoming_direct(&self) -> io::Result<IncomingDirect<'_>> {
        let driver = crate::runtime::context::driver()
            .ok_or_else(crate::runtime::context::no_runtime_error)?;
        Ok(IncomingDirect {
            acceptor: Acceptor::new(self, Some(driver)),
        })
    }

    /// The address the listener is bound to (with the real port after
    /// binding port 0).
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.socket.borrow_fd())?.to_inet()
    }

    /// Stops listening now and reports the kernel's result; pending
    /// connections are refused from then on. (Dropping the listener closes
    /// it too, through the ring, once no accept is in flight.)
    ///
    /// # Errors
    ///
    /// The error `close(2)` returned.
    pub async fn close(self) -> io::Result<()> {
        self.socket.fd.close().await
    }

    /// Adopts a listener made by the standard library (or anything else).
    pub fn from_std(listener: std::net::TcpListener) -> TcpListener {
        TcpListener {
            socket: Socket::new(OwnedFd::from(listener)),
        }
    }
}

/// The accept machinery behind [`Incoming`] and [`IncomingDirect`].
struct Acceptor<'a> {
    listener: &'a TcpListener,
    multishot: Option<Multishot<AcceptMulti>>,
    /// The fallback: one accept at a time.
    single: Option<Op<Accept>>,
    multishot_unsupported: bool,
    /// Into direct descriptors (of this driver's file table).
    direct: Option<Rc<Driver>>,
}

impl<'a> Acceptor<'a> {
    fn new(listener: &'a TcpListener, direct: Option<Rc<Driver>>) -> Acceptor<'a> {
        Acceptor {
            listener,
            multishot: None,
            single: None,
            multishot_unsupported: false,
            direct,
        }
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Socket>> {
        loop {
            if self.multishot_unsupported {
                if self.direct.is_some() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "accepting into direct descriptors needs multishot accept (Linux 5.19)",
                    )));
                }
                let fd = self.listener.socket.fd.clone();
                let single = self.single.get_or_insert_with(|| Op::new(Accept::new(fd)));
                let result = ready!(Pin::new(single).poll(cx));
                self.single = None;
                return Poll::Ready(result.map(|(fd, _)| Socket::stream(fd)));
            }
            let multishot = match &mut self.multishot {
                Some(multishot) => multishot,
                None => {
                    let fd = self.listener.socket.fd.clone();
                    let op = match &self.direct {
                        Some(driver) => {
                            // Slots come from the table of the ring the
                            // accept goes to: it must be the one they are
                            // recorded (and closed) in.
                            let here = crate::runtime::context::driver();
                            if !here.is_some_and(|here| Rc::ptr_eq(&here, driver)) {
                                return Poll::Ready(Err(io::Error::new(
                                    io::ErrorKind::InvalidInput,
                                    "ringloop: incoming_direct() was called in another runtime; call it in the runtime that accepts",
                                )));
                            }
                            AcceptMulti::direct(fd, driver.clone())
                        }
                        None => AcceptMulti::new(fd),
                    };
                    match Multishot::submit(op) {
                        Ok(multishot) => self.multishot.insert(multishot),
                        Err(err) => return Poll::Ready(Err(err)),
                    }
                }
            };
            if multishot.polled_elsewhere() {
                // Its connections come through the ring it was armed in,
                // which does not turn now: refused rather than left waiting.
                // It goes on in its own runtime.
                return Poll::Ready(Err(crate::runtime::context::other_runtime_error(
                    "this listener's accept",
                )));
            }
            match ready!(multishot.poll_next(cx)) {
                Some(Ok(Accepted::Fd(fd))) => return Poll::Ready(Ok(Socket::stream(fd))),
                Some(Ok(Accepted::Slot(slot))) => {
                    // Only a direct acceptor yields slots, and it knows its ring.
                    let Some(ring) = &self.direct else {
                        return Poll::Ready(Err(io::Error::other(
                            "ringloop: a direct descriptor from a plain accept",
                        )));
                    };
                    return Poll::Ready(Ok(Socket {
                        fd: SharedFd::new_fixed(slot, ring),
                    }));
                }
                // The kernel does not know multishot accept: fall back
                // (plain fds only; direct descriptors need it).
                Some(Err(err))
                    if err.raw_os_error() == Some(libc::EINVAL) && self.direct.is_none() =>
                {
                    self.multishot = None;
                    self.multishot_unsupported = true;
                }
                // The stream ended with this error; the next call re-arms.
                Some(Err(err)) => return Poll::Ready(Err(err)),
                // Ended by the kernel: arm a new one.
                None => self.multishot = None,
            }
        }
    }
}

/// The stream of connections of [`TcpListener::incoming`].
pub struct Incoming<'a> {
    acceptor: Acceptor<'a>,
}

impl Incoming<'_> {
    /// The next connection.
    ///
    /// # Errors
    ///
    /// As for [`TcpListener::accept`]; after an error the next call arms a
    /// new accept (back off first on `EMFILE`). `InvalidInput` when polled
    /// while another runtime runs than the one that first polled it (its
    /// accept is in that one's ring; it goes on when polled there).
    pub async fn next(&mut self) -> io::Result<TcpStream> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        self.acceptor
            .poll_accept(cx)
            .map(|socket| socket.map(|socket| TcpStream { socket }))
    }
}

impl futures_util::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(Some)
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", &self.acceptor.listener.socket.fd.raw())
            .field("multishot", &self.acceptor.multishot.is_some())
            .finish()
    }
}

/// The stream of connections of [`TcpListener::incoming_direct`].
pub struct IncomingDirect<'a> {
    acceptor: Acceptor<'a>,
}

impl IncomingDirect<'_> {
    /// The next connection, as a direct descriptor.
    ///
    /// # Errors
    ///
    /// As for [`Incoming::next`]; `ENFILE` when the file table is full;
    /// `InvalidInput` when polled in another runtime than the one
    /// `incoming_direct` was called in (the slots are that ring's).
    pub async fn next(&mut self) -> io::Result<DirectTcpStream> {
        std::future::poll_fn(|cx| {
            self.acceptor
                .poll_accept(cx)
                .map(|socket| socket.map(|socket| DirectTcpStream { socket }))
        })
        .await
    }
}

impl fmt::Debug for IncomingDirect<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingDirect")
            .field("listener", &self.acceptor.listener.socket.fd.raw())
            .finish()
    }
}

/// A TCP connection held as a *direct descriptor*: a slot in the ring's
/// registered file table rather than an fd of the process. Every operation
/// on it skips the kernel's per-op fd lookup and reference counting
/// (`IOSQE_FIXED_FILE`). Opt in with
/// [`Builder::direct_descriptors`](crate::Builder::direct_descriptors) and
/// accept with [`TcpListener::incoming_direct`].
///
/// It has the I/O of [`TcpStream`] but no fd: plain-syscall methods
/// (socket options, addresses) and `AsRawFd` do not exist for it. The slot
/// belongs to the runtime that accepted it: used from another runtime on
/// the same thread, its I/O fails with `EBADF` (`Bad file descriptor`).
pub struct DirectTcpStream {
    socket: Socket,
}

impl DirectTcpStream {
    /// The slot in the ring's file table.
    pub fn slot(&self) -> u32 {
        u32::try_from(self.socket.fd.raw()).unwrap_or(u32::MAX)
    }
}

impl fmt::Debug for DirectTcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectTcpStream")
            .field("slot", &self.slot())
            .finish()
    }
}

super::stream_io::stream_io_methods!(DirectTcpStream);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.socket.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection.
///
/// Reads and writes take owned buffers and give them back:
///
/// ```no_run
/// use ringloop::net::TcpStream;
/// ringloop::run(async {
///     let stream = TcpStream::connect("127.0.0.1:8080").await?;
///     let (res, _) = stream.write_all(b"hello".to_vec()).await;
///     res?;
///     let (res, buf) = stream.read(vec![0u8; 1024]).await;
///     let n = res?;
///     println!("{:?}", &buf[..n]);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    socket: Socket,
}

impl TcpStream {
    /// Connects to `addr`, trying each of its resolutions in turn. A host
    /// name is resolved on the blocking pool, never on the loop.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there; the errors of
    /// resolving `addr`; the last address's error when none works.
    pub async fn connect(addr: impl super::ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = super::addr::resolve(addr).await?;
        let mut last = None;
        for addr in addrs {
            let attempt = async { TcpSocket::for_addr(&addr)?.connect(addr).await };
            match attempt.await {
                Ok(stream) => return Ok(stream),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::InvalidInput)))
    }

    /// `TCP_NODELAY`: send small writes at once instead of coalescing them.
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(
            self.socket.borrow_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on.into(),
        )
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockopt`.
    pub fn nodelay(&self) -> io::Result<bool> {
        sys::int_option(
            self.socket.borrow_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
        )
        .map(|v| v != 0)
    }

    /// `SO_LINGER`: `Some(Duration::ZERO)` makes close send a reset. The
    /// kernel counts whole seconds: other durations are rounded up (so
    /// 500 ms lingers for a second rather than resetting).
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        crate::sys::socket::set_linger(self.socket.borrow_fd(), linger)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` when the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.socket.borrow_fd())?.to_inet()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.socket.borrow_fd())?.to_inet()
    }

    /// The pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// Splits the stream into a read half and a write half, usable from two
    /// tasks at once. Dropping the write half shuts the write side down.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        OwnedReadHalf::split(self.socket)
    }

    /// Adopts a stream made by the standard library (or anything else).
    pub fn from_std(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            socket: Socket::stream(OwnedFd::from(stream)),
        }
    }

    /// Gives the stream to the standard library.
    ///
    /// # Errors
    ///
    /// `WouldBlock` while an operation on it is still in flight (its fd is
    /// shared with the kernel, e.g. a cancelled read whose completion has
    /// not come yet); the stream is dropped with the error, so call this
    /// once its operations have completed. Its own registration in the
    /// file table (`Builder::register_streams`) does not count: it is
    /// finished first.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        into_owned(self.socket).map(std::net::TcpStream::from)
    }
}

/// The fd of a socket no operation uses any more.
pub(crate) fn into_owned(socket: Socket) -> io::Result<OwnedFd> {
    socket.fd.try_into_owned().map_err(|_| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            "an operation on this socket is still in flight; retry once it has completed",
        )
    })
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.fd.raw()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.borrow_fd()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.fd.raw()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.borrow_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.socket.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

super::stream_io::stream_io_methods!(TcpStream);
