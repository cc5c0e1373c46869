//! [`WriteBehind`]: writes that return before the kernel has sent them.

use std::future::{Future, poll_fn};
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use super::socket::Socket;
use crate::buf::IoBuf;
use crate::driver::{Driver, OpId};
use crate::op::send::{SendBehind, SendSink};
use crate::runtime::context;

/// A writer whose writes return once the send is queued, not once the kernel
/// has done it: a loop of read, write, read polls its task once per message
/// instead of twice. Made by `write_behind()` on a stream.
///
/// One send is in flight at a time, which keeps the bytes in order: a
/// [`write`](Self::write) first waits for the previous send to end. A send
/// goes out whole (a send the kernel ends short is continued) or fails: a
/// failure (the peer reset, the socket was shut down, the runtime shut
/// down first) is reported with its errno by the next `write` or by
/// [`flush`](Self::flush), and the writer then keeps failing, because the
/// stream has a hole.
///
/// The buffer of a send is freed as soon as the kernel is done with it,
/// whether or not the writer is polled again, so a pooled buffer goes back
/// to its ring at once.
///
/// **Dropping** the writer cancels a send still in flight (as dropping any
/// op future does): a peer that stops reading cannot pin the buffer and the
/// connection. Call [`flush`](Self::flush) first to wait for the last send.
///
/// Use one writer per stream, and do not mix it with the stream's other
/// writes without a `flush` in between: the order between them is not
/// kept.
///
/// ```no_run
/// # async fn echo(stream: ringloop::net::TcpStream, pool: ringloop::buf::BufRing) -> std::io::Result<()> {
/// let mut received = stream.recv_multishot(&pool);
/// let mut tx = stream.write_behind();
/// while let Some(buf) = received.next().await {
///     tx.write(buf?).await?;
/// }
/// tx.flush().await
/// # }
/// ```
#[derive(Debug)]
pub struct WriteBehind<'a> {
    socket: &'a Socket,
    sink: Rc<SendSink>,
    /// The writer's slot in its runtime's op table, kept from one send to
    /// the next (named by the last send's id), so that a send allocates
    /// nothing; the drop cancels a send still in flight there.
    lane: Option<(OpId, Rc<Driver>)>,
}

impl<'a> WriteBehind<'a> {
    pub(crate) fn new(socket: &'a Socket) -> WriteBehind<'a> {
        WriteBehind {
            socket,
            sink: Rc::default(),
            lane: None,
        }
    }

    /// Queues all of `buf` to be sent after what was written before, and
    /// returns once it is queued (after waiting for the previous send to
    /// end).
    ///
    /// # Errors
    ///
    /// A failure of an earlier send (the kernel's errno, e.g.
    /// `ConnectionReset` or `BrokenPipe`; `ECANCELED` if the runtime shut
    /// down before it was sent), and from then on on every call;
    /// `InvalidInput` if `buf` holds more than 2 GiB (use `write_all`), or
    /// if the previous send is still in flight in another runtime than the
    /// one running now (it ends when that one runs; `buf` is not sent); an
    /// error if no runtime is running.
    pub fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = io::Result<()>> + '_ {
        // A small hand-made future (the writer and the buffer) rather than
        // an `async fn`: it lives in the caller's state machine, once per
        // connection, and is written on every message.
        let mut buf = Some(buf);
        poll_fn(move |cx| {
            if let Err(err) = ready!(self.poll_idle(cx)) {
                return Poll::Ready(Err(err));
            }
            Poll::Ready(match buf.take() {
                Some(buf) => self.start(buf),
                None => Ok(()),
            })
        })
    }

    /// Sends `buf` (the writer is idle).
    fn start<B: IoBuf>(&mut self, buf: B) -> io::Result<()> {
        self.failure()?;
        if buf.bytes_init() == 0 {
            return Ok(());
        }
        let driver = context::driver().ok_or_else(context::no_runtime_error)?;
        let op = self.send_behind(buf)?;
        // The kept slot is looked at only if the send goes through the ring
        // (an eager send leaves it as it is).
        let lane = &mut self.lane;
        let take_lane = || match lane.take() {
            Some((lane, on)) if Rc::ptr_eq(&on, &driver) => Some(lane),
            // Written from another runtime before: a new lane there.
            Some((lane, on)) => {
                on.drop_kept(lane);
                None
            }
            None => None,
        };
        match send_now_or_queue(&driver, take_lane, op, &self.sink)? {
            Sent::Queued(id) => self.lane = Some((id, driver)),
            Sent::Now => {}
        }
        Ok(())
    }

    fn send_behind<B: IoBuf>(&self, buf: B) -> io::Result<SendBehind<B>> {
        SendBehind::new(self.socket.fd.clone(), buf, &self.sink).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "ringloop: a write-behind send takes at most 2 GiB; write larger buffers with write_all",
            )
        })
    }

    /// Waits until the kernel has sent everything written so far.
    ///
    /// # Errors
    ///
    /// The failure of a send, as for [`write`](Self::write); `InvalidInput`
    /// if a send is in flight in another runtime than the one running now
    /// (flush there).
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_idle(cx)).await?;
        self.failure()
    }

    /// The first failure, again on every call: the stream has a hole.
    #[inline]
    fn failure(&self) -> io::Result<()> {
        if self.sink.failure.borrow().is_none() {
            return Ok(());
        }
        self.sink.copy_failure().map_or(Ok(()), Err)
    }

    /// Whether a send is still in flight.
    pub fn is_sending(&self) -> bool {
        self.sink.in_flight.get()
    }

    #[inline]
    fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.sink.in_flight.get() {
            return Poll::Ready(Ok(()));
        }
        if let Some((_, driver)) = &self.lane {
            if driver.polled_elsewhere() {
                // The send is in the ring of a runtime that does not turn
                // now: its end would not come. It goes out, and the writer
                // is idle again, once that runtime runs.
                return Poll::Ready(Err(context::other_runtime_error(
                    "this writer's send in flight",
                )));
            }
        }
        let mut waiter = self.sink.waiter.borrow_mut();
        match &*waiter {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for WriteBehind<'_> {
    fn drop(&mut self) {
        // A send the kernel ends short from now on is not sent on.
        self.sink.abandoned.set(true);
        if let Some((lane, driver)) = self.lane.take() {
            driver.drop_kept(lane);
        }
    }
}

/// How [`send_now_or_queue`] sent.
pub(super) enum Sent {
    /// All of it, by one nonblocking `send(2)`: the buffer is free.
    Now,
    /// Through the ring, in this kept slot (all of it, or what an eager
    /// `send(2)` left).
    Queued(OpId),
}

/// Sends `op` (its sink idle) by one nonblocking `send(2)` while the loop is
/// latency-bound ([`Driver::run_eagerly`]), else through the ring in the
/// kept slot that `lane` gives (asked for only then); a short `send(2)`
/// leaves the rest to the ring. Shared by
/// [`WriteBehind`] and `forward_to`.
///
/// # Errors
///
/// The runtime shut down (nothing was sent), or the `send(2)` failed. A
/// failure that leaves a hole in the stream (the `send(2)` failed or sent
/// part and the rest cannot be queued) is also kept in `sink`.
#[inline]
pub(super) fn send_now_or_queue<B: IoBuf>(
    driver: &Driver,
    lane: impl FnOnce() -> Option<OpId>,
    mut op: SendBehind<B>,
    sink: &SendSink,
) -> io::Result<Sent> {
    let Some(result) = driver.run_eagerly(&mut op) else {
        // On failure (the runtime shut down) the op comes back, and its
        // drop marks the sink idle again.
        return driver
            .submit_kept(lane(), op)
            .map(Sent::Queued)
            .map_err(|(_, err)| err);
    };
    match u32::try_from(result) {
        Ok(sent) if sent >= op.remaining() => Ok(Sent::Now),
        // The socket took part of it: the ring sends the rest.
        Ok(sent) if sent > 0 => {
            op.advance(sent);
            driver
                .submit_kept(lane(), op)
                .map(Sent::Queued)
                .map_err(|(_, err)| {
                    // Part of the buffer went out and the rest cannot: the
                    // stream has a hole from here on.
                    let hole = io::Error::new(err.kind(), err.to_string());
                    sink.failure.borrow_mut().get_or_insert(hole);
                    err
                })
        }
        _ => {
            op.record(result);
            drop(op);
            Err(sink
                .copy_failure()
                .unwrap_or_else(|| io::Error::from_raw_os_error(-result)))
        }
    }
}
