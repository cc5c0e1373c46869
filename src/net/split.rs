//! A stream split into a read half and a write half, for two tasks.

use std::fmt;
use std::io;

use super::socket::Socket;
use crate::buf::{IoBuf, IoBufMut};
use crate::io::{AsyncReadOwned, AsyncWriteOwned};

/// The read half of a split stream ([`TcpStream::into_split`],
/// [`UnixStream::into_split`]).
///
/// [`TcpStream::into_split`]: super::TcpStream::into_split
/// [`UnixStream::into_split`]: super::UnixStream::into_split
pub struct OwnedReadHalf {
    socket: Socket,
}

/// The write half of a split stream. Dropping it shuts the write side down,
/// so the peer reads end of stream even while the read half lives on.
pub struct OwnedWriteHalf {
    socket: Socket,
    shutdown_on_drop: bool,
}

impl OwnedReadHalf {
    pub(crate) fn split(socket: Socket) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                socket: socket.clone(),
            },
            OwnedWriteHalf {
                socket,
                shutdown_on_drop: true,
            },
        )
    }

    /// Reads into `buf`; 0 means end of stream.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.read(buf).await
    }

    /// Fills `buf` to its capacity, or fails with `UnexpectedEof`.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> (io::Result<()>, B) {
        crate::io::read_exact(self, buf).await
    }
}

impl OwnedWriteHalf {
    /// Writes some of `buf`.
    pub async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> (io::Result<()>, B) {
        crate::io::write_all(self, buf).await
    }

    /// A writer whose writes return once the send is queued. See
    /// [`WriteBehind`](crate::net::WriteBehind).
    pub fn write_behind(&self) -> crate::net::WriteBehind<'_> {
        crate::net::WriteBehind::new(&self.socket)
    }

    /// Shuts the write side down now and reports the result.
    ///
    /// If the future is dropped before the shutdown has run, the write
    /// side is still shut down, as when the half is dropped.
    ///
    /// # Errors
    ///
    /// `NotConnected` when the connection is gone.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let result = self.socket.shutdown(std::net::Shutdown::Write).await;
        // Only now that it has run: the kernel runs IORING_OP_SHUTDOWN on
        // its worker threads, so the cancel of a dropped future can stop
        // it before it starts. Cleared earlier, the drop of `self` inside
        // that future would skip its own shutdown and the peer would never
        // see end of stream while the read half lives.
        self.shutdown_on_drop = false;
        result
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            self.socket.shutdown_write_detached();
        }
    }
}

impl AsyncReadOwned for OwnedReadHalf {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.read(buf).await
    }
}

impl AsyncWriteOwned for OwnedWriteHalf {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        self.socket.write(buf).await
    }
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf")
            .field(&self.socket.fd)
            .finish()
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf")
            .field(&self.socket.fd)
            .finish()
    }
}
