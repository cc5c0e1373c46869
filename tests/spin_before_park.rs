//! `Builder::spin_before_park`: before the loop sleeps in `io_uring_enter`
//! it polls the rings' shared memory for a while, and goes on without
//! sleeping when a completion comes. What must hold: work arriving during
//! the spin is picked up (socket data, a cross-thread wake, a timer), a
//! loop whose idle gaps are longer than the spin stops spinning, and a
//! runtime dropped with operations in flight still shuts down.

mod util;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ringloop::net::TcpListener;
use ringloop::runtime::RuntimeMetrics;

fn metrics() -> RuntimeMetrics {
    ringloop::runtime::metrics().expect("inside a runtime")
}

fn spinning(spin: Duration) -> ringloop::Runtime {
    ringloop::Runtime::builder()
        .spin_before_park(spin)
        .build()
        .expect("runtime")
}

/// What the loop counted over a run.
struct Counts {
    parks: u64,
    spins: u64,
    spin_wakeups: u64,
}

/// `rounds` request/response round trips with a peer thread that answers
/// each 8-byte request at once; returns what the loop counted meanwhile.
fn ping_pong(rt: &ringloop::Runtime, rounds: u64) -> Counts {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_nodelay(true).unwrap();
        let mut buf = [0u8; 8];
        for _ in 0..rounds {
            conn.read_exact(&mut buf).unwrap();
            conn.write_all(&buf).unwrap();
        }
    });
    let metrics = rt.block_on(async move {
        let stream = ringloop::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let before = metrics();
        util::within(30, "the round trips", async {
            for round in 0..rounds {
                let (res, _) = stream.write_all(round.to_le_bytes().to_vec()).await;
                res.unwrap();
                let mut got = Vec::with_capacity(8);
                while got.len() < 8 {
                    let (res, buf) = stream.read(Vec::with_capacity(8 - got.len())).await;
                    assert!(res.unwrap() > 0, "the peer closed early");
                    got.extend_from_slice(&buf);
                }
                assert_eq!(got, round.to_le_bytes(), "round {round}: wrong echo");
            }
        })
        .await;
        let after = metrics();
        Counts {
            parks: after.parks - before.parks,
            spins: after.spins - before.spins,
            spin_wakeups: after.spin_wakeups - before.spin_wakeups,
        }
    });
    peer.join().unwrap();
    metrics
}

#[test]
fn replies_arriving_during_the_spin_are_taken_without_sleeping() {
    // A spin far longer than any round trip: every reply comes within it.
    let m = ping_pong(&spinning(Duration::from_secs(5)), 200);
    assert_eq!(
        m.parks, 0,
        "the loop slept although every reply came within the spin"
    );
    assert!(
        m.spin_wakeups > 0 && m.spin_wakeups == m.spins,
        "spins {} found work {} times: each should have",
        m.spins,
        m.spin_wakeups
    );
}

#[test]
fn without_a_spin_the_same_loop_sleeps() {
    // The control for the test above: the counters tell the two apart.
    let rt = ringloop::Runtime::new().unwrap();
    let m = ping_pong(&rt, 200);
    assert!(m.parks > 0, "a loop waiting for replies must park");
    assert_eq!((m.spins, m.spin_wakeups), (0, 0));
}

#[test]
fn a_timer_ends_the_spin_and_a_longer_gap_stops_the_next_ones() {
    // The spin is bounded by the timer: a 20 ms sleep is not held up by a
    // 10 s spin.
    let rt = spinning(Duration::from_secs(10));
    rt.block_on(async {
        let started = Instant::now();
        ringloop::time::sleep(Duration::from_millis(20)).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the spin held the timer up"
        );
    });
    // With a 1 ms spin and 20 ms gaps, one spin finds nothing; from then on
    // the loop parks at once (each park is longer than the spin).
    let rt = spinning(Duration::from_millis(1));
    rt.block_on(async {
        let before = metrics();
        for _ in 0..5 {
            ringloop::time::sleep(Duration::from_millis(20)).await;
        }
        let after = metrics();
        assert!(after.parks - before.parks >= 5, "the loop must sleep");
        // An injected enter error ends a park early, which reads as a
        // short gap: the counts hold only without fault injection.
        if !util::faults() {
            assert_eq!(after.spins - before.spins, 1, "spins kept burning CPU");
            assert_eq!(after.spin_wakeups, before.spin_wakeups);
        }
    });
}

#[test]
fn a_wake_from_another_thread_ends_the_spin() {
    let rt = spinning(Duration::from_secs(10));
    rt.block_on(async {
        let started = Instant::now();
        // The job's result comes back from a pool thread: a cross-thread
        // wake, through the eventfd read the ring keeps in flight.
        let job = ringloop::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            7u32
        });
        let got = util::within(5, "cross-thread wake", job).await;
        assert_eq!(got.ok(), Some(7));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(metrics().spin_wakeups >= 1, "the wake came during the spin");
    });
}

#[test]
fn a_connection_arriving_during_the_spin_is_accepted() {
    let rt = spinning(Duration::from_secs(10));
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut conn = std::net::TcpStream::connect(addr).unwrap();
            conn.write_all(b"hi").unwrap();
        });
        let (stream, _) = util::within(5, "accept", listener.accept()).await.unwrap();
        let (res, buf) = util::within(5, "read", stream.read(Vec::with_capacity(2))).await;
        util::assert_transfer(res.unwrap(), 2);
        assert!(b"hi".starts_with(&buf));
        client.join().unwrap();
    });
}

#[test]
fn dropping_a_spinning_runtime_with_a_read_in_flight_shuts_down() {
    let rt = spinning(Duration::from_secs(10));
    let (peer, _task) = rt.block_on(async {
        let (peer, accepted) = util::tcp_pair().await;
        // A read that never completes: the peer never writes.
        let task = ringloop::spawn(async move {
            let (res, _) = accepted.read(Vec::with_capacity(64)).await;
            res
        });
        // In flight once submitted (with fault injection, after any
        // injected transient errors were retried).
        util::within(5, "the read in flight", async {
            while util::in_flight() == 0 {
                ringloop::yield_now().await;
            }
        })
        .await;
        (peer, task)
    });
    let started = Instant::now();
    drop(rt);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown spun instead of cancelling"
    );
    drop(peer);
}

#[test]
fn spinning_works_with_sqpoll() {
    // With SQPOLL the kernel thread posts completions straight to the CQ.
    let Some(_) = util::sqpoll_runtime() else {
        return;
    };
    let rt = ringloop::Runtime::builder()
        .sqpoll(Duration::from_millis(100))
        .spin_before_park(Duration::from_secs(5))
        .build()
        .unwrap();
    let m = ping_pong(&rt, 100);
    assert_eq!(
        m.parks, 0,
        "the loop slept although every reply came within the spin"
    );
    assert!(m.spin_wakeups > 0);
}

/// `n` connected socket pairs with one byte waiting at one end, read
/// through a `PipeReader` (any readable fd will do): their reads complete
/// as they are submitted. The other ends are returned to keep the pairs
/// open.
fn pipes_with_a_byte(n: usize) -> (Vec<ringloop::io::PipeReader>, Vec<UnixStream>) {
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..n {
        let (r, mut w) = UnixStream::pair().unwrap();
        w.write_all(b"x").unwrap();
        readers.push(ringloop::io::PipeReader::from(std::os::fd::OwnedFd::from(
            r,
        )));
        writers.push(w);
    }
    (readers, writers)
}

/// Each reader reads its byte in a task of its own, then sleeps 20 ms;
/// returns how many spins the loop made meanwhile (and checks it slept).
async fn read_then_sleep(readers: Vec<ringloop::io::PipeReader>) -> u64 {
    let before = metrics();
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|r| {
            ringloop::spawn(async move {
                let (res, buf) = r.read(Vec::with_capacity(1)).await;
                assert_eq!(res.unwrap(), 1);
                assert_eq!(buf, b"x");
                ringloop::time::sleep(Duration::from_millis(20)).await;
            })
        })
        .collect();
    for task in tasks {
        util::within(10, "a reader", task).await.unwrap();
    }
    let after = metrics();
    assert!(
        after.parks > before.parks,
        "the loop slept through the timer"
    );
    after.spins - before.spins
}

#[test]
fn a_park_right_after_a_busy_turn_does_not_spin() {
    let rt = spinning(Duration::from_secs(5));
    rt.block_on(async {
        // Eight reads submitted together complete together: one turn
        // reaps eight completions, a loop under load. Its next park (for
        // the timer) must not spin: under load the spin's extra submit
        // per turn buys nothing.
        let (readers, _writers) = pipes_with_a_byte(8);
        let spins = read_then_sleep(readers).await;
        // An injected enter error or synthetic completion changes what a
        // turn reaps: the counts hold only without fault injection.
        if !util::faults() {
            assert_eq!(spins, 0, "a park after a busy turn spun");
        }
        // One read alone is a latency-bound turn: the park after it spins
        // (the spin ends at the timer).
        let (readers, _writers) = pipes_with_a_byte(1);
        let spins = read_then_sleep(readers).await;
        if !util::faults() {
            assert_eq!(spins, 1, "a park after a latency-bound turn did not spin");
        }
    });
}
