//! Networking: TCP, UDP and Unix-domain sockets on owned buffers.
//!
//! Every read and write is an io_uring operation that takes its buffer by
//! value and returns it with the result. Sockets share their fd with the
//! operations in flight on them: dropping a socket closes its fd (through
//! the ring) only once no operation uses it any more.

mod addr;
pub(crate) mod forward;
mod recv_stream;
mod socket;
mod split;
mod stream_io;
mod tcp;
mod udp;
mod unix;
mod write_behind;

use std::io;
use std::net::SocketAddr;

pub use addr::ToSocketAddrs;
pub use recv_stream::RecvStream;
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use tcp::{DirectTcpStream, Incoming, IncomingDirect, TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};
pub use write_behind::WriteBehind;

/// Resolves `addr` to socket addresses, synchronously (for `bind`, done at
/// startup), with an error that says what was
/// asked when nothing comes back.
pub(crate) fn resolve(addr: impl std::net::ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address; pass an IP:port or a resolvable host:port",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the first success wins, otherwise the
/// last error is returned.
pub(crate) fn each_addr<T>(
    addrs: &[SocketAddr],
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for &addr in addrs {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to try")))
}
