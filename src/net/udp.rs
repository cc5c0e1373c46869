//! UDP.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::socket::Socket;
use super::{each_addr, resolve};
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::Op;
use crate::op::recv_msg::RecvMsg;
use crate::op::send_msg::SendMsg;
use crate::sys::socket::{self as sys, SockAddr};

/// A UDP socket.
///
/// ```
/// use ringloop::net::UdpSocket;
/// ringloop::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = a.send_to(b"ping".to_vec(), b.local_addr()?).await;
///     res?;
///     let (res, buf) = b.recv_from(vec![0u8; 64]).await;
///     let (n, from) = res?;
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from, a.local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    socket: Socket,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable`, and the errors of resolving `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |addr| {
            let fd = sys::socket(sys::domain_of(&addr), libc::SOCK_DGRAM)?;
            sys::bind(fd.as_fd(), &SockAddr::from_inet(addr))?;
            Ok(UdpSocket {
                socket: Socket::new(fd),
            })
        })
    }

    /// Sets the default peer: [`send`](Self::send) goes there and only its
    /// datagrams are received.
    ///
    /// # Errors
    ///
    /// The errors of resolving `addr`, or of `connect(2)`.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |addr| {
            sys::connect(self.socket.borrow_fd(), &SockAddr::from_inet(addr))
        })
    }

    /// Sends `buf` as one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> (io::Result<usize>, B) {
        let op = SendMsg::new(self.socket.fd.clone(), buf, SockAddr::from_inet(addr));
        Op::new(op).await
    }

    /// Receives one datagram into `buf` (the rest of a longer datagram is
    /// discarded) and the address it came from.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> (io::Result<(usize, SocketAddr)>, B) {
        let (result, buf) = Op::new(RecvMsg::new(self.socket.fd.clone(), buf)).await;
        let result = result.and_then(|(n, addr)| Ok((n, addr.to_inet()?)));
        (result, buf)
    }

    /// Sends `buf` to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.send_datagram(buf).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.recv_datagram(buf).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.socket.borrow_fd())?.to_inet()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` before [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.socket.borrow_fd())?.to_inet()
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The kernel's error for `setsockopt`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(
            self.socket.borrow_fd(),
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            on.into(),
        )
    }

    /// The pending socket error (`SO_ERROR`), if any (an ICMP unreachable
    /// after a send on a connected socket).
    ///
    /// # Errors
    ///
    /// The kernel's error for `getsockopt`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// Adopts a socket made by the standard library.
    pub fn from_std(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket {
            socket: Socket::new(OwnedFd::from(socket)),
        }
    }

    /// Gives the socket to the standard library.
    ///
    /// # Errors
    ///
    /// `WouldBlock` while an operation on it is still in flight.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        super::tcp::into_owned(self.socket).map(std::net::UdpSocket::from)
    }

    /// Closes the socket and reports the kernel's result.
    ///
    /// # Errors
    ///
    /// The error `close(2)` returned.
    pub async fn close(self) -> io::Result<()> {
        self.socket.fd.close().await
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.fd.raw()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.borrow_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.socket.fd.raw())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
