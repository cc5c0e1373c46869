//! Objects made in one runtime and used in another on the same thread.
//!
//! Runtimes are `!Send`, but a thread may hold several: `a.block_on(..)`
//! and `b.block_on(..)` in turn, or a runtime dropped while objects made
//! in it live on. Per-ring state (a file-table slot, a buffer group, a
//! registered buffer's index, an op-table key, a timer) means nothing, or
//! something else, in another ring. For each kind of object this file
//! checks what happens when it is (1) made in runtime A and used in B,
//! (2) used after A was dropped, (3) dropped while B runs, (4) a future
//! first polled in A and then in B. What must never happen: data to or
//! from the wrong connection or buffer, a slot of another object closed,
//! a panic, a hang. What may: a clear `io::Error`, or correct operation.

mod util;

use std::future::{Future, poll_fn};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringloop::Runtime;
use ringloop::buf::{BufRing, FixedBufRegistry};
use ringloop::net::{DirectTcpStream, TcpListener, TcpStream};

/// Polls `fut` once; its result, if it finished.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// A connected loopback pair of blocking std sockets: (client, server).
/// The client has a read timeout, so a test that expects data fails
/// instead of hanging.
fn std_pair() -> (StdStream, StdStream) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (client, server)
}

/// A stream of `rt` (registered in its file table when `rt` registers
/// streams), and its blocking peer. The runtime turns until the
/// registration (if any) is done: a write goes through.
fn stream_in(rt: &Runtime) -> (TcpStream, StdStream) {
    let (mut client, server) = std_pair();
    let stream = rt.block_on(async {
        let stream = TcpStream::from_std(server);
        let (res, _) = stream.write_all(b"up".to_vec()).await;
        res.unwrap();
        stream
    });
    let mut up = [0u8; 2];
    client.read_exact(&mut up).unwrap();
    assert_eq!(&up, b"up");
    (stream, client)
}

/// Whether `err` is the refusal of an object used outside its runtime.
fn is_other_runtime(err: &std::io::Error) -> bool {
    err.kind() == ErrorKind::InvalidInput && err.to_string().contains("another runtime")
}

fn direct_runtime() -> Runtime {
    Runtime::builder().direct_descriptors(4).build().unwrap()
}

/// Accepts one connection into `rt`'s file table.
fn accept_direct(rt: &Runtime) -> (DirectTcpStream, StdStream) {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut incoming = listener.incoming_direct().unwrap();
        let stream = util::within(10, "accept", incoming.next()).await.unwrap();
        (stream, client)
    })
}

// ---- direct descriptors: close() -------------------------------------

/// `close()` of a direct stream closes its slot in its own ring. Run in
/// another runtime it must not close that runtime's connection in the
/// same slot.
#[test]
fn closing_a_direct_stream_in_another_runtime_leaves_that_runtimes_slot_alone() {
    let rt_a = direct_runtime();
    let rt_b = direct_runtime();
    let (a, mut client_a) = accept_direct(&rt_a);
    let (b, mut client_b) = accept_direct(&rt_b);
    assert_eq!(a.slot(), b.slot(), "the same slot number in both tables");

    rt_b.block_on(async {
        // Whatever it reports, it must not reach b's slot.
        let _ = util::within(10, "close", a.close()).await;
        let (res, _) = b.write_all(b"still b".to_vec()).await;
        res.expect("b's connection was closed by a's close()");
    });
    let mut got = [0u8; 7];
    client_b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still b");
    client_b.write_all(b"ping").unwrap();
    let echoed = rt_b.block_on(async {
        let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
        res.expect("b's slot still names b's connection");
        buf
    });
    assert_eq!(echoed, b"ping");

    // a's connection was closed in a's ring: its peer sees EOF once a's
    // loop turns.
    client_a.set_nonblocking(true).unwrap();
    let rest = rt_a.block_on(util::within(10, "a's peer sees EOF", async {
        let mut rest = Vec::new();
        loop {
            match client_a.read_to_end(&mut rest) {
                Ok(_) => return rest,
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }));
    assert!(rest.is_empty(), "{rest:?}");
    drop(b);
}

/// `close()` of a direct stream closes its slot once. A second, late close
/// of the same slot number would close whatever the table put there in
/// between: here a registered stream made while the close was in flight
/// (the kernel hands out the slot just freed).
#[test]
fn closing_a_direct_stream_closes_its_slot_once() {
    // No eager send: the write below goes through the ring, by the slot.
    let rt = Runtime::builder()
        .direct_descriptors(2)
        .register_streams(2)
        .eager_sends(false)
        .build()
        .unwrap();
    let (direct, _client) = accept_direct(&rt);
    let (mut peer, server) = std_pair();
    let stream = rt.block_on(async {
        let mut close = Box::pin(direct.close());
        assert!(poll_once(&mut close).await.is_pending());
        // Its registration is queued behind the close: it gets the slot
        // the close frees.
        let stream = TcpStream::from_std(server);
        util::within(10, "close", close).await.unwrap();
        // Turns of the loop: a late second close would run now.
        for _ in 0..10 {
            ringloop::yield_now().await;
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
        let (res, _) = stream.write_all(b"registered".to_vec()).await;
        res.expect("the registered stream's slot was closed by the direct stream's close");
        let metrics = ringloop::runtime::metrics().unwrap();
        assert_eq!(metrics.registered_streams, 1, "{metrics:?}");
        stream
    });
    let mut got = [0u8; 10];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"registered");
    drop(stream);
}

// ---- registered streams ------------------------------------------------

/// A stream registered in A's file table, used and dropped while B runs:
/// its writes reach its own peer (B holds another stream in the same
/// slot), its drop releases its slot in A, and B's stream is untouched.
#[test]
fn a_registered_stream_used_and_dropped_in_another_runtime() {
    let rt_a = Runtime::builder().register_streams(4).build().unwrap();
    let rt_b = Runtime::builder().register_streams(4).build().unwrap();
    let (a, mut client_a) = stream_in(&rt_a);
    let (b, mut client_b) = stream_in(&rt_b);
    assert_eq!(rt_a.metrics().registered_streams, 1);
    assert_eq!(rt_b.metrics().registered_streams, 1);

    rt_b.block_on(async {
        let (res, _) = a.write_all(b"for a".to_vec()).await;
        res.unwrap();
        client_a.write_all(b"from a").unwrap();
        let (res, got) = a.read_exact(Vec::with_capacity(6)).await;
        res.unwrap();
        assert_eq!(got, b"from a");
        drop(a);
        let (res, _) = b.write_all(b"for b".to_vec()).await;
        res.unwrap();
    });
    let mut got = [0u8; 5];
    client_a.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"for a");
    client_b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"for b", "b's peer got another stream's bytes");
    assert_eq!(rt_a.metrics().registered_streams, 0, "a's slot released");
    assert_eq!(rt_b.metrics().registered_streams, 1, "b's slot kept");

    // a's socket is closed once both rings turned (its fd went through
    // b's ring, its slot through a's).
    rt_a.block_on(ringloop::yield_now());
    client_a.set_nonblocking(true).unwrap();
    rt_b.block_on(util::within(10, "a's peer sees EOF", async {
        let mut rest = Vec::new();
        loop {
            match client_a.read_to_end(&mut rest) {
                Ok(_) => return,
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }));
    client_b.write_all(b"ping").unwrap();
    let echoed = rt_b.block_on(async {
        let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        buf
    });
    assert_eq!(echoed, b"ping");
}

// ---- op futures polled in two runtimes ---------------------------------

/// A read first polled in A (its SQE queued in A's ring, which then stops
/// turning), then awaited in B: it completes in B with the data, whether
/// the data was there before B polled it or came only afterwards.
#[test]
fn a_read_first_polled_in_one_runtime_completes_in_another() {
    for data_first in [true, false] {
        let rt_a = Runtime::new().unwrap();
        let rt_b = Runtime::new().unwrap();
        let (mut client, server) = std_pair();
        let stream = rt_a.block_on(async { TcpStream::from_std(server) });
        let mut read = Box::pin(stream.read(Vec::with_capacity(64)));
        rt_a.block_on(async { assert!(poll_once(&mut read).await.is_pending()) });
        if data_first {
            client.write_all(b"hello").unwrap();
        }
        let got = rt_b.block_on(async {
            let first = poll_once(&mut read).await;
            if !data_first {
                client.write_all(b"hello").unwrap();
            }
            let (res, buf) = match first {
                Poll::Ready(done) => done,
                Poll::Pending => util::within(10, "the read, in b", read).await,
            };
            let n = res.expect("read");
            assert!(n > 0 && buf.len() == n);
            buf
        });
        // Fault injection may make the read short: the rest is there.
        let rest = rt_b.block_on(async {
            let (res, buf) = stream.read_exact(Vec::with_capacity(5 - got.len())).await;
            res.unwrap();
            buf
        });
        assert_eq!([got, rest].concat(), b"hello", "data_first {data_first}");
    }
}

/// A read with a linked (kernel) timeout first polled in A, then in B with
/// no data there: it cannot move (its deadline is A's kernel's), so it is
/// refused with a clear error, its buffer comes back, and no byte is lost.
#[test]
fn a_read_with_a_timeout_first_polled_in_another_runtime_is_refused() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let (mut client, server) = std_pair();
    let stream = rt_a.block_on(async { TcpStream::from_std(server) });
    let mut read = Box::pin(stream.read_timeout(Vec::with_capacity(16), Duration::from_secs(60)));
    rt_a.block_on(async { assert!(poll_once(&mut read).await.is_pending()) });
    rt_b.block_on(async {
        let (res, buf) = util::within(10, "the read, in b", read).await;
        let err = res.expect_err("no data was sent");
        assert!(is_other_runtime(&err), "{err:?}");
        assert_eq!(buf.capacity(), 16, "the buffer came back");
        client.write_all(b"later").unwrap();
        let (res, got) = stream.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(got, b"later");
    });
}

/// An op future first polled in A, dropped while B runs: its cancel goes
/// to A's ring, which gets its slot back once it turns; B is unaffected.
#[test]
fn an_op_first_polled_in_one_runtime_dropped_in_another() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let (mut client, server) = std_pair();
    let stream = rt_a.block_on(async { TcpStream::from_std(server) });
    let baseline = rt_a.metrics().op_slots;
    let mut read = Box::pin(stream.read(Vec::with_capacity(16)));
    rt_a.block_on(async { assert!(poll_once(&mut read).await.is_pending()) });
    assert_eq!(rt_a.metrics().op_slots, baseline + 1);
    rt_b.block_on(async { drop(read) });
    assert_eq!(rt_b.metrics().op_slots, 0, "nothing reached b's table");
    rt_a.block_on(util::within(10, "a's slot freed", async {
        while ringloop::runtime::metrics().unwrap().op_slots > baseline {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    }));
    // Nothing was read by the cancelled read.
    client.write_all(b"intact").unwrap();
    let got = rt_a.block_on(async {
        let (res, got) = stream.read_exact(Vec::with_capacity(6)).await;
        res.unwrap();
        got
    });
    assert_eq!(got, b"intact");
}

// ---- multishot streams ---------------------------------------------------

/// An `Incoming` first polled in A (its multishot accept in A's ring),
/// then in B: refused, not left waiting for A's ring; in A it goes on.
#[test]
fn incoming_first_polled_in_one_runtime_is_refused_in_another() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let std_listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = rt_a.block_on(async { TcpListener::from_std(std_listener) });
    let mut incoming = listener.incoming();
    rt_a.block_on(async {
        let mut next = Box::pin(incoming.next());
        assert!(poll_once(&mut next).await.is_pending());
    });
    let _client = StdStream::connect(addr).unwrap();
    rt_b.block_on(async {
        let err = util::within(10, "incoming, in b", incoming.next())
            .await
            .expect_err("a's accept polled in b");
        assert!(is_other_runtime(&err), "{err:?}");
    });
    let stream = rt_a.block_on(util::within(10, "accept, in a", incoming.next()));
    stream.unwrap();
}

/// A `RecvStream` armed in A, then polled in B: refused; in A it goes on
/// and no byte is lost.
#[test]
fn recv_multishot_first_polled_in_one_runtime_is_refused_in_another() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let (mut client, server) = std_pair();
    let (stream, ring) = rt_a.block_on(async {
        let ring = BufRing::builder().entries(4).buf_len(256).build().unwrap();
        (TcpStream::from_std(server), ring)
    });
    let mut rx = stream.recv_multishot(&ring);
    rt_a.block_on(async {
        let mut next = Box::pin(rx.next());
        assert!(poll_once(&mut next).await.is_pending());
    });
    client.write_all(b"multishot").unwrap();
    rt_b.block_on(async {
        let err = util::within(10, "recv, in b", rx.next())
            .await
            .expect("an item")
            .expect_err("a's receive polled in b");
        assert!(is_other_runtime(&err), "{err:?}");
    });
    let got = rt_a.block_on(util::within(10, "recv, in a", async {
        let mut got = Vec::new();
        while got.len() < 9 {
            let buf = rx.next().await.expect("no EOF").expect("recv");
            got.extend_from_slice(&buf);
        }
        got
    }));
    assert_eq!(got, b"multishot");
}

/// A `BufRing` of a dropped runtime: refused by a receive in another one
/// (its group id would name another pool there).
#[test]
fn a_buf_ring_of_a_dropped_runtime_is_refused() {
    let rt_a = Runtime::new().unwrap();
    let ring = rt_a.block_on(async { BufRing::builder().entries(2).buf_len(64).build().unwrap() });
    drop(rt_a);
    let rt_b = Runtime::new().unwrap();
    let (mut client, server) = std_pair();
    rt_b.block_on(async {
        // B's own pool, likely under the same group id.
        let own = BufRing::builder().entries(2).buf_len(64).build().unwrap();
        let stream = TcpStream::from_std(server);
        client.write_all(b"x").unwrap();
        let mut rx = stream.recv_multishot(&ring);
        let err = util::within(10, "recv", rx.next())
            .await
            .unwrap()
            .unwrap_err();
        assert!(is_other_runtime(&err), "{err:?}");
        let mut rx = stream.recv_multishot(&own);
        let buf = util::within(10, "recv", rx.next()).await.unwrap().unwrap();
        assert_eq!(&buf[..], b"x");
    });
}

// ---- write-behind and forwarding ----------------------------------------

/// A write-behind send queued in A (A's loop then stops turning), then
/// `flush` in B: refused rather than waiting for A's ring; in A the send
/// goes out.
#[test]
fn write_behind_in_flight_in_one_runtime_flushed_in_another() {
    // No eager send: the write goes through A's ring.
    let rt_a = Runtime::builder().eager_sends(false).build().unwrap();
    let rt_b = Runtime::new().unwrap();
    let (mut client, server) = std_pair();
    let stream = rt_a.block_on(async { TcpStream::from_std(server) });
    let mut tx = stream.write_behind();
    rt_a.block_on(async { tx.write(b"behind".to_vec()).await.unwrap() });
    assert!(tx.is_sending());
    rt_b.block_on(async {
        let err = util::within(10, "flush, in b", tx.flush())
            .await
            .expect_err("a's send polled in b");
        assert!(is_other_runtime(&err), "{err:?}");
    });
    rt_a.block_on(async { util::within(10, "flush, in a", tx.flush()).await.unwrap() });
    let mut got = [0u8; 6];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"behind");
    // Written from B afterwards: a new send there, in order.
    rt_b.block_on(async {
        tx.write(b" and b".to_vec()).await.unwrap();
        util::within(10, "flush, in b", tx.flush()).await.unwrap();
    });
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b" and b");
    // Dropped while B runs: its slot in B goes.
    rt_b.block_on(async {
        drop(tx);
        util::within(10, "b's slot freed", async {
            while ringloop::runtime::metrics().unwrap().op_slots > 0 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
}

/// A forward started in A, then polled in B: it ends with a clear error
/// instead of waiting for A's ring.
#[test]
fn a_forward_first_polled_in_one_runtime_is_refused_in_another() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let (_client_from, server_from) = std_pair();
    let (_client_to, server_to) = std_pair();
    let (from, to, ring) = rt_a.block_on(async {
        let ring = BufRing::builder().entries(4).buf_len(256).build().unwrap();
        (
            TcpStream::from_std(server_from),
            TcpStream::from_std(server_to),
            ring,
        )
    });
    let mut forward = Box::pin(from.forward_to(&ring, &to));
    rt_a.block_on(async { assert!(poll_once(&mut forward).await.is_pending()) });
    rt_b.block_on(async {
        let err = util::within(10, "forward, in b", forward)
            .await
            .expect_err("a's forward polled in b");
        assert!(is_other_runtime(&err), "{err:?}");
    });
}

// ---- registered buffers ---------------------------------------------------

/// A registered buffer of A used by a fixed read in B, which has its own
/// registered buffer under the same index: an error; B's buffer is not
/// written, and the data stays in the socket.
#[test]
fn a_fixed_buffer_of_another_runtime_is_refused() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let registry_a =
        rt_a.block_on(async { FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap() });
    let registry_b =
        rt_b.block_on(async { FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap() });
    let (mut client, server) = std_pair();
    client.write_all(b"fixed").unwrap();
    rt_b.block_on(async {
        let stream = TcpStream::from_std(server);
        let mut own = registry_b.check_out(0).unwrap();
        own.put_slice(b"b's own");
        drop(own);
        let foreign = registry_a.check_out(0).unwrap();
        assert_eq!(foreign.index(), 0);
        let (res, foreign) = stream.read_fixed(foreign).await;
        let err = res.expect_err("a's buffer index named in b's ring");
        assert!(
            is_other_runtime(&err) || err.raw_os_error() == Some(libc::EFAULT),
            "{err:?}"
        );
        assert!(foreign.is_empty());
        let own = registry_b.check_out(0).unwrap();
        assert_eq!(&own[..], b"b's own", "b's registered buffer was written");
        let (res, got) = stream.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(got, b"fixed", "the data stayed in the socket");
    });
    drop(registry_a);
    drop(rt_a);
    drop(registry_b);
}

// ---- timers ---------------------------------------------------------------

/// A sleep first polled in A (its timer in A's queue), then awaited in B:
/// it fires in B, at its deadline, not never.
#[test]
fn a_sleep_first_polled_in_one_runtime_fires_in_another() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let mut sleep = Box::pin(ringloop::time::sleep(Duration::from_millis(30)));
    let deadline = sleep.deadline();
    rt_a.block_on(async { assert!(poll_once(&mut sleep).await.is_pending()) });
    rt_b.block_on(util::within(10, "the sleep, in b", sleep));
    assert!(Instant::now() >= deadline);
    assert_eq!(rt_a.metrics().timers, 0, "a's timer left behind");
    assert_eq!(rt_b.metrics().timers, 0);
}

/// A sleep registered in A, whose runtime is then dropped, awaited in B:
/// it fires at its deadline, not at once.
#[test]
fn a_sleep_of_a_dropped_runtime_does_not_fire_early() {
    let rt_a = Runtime::new().unwrap();
    let mut sleep = Box::pin(ringloop::time::sleep(Duration::from_millis(200)));
    let deadline = sleep.deadline();
    rt_a.block_on(async { assert!(poll_once(&mut sleep).await.is_pending()) });
    drop(rt_a);
    let rt_b = Runtime::new().unwrap();
    rt_b.block_on(util::within(10, "the sleep, in b", sleep));
    assert!(Instant::now() >= deadline, "fired before its deadline");
}

/// An interval ticking in A, then in B: it goes on ticking.
#[test]
fn an_interval_moves_between_runtimes() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let mut interval = ringloop::time::interval(Duration::from_millis(5));
    rt_a.block_on(async {
        interval.tick().await;
        interval.tick().await;
        // Registered in A's queue:
        let mut tick = Box::pin(interval.tick());
        let _ = poll_once(&mut tick).await;
    });
    rt_b.block_on(util::within(10, "ticks, in b", async {
        for _ in 0..3 {
            interval.tick().await;
        }
    }));
}

// ---- tasks, signals, plain streams ----------------------------------------

/// A task of a dropped runtime: its handle reports the cancellation in
/// another runtime (no hang).
#[test]
fn a_task_of_a_dropped_runtime_reports_cancelled() {
    let rt_a = Runtime::new().unwrap();
    let (_tx, rx) = ringloop::sync::oneshot::channel::<()>();
    let task = rt_a.spawn(async move {
        let _ = rx.await;
    });
    rt_a.block_on(ringloop::yield_now());
    drop(rt_a);
    let rt_b = Runtime::new().unwrap();
    let err = rt_b
        .block_on(util::within(10, "the task", task))
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
}

/// A signal listener of a dropped runtime: `recv` ends with an error in
/// another runtime instead of waiting for deliveries nobody reads.
#[test]
fn a_signal_of_a_dropped_runtime_does_not_hang() {
    let rt_a = Runtime::new().unwrap();
    let mut signal = rt_a.block_on(async {
        ringloop::signal::signal(ringloop::signal::SignalKind::window_change()).unwrap()
    });
    drop(rt_a);
    let rt_b = Runtime::new().unwrap();
    let res = rt_b.block_on(util::within(10, "recv", signal.recv()));
    let err = res.expect_err("no runtime reads this signal any more");
    assert!(err.to_string().contains("runtime"), "{err}");
}

/// A plain stream of A dropped while B runs: closed (its peer sees EOF
/// while only B turns).
#[test]
fn a_plain_stream_dropped_in_another_runtime_is_closed() {
    let rt_a = Runtime::new().unwrap();
    let rt_b = Runtime::new().unwrap();
    let (a, mut client) = stream_in(&rt_a);
    client.set_nonblocking(true).unwrap();
    rt_b.block_on(util::within(10, "EOF", async {
        drop(a);
        let mut rest = Vec::new();
        loop {
            match client.read_to_end(&mut rest) {
                Ok(_) => return,
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }));
}
