//! fd reuse after closing a socket with a receive in flight.
//!
//! A socket is dropped while a receive on it is in the kernel (its future
//! dropped, or the task holding it cancelled). The fd must stay open until
//! the receive's CQE is back — a new socket opened meanwhile gets another
//! number — and then be closed, so the next socket reuses the very same fd
//! number. Data sent to that new socket must all reach the new socket's
//! reads, and none of it the old receive's buffer (which records whatever
//! the kernel ever wrote into it, even after its future was dropped).
//!
//! One `#[test]` only: fd numbers are per process, and tests of one binary
//! run in parallel threads that would take numbers from each other.

mod util;

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::Context;

use futures_util::task::noop_waker_ref;
use ringloop::buf::{IoBuf, IoBufMut};
use ringloop::net::{TcpListener, TcpStream, UdpSocket};

/// What the kernel wrote into a buffer, recorded when the buffer is freed.
#[derive(Default)]
struct Record {
    bytes: Vec<u8>,
    dropped: bool,
}

/// A read buffer that reports its contents when dropped, whether its op
/// completed normally or was disposed of after a cancel.
struct RecordingBuf {
    data: Vec<u8>,
    record: Rc<RefCell<Record>>,
}

impl RecordingBuf {
    fn new(capacity: usize) -> (RecordingBuf, Rc<RefCell<Record>>) {
        let record = Rc::new(RefCell::new(Record::default()));
        (
            RecordingBuf {
                data: Vec::with_capacity(capacity),
                record: record.clone(),
            },
            record,
        )
    }
}

impl Drop for RecordingBuf {
    fn drop(&mut self) {
        let mut r = self.record.borrow_mut();
        r.bytes.extend_from_slice(&self.data);
        r.dropped = true;
    }
}

// SAFETY: delegates to the Vec: a stable heap pointer, `len` bytes
// initialized out of `capacity`.
unsafe impl IoBuf for RecordingBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.len()
    }
    fn bytes_total(&self) -> usize {
        self.data.capacity()
    }
}

// SAFETY: as above; the kernel's count is forwarded to the Vec.
unsafe impl IoBufMut for RecordingBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller guarantees `pos` bytes were written.
        unsafe { self.data.set_init(pos) }
    }
}

const OLD_DATA: &[u8] = b"for the old socket only";

/// Whether `fd` is open in this process.
fn fd_is_open(fd: i32) -> bool {
    std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok()
}

async fn until_no_op_in_flight(what: &str) {
    util::within(10, what, async {
        while util::in_flight() > 0 {
            ringloop::yield_now().await;
        }
    })
    .await;
}

/// TCP: the read future is dropped, then the stream, with the read still
/// in the kernel.
async fn tcp_dropped_read_future() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The old peer is a blocking std socket: it can send without a turn
    // of the ring.
    let mut old_peer = std::net::TcpStream::connect(addr).unwrap();
    let (old, _) = util::within(10, "accept", listener.accept()).await.unwrap();
    let fd = old.as_raw_fd();

    let (buf, record) = RecordingBuf::new(64 * 1024);
    let mut read = Box::pin(old.read(buf));
    let mut cx = Context::from_waker(noop_waker_ref());
    // Poll, then one trip through the ring: the receive is in the kernel.
    // (Bounded retries: under fault injection a submission may come back
    // with a synthetic error, and only a new poll resubmits it.)
    for _ in 0..100 {
        assert!(read.as_mut().poll(&mut cx).is_pending(), "no data yet");
        ringloop::io::nop().await.unwrap();
        if util::in_flight() >= 1 {
            break;
        }
    }
    assert!(util::in_flight() >= 1, "the receive is in flight");

    // Data for the old socket races with the cancel: the receive may
    // complete with it (late) or be cancelled. Either is fine; what it got
    // can only ever be this.
    std::io::Write::write_all(&mut old_peer, OLD_DATA).unwrap();
    drop(read);
    drop(old);
    // No ring turn since: the receive's CQE cannot be back, so its fd must
    // still be open, and a socket made now gets another number.
    assert!(fd_is_open(fd), "fd {fd} closed under an in-flight receive");
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_ne!(probe.as_raw_fd(), fd, "fd {fd} reused while in flight");
    drop(probe);

    until_no_op_in_flight("cancelled receive and close complete").await;
    assert!(!fd_is_open(fd), "fd {fd} closed once the receive is done");
    assert!(
        record.borrow().dropped,
        "the buffer was freed after the CQE"
    );

    // The next socket takes the lowest free number: the old one.
    let new = util::within(10, "connect", TcpStream::connect(addr))
        .await
        .unwrap();
    assert_eq!(new.as_raw_fd(), fd, "the new socket reuses fd {fd}");
    let (new_peer, _) = util::within(10, "accept", listener.accept()).await.unwrap();
    let payload = util::ByteStream::new(0xFD).take(256 * 1024);
    let (res, _) = util::within(10, "send", new_peer.write_all(payload.clone())).await;
    res.unwrap();
    let (res, got) = util::within(
        10,
        "new socket reads",
        new.read_exact(Vec::with_capacity(payload.len())),
    )
    .await;
    res.unwrap();
    assert!(got == payload, "the new socket got all of its data");
    let r = record.borrow();
    assert!(
        OLD_DATA.starts_with(&r.bytes),
        "the old receive saw bytes that were not sent to it: {} bytes",
        r.bytes.len()
    );
    println!(
        "tcp: the cancelled receive took {} of the old socket's bytes",
        r.bytes.len()
    );
}

/// UDP: the task holding the socket and its receive is cancelled.
async fn udp_cancelled_task() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let old = UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = old.as_raw_fd();
    let (buf, record) = RecordingBuf::new(2048);
    let task = ringloop::spawn(async move {
        let (res, _buf) = old.recv_from(buf).await;
        res.map(|(n, _)| n)
    });
    for _ in 0..100 {
        ringloop::yield_now().await;
        ringloop::io::nop().await.unwrap();
        if util::in_flight() >= 1 {
            break;
        }
    }
    assert!(!task.is_finished());
    assert!(util::in_flight() >= 1, "the receive is in flight");

    task.cancel();
    let outcome = util::within(10, "cancelled task", task).await;
    assert!(outcome.unwrap_err().is_cancelled());
    until_no_op_in_flight("cancelled receive and close complete").await;
    assert!(!fd_is_open(fd));
    assert!(record.borrow().dropped);

    let new = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(new.as_raw_fd(), fd, "the new socket reuses fd {fd}");
    let to = new.local_addr().unwrap();
    for i in 0..32u8 {
        let (res, _) = sender.send_to(vec![i; 100 + usize::from(i)], to).await;
        res.unwrap();
    }
    for i in 0..32u8 {
        let (res, buf) =
            util::within(10, "recv_from", new.recv_from(Vec::with_capacity(2048))).await;
        let (n, from) = res.unwrap();
        assert_eq!(from, sender.local_addr().unwrap());
        assert_eq!(
            &buf[..n],
            &vec![i; 100 + usize::from(i)][..],
            "datagram {i}"
        );
    }
    assert!(
        record.borrow().bytes.is_empty(),
        "the old receive saw the new socket's data"
    );
}

#[test]
fn closed_fd_is_reused_only_after_the_receive_completes() {
    ringloop::run(tcp_dropped_read_future());
    ringloop::run(udp_cancelled_task());
}
