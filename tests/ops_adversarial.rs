//! Adversarial tests of the ops that post more than one CQE or carry
//! resources (zero-copy sends, multishot accept, linked timeouts, provided
//! buffer rings, registered buffers), of their cancellation, and of bad
//! input to UDP and file ops.

mod util;

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use futures_util::FutureExt;
use ringloop::buf::{BufRing, FixedBufRegistry, IoBuf};
use ringloop::net::{TcpListener, TcpStream, UdpSocket};

/// A buffer that records when it is dropped, so a test can tell when the
/// runtime let go of it (it is only ever read by the kernel here).
struct Tracked {
    data: Vec<u8>,
    dropped: Rc<Cell<bool>>,
}

impl Tracked {
    fn new(len: usize, byte: u8) -> (Tracked, Rc<Cell<bool>>) {
        let dropped = Rc::new(Cell::new(false));
        let buf = Tracked {
            data: vec![byte; len],
            dropped: dropped.clone(),
        };
        (buf, dropped)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

// SAFETY: the Vec's heap pointer is stable when `Tracked` moves, and all
// of its `len` bytes are initialized.
unsafe impl IoBuf for Tracked {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.len()
    }
    fn bytes_total(&self) -> usize {
        self.data.len()
    }
}

/// Whether `fd` is open in this process.
fn fd_open(fd: i32) -> bool {
    std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists()
}

/// Starts zero-copy sends of `ZC_BYTE`s from `stream` to `peer`, which
/// reads nothing, until one is still pending after 50 ms, and cancels that
/// one by dropping its future. Returns its buffer's drop flag once the
/// cancelled send is left waiting for its notification: the kernel queued
/// part of the buffer in the socket (the peer's window is full) and holds
/// its pages until they are sent. (A send that queued nothing, the socket
/// being full, releases its buffer at once: the peer then reads a little to
/// make room, and the next send goes.)
async fn cancel_a_stuck_zero_copy_send(stream: &TcpStream, peer: &TcpStream) -> Rc<Cell<bool>> {
    for _ in 0..100 {
        let (buf, dropped) = Tracked::new(8 << 20, ZC_BYTE);
        let send = stream.write_zc(buf);
        if ringloop::time::timeout(Duration::from_millis(50), send)
            .await
            .is_ok()
        {
            continue;
        }
        // Time for the cancel's CQE to land.
        ringloop::time::sleep(Duration::from_millis(20)).await;
        if !dropped.get() {
            return dropped;
        }
        let (res, buf) = peer.read(Vec::with_capacity(1 << 20)).await;
        res.unwrap();
        assert!(buf.iter().all(|&b| b == ZC_BYTE));
    }
    panic!("no zero-copy send to a peer that reads nothing stayed pending");
}

const ZC_BYTE: u8 = 0x5a;

/// Waits until the runtime has no op in flight (e.g. the detached close of
/// a listener dropped just before); returns 0, the baseline to come back
/// to.
async fn settled() -> usize {
    util::within(10, "no op in flight", async {
        while util::in_flight() > 0 {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    0
}

/// Reads `peer` to its end of stream; every byte must be `ZC_BYTE`.
async fn drain_checked(peer: &TcpStream) -> usize {
    let mut total = 0;
    let mut buf = Vec::with_capacity(256 * 1024);
    loop {
        buf.clear();
        let (res, back) = peer.read(buf).await;
        buf = back;
        let n = res.expect("the peer reads");
        if n == 0 {
            return total;
        }
        let bad = buf.iter().position(|&b| b != ZC_BYTE);
        assert_eq!(
            bad, None,
            "byte {} of the stream is not what was sent",
            total
        );
        total += n;
    }
}

/// Allocates and fills buffers of the zero-copy buffers' size, so that a
/// buffer freed too early would likely be reused and overwritten.
fn scribble() -> Vec<Vec<u8>> {
    (0..8).map(|_| vec![0xee; 8 << 20]).collect()
}

#[test]
fn a_cancelled_zero_copy_send_keeps_its_buffer_until_the_notification() {
    ringloop::run(util::within(30, "zero-copy cancel", async {
        let (stream, peer) = util::tcp_pair().await;
        let baseline = settled().await;
        let dropped = cancel_a_stuck_zero_copy_send(&stream, &peer).await;
        // Cancelled (its future is gone), but the kernel still reads the
        // pages of what it queued: the buffer lives until the notification.
        assert!(
            util::in_flight() > baseline,
            "the send awaits its notification"
        );
        let junk = scribble();
        drop(stream);
        // The peer gets every byte as sent (not the scribbles), then the
        // end of stream, and the notification releases the buffer.
        let total = util::within(10, "peer drains", drain_checked(&peer)).await;
        assert!(total > 0);
        util::within(10, "notification", async {
            while util::in_flight() > baseline {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(
            dropped.get(),
            "the buffer is released after the notification"
        );
        drop(junk);
    }));
}

#[test]
fn a_cancelled_zero_copy_send_does_not_keep_a_dropped_stream_open() {
    ringloop::run(util::within(30, "zero-copy fd", async {
        let (stream, peer) = util::tcp_pair().await;
        let baseline = settled().await;
        let raw = std::os::fd::AsRawFd::as_raw_fd(&stream);
        let dropped = cancel_a_stuck_zero_copy_send(&stream, &peer).await;
        // Only the notification is due, once the peer reads: the kernel's
        // request no longer uses the socket. Dropping the stream must close
        // it (as after a plain send: queued data is still delivered)
        // rather than leave it open until a peer that may never read does.
        drop(stream);
        util::within(5, "the dropped stream's fd is closed", async {
            while fd_open(raw) {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(
            util::in_flight() > baseline,
            "the notification is still due"
        );
        assert!(
            !dropped.get(),
            "the buffer outlives the fd, until the notification"
        );
        // The peer gets every byte queued, then the end of stream; then the
        // notification releases the buffer.
        let total = util::within(10, "peer drains", drain_checked(&peer)).await;
        assert!(total > 0);
        util::within(10, "notification", async {
            while util::in_flight() > baseline {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(dropped.get());
    }));
}

#[test]
fn connections_accepted_after_incoming_drops_are_closed() {
    ringloop::run(util::within(30, "late accepts", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let baseline_fds = util::fd_count();
        for round in 0..20 {
            let mut incoming = listener.incoming();
            // Arm the multishot accept, then drop it with connections
            // racing its cancel: accepted ones must be closed, not leaked.
            assert!(incoming.next().now_or_never().is_none(), "round {round}");
            let clients: Vec<_> = (0..3)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            if round % 2 == 0 {
                ringloop::yield_now().await;
            }
            drop(incoming);
            settled().await;
            // Accepted ones were closed (EOF); the others still wait in the
            // backlog: a plain accept takes them now.
            for mut client in clients {
                client
                    .set_read_timeout(Some(Duration::from_millis(1)))
                    .unwrap();
                let mut byte = [0u8; 1];
                match std::io::Read::read(&mut client, &mut byte) {
                    Ok(0) => {}
                    Ok(n) => panic!("round {round}: read {n} bytes from nothing"),
                    Err(err) => {
                        assert_eq!(err.kind(), ErrorKind::WouldBlock, "round {round}");
                        let (served, _) =
                            util::within(5, "backlog", listener.accept()).await.unwrap();
                        drop(served);
                    }
                }
            }
            settled().await;
            assert_eq!(util::fd_count(), baseline_fds, "round {round}: fds leaked");
        }
    }));
}

#[test]
fn linked_timeouts_of_every_length_take_no_data_when_they_fire() {
    ringloop::run(util::within(60, "linked timeouts", async {
        let (a, b) = util::tcp_pair().await;
        let baseline = settled().await;
        // Nothing to read: zero and tiny timeouts fire at once, with
        // TimedOut; the read takes nothing.
        for timeout in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(50),
        ] {
            let (res, buf) = a.read_timeout(Vec::with_capacity(16), timeout).await;
            let err = res.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{timeout:?}: {err}");
            assert!(buf.is_empty());
        }
        // Data already there: it wins whatever the timeout, even zero.
        let mut stream = util::ByteStream::new(7);
        let mut check = util::ByteStream::new(7);
        for timeout in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ] {
            let (res, _) = b.write_all(stream.take(100)).await;
            res.unwrap();
            let got = util::within(10, "data", async {
                let mut got = Vec::new();
                while got.len() < 100 {
                    let (res, buf) = a
                        .read_timeout(Vec::with_capacity(100 - got.len()), timeout)
                        .await;
                    match res {
                        Ok(n) => {
                            assert!(n > 0, "{timeout:?}: no end of stream here");
                            got.extend_from_slice(&buf);
                        }
                        // A zero timeout may fire before the data lands.
                        Err(err) if err.kind() == ErrorKind::TimedOut => {
                            assert!(timeout < Duration::from_secs(1), "{err}");
                        }
                        Err(err) => panic!("{timeout:?}: {err}"),
                    }
                }
                got
            })
            .await;
            assert_eq!(got, check.take(100), "{timeout:?}: data lost or reordered");
        }
        // Data arriving while tiny timeouts fire: every byte arrives once,
        // in order (a read the timeout cancelled had taken nothing).
        const TOTAL: usize = 256 * 1024;
        let writer = ringloop::spawn(async move {
            let mut stream = util::ByteStream::new(11);
            let mut sent = 0;
            while sent < TOTAL {
                let (res, _) = b.write_all(stream.take(997.min(TOTAL - sent))).await;
                res.unwrap();
                sent += 997.min(TOTAL - sent);
                ringloop::yield_now().await;
            }
            b
        });
        let mut check = util::ByteStream::new(11);
        let mut got = 0;
        let mut i = 0u64;
        while got < TOTAL {
            i += 1;
            assert!(i < 10_000_000, "no progress");
            let timeout = Duration::from_nanos((i % 7) * 3_000);
            let (res, buf) = a.read_timeout(Vec::with_capacity(4096), timeout).await;
            match res {
                Ok(n) => {
                    assert!(n > 0, "end of stream after {got} bytes");
                    assert_eq!(&buf[..], &check.take(n)[..], "at byte {got}");
                    got += n;
                }
                Err(err) if err.kind() == ErrorKind::TimedOut => {}
                Err(err) => panic!("{err}"),
            }
        }
        let b = writer.await.unwrap();
        // Dropping bounded reads after their first poll cancels both ops.
        for _ in 0..50 {
            assert!(
                a.read_timeout(Vec::with_capacity(8), Duration::from_secs(3600))
                    .now_or_never()
                    .is_none()
            );
        }
        util::within(10, "cancelled pairs done", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
        // The stream still works, and lost nothing.
        let (res, _) = b.write_all(b"tail".to_vec()).await;
        res.unwrap();
        let tail = util::read_exactly(&a, 4).await;
        assert_eq!(tail, b"tail");
    }));
}

#[test]
fn an_incremental_ring_gets_every_buffer_back_from_dropped_streams() {
    ringloop::run(util::within(30, "incremental ring", async {
        let ring = BufRing::builder()
            .entries(4)
            .buf_len(256)
            .incremental(true)
            .build()
            .unwrap();
        let (a, b) = util::tcp_pair().await;
        for round in 0..10u8 {
            let mut rx = b.recv_multishot(&ring);
            let first = rx.next();
            let (res, _) = a.write_all(vec![round; 100]).await;
            res.unwrap();
            let held = util::within(5, "first", first).await.unwrap().unwrap();
            assert!(held.iter().all(|&x| x == round));
            // More data lands in buffers nobody takes (and the part of the
            // first buffer after `held`); then the stream goes.
            let (res, _) = a.write_all(vec![round; 700]).await;
            res.unwrap();
            for _ in 0..10 {
                ringloop::yield_now().await;
            }
            drop(rx);
            settled().await;
            // `held` still pins its buffer...
            assert!(
                held.iter().all(|&x| x == round),
                "a held view was overwritten"
            );
            drop(held);
            // ...and now every buffer is back.
            assert_eq!(ring.available(), ring.entries(), "round {round}");
            // Whatever the dropped stream did not take is still in the
            // socket or was discarded with it: drain it before the next round.
            let mut rx = b.recv_multishot(&ring);
            loop {
                match ringloop::time::timeout(Duration::from_millis(20), rx.next()).await {
                    Ok(Some(buf)) => assert!(buf.unwrap().iter().all(|&x| x == round)),
                    Ok(None) => panic!("end of stream"),
                    Err(_) => break,
                }
            }
            drop(rx);
            settled().await;
            assert_eq!(ring.available(), ring.entries(), "round {round}");
        }
        // End of stream returns everything too.
        drop(a);
        let mut rx = b.recv_multishot(&ring);
        assert!(util::within(5, "eof", rx.next()).await.is_none());
        assert_eq!(ring.available(), ring.entries());
    }));
}

#[test]
fn pooled_and_fixed_buffers_outlive_their_pool_and_runtime() {
    let (pooled, fixed) = ringloop::run(util::within(30, "outlive", async {
        let ring = BufRing::builder().entries(2).buf_len(64).build().unwrap();
        let registry = FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap();
        let (a, b) = util::tcp_pair().await;
        let mut out = registry.check_out(0).unwrap();
        out.put_slice(b"fixed data");
        let (res, out) = a.write_fixed(out).await;
        util::assert_transfer(res.unwrap(), 10);
        drop(out);
        let got = util::read_exactly(&b, 10).await;
        let got = &got[..];
        assert!(got.starts_with(b"fixed data") || util::faults());
        let (res, _) = a.write_all(b"pooled data".to_vec()).await;
        res.unwrap();
        let mut rx = b.recv_multishot(&ring);
        let pooled = util::within(5, "pooled", rx.next()).await.unwrap().unwrap();
        drop(rx);
        // A fixed buffer read into, partially initialised before.
        let mut fixed = registry.check_out(0).unwrap();
        fixed.put_slice(b"0123456789abcdef");
        let (res, _) = a.write_all(b"XYZ".to_vec()).await;
        res.unwrap();
        let (res, fixed) = b.read_fixed(fixed).await;
        let n = res.unwrap();
        assert!((1..=3).contains(&n));
        assert_eq!(&fixed[..n], &b"XYZ"[..n], "read at the start");
        assert_eq!(fixed.len(), 16, "the initialised length is kept");
        drop((ring, registry));
        (pooled, fixed)
    }));
    // The runtime is gone: both buffers are still valid memory.
    assert!(b"pooled data".starts_with(&pooled[..]) && !pooled.is_empty());
    assert_eq!(&fixed[3..], b"3456789abcdef");
    drop(pooled);
    drop(fixed);
    // A new runtime registers its own without trouble.
    ringloop::run(async {
        let registry = FixedBufRegistry::register([Vec::with_capacity(8)]).unwrap();
        assert!(registry.check_out(0).is_some());
        let ring = BufRing::builder().entries(2).buf_len(8).build().unwrap();
        assert_eq!(ring.available(), 2);
    });
}

#[test]
fn udp_truncated_empty_and_misaddressed_datagrams() {
    ringloop::run(util::within(30, "udp", async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        let a_addr = a.local_addr().unwrap();
        // Truncated: the rest of the datagram is discarded, the next one is
        // whole.
        for msg in [&b"0123456789"[..], b"", b"next", b"zz"] {
            let (res, _) = a.send_to(msg.to_vec(), b_addr).await;
            assert_eq!(res.unwrap(), msg.len());
        }
        let (res, buf) = b.recv_from(Vec::with_capacity(4)).await;
        let (n, from) = res.unwrap();
        assert_eq!((n, from), (4, a_addr));
        assert_eq!(buf, b"0123");
        // Empty datagram: 0 bytes, with its sender.
        let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), (0, a_addr));
        assert!(buf.is_empty());
        let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), (4, a_addr));
        assert_eq!(buf, b"next");
        // A zero-capacity buffer takes (and discards) a whole datagram.
        let (res, buf) = b.recv_from(Vec::new()).await;
        assert_eq!(res.unwrap(), (0, a_addr));
        assert!(buf.is_empty());
        // Bad destinations: errors with errno, no panic, buffer back.
        let v6: std::net::SocketAddr = "[::1]:9".parse().unwrap();
        let port0: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let bcast: std::net::SocketAddr = "255.255.255.255:9".parse().unwrap();
        for (to, what) in [
            (v6, "IPv6 from IPv4"),
            (port0, "port 0"),
            (bcast, "broadcast"),
        ] {
            let (res, buf) = a.send_to(b"x".to_vec(), to).await;
            let err = res.expect_err(what);
            assert!(err.raw_os_error().is_some(), "{what}: {err:?}");
            assert_eq!(buf, b"x");
        }
        // Oversized: EMSGSIZE.
        let (res, _) = a.send_to(vec![0u8; 70_000], b_addr).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EMSGSIZE));
        // Nothing stray arrived from those.
        let (res, _) = a.send_to(b"end".to_vec(), b_addr).await;
        res.unwrap();
        let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap().0, 3);
        assert_eq!(buf, b"end");
    }));
}

#[test]
fn file_ops_on_directories_and_bad_paths_are_errors() {
    let dir = util::TempDir::new("ops-adversarial");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    ringloop::run(util::within(30, "fs", async {
        let fds = util::fd_count();
        // A directory opens for reading, but reads from it fail: EISDIR.
        let d = ringloop::fs::File::open(&sub).await.unwrap();
        let (res, buf) = d.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        assert!(buf.is_empty());
        d.close().await.unwrap();
        // Not for writing.
        // (Path errors name the path; the kind carries the errno.)
        let err = ringloop::fs::File::create(&sub).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
        let err = ringloop::fs::remove_file(&sub).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
        let err = ringloop::fs::create_dir(&sub).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        // A directory renamed into itself: EINVAL.
        let err = ringloop::fs::rename(&sub, sub.join("x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        // NUL bytes in any path: InvalidInput, before the kernel.
        let nul = dir.join("a\0b");
        assert_eq!(
            ringloop::fs::rename(&sub, &nul).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            ringloop::fs::rename(&nul, &sub).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            ringloop::fs::metadata(&nul).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // Registered-buffer file I/O at offsets the kernel cannot take.
        let path = dir.join("f");
        let file = ringloop::fs::File::create(&path).await.unwrap();
        let registry = FixedBufRegistry::register([Vec::with_capacity(16)]).unwrap();
        let mut buf = registry.check_out(0).unwrap();
        buf.put_slice(b"abc");
        for pos in [i64::MAX as u64, u64::MAX] {
            let (res, back) = file.write_fixed_at(buf, pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "{pos}");
            let (res, back) = file.read_fixed_at(back, pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "{pos}");
            buf = back;
        }
        assert_eq!(&buf[..], b"abc", "the buffer comes back untouched");
        drop((buf, registry));
        file.close().await.unwrap();
        settled().await;
        assert_eq!(util::fd_count(), fds, "an fd leaked");
    }));
}
