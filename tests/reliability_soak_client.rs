//! The load client of the soak run (`scripts/soak`); not part of CI.
//!
//! An ignored test, so that it lives next to the suite without being run
//! by `cargo test`. `scripts/soak` runs it against a separately started
//! release echo server:
//!
//! ```text
//! SOAK_ADDR=127.0.0.1:PORT SOAK_DURATION=600 SOAK_CONNS=500 \
//!     cargo test --release --test reliability_soak_client -- --ignored --nocapture
//! ```
//!
//! `SOAK_CONNS` connections each send messages of random size (1 B to
//! 64 KiB, log-uniform, so small and large messages both occur often) and
//! read each echo back in full before sending the next, until
//! `SOAK_DURATION` seconds have passed. Every message is checked end to
//! end: a checksum (FNV-1a 64) of the bytes generated for it is compared
//! with a checksum of the bytes that came back, and each connection also
//! compares running checksums of its whole sent and received streams.
//! Progress lines (`SOAK_PROGRESS`) every `SOAK_REPORT_EVERY` seconds
//! (default 10), and a final `SOAK_RESULT` line; the test fails if any
//! message failed to verify or any connection failed.

mod util;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::buf::IoBuf;
use ringloop::net::TcpStream;

const MAX_MESSAGE: u64 = 64 * 1024;

/// FNV-1a, 64 bits, continued from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

#[derive(Default)]
struct Totals {
    messages: Cell<u64>,
    bytes: Cell<u64>,
    verify_errors: Cell<u64>,
    io_errors: Cell<u64>,
    connections_done: Cell<u64>,
}

fn env<T: std::str::FromStr>(name: &str, default: Option<T>) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid")),
        Err(_) => default.unwrap_or_else(|| panic!("{name} is not set")),
    }
}

/// One connection's life: request/response until `deadline`.
async fn connection(addr: SocketAddr, id: u64, deadline: Instant, totals: Rc<Totals>) {
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("connection {id}: connect: {err}");
            totals.io_errors.set(totals.io_errors.get() + 1);
            return;
        }
    };
    let mut data = util::ByteStream::new(0x50a6 ^ id);
    let mut sizes = util::Rng::new(0x51e ^ id);
    let (mut sent_sum, mut received_sum) = (FNV_START, FNV_START);
    let mut reply = Vec::with_capacity(MAX_MESSAGE as usize);
    while Instant::now() < deadline {
        let bits = sizes.range(0, 16);
        let size = sizes.range(1, 1 << bits).min(MAX_MESSAGE) as usize;
        let message = data.take(size);
        let expected = fnv1a(FNV_START, &message);
        sent_sum = fnv1a(sent_sum, &message);
        reply.clear();
        // Write and read at once: neither side's buffers can fill up.
        let write = stream.write_all(message);
        let read = stream.read_exact(reply.slice(..size));
        let ((written, _), (read_res, back)) = futures_util::join!(write, read);
        reply = back.into_inner();
        if let Err(err) = written.and(read_res) {
            eprintln!("connection {id}: I/O error: {err}");
            totals.io_errors.set(totals.io_errors.get() + 1);
            return;
        }
        received_sum = fnv1a(received_sum, &reply);
        if fnv1a(FNV_START, &reply) != expected || reply.len() != size {
            eprintln!("connection {id}: a {size}-byte message came back altered");
            totals.verify_errors.set(totals.verify_errors.get() + 1);
        }
        totals.messages.set(totals.messages.get() + 1);
        totals.bytes.set(totals.bytes.get() + size as u64);
    }
    if sent_sum != received_sum {
        eprintln!("connection {id}: stream checksums differ");
        totals.verify_errors.set(totals.verify_errors.get() + 1);
    }
    if let Err(err) = stream.close().await {
        eprintln!("connection {id}: close: {err}");
        totals.io_errors.set(totals.io_errors.get() + 1);
    }
    totals
        .connections_done
        .set(totals.connections_done.get() + 1);
}

#[test]
#[ignore = "the soak load client: run by scripts/soak, not by cargo test"]
fn soak_client() {
    let Ok(addr) = std::env::var("SOAK_ADDR") else {
        eprintln!("soak_client: SOAK_ADDR is not set; run scripts/soak");
        return;
    };
    let addr: SocketAddr = addr.parse().expect("SOAK_ADDR is HOST:PORT");
    let duration = Duration::from_secs(env("SOAK_DURATION", Some(600)));
    let conns: u64 = env("SOAK_CONNS", Some(500));
    let every = Duration::from_secs(env("SOAK_REPORT_EVERY", Some(10)));
    util::raise_nofile(conns + 64).expect("enough fds for the connections");
    let totals = Rc::new(Totals::default());
    let start = Instant::now();
    let deadline = start + duration;
    ringloop::run(async {
        let tasks: Vec<_> = (0..conns)
            .map(|id| ringloop::spawn(connection(addr, id, deadline, totals.clone())))
            .collect();
        let progress = {
            let totals = totals.clone();
            ringloop::spawn(async move {
                let mut tick = ringloop::time::interval_at(start + every, every);
                loop {
                    tick.tick().await;
                    let secs = start.elapsed().as_secs_f64();
                    println!(
                        "SOAK_PROGRESS t={secs:.0}s msgs={} msgs_per_s={:.0} MiB={:.1} \
                         verify_errors={} io_errors={}",
                        totals.messages.get(),
                        totals.messages.get() as f64 / secs,
                        totals.bytes.get() as f64 / (1 << 20) as f64,
                        totals.verify_errors.get(),
                        totals.io_errors.get()
                    );
                }
            })
        };
        // Every connection stops at the deadline; allow a minute more for
        // the last messages and closes.
        util::within(duration.as_secs() + 60, "soak connections", async {
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await;
        progress.cancel();
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "SOAK_RESULT duration_s={secs:.1} conns={conns} msgs={} msgs_per_s={:.0} \
         bytes={} MiB_per_s={:.1} verify_errors={} io_errors={} connections_done={}",
        totals.messages.get(),
        totals.messages.get() as f64 / secs,
        totals.bytes.get(),
        totals.bytes.get() as f64 / (1 << 20) as f64 / secs,
        totals.verify_errors.get(),
        totals.io_errors.get(),
        totals.connections_done.get(),
    );
    assert_eq!(totals.verify_errors.get(), 0, "messages failed to verify");
    assert_eq!(totals.io_errors.get(), 0, "connections failed");
    assert_eq!(totals.connections_done.get(), conns);
    assert!(totals.messages.get() >= conns, "every connection sent");
}
