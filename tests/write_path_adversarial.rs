//! The send path's performance features under adversarial use: eager
//! sends (one nonblocking `send(2)` instead of an SQE), write-behind (a
//! detached send in a kept slot) and registered streams (each stream's fd
//! also in a slot of the ring's file table).
//!
//! What must hold: every byte arrives once, in order, on the connection it
//! was written to — whichever mix of eager and ring sends, awaited writes,
//! writev, write_zc, write_fixed and write-behind carried it, whatever the
//! peer's pace; a writer dropped mid-send sends nothing after the writes
//! that follow it; a failure has the same errno by either path and sticks;
//! a stream handed to std right after it was made (its registration still
//! in flight) keeps its connection; and no fd, slot or buffer outlives its
//! stream, through churn, a full file table and a runtime dropped with
//! sends in flight.
//!
//! Fault injection (short transfers, transient op errors) is tolerated:
//! every transfer loops with `write_all`/`read_exactly`.

mod util;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ringloop::buf::{FixedBufRegistry, IoBuf};
use ringloop::net::{TcpListener, TcpSocket, TcpStream, UnixStream, WriteBehind};

/// Tests that count the process's fds or look for their ring in
/// `/proc/self/fdinfo` run one at a time; so do all tests here, which
/// keeps the 2-core CI machine from timing them out.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A runtime whose streams are registered in a file table of `slots`
/// entries (each test picks its own size, to find its ring in `/proc`).
fn registered_runtime(slots: u32) -> ringloop::Runtime {
    ringloop::Runtime::builder()
        .register_streams(slots)
        .build()
        .expect("runtime")
}

/// The files in the table of the ring whose table has `slots` entries (the
/// kernel's own account, `/proc/self/fdinfo`).
fn table_entries(slots: u32) -> Vec<String> {
    let size = format!("UserFiles:\t{slots}");
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_ring = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().contains("io_uring"));
        if !is_ring {
            continue;
        }
        let path = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(path) else {
            continue;
        };
        if !info.lines().any(|line| line == size) {
            continue;
        }
        return info
            .lines()
            .filter_map(|line| {
                let (index, name) = line.trim_start().split_once(": ")?;
                index.parse::<u32>().ok()?;
                Some(name.to_owned())
            })
            .collect();
    }
    panic!("no io_uring with a table of {slots} files in /proc/self/fdinfo");
}

fn registered() -> u64 {
    ringloop::runtime::metrics()
        .expect("inside a runtime")
        .registered_streams
}

/// Turns the loop until every registration and slot close has completed:
/// no stream registered, the kernel's table empty.
async fn until_no_slot(slots: u32) {
    util::within(10, "slots released", async {
        while registered() != 0 || !table_entries(slots).is_empty() {
            ringloop::yield_now().await;
        }
    })
    .await;
}

/// Turns the loop until the kernel owns no op of this runtime.
async fn until_idle() {
    util::within(10, "ops in flight", async {
        while util::in_flight() > 0 {
            ringloop::yield_now().await;
        }
    })
    .await;
}

/// A connected pair whose accepted side (`peer`, second) has a small
/// receive buffer and whose first side a small send buffer: large writes
/// stay in flight until the peer reads, and eager `send(2)`s are short.
async fn small_window_pair() -> (TcpStream, TcpStream) {
    let listener = TcpSocket::new_v4().unwrap();
    listener.set_recv_buffer_size(4096).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listener.listen(4).unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let stream = socket
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    (stream, peer)
}

async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Reads from `stream` until end of stream (or a reset); everything read.
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        match res {
            Ok(0) | Err(_) => return received,
            Ok(_) => received.extend_from_slice(&buf),
        }
    }
}

/// Reads exactly `len` bytes in small reads of 1 B to 8 KiB, yielding
/// between them: a slow reader, so that the writer's sends alternate
/// between the socket taking all, part and nothing.
async fn read_slowly(stream: &TcpStream, len: usize, seed: u64) -> Vec<u8> {
    let mut rng = util::Rng::new(seed);
    let mut received = Vec::with_capacity(len);
    while received.len() < len {
        let want = (rng.range(1, 8192) as usize).min(len - received.len());
        let (res, buf) = stream.read(Vec::with_capacity(want)).await;
        let n = res.expect("read");
        assert!(n > 0, "end of stream after {} of {len}", received.len());
        received.extend_from_slice(&buf);
        for _ in 0..rng.range(0, 3) {
            ringloop::yield_now().await;
        }
    }
    received
}

/// Writes all of `data` with `write_fixed` through `registry`'s buffers.
async fn write_all_fixed(stream: &TcpStream, registry: &FixedBufRegistry, data: &[u8]) {
    let mut done = 0;
    while done < data.len() {
        let mut buf = registry.check_out_any().expect("a free registered buffer");
        buf.put_slice(&data[done..]);
        let (res, buf) = stream.write_fixed(buf).await;
        let n = res.expect("write_fixed");
        assert!(n > 0 && n <= buf.bytes_init());
        done += n;
    }
}

/// Writes all of `bufs` with `writev`, looping over short writes.
async fn writev_all(stream: &TcpStream, data: &[u8], parts: usize) {
    let mut done = 0;
    while done < data.len() {
        let rest = &data[done..];
        let step = rest.len().div_ceil(parts).max(1);
        let bufs: Vec<Vec<u8>> = rest.chunks(step).map(<[u8]>::to_vec).collect();
        let (res, _) = stream.writev(bufs).await;
        let n = res.expect("writev");
        assert!(n > 0 && n <= rest.len());
        done += n;
    }
}

/// Writes all of `data` with `write_zc`, looping over short writes.
/// `false` if the kernel has no SEND_ZC (`EINVAL`) and nothing was sent.
async fn write_all_zc(stream: &TcpStream, data: &[u8]) -> bool {
    let mut done = 0;
    while done < data.len() {
        let (res, _) = stream.write_zc(data[done..].to_vec()).await;
        match res {
            Ok(n) => {
                assert!(n > 0 && n <= data.len() - done);
                done += n;
            }
            Err(err) if done == 0 && err.raw_os_error() == Some(libc::EINVAL) => return false,
            Err(err) => panic!("write_zc: {err}"),
        }
    }
    true
}

/// One writer, many kinds of writes in sequence (plain `write` with its
/// short counts, `write_all`, `writev`, `write_zc`, `write_fixed`,
/// write-behind with and without a flush before the next kind), each after
/// a quiet turn so that it may go eagerly, against a slow reader and small
/// socket buffers: some sends go by `send(2)`, whole or short, some through
/// the ring, some wait in the kernel. The peer gets every byte once, in
/// order.
#[test]
fn every_kind_of_write_in_sequence_keeps_the_bytes_in_order() {
    let _serial = serial();
    for eager in [true, false] {
        let rt = ringloop::Runtime::builder()
            .eager_sends(eager)
            .build()
            .unwrap();
        rt.block_on(async {
            let (stream, peer) = small_window_pair().await;
            let registry =
                FixedBufRegistry::register((0..2).map(|_| Vec::with_capacity(5000))).unwrap();
            const TOTAL: usize = 3 << 20;
            let data = util::ByteStream::new(21).take(TOTAL);
            let reader = ringloop::spawn(async move { read_slowly(&peer, TOTAL, 22).await });
            let mut rng = util::Rng::new(23);
            let mut at = 0;
            let mut zc = true;
            while at < TOTAL {
                let len = (rng.range(1, 40_000) as usize).min(TOTAL - at);
                let piece = &data[at..at + len];
                if rng.range(0, 1) == 0 {
                    ringloop::yield_now().await;
                }
                match rng.range(0, 6) {
                    0 => {
                        // One plain write: its count says how far it got.
                        let (res, _) = stream.write(piece.to_vec()).await;
                        let n = res.expect("write");
                        assert!(n > 0 && n <= len, "wrote {n} of {len}");
                        at += n;
                    }
                    1 => {
                        let (res, _) = stream.write_all(piece.to_vec()).await;
                        res.expect("write_all");
                        at += len;
                    }
                    2 => {
                        writev_all(&stream, piece, 3).await;
                        at += len;
                    }
                    // Without SEND_ZC (EINVAL) nothing went: the piece is
                    // written by another kind next time round.
                    3 if zc => {
                        zc = write_all_zc(&stream, piece).await;
                        if zc {
                            at += len;
                        }
                    }
                    4 => {
                        write_all_fixed(&stream, &registry, piece).await;
                        at += len;
                    }
                    _ => {
                        // Write-behind in two pieces, then a flush before
                        // the next kind of write (as documented).
                        let mut tx = stream.write_behind();
                        let half = len / 2;
                        tx.write(piece[..half].to_vec()).await.expect("write");
                        tx.write(piece[half..].to_vec()).await.expect("write");
                        util::within(20, "flush", tx.flush()).await.expect("flush");
                        at += len;
                    }
                }
            }
            let received = util::within(60, "reader", reader).await.unwrap();
            assert!(
                received == data,
                "the bytes arrived altered or out of order (eager sends {eager})"
            );
        });
    }
}

/// A writer dropped with a send in flight (the peer reads nothing), then
/// plain writes on the same stream: the dropped send's cancel reaches the
/// kernel before any later send can go, eagerly or not, so the peer reads
/// some prefix of the dropped buffer and then exactly the later bytes —
/// never a byte of the dropped send after them.
#[test]
fn a_dropped_writer_sends_nothing_after_the_writes_that_follow_it() {
    let _serial = serial();
    for (round, register) in [(0u64, false), (1, false), (2, true), (3, true)] {
        let rt = if register {
            registered_runtime(61)
        } else {
            ringloop::Runtime::new().unwrap()
        };
        rt.block_on(async {
            let (stream, peer) = small_window_pair().await;
            let dropped = util::ByteStream::new(100 + round).take(4 << 20);
            let later = util::ByteStream::new(200 + round).take(1 << 20);
            let mut tx = stream.write_behind();
            tx.write(dropped.clone()).await.unwrap();
            // Round 0 and 2 drop it while its SQE may still be queued; 1
            // and 3 once the kernel holds it.
            if round % 2 == 1 {
                for _ in 0..3 {
                    ringloop::yield_now().await;
                }
                assert!(tx.is_sending(), "4 MiB went to a peer that reads nothing");
            }
            drop(tx);
            // Plain writes, each after a quiet turn so they may go eagerly,
            // while a reader takes everything.
            let reader = ringloop::spawn(async move { read_to_end(&peer).await });
            let eager_before = ringloop::runtime::metrics().unwrap().eager_sends;
            let mut at = 0;
            let mut rng = util::Rng::new(round);
            while at < later.len() {
                let len = (rng.range(1, 50_000) as usize).min(later.len() - at);
                ringloop::yield_now().await;
                let (res, _) = stream.write_all(later[at..at + len].to_vec()).await;
                res.unwrap();
                at += len;
            }
            let eager = ringloop::runtime::metrics().unwrap().eager_sends - eager_before;
            if !util::faults() {
                assert!(eager > 0, "no later write went eagerly: the test tested nothing");
            }
            stream.shutdown(std::net::Shutdown::Write).await.unwrap();
            let received = util::within(30, "reader", reader).await.unwrap();
            assert!(
                received.len() >= later.len(),
                "lost later bytes: got {} in all",
                received.len()
            );
            let cut = received.len() - later.len();
            assert!(cut <= dropped.len(), "more bytes than were written");
            assert!(
                received[..cut] == dropped[..cut],
                "round {round}: the dropped send's bytes are not a prefix of the stream"
            );
            assert!(
                received[cut..] == later[..],
                "round {round}: the later writes arrived altered, or a byte of the dropped send came after them"
            );
        });
    }
}

/// A writer moved from one task to another between its writes (and
/// awaited from a third for its flush) keeps the order of its bytes.
#[test]
fn a_writer_moved_between_tasks_keeps_the_order() {
    let _serial = serial();
    ringloop::run(async {
        let (stream, peer) = small_window_pair().await;
        // The writer borrows the stream; tasks need 'static. The leaked
        // stream stays reachable from a global, so LeakSanitizer (CI runs
        // the tests under it) does not report it.
        let stream: &'static TcpStream = Box::leak(Box::new(stream));
        static KEPT: AtomicPtr<TcpStream> = AtomicPtr::new(std::ptr::null_mut());
        KEPT.store(std::ptr::from_ref(stream).cast_mut(), Ordering::Relaxed);
        const TOTAL: usize = 2 << 20;
        let data = util::ByteStream::new(31).take(TOTAL);
        let reader = ringloop::spawn(async move { read_slowly(&peer, TOTAL, 32).await });
        let mut tx = stream.write_behind();
        let mut at = 0;
        let mut rng = util::Rng::new(33);
        for hop in 0..40 {
            let (give, take) = ringloop::sync::oneshot::channel::<WriteBehind<'static>>();
            let chunk_data = data.clone();
            let start = at;
            let end = if hop == 39 {
                TOTAL
            } else {
                (start + rng.range(1, 100_000) as usize).min(TOTAL)
            };
            at = end;
            // Each hop's task writes its piece (in a few writes) and hands
            // the writer back.
            let task = ringloop::spawn(async move {
                let mut tx = take.await.expect("the writer");
                let mut i = start;
                while i < end {
                    let j = (i + 30_000).min(end);
                    tx.write(chunk_data[i..j].to_vec()).await.expect("write");
                    i = j;
                }
                tx
            });
            assert!(give.send(tx).is_ok(), "the task took the writer");
            tx = util::within(30, "hop", task).await.unwrap();
        }
        let flusher = ringloop::spawn(async move {
            util::within(30, "flush", tx.flush()).await.unwrap();
            tx.is_sending()
        });
        assert!(
            !flusher.await.unwrap(),
            "flush returned with a send in flight"
        );
        let received = util::within(30, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
    });
}

/// The errnos a reset peer gives a run of writes, eagerly sent or not, and
/// a write-behind writer's errnos on every call after its failure.
fn errnos_after_a_reset(eager: bool) -> (Vec<i32>, Vec<i32>) {
    let rt = ringloop::Runtime::builder()
        .eager_sends(eager)
        .build()
        .unwrap();
    rt.block_on(async {
        // Plain writes: no read consumes the reset first.
        let (peer, stream) = util::tcp_pair().await;
        peer.set_linger(Some(Duration::ZERO)).unwrap();
        drop(peer);
        // Bounded wait for the RST to arrive, with poll(2), which does not
        // consume the socket's pending error (a read would).
        util::within(5, "the reset", async {
            loop {
                let mut pfd = libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: 0,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, no wait.
                let n = unsafe { libc::poll(&raw mut pfd, 1, 0) };
                if n == 1 && pfd.revents & libc::POLLERR != 0 {
                    break;
                }
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        let mut plain = Vec::new();
        for _ in 0..3 {
            ringloop::yield_now().await;
            let (res, buf) = stream.write(vec![1u8; 100]).await;
            assert_eq!(buf.len(), 100, "the buffer came back whole");
            plain.push(
                res.expect_err("a reset stream took a write")
                    .raw_os_error()
                    .expect("errno"),
            );
        }
        // Write-behind on a second reset stream.
        let (peer, stream) = util::tcp_pair().await;
        peer.set_linger(Some(Duration::ZERO)).unwrap();
        drop(peer);
        let mut tx = stream.write_behind();
        let mut behind = Vec::new();
        let mut failed = false;
        for _ in 0..200 {
            ringloop::yield_now().await;
            let result = match tx.write(vec![2u8; 100]).await {
                Ok(()) => tx.flush().await,
                Err(err) => Err(err),
            };
            if let Err(err) = result {
                behind.push(err.raw_os_error().expect("errno"));
                failed = true;
                break;
            }
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(failed, "writes to a reset peer kept succeeding");
        for _ in 0..3 {
            ringloop::yield_now().await;
            behind.push(
                tx.write(vec![3u8; 10])
                    .await
                    .unwrap_err()
                    .raw_os_error()
                    .unwrap(),
            );
            behind.push(tx.flush().await.unwrap_err().raw_os_error().unwrap());
            assert!(!tx.is_sending(), "a failed writer sent");
        }
        (plain, behind)
    })
}

/// A reset peer: the first write reports `ECONNRESET` (it takes the
/// socket's pending error) and the next ones `EPIPE`, by `send(2)` as
/// through the ring; a write-behind writer reports its first failure's
/// errno on every later `write` and `flush`.
#[test]
fn a_reset_gives_the_same_errnos_eagerly_or_through_the_ring_and_they_stick() {
    let _serial = serial();
    let (plain_eager, behind_eager) = errnos_after_a_reset(true);
    let (plain_ring, behind_ring) = errnos_after_a_reset(false);
    assert_eq!(
        plain_eager,
        vec![libc::ECONNRESET, libc::EPIPE, libc::EPIPE],
        "eager sends"
    );
    assert_eq!(plain_ring, plain_eager, "the ring and send(2) disagree");
    for behind in [&behind_eager, &behind_ring] {
        assert!(
            matches!(behind[0], libc::ECONNRESET | libc::EPIPE),
            "{behind:?}"
        );
        assert!(
            behind.iter().all(|&e| e == behind[0]),
            "the failure did not stick: {behind:?}"
        );
    }
}

/// After `shutdown(Write)` a write fails with `EPIPE`, eagerly or not.
#[test]
fn a_write_after_shutdown_fails_with_epipe_either_way() {
    let _serial = serial();
    for eager in [true, false] {
        let rt = ringloop::Runtime::builder()
            .eager_sends(eager)
            .build()
            .unwrap();
        rt.block_on(async {
            let (peer, stream) = util::tcp_pair().await;
            stream.shutdown(std::net::Shutdown::Write).await.unwrap();
            ringloop::yield_now().await;
            let (res, _) = stream.write(vec![1u8; 10]).await;
            assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EPIPE));
            let mut tx = stream.write_behind();
            ringloop::yield_now().await;
            let first = match tx.write(vec![1u8; 10]).await {
                Ok(()) => tx.flush().await.unwrap_err(),
                Err(err) => err,
            };
            assert_eq!(first.raw_os_error(), Some(libc::EPIPE));
            assert_eq!(
                tx.write(vec![1u8; 10]).await.unwrap_err().raw_os_error(),
                Some(libc::EPIPE)
            );
            drop(tx);
            // The peer saw nothing but the end of the stream.
            assert!(util::within(5, "peer", read_to_end(&peer)).await.is_empty());
        });
    }
}

/// A stream handed to std in the same turn it was made — its registration
/// in the file table still in flight — keeps its connection: `into_std`
/// succeeds (the registration is the runtime's own op, not one the caller
/// could wait for: `into_std` consumes the stream), the std stream talks
/// to the same peer, and no slot or fd is left behind.
#[test]
fn into_std_while_the_registration_is_in_flight_keeps_the_connection() {
    let _serial = serial();
    const SLOTS: u32 = 62;
    let before = util::fd_count();
    registered_runtime(SLOTS).block_on(async {
        // from_std, then into_std at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        for round in 0..5u8 {
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut peer, _) = listener.accept().unwrap();
            let mut back = TcpStream::from_std(client)
                .into_std()
                .expect("into_std right after from_std");
            back.write_all(&[round; 5]).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = [0u8; 5];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(got, [round; 5], "the std stream reached another peer");
            peer.write_all(&[round + 1; 3]).unwrap();
            back.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = [0u8; 3];
            back.read_exact(&mut got).unwrap();
            assert_eq!(got, [round + 1; 3]);
            // Dropping it closes the connection (once the runtime has let
            // go of its registration too).
            drop(back);
            until_no_slot(SLOTS).await;
            until_idle().await;
            let mut rest = Vec::new();
            assert_eq!(
                peer.read_to_end(&mut rest).unwrap(),
                0,
                "EOF after the drop"
            );
        }
        // A stream accepted or connected by the runtime, into_std at once.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = pair(&listener).await;
        let mut client = client.into_std().expect("into_std right after connect");
        let mut server = server.into_std().expect("into_std right after accept");
        client.write_all(b"ping").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        drop((client, server));
        // A Unix pair, into_std at once.
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = a.into_std().expect("into_std right after pair");
        let mut b = b.into_std().expect("into_std right after pair");
        a.write_all(b"unix").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = [0u8; 4];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"unix");
        drop((a, b, listener));
        until_no_slot(SLOTS).await;
        until_idle().await;
    });
    assert_eq!(util::fd_count(), before, "an fd outlived its stream");
}

/// Registered streams closed — by `close().await`, by a drop, by
/// `into_std` — while a write-behind send to a peer that reads nothing is
/// in flight (the writer dropped first, as it must be), then new
/// connections made at once, which get the freed fd numbers and slots of
/// a two-slot table: each new connection gets exactly its own bytes, and
/// each old peer a prefix of its own buffer and then the end of stream.
#[test]
fn a_closed_registered_stream_leaves_nothing_that_reaches_the_next_one() {
    let _serial = serial();
    const SLOTS: u32 = 2;
    let before = util::fd_count();
    ringloop::Runtime::builder()
        .register_streams(SLOTS)
        .build()
        .unwrap()
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            for round in 0..12u64 {
                let (stream, peer) = small_window_pair().await;
                // Let the registration land: the send then names the slot.
                for _ in 0..3 {
                    ringloop::yield_now().await;
                }
                let old = util::ByteStream::new(300 + round).take(2 << 20);
                let mut tx = stream.write_behind();
                tx.write(old.clone()).await.unwrap();
                ringloop::yield_now().await;
                drop(tx);
                let old_fd = stream.as_raw_fd();
                match round % 3 {
                    0 => util::within(10, "close", stream.close()).await.unwrap(),
                    1 => drop(stream),
                    _ => {
                        // into_std waits for no op: poll it until the
                        // cancelled send has ended.
                        let mut stream = Some(stream);
                        let std = util::within(10, "into_std", async {
                            loop {
                                let s = stream.take().unwrap();
                                // into_std consumes the stream even on failure,
                                // so only try once nothing is in flight.
                                if util::in_flight() == 0 {
                                    break s.into_std();
                                }
                                stream = Some(s);
                                ringloop::yield_now().await;
                            }
                        })
                        .await;
                        drop(std.expect("into_std once idle"));
                    }
                }
                // New connections at once: they may get the old fd number
                // and slot.
                let (client, server) = pair(&listener).await;
                let (client2, server2) = pair(&listener).await;
                let reused = [&client, &server, &client2, &server2]
                    .iter()
                    .any(|s| s.as_raw_fd() == old_fd);
                let new = util::ByteStream::new(400 + round).take(100_000);
                let new2 = util::ByteStream::new(500 + round).take(100_000);
                let (res, _) = client.write_all(new.clone()).await;
                res.unwrap();
                let (res, _) = server2.write_all(new2.clone()).await;
                res.unwrap();
                let got = util::within(10, "new", util::read_exactly(&server, new.len())).await;
                assert!(
                    got == new,
                    "round {round}: a new connection got other bytes (fd reused: {reused})"
                );
                let got = util::within(10, "new2", util::read_exactly(&client2, new2.len())).await;
                assert!(
                    got == new2,
                    "round {round}: a new connection got other bytes (fd reused: {reused})"
                );
                // The old peer: a prefix of the old buffer, then EOF.
                let got = util::within(10, "old peer", read_to_end(&peer)).await;
                assert!(
                    got.len() < old.len() && got[..] == old[..got.len()],
                    "round {round}: the old peer got other bytes"
                );
                // Nothing extra arrived on the new connections.
                drop(client);
                assert!(
                    util::within(10, "eof", read_to_end(&server))
                        .await
                        .is_empty()
                );
                drop(server2);
                assert!(
                    util::within(10, "eof", read_to_end(&client2))
                        .await
                        .is_empty()
                );
            }
            drop(listener);
            until_idle().await;
            util::within(10, "slots", async {
                while registered() != 0 {
                    ringloop::yield_now().await;
                }
            })
            .await;
        });
    assert_eq!(util::fd_count(), before, "an fd outlived its stream");
}

/// More connections than a small file table holds, churned: some streams
/// are registered, the rest stay on their fds (`ENFILE`), slots are freed
/// and taken again. Every message reaches its own peer, and in the end no
/// slot is registered and the kernel's table is empty.
#[test]
fn churn_through_a_full_file_table_misdirects_nothing_and_frees_every_slot() {
    let _serial = serial();
    const SLOTS: u32 = 3;
    let before = util::fd_count();
    ringloop::Runtime::builder()
        .register_streams(SLOTS)
        .build()
        .unwrap()
        .block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut rng = util::Rng::new(41);
            let mut live: Vec<(TcpStream, TcpStream, u64)> = Vec::new();
            for round in 0..60u64 {
                // Open 0..=3 new pairs.
                for _ in 0..rng.range(0, 3) {
                    let (client, server) = pair(&listener).await;
                    live.push((client, server, round));
                }
                // Every live pair carries a message both ways, by a mix of
                // write kinds.
                for (i, (client, server, born)) in live.iter().enumerate() {
                    let msg = util::ByteStream::new(round * 1000 + i as u64 + born)
                        .take(rng.range(1, 20_000) as usize);
                    if rng.range(0, 2) == 0 {
                        ringloop::yield_now().await;
                    }
                    if rng.range(0, 1) == 0 {
                        let (res, _) = client.write_all(msg.clone()).await;
                        res.unwrap();
                    } else {
                        let mut tx = client.write_behind();
                        tx.write(msg.clone()).await.unwrap();
                        tx.flush().await.unwrap();
                    }
                    let got = util::within(10, "read", util::read_exactly(server, msg.len())).await;
                    assert!(got == msg, "round {round}: a message reached another peer");
                    let (res, _) = server.write_all(msg.clone()).await;
                    res.unwrap();
                    let got = util::within(10, "read", util::read_exactly(client, msg.len())).await;
                    assert!(got == msg, "round {round}: a reply reached another peer");
                }
                // Close 0..=2 pairs, by close, drop or into_std.
                for _ in 0..rng.range(0, 2) {
                    if live.is_empty() {
                        break;
                    }
                    let at = rng.range(0, live.len() as u64 - 1) as usize;
                    let (client, server, _) = live.swap_remove(at);
                    match rng.range(0, 2) {
                        0 => {
                            client.close().await.unwrap();
                            server.close().await.unwrap();
                        }
                        1 => drop((client, server)),
                        _ => {
                            // Straight after its last write: the stream's
                            // ops are done, into_std must succeed.
                            drop(client.into_std().expect("into_std"));
                            drop(server.into_std().expect("into_std"));
                        }
                    }
                }
                let now = registered();
                assert!(now <= u64::from(SLOTS), "{now} registered in {SLOTS} slots");
            }
            drop(live);
            drop(listener);
            until_no_slot(SLOTS).await;
            until_idle().await;
        });
    assert_eq!(util::fd_count(), before, "an fd outlived its stream");
}

/// A runtime dropped while write-behind sends are in flight (peers that
/// read nothing), one writer with a second write waiting for the first,
/// and one whose send is still queued, on registered streams: the drop
/// completes, every buffer is freed, and no fd or slot is left.
#[test]
fn a_runtime_dropped_with_write_behind_sends_in_flight_and_waiting_frees_everything() {
    let _serial = serial();
    const SLOTS: u32 = 63;
    let before = util::fd_count();
    let marker = Rc::new(());
    let rt = registered_runtime(SLOTS);
    let peers = rt.block_on(async {
        let mut peers = Vec::new();
        for i in 0..4u64 {
            let (stream, peer) = small_window_pair().await;
            peers.push(peer);
            let marker = marker.clone();
            let (started, on_started) = ringloop::sync::oneshot::channel();
            ringloop::spawn(async move {
                let mut tx = stream.write_behind();
                let big = Tracked(vec![i as u8; 4 << 20], marker.clone());
                tx.write(big).await.unwrap();
                let _ = started.send(());
                // Waits for the first send, which waits for the peer.
                let _ = tx.write(Tracked(vec![9u8; 1000], marker)).await;
                unreachable!("a peer that reads nothing took 4 MiB");
            });
            util::within(5, "started", on_started).await.unwrap();
        }
        // One more whose send is queued, not yet submitted, when the
        // runtime goes: written in the last turn.
        let (stream, peer) = small_window_pair().await;
        peers.push(peer);
        let marker2 = marker.clone();
        ringloop::spawn(async move {
            let mut tx = stream.write_behind();
            tx.write(Tracked(vec![7u8; 4 << 20], marker2))
                .await
                .unwrap();
            std::future::pending::<()>().await;
        });
        ringloop::yield_now().await;
        peers
    });
    let started = std::time::Instant::now();
    drop(rt);
    assert!(started.elapsed() < Duration::from_secs(12), "the drop hung");
    assert_eq!(
        Rc::strong_count(&marker),
        1,
        "a send's buffer outlived the runtime"
    );
    drop(peers);
    assert_eq!(util::fd_count(), before, "an fd outlived the runtime");
}

/// A buffer that tells when it is dropped (through its `Rc`).
struct Tracked(Vec<u8>, #[allow(dead_code)] Rc<()>);

// SAFETY: delegates to the `Vec`, which never moves its heap data while
// owned; `Tracked` never touches the `Vec` otherwise.
unsafe impl IoBuf for Tracked {
    fn stable_ptr(&self) -> *const u8 {
        self.0.stable_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.0.bytes_init()
    }

    fn bytes_total(&self) -> usize {
        self.0.bytes_total()
    }
}

/// Short eager sends (a 4 KiB send buffer, a slow reader) followed by more
/// writes of every size, each after a quiet turn: a plain `write`'s count
/// is exactly what went out, and the stream is exactly the concatenation
/// of what each write reported.
#[test]
fn short_eager_sends_report_exactly_what_went_out() {
    let _serial = serial();
    ringloop::run(async {
        let (stream, peer) = small_window_pair().await;
        const TOTAL: usize = 2 << 20;
        let data = util::ByteStream::new(51).take(TOTAL);
        let reader = ringloop::spawn(async move { read_slowly(&peer, TOTAL, 52).await });
        let mut rng = util::Rng::new(53);
        let mut at = 0;
        let mut short = 0u32;
        while at < TOTAL {
            let len = (rng.range(1, 64 * 1024) as usize).min(TOTAL - at);
            ringloop::yield_now().await;
            let (res, buf) = stream.write(data[at..at + len].to_vec()).await;
            let n = res.expect("write");
            assert_eq!(buf.len(), len, "the buffer came back changed");
            assert!(n > 0 && n <= len, "wrote {n} of {len}");
            if n < len {
                short += 1;
            }
            at += n;
        }
        let received = util::within(60, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "a write's count does not match what went out"
        );
        assert!(
            short > 0,
            "no write was short: the test did not test short sends"
        );
    });
}

/// Whether the std socket `peer` reads the end of the stream within two
/// seconds (no data is expected before it).
fn sees_eof(peer: &mut std::net::TcpStream) -> bool {
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    matches!(peer.read(&mut buf), Ok(0))
}

/// A registered stream handed to std, then closed while the runtime does
/// not run (the `block_on` that called `into_std` has returned): the
/// connection ends at once, as a std stream's does — the file-table slot
/// that also held the socket was let go in `into_std`, not left queued in
/// a ring that is not turning.
#[test]
fn a_stream_handed_to_std_closes_when_std_closes_it() {
    let _serial = serial();
    const SLOTS: u32 = 64;
    let rt = registered_runtime(SLOTS);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let std = rt.block_on(async {
        let stream = TcpStream::from_std(client);
        util::within(5, "registration", async {
            while registered() != 1 {
                ringloop::yield_now().await;
            }
        })
        .await;
        stream.into_std().expect("into_std")
    });
    drop(std);
    assert!(
        sees_eof(&mut peer),
        "the connection outlived its std stream (its slot still holds it)"
    );
    // Made in the loop, handed to std outside it with its registration
    // still in flight: the std stream works, and its close ends the
    // connection.
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let stream = rt.block_on(async { TcpStream::from_std(client) });
    let mut std = stream.into_std().expect("into_std outside the loop");
    std.write_all(b"out").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = [0u8; 3];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"out");
    drop(std);
    assert!(
        sees_eof(&mut peer),
        "the connection outlived its std stream (its slot still holds it)"
    );
    rt.block_on(until_no_slot(SLOTS));
}

/// A registered stream dropped outside the runtime's loop (the runtime
/// alive but idle): its fd is closed at once, and so must its slot be, or
/// the connection stays open until the runtime runs again.
#[test]
fn a_registered_stream_dropped_outside_the_loop_closes_at_once() {
    let _serial = serial();
    const SLOTS: u32 = 65;
    let rt = registered_runtime(SLOTS);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let stream = rt.block_on(async {
        let stream = TcpStream::from_std(client);
        util::within(5, "registration", async {
            while registered() != 1 {
                ringloop::yield_now().await;
            }
        })
        .await;
        stream
    });
    drop(stream);
    assert!(
        sees_eof(&mut peer),
        "the connection outlived its stream (its slot still holds it)"
    );
    rt.block_on(until_no_slot(SLOTS));
}

/// Sets `SO_SNDBUF` on a raw socket.
fn set_send_buffer(fd: &impl AsRawFd, size: libc::c_int) {
    // SAFETY: setsockopt reads one valid c_int from a live local.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// A Unix stream pair with a small send buffer on the writing side, on a
/// runtime that registers streams: write-behind (each write after a quiet
/// turn, so eager `send(2)`s come short and the ring sends the rest),
/// flushed, then plain writes, again and again, against a slow reader.
/// Every byte arrives once, in order.
#[test]
fn a_unix_stream_with_short_eager_sends_keeps_every_byte_in_order() {
    let _serial = serial();
    const SLOTS: u32 = 66;
    registered_runtime(SLOTS).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        set_send_buffer(&a, 4096);
        const TOTAL: usize = 2 << 20;
        let data = util::ByteStream::new(71).take(TOTAL);
        let reader = ringloop::spawn(async move {
            let mut rng = util::Rng::new(72);
            let mut received = Vec::with_capacity(TOTAL);
            while received.len() < TOTAL {
                let want = (rng.range(1, 8192) as usize).min(TOTAL - received.len());
                let (res, buf) = b.read(Vec::with_capacity(want)).await;
                let n = res.expect("read");
                assert!(n > 0, "end of stream after {}", received.len());
                received.extend_from_slice(&buf);
                if rng.range(0, 1) == 0 {
                    ringloop::yield_now().await;
                }
            }
            received
        });
        let mut rng = util::Rng::new(73);
        let mut at = 0;
        while at < TOTAL {
            let len = (rng.range(1, 60_000) as usize).min(TOTAL - at);
            let piece = &data[at..at + len];
            ringloop::yield_now().await;
            if rng.range(0, 1) == 0 {
                let mut tx = a.write_behind();
                tx.write(piece.to_vec()).await.expect("write");
                util::within(20, "flush", tx.flush()).await.expect("flush");
            } else {
                let (res, _) = a.write_all(piece.to_vec()).await;
                res.expect("write_all");
            }
            at += len;
        }
        let received = util::within(60, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
        drop(a);
        until_no_slot(SLOTS).await;
    });
}
