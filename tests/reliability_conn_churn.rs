//! Reliability: connection churn against the echo server.
//!
//! 100,000 connect / write / read back / close cycles, 200 at a time,
//! against the echo server's own handler (`echo::serve`, plain mode)
//! running in the same runtime. Afterwards, with the server still running
//! and every server-side connection finished, the process has exactly the
//! fds it had before the churn, the op table holds exactly the ops it held
//! before (the server's pending accept), and the server counted every
//! connection and no error.
//!
//! Clients close normally (FIN), so their ends go to TIME_WAIT; Linux's
//! `net.ipv4.tcp_tw_reuse = 2` reuses those ports on loopback. Should a
//! connect still fail with `EADDRNOTAVAIL` (ephemeral ports exhausted), the
//! run switches to abortive closes (`SO_LINGER` 0, no TIME_WAIT) for the
//! rest and says so; no cycle is ever skipped.
//!
//! The fd count is process-wide, so this file holds a single test.

mod util;

#[path = "../examples/echo_server/echo.rs"]
#[allow(dead_code)] // only the plain mode is driven here
mod echo;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::net::{TcpListener, TcpStream};

const CYCLES: u64 = 100_000;
const PARALLEL: u64 = 200;
/// Cycles run before the baseline is taken (lazy allocations settle).
const WARM_UP: u64 = 1_000;

/// One cycle: connect, write 8 bytes, read them back, close.
async fn cycle(addr: std::net::SocketAddr, i: u64, abortive: &Cell<bool>) {
    let stream = loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => break stream,
            Err(err) if err.kind() == std::io::ErrorKind::AddrNotAvailable => {
                // Ephemeral ports exhausted by TIME_WAIT: close abortively
                // from now on and retry after a breath.
                if !abortive.replace(true) {
                    eprintln!("cycle {i}: EADDRNOTAVAIL; closing with SO_LINGER 0 from now on");
                }
                ringloop::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => panic!("cycle {i}: connect: {err}"),
        }
    };
    let msg = i.to_le_bytes();
    let (res, _) = stream.write_all(msg.to_vec()).await;
    res.unwrap_or_else(|err| panic!("cycle {i}: write: {err}"));
    let (res, back) = stream.read_exact(Vec::with_capacity(8)).await;
    res.unwrap_or_else(|err| panic!("cycle {i}: read: {err}"));
    assert_eq!(back, msg, "cycle {i}: echo mismatch");
    if abortive.get() {
        stream.set_linger(Some(Duration::ZERO)).unwrap();
    }
    stream
        .close()
        .await
        .unwrap_or_else(|err| panic!("cycle {i}: close: {err}"));
}

/// Runs cycles `from..to`, `PARALLEL` at a time.
async fn churn(addr: std::net::SocketAddr, from: u64, to: u64, abortive: &Rc<Cell<bool>>) {
    let abortive = abortive.clone();
    util::run_parallel(from..to, PARALLEL, move |i| {
        let abortive = abortive.clone();
        async move { cycle(addr, i, &abortive).await }
    })
    .await;
}

/// Waits until the server has finished every connection and the op table
/// is back to `ops` (closes are detached ops that complete a tick later).
async fn settle(stats: &echo::Stats, ops: Option<usize>) {
    util::within(30, "server connections end", async {
        while stats.active.get() > 0 || ops.is_some_and(|ops| util::in_flight() > ops) {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

#[test]
fn churn_100k_connections_leaks_no_fd_and_no_op() {
    let needed = (util::fd_count() as u64) + 2 * PARALLEL + 64;
    if util::raise_nofile(needed).is_none() {
        return; // printed why
    }
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Rc::new(echo::Stats::default());
        let server = ringloop::spawn(echo::serve(listener, stats.clone(), 4096));
        let abortive = Rc::new(Cell::new(false));

        util::within(60, "warm-up", churn(addr, 0, WARM_UP, &abortive)).await;
        settle(&stats, None).await;
        // Let the warm-up's detached closes complete.
        for _ in 0..10 {
            ringloop::io::nop().await.unwrap();
        }
        let fds_before = util::fd_count();
        let ops_before = util::in_flight();
        let m = ringloop::runtime::metrics().unwrap();
        assert_eq!(
            m.ops_in_flight_by_kind,
            vec![("Accept", 1)],
            "only the server's accept is pending: {m:?}"
        );

        let start = Instant::now();
        util::within(
            600,
            "100,000 cycles",
            churn(addr, WARM_UP, WARM_UP + CYCLES, &abortive),
        )
        .await;
        let took = start.elapsed();
        settle(&stats, Some(ops_before)).await;
        eprintln!(
            "{CYCLES} connect/echo/close cycles, {PARALLEL} in parallel: {took:?} ({:.0} cycles/s){}",
            CYCLES as f64 / took.as_secs_f64(),
            if abortive.get() {
                " (switched to abortive closes)"
            } else {
                ""
            }
        );

        assert!(!server.is_finished(), "the server is still running");
        assert_eq!(stats.connections.get(), WARM_UP + CYCLES);
        assert_eq!(stats.errors.get(), 0, "server-side connection errors");
        assert_eq!(stats.bytes.get(), 8 * (WARM_UP + CYCLES));
        assert_eq!(stats.fd_exhaustion.get(), 0);
        let fds_after = util::fd_count();
        let m = ringloop::runtime::metrics().unwrap();
        assert_eq!(fds_after, fds_before, "fd count grew over {CYCLES} cycles");
        assert_eq!(
            m.ops_in_flight, ops_before,
            "op table grew over {CYCLES} cycles: {m:?}"
        );
        assert_eq!(m.ops_in_flight_by_kind, vec![("Accept", 1)], "{m:?}");
        assert_eq!(m.tasks, 1, "only the server task is alive: {m:?}");
        server.cancel();
    });
}
