//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// A connected loopback TCP pair: (the connecting side, the accepted side).
pub async fn tcp_pair() -> (ringloop::net::TcpStream, ringloop::net::TcpStream) {
    let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = ringloop::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    (peer, accepted)
}

/// Runs `cycle(i)` for every `i` in `range`, `parallel` at a time: each of
/// `parallel` tasks takes the next `i` when its cycle is done. Returns once
/// every cycle has; a cycle's panic fails the caller.
pub async fn run_parallel<F, Fut>(range: std::ops::Range<u64>, parallel: u64, cycle: F)
where
    F: Fn(u64) -> Fut + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let next = std::rc::Rc::new(std::cell::Cell::new(range.start));
    let workers: Vec<_> = (0..parallel)
        .map(|_| {
            let (next, cycle, end) = (next.clone(), cycle.clone(), range.end);
            ringloop::spawn(async move {
                loop {
                    let i = next.get();
                    if i >= end {
                        return;
                    }
                    next.set(i + 1);
                    cycle(i).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
}

/// Reads from `stream` until it has `len` bytes; EOF before that fails.
pub async fn read_exactly(stream: &ringloop::net::TcpStream, len: usize) -> Vec<u8> {
    let mut received = Vec::with_capacity(len);
    while received.len() < len {
        let (res, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        let n = res.expect("read");
        assert!(
            n > 0,
            "the peer closed after {} of {len} bytes",
            received.len()
        );
        received.extend_from_slice(&buf);
    }
    received
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Awaits `fut`, failing the test if it takes longer than `secs`: a hang
/// becomes a clear failure instead of a stuck CI job.
pub async fn within<F: Future>(secs: u64, what: &str, fut: F) -> F::Output {
    match ringloop::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: did not finish within {secs} s"),
    }
}

/// A runtime with SQPOLL, or `None` (with a note on stderr) where the
/// kernel refuses it: the caller skips its test.
pub fn sqpoll_runtime() -> Option<ringloop::Runtime> {
    match ringloop::Runtime::builder()
        .sqpoll(Duration::from_millis(100))
        .build()
    {
        Ok(rt) => Some(rt),
        Err(err) => {
            eprintln!("skipped: SQPOLL unavailable here: {err}");
            None
        }
    }
}

/// Ops the current runtime's kernel still owns.
pub fn in_flight() -> usize {
    ringloop::runtime::metrics()
        .expect("inside a runtime")
        .ops_in_flight
}

/// A small deterministic PRNG (xorshift64*), so tests are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A per-test directory under `std::env::temp_dir()`, removed (with its
/// contents) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    /// A fresh, empty directory whose name contains `tag`, the process id
    /// and a per-process counter, so parallel tests never share one.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("ringloop-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create the test's temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<std::path::Path>) -> std::path::PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Whether `::1` can be bound here (IPv6 may be disabled in containers).
/// Prints why a test is skipped when it cannot.
pub fn ipv6_loopback(test: &str) -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(err) => {
            println!("{test}: skipped, cannot bind [::1]: {err}");
            false
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit if the soft one is
/// below `needed`. Returns the soft limit in force afterwards, or `None`
/// (after printing why) when even the hard limit is below `needed`.
pub fn raise_nofile(needed: u64) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the live, writable `lim`.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if lim.rlim_max < needed {
        println!(
            "RLIMIT_NOFILE hard limit is {} (< {needed} needed): skipped",
            lim.rlim_max
        );
        return None;
    }
    if lim.rlim_cur < needed {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads one valid `rlimit`; raising the soft limit
        // up to the hard one needs no privilege and only affects this
        // process.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) };
        assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
    }
    Some(lim.rlim_cur)
}

/// An endless deterministic byte stream: the same seed yields the same
/// bytes however the stream is cut into chunks.
#[derive(Clone, Debug)]
pub struct ByteStream {
    rng: Rng,
    word: [u8; 8],
    /// Bytes of `word` already handed out (8: none left).
    used: usize,
}

impl ByteStream {
    pub fn new(seed: u64) -> ByteStream {
        ByteStream {
            rng: Rng::new(seed),
            word: [0; 8],
            used: 8,
        }
    }

    /// Fills `buf` with the next `buf.len()` bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut out = buf;
        // Leftover bytes of the current word first.
        if self.used < 8 {
            let n = (8 - self.used).min(out.len());
            out[..n].copy_from_slice(&self.word[self.used..self.used + n]);
            self.used += n;
            out = &mut out[n..];
        }
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            self.word = self.rng.next_u64().to_le_bytes();
            rest.copy_from_slice(&self.word[..rest.len()]);
            self.used = rest.len();
        }
    }

    /// The next `n` bytes as a new `Vec`.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Whether seeded fault injection is on (`--features fault-injection` with
/// `RINGLOOP_FAULT_SEED`): a stream transfer may then legally be short.
pub fn faults() -> bool {
    std::env::var_os("RINGLOOP_FAULT_SEED").is_some()
}

/// Asserts that one read or write moved `n` of `len` bytes: all of them,
/// or, under fault injection, at least one.
pub fn assert_transfer(n: usize, len: usize) {
    if faults() {
        assert!((len.min(1)..=len).contains(&n), "moved {n} of {len} bytes");
    } else {
        assert_eq!(n, len, "moved {n} of {len} bytes");
    }
}

/// Open options that contradict themselves, each with what is wrong:
/// opening with any of them must fail with `InvalidInput` and touch no
/// file.
pub fn contradictory_open_options() -> Vec<(&'static str, ringloop::fs::OpenOptions)> {
    use ringloop::fs::OpenOptions;
    let with = |set: fn(&mut OpenOptions)| {
        let mut o = OpenOptions::new();
        set(&mut o);
        o
    };
    vec![
        ("nothing set", OpenOptions::new()),
        (
            "create without any access",
            with(|o| {
                o.create(true);
            }),
        ),
        (
            "truncate without write",
            with(|o| {
                o.read(true).truncate(true);
            }),
        ),
        (
            "create without write",
            with(|o| {
                o.read(true).create(true);
            }),
        ),
        (
            "create_new without write",
            with(|o| {
                o.read(true).create_new(true);
            }),
        ),
        (
            "truncate with append",
            with(|o| {
                o.append(true).truncate(true);
            }),
        ),
    ]
}

/// The kernel's errno of an error: on the error itself, or on an
/// `io::Error` in its chain of sources (the fs calls wrap it with the path).
pub fn errno_of(err: &std::io::Error) -> Option<i32> {
    if let Some(errno) = err.raw_os_error() {
        return Some(errno);
    }
    let mut source = err
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    // Bounded: a chain that loops must not hang the test.
    for _ in 0..8 {
        let current = source?;
        if let Some(errno) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Some(errno);
        }
        source = current.source();
    }
    None
}
