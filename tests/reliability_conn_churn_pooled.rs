//! Reliability: connection churn against the echo server's fast path.
//!
//! 10,000 connections, 100 at a time, against the echo server's own pooled
//! handler (`echo::serve_with`, `Mode::Pooled`: one multishot accept, a
//! multishot receive into a small shared buffer pool, write-behind sends)
//! on a runtime that registers its streams in the ring's file table. Each
//! client writes 1 B to 16 KiB while it reads the echo back; one in six
//! resets the connection (`SO_LINGER` 0) after reading half of it, so the
//! server's receive or its send in flight fails mid-stream and the handler
//! drops its writer and its receive with ops in flight.
//!
//! Afterwards, with every server-side connection finished: the process has
//! exactly the fds it had before, the op table exactly the entries it had
//! (no writer's kept slot, no receive, no registration left behind), the
//! file table no registered stream, and every pool buffer is back in the
//! ring. Errors are counted only for connections the client reset.
//!
//! The fd count is process-wide, so this file holds a single test.

mod util;

#[path = "../examples/echo_server/echo.rs"]
#[allow(dead_code)] // only the pooled mode is driven here
mod echo;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::buf::BufRing;
use ringloop::net::TcpStream;

const CYCLES: u64 = 10_000;
const PARALLEL: u64 = 100;
/// Cycles run before the baseline is taken (lazy allocations settle).
const WARM_UP: u64 = 500;
/// One cycle in this many resets its connection mid-echo.
const RESET_EVERY: u64 = 6;

/// One cycle: connect, write a message while reading its echo back, close
/// (or reset after half of the echo). Returns whether it reset.
async fn cycle(addr: std::net::SocketAddr, i: u64) -> bool {
    let stream = Rc::new(
        TcpStream::connect(addr)
            .await
            .unwrap_or_else(|err| panic!("cycle {i}: connect: {err}")),
    );
    let mut rng = util::Rng::new(i + 1);
    let len = rng.range(1, 16 * 1024) as usize;
    let msg = util::ByteStream::new(i).take(len);
    let reset = i % RESET_EVERY == 0;
    // Written by its own task, so that neither side waits for the other's
    // buffers to drain.
    let writer = {
        let (stream, msg) = (stream.clone(), msg.clone());
        ringloop::spawn(async move { stream.write_all(msg).await.0 })
    };
    let want = if reset { len.div_ceil(2) } else { len };
    // At least `want` bytes (a read may bring more of the echo).
    let back = util::read_exactly(&stream, want).await;
    assert!(
        back.len() <= len && back == msg[..back.len()],
        "cycle {i}: echo mismatch"
    );
    writer
        .await
        .unwrap()
        .unwrap_or_else(|err| panic!("cycle {i}: write: {err}"));
    let stream = Rc::try_unwrap(stream).unwrap_or_else(|_| panic!("cycle {i}: stream shared"));
    if reset {
        stream.set_linger(Some(Duration::ZERO)).unwrap();
    }
    stream
        .close()
        .await
        .unwrap_or_else(|err| panic!("cycle {i}: close: {err}"));
    reset
}

/// Runs cycles `from..to`, `PARALLEL` at a time; returns how many reset.
async fn churn(addr: std::net::SocketAddr, from: u64, to: u64) -> u64 {
    let resets = Rc::new(Cell::new(0));
    let counted = resets.clone();
    util::run_parallel(from..to, PARALLEL, move |i| {
        let resets = counted.clone();
        async move {
            if cycle(addr, i).await {
                resets.set(resets.get() + 1);
            }
        }
    })
    .await;
    resets.get()
}

/// Waits until the server has finished every connection and the op table
/// is back to `slots` entries (closes and slot releases are detached ops
/// that complete a few ticks later).
async fn settle(stats: &echo::Stats, slots: Option<usize>) {
    let what = "server connections end and the op table is back to its size before the churn";
    util::within(30, what, async {
        let slots_now = || ringloop::runtime::metrics().unwrap().op_slots;
        while stats.active.get() > 0 || slots.is_some_and(|slots| slots_now() > slots) {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    for _ in 0..10 {
        ringloop::io::nop().await.unwrap();
    }
}

#[test]
fn pooled_churn_with_resets_leaks_no_fd_no_slot_and_no_buffer() {
    let needed = (util::fd_count() as u64) + 2 * PARALLEL + 64;
    if util::raise_nofile(needed).is_none() {
        return; // printed why
    }
    let rt = ringloop::Runtime::builder()
        .register_streams(4 * PARALLEL as u32)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = echo::listen("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Small, so that receives run the pool dry and are re-armed.
        let pool = BufRing::builder()
            .entries(64)
            .buf_len(4096)
            .build()
            .unwrap();
        let stats = Rc::new(echo::Stats::default());
        let server = ringloop::spawn(echo::serve_with(
            listener,
            stats.clone(),
            echo::Mode::Pooled(pool.clone()),
        ));

        let warm_resets = util::within(60, "warm-up", churn(addr, 0, WARM_UP)).await;
        settle(&stats, None).await;
        let fds_before = util::fd_count();
        let before = ringloop::runtime::metrics().unwrap();
        assert_eq!(
            before.ops_in_flight_by_kind,
            vec![("AcceptMulti", 1)],
            "only the server's accept is pending: {before:?}"
        );

        let resets = util::within(300, "churn", churn(addr, WARM_UP, WARM_UP + CYCLES)).await;
        settle(&stats, Some(before.op_slots)).await;

        assert!(!server.is_finished(), "the server is still running");
        assert_eq!(stats.connections.get(), WARM_UP + CYCLES);
        assert!(
            stats.errors.get() <= warm_resets + resets,
            "{} server-side errors for {} resets",
            stats.errors.get(),
            warm_resets + resets
        );
        assert_eq!(stats.fd_exhaustion.get(), 0);
        let after = ringloop::runtime::metrics().unwrap();
        assert_eq!(util::fd_count(), fds_before, "fd count grew");
        assert_eq!(
            after.op_slots, before.op_slots,
            "op table grew (a writer's slot or a receive left behind): {after:?}"
        );
        assert_eq!(
            after.ops_in_flight_by_kind,
            vec![("AcceptMulti", 1)],
            "{after:?}"
        );
        assert_eq!(
            after.registered_streams, 0,
            "a registration outlived its stream"
        );
        assert_eq!(after.tasks, 1, "only the server task is alive: {after:?}");
        assert_eq!(
            pool.available(),
            pool.entries(),
            "a pool buffer never came back"
        );
        assert!(
            after.enobufs_events > 0,
            "the pool never ran dry: the re-arm path went untested"
        );
        server.cancel();
    });
}
