//! `IORING_OP_SEND` (Linux 5.6) from an owned buffer.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::Waker;

use io_uring::{opcode, squeue, types};

use super::{Operation, io_len, stream_io_len};
use crate::buf::IoBuf;
use crate::driver::Completion;
use crate::io::SharedFd;
use crate::sys;

pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
    /// A datagram's length is its boundary: never shortened.
    datagram: bool,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Send<B> {
        Send {
            fd,
            buf,
            datagram: false,
        }
    }

    pub(crate) fn datagram(fd: SharedFd, buf: B) -> Send<B> {
        Send {
            fd,
            buf,
            datagram: true,
        }
    }

    /// The bytes to ask the kernel to send.
    fn len(&self) -> u32 {
        if self.datagram {
            io_len(self.buf.bytes_init())
        } else {
            stream_io_len(self.buf.bytes_init())
        }
    }
}

impl<B: IoBuf> Operation for Send<B> {
    type Output = (io::Result<usize>, B);

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::Send::new(
            types::Fd(self.fd.ring_raw()),
            self.buf.stable_ptr(),
            self.len(),
        )
        // A peer that went away is an EPIPE result, not a SIGPIPE.
        .flags(libc::MSG_NOSIGNAL)
        .build()
    }

    const EAGER: bool = true;

    fn try_now(&mut self) -> Option<i32> {
        send_now(&self.fd, &self.buf, self.len())
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> Self::Output {
        (result.map(|n| n as usize), self.buf)
    }
}

/// The eager form of both sends: one nonblocking `send(2)` of the first
/// `len` bytes of `buf`, its result as a CQE would carry it. `None` for a
/// direct descriptor, which has no fd a syscall could name.
fn send_now<B: IoBuf>(fd: &SharedFd, buf: &B, len: u32) -> Option<i32> {
    if fd.is_fixed() {
        return None;
    }
    let (ptr, len) = (buf.stable_ptr(), len as usize);
    // SAFETY: both callers pass at most `bytes_init` bytes, which the
    // `IoBuf` contract says are initialised at `stable_ptr`; the op owns
    // the buffer and does not move or touch it during the call.
    let sent = unsafe { sys::socket::send_now(fd.raw(), ptr, len) };
    Some(match sent {
        Ok(n) => i32::try_from(n).unwrap_or(i32::MAX),
        Err(err) => -err.raw_os_error().unwrap_or(libc::EIO),
    })
}

/// A send nobody awaits: the op behind [`WriteBehind`](crate::net::WriteBehind).
/// It is submitted detached, so the driver frees it (and the buffer) at its
/// CQE, and its result goes to the writer's [`SendSink`] instead of a future.
///
/// `MSG_WAITALL` makes the kernel finish the whole buffer before it posts
/// the CQE (io_uring retries a stream send's remainder itself). The kernel
/// may still end it short (a reset peer, a shutdown, an older kernel that
/// does not retry): the op then goes again with the rest, under the same
/// user_data, until it is all sent or the kernel reports the errno that
/// stopped it. What reaches the writer is all of it or a failure.
pub(crate) struct SendBehind<B> {
    fd: SharedFd,
    buf: B,
    len: u32,
    /// Bytes the kernel already sent (from earlier CQEs of this op).
    sent: u32,
    /// `dispose` decided the op goes again (see `Operation::again`).
    again: bool,
    /// Consecutive transient results with nothing sent.
    transient: u8,
    sink: Busy,
}

/// Transient results in a row (`EINTR`, `EAGAIN`, `ENOBUFS`, nothing sent)
/// after which a send gives up with that errno rather than spin.
const MAX_TRANSIENT: u8 = 16;

/// Marks the writer busy while the op exists; its drop (the kernel is done
/// with the buffer, or never got it) lets the writer send the next one. A
/// detached op is dropped after the driver's table let go of it, so waking
/// is safe there.
struct Busy(Rc<SendSink>);

impl Drop for Busy {
    #[inline]
    fn drop(&mut self) {
        self.0.in_flight.set(false);
        if let Some(waiter) = self.0.waiter.take() {
            waiter.wake();
        }
        // A failure must reach a task that was not waiting for this send
        // (a forward's task, idle while the driver sends on its own):
        // otherwise it would learn of it only when more data came in.
        if self.0.failure.borrow().is_some() {
            if let Some(watcher) = self.0.on_failure.take() {
                watcher.wake();
            }
        }
    }
}

impl<B: IoBuf> SendBehind<B> {
    /// Gives `buf` back if it holds more than one send can carry (2 GiB).
    pub(crate) fn new(fd: SharedFd, buf: B, sink: &Rc<SendSink>) -> Result<SendBehind<B>, B> {
        let len = buf.bytes_init();
        if len > io_len(len) as usize {
            return Err(buf);
        }
        sink.in_flight.set(true);
        Ok(SendBehind {
            fd,
            buf,
            len: io_len(len),
            sent: 0,
            again: false,
            transient: 0,
            sink: Busy(sink.clone()),
        })
    }

    /// The bytes still to send.
    pub(crate) fn remaining(&self) -> u32 {
        self.len - self.sent
    }

    /// Counts `n` bytes as sent (by an eager `send(2)`): the ring sends
    /// only the rest.
    pub(crate) fn advance(&mut self, n: u32) {
        self.sent += n.min(self.remaining());
    }

    /// Records the final `result` (a CQE's: a count or `-errno`) of the
    /// remaining bytes in the sink.
    #[inline]
    pub(crate) fn record(&self, result: i32) {
        let failure = if result < 0 {
            Some(io::Error::from_raw_os_error(-result))
        } else if (result as u32) < self.remaining() {
            Some(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "ringloop: a write-behind send ended after {} of {} bytes; the stream cannot go on in order",
                    self.sent + result as u32,
                    self.len
                ),
            ))
        } else {
            None
        };
        if let Some(failure) = failure {
            // The first failure is the one to report.
            self.sink.0.failure.borrow_mut().get_or_insert(failure);
        }
    }
}

impl<B: IoBuf> Operation for SendBehind<B> {
    type Output = ();

    /// Detached: the driver's `again` path retries it instead.
    const RETRY_TRANSIENT: bool = false;

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        // `wrapping_add` stays inside the buffer: `sent <= len <= bytes_init`.
        let ptr = self.buf.stable_ptr().wrapping_add(self.sent as usize);
        // Fault injection may ask for less: the op then goes again.
        let len = stream_io_len(self.remaining() as usize);
        opcode::Send::new(types::Fd(self.fd.ring_raw()), ptr, len)
            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
            .build()
    }

    const EAGER: bool = true;

    /// Only before the first submission (`sent` is then 0).
    fn try_now(&mut self) -> Option<i32> {
        if self.sent != 0 {
            return None;
        }
        send_now(&self.fd, &self.buf, self.len)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) {
        match result {
            Ok(n) => self.record(i32::try_from(n).unwrap_or(i32::MAX)),
            Err(err) => self.record(-err.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    fn dispose(&mut self, completion: Completion) {
        let result = completion.result;
        // A writer dropped (its cancel may have cut the send short) wants
        // no more bytes sent.
        let wanted = !self.sink.0.abandoned.get();
        if wanted && result > 0 && (result as u32) < self.remaining() {
            // Cut short with progress: the rest goes again, and a failure
            // that stopped it shows as the next attempt's errno.
            self.sent += result as u32;
            self.transient = 0;
            self.again = true;
        } else if wanted
            && matches!(-result, libc::EINTR | libc::EAGAIN | libc::ENOBUFS)
            && self.transient < MAX_TRANSIENT
        {
            self.transient += 1;
            self.again = true;
        } else {
            self.record(result);
        }
    }

    fn again(&mut self) -> bool {
        std::mem::take(&mut self.again)
    }

    fn give_up(&mut self) {
        // The runtime is shutting down: the rest will not be sent.
        self.record(-libc::ECANCELED);
    }
}

/// What a [`SendBehind`] reports to its writer.
#[derive(Debug, Default)]
pub(crate) struct SendSink {
    /// A send is in flight: the next must wait (one at a time keeps the
    /// bytes in order).
    pub(crate) in_flight: Cell<bool>,
    /// The first failure.
    pub(crate) failure: RefCell<Option<io::Error>>,
    /// The task waiting for the send in flight to end.
    pub(crate) waiter: RefCell<Option<Waker>>,
    /// The writer is gone: a send cut short is not to go again.
    pub(crate) abandoned: Cell<bool>,
    /// A task to wake when a send ends in a failure, whether or not it
    /// waits for that send (`net::forward`, whose sends the driver starts
    /// with no task waiting).
    pub(crate) on_failure: RefCell<Option<Waker>>,
}

impl SendSink {
    /// A copy of the first failure, with the same errno (a writer reports
    /// it on every call from then on: the stream has a hole).
    #[cold]
    pub(crate) fn copy_failure(&self) -> Option<io::Error> {
        self.failure
            .borrow()
            .as_ref()
            .map(|err| match err.raw_os_error() {
                Some(errno) => io::Error::from_raw_os_error(errno),
                None => io::Error::new(err.kind(), err.to_string()),
            })
    }
}
