//! Reliability: ring churn.
//!
//! 1,000 runtimes created and dropped one after another, in a rotation of
//! shapes: idle; never run but holding a spawned task; tasks pending on
//! timers and a pipe read; a listener with a pending accept and a
//! connection with pending receives on both ends; a finished
//! `spawn_blocking` job; a pending multishot accept; different ring sizes.
//! After a warm-up of 100, the process's fd count must not move at all and
//! its resident memory (VmRSS) must grow by less than 10 MiB over the
//! remaining 900 — a leaked ring mapping, op state, task or socket buffer
//! per runtime would exceed that. Blocking-pool threads must exit too.
//!
//! The fd count and RSS are process-wide, so this file holds a single test.

mod util;

use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::net::{TcpListener, TcpStream};

const RUNTIMES: usize = 1_000;
const WARM_UP: usize = 100;
const RSS_SLACK_KIB: u64 = 10 * 1024;

/// A field of /proc/self/status, in its unit (kB for VmRSS).
fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"))
}

/// What the process's fds are, for failure messages.
fn open_fds() -> String {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| {
                let e = e.ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some(format!(
                    "{}={}",
                    e.file_name().to_string_lossy(),
                    target.display()
                ))
            })
            .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds.join(" ")
}

/// The fd count once it has settled at `expected` (or after 2 s). A
/// blocking-pool thread that has just delivered a result may hold the
/// dropped runtime's eventfd (through the task's waker) a moment longer:
/// such threads are not joined by the runtime's drop.
fn fds_settled(expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let n = util::fd_count();
        if n == expected || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn rss_kib() -> u64 {
    status_field("VmRSS")
}

/// Whether this binary runs under AddressSanitizer, whose quarantine keeps
/// freed memory resident (RSS grows by design; LeakSanitizer checks leaks
/// there instead).
fn under_asan() -> bool {
    // ASan's shadow memory: a huge mapping over this fixed address on
    // x86_64 Linux, where nothing else is mapped. (Its symbols are not
    // exported, so dlsym cannot tell.)
    const SHADOW: u64 = 0x7fff_8000;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let shadow = maps.lines().any(|line| {
        let range = line.split_whitespace().next().unwrap_or("");
        let mut ends = range
            .split('-')
            .map(|n| u64::from_str_radix(n, 16).unwrap_or(0));
        let (start, end) = (ends.next().unwrap_or(0), ends.next().unwrap_or(0));
        start <= SHADOW && SHADOW < end && end - start >= 1 << 28
    });
    shadow || std::env::var_os("ASAN_OPTIONS").is_some()
}

fn threads() -> u64 {
    status_field("Threads")
}

/// Builds runtime `i`, leaves it in shape `i % 8`, and drops it.
fn one_runtime(i: usize) {
    let entries = [8, 64, 256, 1024][i % 4];
    let runtime = ringloop::Runtime::builder()
        .entries(entries)
        .build()
        .unwrap_or_else(|err| panic!("runtime {i}: {err}"));
    match i % 8 {
        // Created and dropped, never run.
        0 => {}
        // A task spawned from outside and never polled.
        1 => drop(runtime.spawn(async { vec![0u8; 4096] })),
        // Tasks pending on timers and a pipe read at drop.
        2 => runtime.block_on(async {
            let (reader, writer) = ringloop::io::pipe().unwrap();
            let reader = Rc::new(reader);
            for n in 0..4 {
                let reader = reader.clone();
                drop(ringloop::spawn(async move {
                    let _ = reader.read(vec![0u8; 1024]).await;
                }));
                drop(ringloop::spawn(ringloop::time::sleep(Duration::from_secs(
                    3_600 + n,
                ))));
            }
            drop(ringloop::spawn(async move {
                ringloop::time::sleep(Duration::from_secs(3_600)).await;
                drop(writer);
            }));
            wait_in_flight(4).await;
        }),
        // A listener with a pending accept, a connection with pending
        // receives on both ends, and some data left unread.
        3 => runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, accepted) =
                futures_util::join!(TcpStream::connect(addr), listener.accept());
            let (client, server) = (Rc::new(client.unwrap()), Rc::new(accepted.unwrap().0));
            let (res, _) = client.write_all(vec![7u8; 64 * 1024]).await;
            res.unwrap();
            let listener = Rc::new(listener);
            drop(ringloop::spawn(async move {
                let _ = listener.accept().await;
            }));
            drop(ringloop::spawn(async move {
                let _ = client.read(Vec::with_capacity(4096)).await;
            }));
            drop(ringloop::spawn(async move {
                // Reads some, then waits on a peer that sends no more.
                loop {
                    let (res, _) = server.read(Vec::with_capacity(1024)).await;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                }
            }));
            wait_in_flight(3).await;
        }),
        // A finished blocking job (its thread idles, then must exit).
        4 => runtime.block_on(async {
            let n = ringloop::spawn_blocking(|| 6 * 7).await.unwrap();
            assert_eq!(n, 42);
        }),
        // A pending multishot accept.
        5 => runtime.block_on(async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            drop(ringloop::spawn(async move {
                let mut incoming = listener.incoming();
                let _ = incoming.next().await;
            }));
            wait_in_flight(1).await;
        }),
        // Some completed I/O, nothing pending.
        6 => runtime.block_on(async {
            for _ in 0..16 {
                ringloop::io::nop().await.unwrap();
            }
        }),
        // A task that is mid-way through a timeout-bounded read.
        _ => runtime.block_on(async {
            let (reader, writer) = ringloop::io::pipe().unwrap();
            drop(ringloop::spawn(async move {
                let _keep = writer;
                let _ = ringloop::time::timeout(
                    Duration::from_secs(3_600),
                    reader.read(vec![0u8; 512]),
                )
                .await;
            }));
            wait_in_flight(1).await;
        }),
    }
    drop(runtime);
}

/// Waits (bounded) until at least `n` ops are in the kernel.
async fn wait_in_flight(n: usize) {
    util::within(10, "ops pending", async {
        while util::in_flight() < n {
            ringloop::yield_now().await;
        }
    })
    .await;
}

#[test]
fn thousand_runtimes_leak_no_fd_no_memory_no_thread() {
    let start = Instant::now();
    let fds_start = util::fd_count();
    for i in 0..WARM_UP {
        one_runtime(i);
    }
    let fds_warm = fds_settled(fds_start);
    let rss_warm = rss_kib();
    assert_eq!(
        fds_warm,
        fds_start,
        "fds leaked during the warm-up: {}",
        open_fds()
    );
    let mut rss_max = rss_warm;
    for i in WARM_UP..RUNTIMES {
        one_runtime(i);
        if i % 100 == 0 {
            assert_eq!(
                fds_settled(fds_warm),
                fds_warm,
                "fd count moved at runtime {i}: {}",
                open_fds()
            );
            rss_max = rss_max.max(rss_kib());
        }
    }
    let fds_end = fds_settled(fds_warm);
    let rss_end = rss_kib();
    rss_max = rss_max.max(rss_end);
    eprintln!(
        "{RUNTIMES} runtimes in {:?}; fds {fds_start} -> {fds_end}; VmRSS after warm-up \
         {rss_warm} KiB, at the end {rss_end} KiB (max {rss_max} KiB)",
        start.elapsed()
    );
    assert_eq!(fds_end, fds_warm, "fds leaked");
    if under_asan() {
        eprintln!("AddressSanitizer's quarantine keeps freed memory: RSS not checked");
    } else {
        assert!(
            rss_end < rss_warm + RSS_SLACK_KIB,
            "VmRSS grew from {rss_warm} KiB to {rss_end} KiB over {} runtimes",
            RUNTIMES - WARM_UP
        );
    }
    // Idle blocking-pool workers of dropped runtimes exit (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    while threads() > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        threads() <= 2,
        "blocking-pool threads outlived their runtimes: {} threads",
        threads()
    );
}
