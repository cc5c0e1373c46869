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
        self.fd.is_fixed()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len())
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
/// the CQE (io_uring retries a stream send's remainder itself), so the
/// result is all of it or a failure.
pub(crate) struct SendBehind<B> {
    fd: SharedFd,
    buf: B,
    len: u32,
    sink: Busy,
}

/// Marks the writer busy while the op exists; its drop (the kernel is done
/// with the buffer, or never got it) lets the writer send the next one. A
/// detached op is dropped after the driver's table let go of it, so waking
/// is safe there.
struct Busy(Rc<SendSink>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.set(false);
        if let Some(waiter) = self.0.waiter.take() {
            waiter.wake();
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
            sink: Busy(sink.clone()),
        })
    }

    /// The bytes to send.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// The buffer back, for sending its unsent rest (after a short eager
    /// send); the writer is idle again.
    pub(crate) fn into_buf(self) -> B {
        self.buf
    }

    /// Records `result` (a CQE's: a count or `-errno`) in the sink.
    pub(crate) fn record(&self, result: i32) {
        let failure = if result < 0 {
            Some(io::Error::from_raw_os_error(-result))
        } else if (result as u32) < self.len {
            Some(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "ringloop: a write-behind send ended after {result} of {} bytes; the stream cannot go on in order",
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

    /// Detached: nothing could resubmit it.
    const RETRY_TRANSIENT: bool = false;

    fn fixed_file(&self) -> bool {
        self.fd.is_fixed()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), self.len)
            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
            .build()
    }

    const EAGER: bool = true;

    fn try_now(&mut self) -> Option<i32> {
        send_now(&self.fd, &self.buf, self.len)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) {
        match result {
            Ok(n) => self.record(i32::try_from(n).unwrap_or(i32::MAX)),
            Err(err) => self.record(-err.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    fn dispose(&mut self, completion: Completion) {
        self.record(completion.result);
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
}
