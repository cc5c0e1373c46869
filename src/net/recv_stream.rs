//! `RecvStream`: a multishot receive into a buffer ring, re-armed as
//! needed.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::socket::Socket;
use crate::buf::{BufRing, PooledBuf};
use crate::driver::Multishot;
use crate::op::recv_multi::{RecvItem, RecvMulti};
use crate::runtime::context;

/// The data a stream socket receives, in order, each chunk in a buffer
/// from a [`BufRing`]: one SQE keeps receiving until the kernel ends it; it
/// is re-armed transparently. When the ring runs dry (`ENOBUFS`) the
/// receive waits until a buffer is given back, then re-arms: nothing is
/// lost or reordered — the data waits in the socket.
///
/// Made by [`TcpStream::recv_multishot`](super::TcpStream::recv_multishot)
/// and [`UnixStream::recv_multishot`](super::UnixStream::recv_multishot).
///
/// Dropping a [`next`](Self::next) future loses nothing: received chunks
/// wait in the stream for the next call. Dropping the `RecvStream` itself
/// cancels the receive and frees the chunks it received but had not yet
/// handed out (their buffers go back to the ring): the kernel had already
/// taken those bytes from the socket, so a later `read` of the stream
/// continues after them. Keep the `RecvStream` for as long as the stream
/// is read.
pub struct RecvStream<'a> {
    socket: &'a Socket,
    ring: BufRing,
    op: Option<Multishot<RecvMulti>>,
    /// The peer shut down, or an error ended the stream.
    done: bool,
    /// Waiting for a buffer to come back before re-arming.
    starved: bool,
}

impl<'a> RecvStream<'a> {
    pub(crate) fn new(socket: &'a Socket, ring: &BufRing) -> RecvStream<'a> {
        RecvStream {
            socket,
            ring: ring.clone(),
            op: None,
            done: false,
            starved: false,
        }
    }

    /// The next chunk of data; `None` at end of stream.
    ///
    /// # Errors
    ///
    /// The socket's error (`ECONNRESET`...), after which the stream ends;
    /// `InvalidInput` if the ring was built in another runtime, or if the
    /// stream was first polled in another runtime that does not run now
    /// (the stream goes on when polled in that one).
    pub async fn next(&mut self) -> Option<io::Result<PooledBuf>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<PooledBuf>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if self.starved {
                if !self.ring.inner().has_buffers_or_wait(cx.waker()) {
                    return Poll::Pending;
                }
                self.starved = false;
            }
            let op = match &mut self.op {
                Some(op) => op,
                None => {
                    // A ring from another runtime would have the kernel
                    // pick buffers of another pool (see `check_driver`).
                    let checked = context::driver()
                        .ok_or_else(context::no_runtime_error)
                        .and_then(|driver| self.ring.inner().check_driver(&driver));
                    if let Err(err) = checked {
                        self.done = true;
                        return Poll::Ready(Some(Err(err)));
                    }
                    let op = RecvMulti::new(self.socket.fd.clone(), self.ring.inner().clone());
                    match Multishot::submit(op) {
                        Ok(op) => self.op.insert(op),
                        Err(err) => {
                            self.done = true;
                            return Poll::Ready(Some(Err(err)));
                        }
                    }
                }
            };
            if op.polled_elsewhere() {
                // Its data comes through the ring it was armed in, which
                // does not turn now: refused rather than left waiting. It
                // goes on in its own runtime.
                return Poll::Ready(Some(Err(context::other_runtime_error(
                    "this multishot receive",
                ))));
            }
            match ready!(op.poll_next(cx)) {
                Some(RecvItem::Data(buf)) => return Poll::Ready(Some(Ok(buf))),
                Some(RecvItem::Eof) => {
                    self.done = true;
                    self.op = None;
                    return Poll::Ready(None);
                }
                Some(RecvItem::Error(err)) if err.raw_os_error() == Some(libc::ENOBUFS) => {
                    // The ring ran dry and the kernel ended the receive.
                    self.ring.inner().note_enobufs();
                    self.starved = true;
                }
                Some(RecvItem::Error(err))
                    if matches!(err.raw_os_error(), Some(libc::EINTR | libc::EAGAIN)) => {}
                Some(RecvItem::Error(err)) => {
                    self.done = true;
                    self.op = None;
                    return Poll::Ready(Some(Err(err)));
                }
                // The kernel ended the receive (after an error item, or on
                // its own): arm a new one.
                None => self.op = None,
            }
        }
    }
}

impl futures_util::Stream for RecvStream<'_> {
    type Item = io::Result<PooledBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl fmt::Debug for RecvStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("fd", &self.socket.fd.raw())
            .field("armed", &self.op.is_some())
            .field("done", &self.done)
            .finish()
    }
}
