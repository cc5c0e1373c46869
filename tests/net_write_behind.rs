//! `WriteBehind`: writes that return once the send is queued. Every byte
//! arrives, in order; a failure is reported by a later call and keeps its
//! errno; a pooled buffer goes back to its ring as soon as the kernel is
//! done with it, with no further poll of the writer; dropping the writer
//! cancels a send that cannot finish, releasing its buffer and the fd; a
//! runtime dropped with a send in flight frees it.

mod util;

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use ringloop::buf::BufRing;
use ringloop::net::{TcpSocket, TcpStream};

/// A connected pair whose accepted side (`peer`) has a 4 KiB receive
/// buffer: a write of megabytes cannot complete until the peer reads.
async fn small_window_pair() -> (TcpStream, TcpStream) {
    let listener = TcpSocket::new_v4().unwrap();
    listener.set_recv_buffer_size(4096).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listener.listen(4).unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (peer, _) = listener.accept().await.unwrap();
    (stream, peer)
}

/// `failure` is a peer's reset as the kernel reports it, errno kept.
fn assert_reset(failure: &std::io::Error) {
    assert!(
        matches!(
            failure.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "unexpected error: {failure:?}"
    );
    assert!(failure.raw_os_error().is_some(), "the errno was lost");
}

/// Buffers of random sizes (1 B to 64 KiB) cut from one pattern.
fn pieces(total: usize, seed: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let data = util::ByteStream::new(seed).take(total);
    let mut rng = util::Rng::new(seed);
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < total {
        let len = (rng.range(1, 64 * 1024) as usize).min(total - at);
        pieces.push(data[at..at + len].to_vec());
        at += len;
    }
    (data, pieces)
}

#[test]
fn every_byte_arrives_in_order() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        let (data, pieces) = pieces(8 << 20, 7);
        let reader = ringloop::spawn(async move { util::read_exactly(&peer, 8 << 20).await });
        let mut tx = stream.write_behind();
        for piece in pieces {
            tx.write(piece).await.expect("write");
        }
        tx.flush().await.expect("flush");
        assert!(!tx.is_sending(), "flush returned with a send in flight");
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
    });
}

#[test]
fn a_write_returns_before_the_send_completes_and_flush_waits_for_it() {
    ringloop::run(async {
        // A peer that does not read, with small buffers: a 4 MiB write
        // cannot complete until the peer reads.
        let (stream, peer) = small_window_pair().await;
        let data = util::ByteStream::new(3).take(4 << 20);
        let mut tx = stream.write_behind();
        util::within(5, "write", tx.write(data.clone()))
            .await
            .expect("write");
        ringloop::yield_now().await;
        assert!(
            tx.is_sending(),
            "4 MiB went out to a peer that does not read"
        );
        let reader = ringloop::spawn(async move { util::read_exactly(&peer, 4 << 20).await });
        util::within(20, "flush", tx.flush()).await.expect("flush");
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(received == data);
    });
}

#[test]
fn a_short_eager_send_sends_the_rest_through_the_ring_in_order() {
    ringloop::run(async {
        let (stream, peer) = small_window_pair().await;
        let data = util::ByteStream::new(5).take(4 << 20);
        let mut tx = stream.write_behind();
        // A quiet turn: the loop is latency-bound, so the write may go as
        // one nonblocking send(2), which takes only what the socket holds.
        ringloop::yield_now().await;
        let eager_before = ringloop::runtime::metrics().unwrap().eager_sends;
        tx.write(data.clone()).await.unwrap();
        if !util::faults() {
            let eager = ringloop::runtime::metrics().unwrap().eager_sends - eager_before;
            assert_eq!(eager, 1, "the write did not try a send(2) first");
        }
        assert!(tx.is_sending(), "the rest of 4 MiB did not go to the ring");
        let reader = ringloop::spawn(async move { util::read_exactly(&peer, 4 << 20).await });
        util::within(20, "flush", tx.flush()).await.unwrap();
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
    });
}

#[test]
fn the_write_half_of_a_split_stream_writes_behind() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        let (read_half, write_half) = stream.into_split();
        let (data, pieces) = pieces(1 << 20, 9);
        // The peer echoes; this side writes through the write half and
        // reads the echo on the read half at the same time.
        let echo = ringloop::spawn(async move {
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                let (res, b) = peer.read(buf).await;
                let n = res.unwrap();
                if n == 0 {
                    return;
                }
                let (res, b) = peer.write_all(b).await;
                res.unwrap();
                buf = b;
                buf.clear();
            }
        });
        let reader = ringloop::spawn(async move {
            let mut received = Vec::new();
            while received.len() < 1 << 20 {
                let (res, buf) = read_half.read(Vec::with_capacity(64 * 1024)).await;
                assert!(res.unwrap() > 0, "EOF too early");
                received.extend_from_slice(&buf);
            }
            received
        });
        let mut tx = write_half.write_behind();
        for piece in pieces {
            tx.write(piece).await.unwrap();
        }
        tx.flush().await.unwrap();
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the echo came back altered or out of order"
        );
        drop(tx);
        drop(write_half);
        util::within(5, "echo", echo).await.unwrap();
    });
}

#[test]
fn a_reset_peer_fails_a_later_call_with_its_errno_and_every_one_after() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        // Unread data at close makes the kernel send a reset.
        let (res, _) = stream.write_all(vec![1u8; 16]).await;
        res.unwrap();
        ringloop::time::sleep(Duration::from_millis(20)).await;
        drop(peer);
        ringloop::time::sleep(Duration::from_millis(20)).await;
        let mut tx = stream.write_behind();
        let mut failure = None;
        for _ in 0..100 {
            let result = match tx.write(vec![2u8; 1024]).await {
                Ok(()) => tx.flush().await,
                Err(err) => Err(err),
            };
            if let Err(err) = result {
                failure = Some(err);
                break;
            }
        }
        let failure = failure.expect("writes to a reset peer kept succeeding");
        assert_reset(&failure);
        // The stream has a hole: the writer keeps failing.
        let again = tx.write(vec![3u8; 8]).await.unwrap_err();
        assert_eq!(again.kind(), failure.kind());
        assert_eq!(tx.flush().await.unwrap_err().kind(), failure.kind());
    });
}

#[test]
fn a_pooled_buffer_goes_back_when_the_send_completes_without_another_poll() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        // Two buffers: a pooled buffer held past its send would starve the
        // echo below after two messages.
        let pool = BufRing::builder()
            .entries(2)
            .buf_len(4096)
            .incremental(false)
            .build()
            .unwrap();
        let echo = {
            let pool = pool.clone();
            ringloop::spawn(async move {
                let mut received = stream.recv_multishot(&pool);
                let mut tx = stream.write_behind();
                while let Some(buf) = received.next().await {
                    tx.write(buf.unwrap()).await.unwrap();
                }
                tx.flush().await.unwrap();
            })
        };
        for i in 0..64u8 {
            let message = vec![i; 100 + usize::from(i)];
            let (res, _) = peer.write_all(message.clone()).await;
            res.unwrap();
            let echoed = util::within(5, "echo", util::read_exactly(&peer, message.len())).await;
            assert_eq!(echoed, message, "message {i}");
        }
        drop(peer);
        util::within(5, "echo task", echo).await.unwrap();
        assert_eq!(pool.available(), 2, "a pooled buffer was not given back");
    });
}

#[test]
fn dropping_the_writer_cancels_a_send_that_cannot_finish() {
    ringloop::run(async {
        let (stream, peer) = small_window_pair().await;
        let before = util::in_flight();
        let marker = Rc::new(());
        let mut tx = stream.write_behind();
        tx.write(Tracked(vec![5u8; 8 << 20], marker.clone()))
            .await
            .unwrap();
        ringloop::yield_now().await;
        assert!(tx.is_sending());
        assert_eq!(
            Rc::strong_count(&marker),
            2,
            "the kernel should hold the buffer"
        );
        drop(tx);
        // The cancel frees the buffer once the kernel lets go of it.
        util::within(5, "cancel", async {
            while Rc::strong_count(&marker) > 1 || util::in_flight() > before {
                ringloop::yield_now().await;
            }
        })
        .await;
        // Nothing pins the connection: closing it ends the peer's stream.
        drop(stream);
        let mut got = 0usize;
        loop {
            let (res, _) =
                util::within(5, "peer read", peer.read(Vec::with_capacity(1 << 16))).await;
            match res {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert!(got < 8 << 20, "the cancelled send went out whole");
    });
}

#[test]
fn a_cancelled_write_loses_nothing_already_accepted() {
    ringloop::run(async {
        let (stream, peer) = small_window_pair().await;
        let first = util::ByteStream::new(11).take(4 << 20);
        let second = util::ByteStream::new(12).take(1000);
        let mut tx = stream.write_behind();
        tx.write(first.clone()).await.unwrap();
        // The second write waits for the first, which waits for the peer:
        // give up on it after a moment.
        let gave_up =
            ringloop::time::timeout(Duration::from_millis(50), tx.write(second.clone())).await;
        assert!(
            gave_up.is_err(),
            "the second write did not wait for the first"
        );
        // The first send still completes once the peer reads, and a new
        // write follows it in order.
        let reader =
            ringloop::spawn(async move { util::read_exactly(&peer, (4 << 20) + 1000).await });
        tx.write(second.clone()).await.unwrap();
        util::within(20, "flush", tx.flush()).await.unwrap();
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(received[..4 << 20] == first[..], "the first buffer was cut");
        assert!(received[4 << 20..] == second[..]);
    });
}

#[test]
fn a_reset_in_the_middle_of_a_send_fails_with_its_errno() {
    ringloop::run(async {
        let (stream, peer) = small_window_pair().await;
        let mut tx = stream.write_behind();
        tx.write(vec![1u8; 8 << 20]).await.unwrap();
        // Part of the send gets through; then the peer resets with the
        // rest unsent. The kernel's CQE then carries a short count, not
        // the errno: the writer must still report the reset as such.
        let got = util::read_exactly(&peer, 1 << 20).await;
        assert!(got.len() < 8 << 20 && got.iter().all(|&b| b == 1));
        peer.set_linger(Some(Duration::ZERO)).unwrap();
        drop(peer);
        let failure = util::within(5, "the flush", tx.flush()).await.unwrap_err();
        assert_reset(&failure);
        assert!(!tx.is_sending());
        let again = tx.write(vec![3u8; 8]).await.unwrap_err();
        assert_eq!(again.raw_os_error(), failure.raw_os_error());
    });
}

#[test]
fn a_send_cut_short_by_the_runtimes_shutdown_reports_ecanceled() {
    let rt = ringloop::Runtime::new().unwrap();
    let (stream, peer) = rt.block_on(small_window_pair());
    let mut tx = stream.write_behind();
    rt.block_on(async {
        tx.write(vec![5u8; 8 << 20]).await.unwrap();
        // Let the kernel start it.
        ringloop::yield_now().await;
    });
    assert!(tx.is_sending());
    drop(rt);
    assert!(!tx.is_sending(), "the shutdown ended the send");
    let rt = ringloop::Runtime::new().unwrap();
    let failure = rt.block_on(tx.flush()).unwrap_err();
    assert_eq!(
        failure.raw_os_error(),
        Some(libc::ECANCELED),
        "unexpected error: {failure:?}"
    );
    drop(tx);
    drop((stream, peer));
}

#[test]
fn a_runtime_dropped_with_a_send_in_flight_frees_it() {
    let marker = Rc::new(());
    let rt = ringloop::Runtime::new().unwrap();
    rt.block_on(async {
        let (stream, peer) = small_window_pair().await;
        let buf = Tracked(vec![9u8; 8 << 20], marker.clone());
        // A task that queues a send the peer never reads, then parks with
        // the writer, the stream and the peer.
        drop(ringloop::spawn(async move {
            let mut tx = stream.write_behind();
            tx.write(buf).await.unwrap();
            std::future::pending::<()>().await;
            drop((tx, peer));
        }));
        util::within(5, "the send in flight", async {
            while Rc::strong_count(&marker) < 2 || util::in_flight() == 0 {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
    assert_eq!(
        Rc::strong_count(&marker),
        2,
        "the kernel should hold the buffer"
    );
    drop(rt);
    assert_eq!(
        Rc::strong_count(&marker),
        1,
        "the runtime's drop leaked the buffer"
    );
}

/// A runtime that sends everything through the ring: an eager `send(2)`
/// takes no op slot.
fn ring_only() -> ringloop::Runtime {
    ringloop::Runtime::builder()
        .eager_sends(false)
        .build()
        .unwrap()
}

/// Bytes of one type after another (the writer keeps one op slot for its
/// sends while their buffer type stays the same, and starts a new one when
/// it changes): every byte arrives in order, the writer holds exactly one
/// slot between sends, and none once it is dropped.
#[test]
fn buffers_of_changing_types_arrive_in_order_and_the_writer_keeps_one_slot() {
    ring_only().block_on(async {
        let (peer, stream) = util::tcp_pair().await;
        let (data, pieces) = pieces(1 << 20, 21);
        let total = data.len();
        let reader = ringloop::spawn(async move { util::read_exactly(&peer, total).await });
        let slots = || ringloop::runtime::metrics().unwrap().op_slots;
        let before = slots();
        let mut tx = stream.write_behind();
        for (i, piece) in pieces.into_iter().enumerate() {
            // Runs of each type, and single changes.
            match (i / 3 + i % 2) % 3 {
                0 => tx.write(piece).await.unwrap(),
                1 => tx.write(piece.into_boxed_slice()).await.unwrap(),
                _ => tx.write(Tracked(piece, Rc::new(()))).await.unwrap(),
            }
            if i % 5 == 0 {
                tx.flush().await.unwrap();
                assert_eq!(slots(), before + 1, "write {i}: one kept slot");
            }
        }
        tx.flush().await.unwrap();
        assert_eq!(slots(), before + 1, "one kept slot after the last send");
        drop(tx);
        assert_eq!(slots(), before, "the writer's slot outlived it");
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
    });
}

/// A writer used from two runtimes in turn (on one thread) keeps its slot
/// in the runtime it last sent from, and leaves none behind in either.
#[test]
fn a_writer_moving_between_runtimes_leaves_no_slot_behind() {
    let (first, second) = (ring_only(), ring_only());
    let (peer, stream) = first.block_on(util::tcp_pair());
    let mut tx = stream.write_behind();
    let mut sent = Vec::new();
    for round in 0..4u8 {
        let rt = if round % 2 == 0 { &first } else { &second };
        rt.block_on(async {
            let piece = vec![round; 1000];
            sent.extend_from_slice(&piece);
            tx.write(piece).await.unwrap();
            tx.flush().await.unwrap();
        });
        let (now, other) = if round % 2 == 0 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        assert_eq!(
            now.metrics().op_slots,
            1,
            "round {round}: kept where it sent"
        );
        assert_eq!(other.metrics().op_slots, 0, "round {round}: left the other");
    }
    drop(tx);
    assert_eq!(first.metrics().op_slots, 0);
    assert_eq!(second.metrics().op_slots, 0);
    let received = first.block_on(util::read_exactly(&peer, sent.len()));
    assert!(
        received == sent,
        "the bytes arrived altered or out of order"
    );
}

#[test]
fn an_empty_write_submits_nothing() {
    ringloop::run(async {
        let (_peer, stream) = util::tcp_pair().await;
        let mut tx = stream.write_behind();
        tx.write(Vec::new()).await.unwrap();
        assert!(!tx.is_sending());
        let metrics = ringloop::runtime::metrics().unwrap();
        let ops = metrics.ops_in_flight;
        tx.write(Vec::<u8>::new()).await.unwrap();
        assert_eq!(ringloop::runtime::metrics().unwrap().ops_in_flight, ops);
    });
}

/// A buffer that counts its owners through `Rc`, to see when it is freed.
struct Tracked(Vec<u8>, #[allow(dead_code)] Rc<()>);

// SAFETY: delegates to the `Vec`, whose heap storage does not move when the
// wrapper does.
unsafe impl ringloop::buf::IoBuf for Tracked {
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

#[test]
fn a_direct_descriptor_writes_behind_with_fixed_file_sends() {
    let rt = ringloop::Runtime::builder()
        .direct_descriptors(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut incoming = listener.incoming_direct().unwrap();
        let stream = util::within(5, "accept", incoming.next()).await.unwrap();
        let (data, pieces) = pieces(2 << 20, 13);
        let reader = ringloop::spawn(async move { util::read_exactly(&client, 2 << 20).await });
        // A direct descriptor has no fd for send(2): every send goes
        // through the ring, with IOSQE_FIXED_FILE.
        let eager_before = ringloop::runtime::metrics().unwrap().eager_sends;
        let mut tx = stream.write_behind();
        for piece in pieces {
            tx.write(piece).await.unwrap();
        }
        tx.flush().await.unwrap();
        assert_eq!(
            ringloop::runtime::metrics().unwrap().eager_sends,
            eager_before
        );
        let received = util::within(20, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
    });
}
