//! Reliability: running out of file descriptors while accepting.
//!
//! `setrlimit` is process-wide, so the server runs in a child process (this
//! test binary re-executed with `CHILD_ENV` set, as in
//! `io_uring_refused.rs`): it lowers its soft `RLIMIT_NOFILE` to 64 and runs
//! the echo server's own handler (`echo::serve`, plain mode). The parent is
//! the client, with its fds unrestricted. It opens more connections than
//! the child can hold, so the child's accept fails with `EMFILE` while the
//! rest wait in the listen backlog. Checked:
//!
//! - the child counts the exhaustion (`Stats::fd_exhaustion`);
//! - while exhausted it does not spin: over a 300 ms window its CPU time
//!   (`getrusage(RUSAGE_SELF)`) stays under 100 ms, and it retries at the
//!   back-off pace (`echo::EMFILE_BACKOFF`, 20 ms), not thousands of times;
//! - it keeps serving: the connections it accepted echo; once the parent
//!   closes some, every connection that waited in the backlog is accepted
//!   and echoed, and so is a new one; no connection ended in an error.
//!
//! Control messages go over the child's stdin/stdout, one line each.

mod util;

#[path = "../examples/echo_server/echo.rs"]
#[allow(dead_code)] // only the plain mode is driven here
mod echo;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "RINGLOOP_RELIABILITY_EMFILE_CHILD";
/// The child's soft RLIMIT_NOFILE.
const CHILD_NOFILE: u64 = 64;
/// Connections the parent opens: more than the child can hold.
const CONNECTIONS: usize = 100;
const WINDOW: Duration = Duration::from_millis(300);
const MAX_CPU: Duration = Duration::from_millis(100);

fn cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one `rusage` into the live, writable `usage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn set_soft_nofile(soft: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the live, writable `lim`.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) },
        0
    );
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: setrlimit reads one valid `rlimit`; lowering the soft limit
    // needs no privilege and only affects this (child) process.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// The server's side: runs only when re-executed with `CHILD_ENV` set.
#[test]
fn emfile_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // not the child
    }
    let runtime = ringloop::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        set_soft_nofile(CHILD_NOFILE);
        let stats = Rc::new(echo::Stats::default());
        let server = ringloop::spawn(echo::serve(listener, stats.clone(), 1024));
        println!("ADDR {addr} FDS {}", util::fd_count());
        let report = |tag: &str| {
            println!(
                "{tag} connections={} active={} emfile={} errors={}",
                stats.connections.get(),
                stats.active.get(),
                stats.fd_exhaustion.get(),
                stats.errors.get()
            );
        };
        loop {
            let line = ringloop::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map(|_| line)
            })
            .await
            .unwrap()
            .unwrap();
            match line.trim() {
                "MEASURE" => {
                    // Wait (bounded) for the exhaustion, then measure.
                    let waited = Instant::now();
                    while stats.fd_exhaustion.get() == 0
                        && waited.elapsed() < Duration::from_secs(10)
                    {
                        ringloop::time::sleep(Duration::from_millis(5)).await;
                    }
                    ringloop::time::sleep(Duration::from_millis(50)).await;
                    let (cpu0, emfile0) = (cpu_time(), stats.fd_exhaustion.get());
                    ringloop::time::sleep(WINDOW).await;
                    let (cpu1, emfile1) = (cpu_time(), stats.fd_exhaustion.get());
                    println!(
                        "MEASURED cpu_us={} emfile_in_window={}",
                        (cpu1 - cpu0).as_micros(),
                        emfile1 - emfile0,
                    );
                    report("STATS");
                }
                "STATS" => report("STATS"),
                "EXIT" | "" => break,
                other => panic!("unknown command {other:?}"),
            }
        }
        assert!(!server.is_finished(), "the accept loop is still running");
        server.cancel();
    });
}

/// Kills the child if the parent fails half-way.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A line-oriented conversation with the child.
struct Control {
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Control {
    fn new(stdin: ChildStdin, stdout: ChildStdout) -> Control {
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Control { stdin, lines }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The rest of the next line that contains `prefix`, from `prefix` on
    /// (other output is skipped; libtest may print on the same line).
    fn expect(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(prefix) => {
                    return line[line.find(prefix).unwrap()..].to_owned();
                }
                Ok(_) => {}
                Err(err) => panic!("waiting for {prefix:?} from the child: {err}"),
            }
        }
    }
}

/// `key=value` from a child's report line.
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// Reads the 8-byte echo of `msg`, or `None` if none came within `wait`.
fn echo_of(conn: &mut TcpStream, msg: &[u8; 8], wait: Duration) -> Option<()> {
    conn.set_read_timeout(Some(wait)).unwrap();
    let mut back = [0u8; 8];
    match conn.read_exact(&mut back) {
        Ok(()) => {
            assert_eq!(&back, msg, "echoed bytes differ");
            Some(())
        }
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(err) => panic!("reading an echo: {err}"),
    }
}

fn message(i: usize) -> [u8; 8] {
    let mut msg = *b"conn0000";
    msg[4..].copy_from_slice(format!("{i:04}").as_bytes());
    msg
}

#[test]
fn accept_survives_fd_exhaustion_without_spinning() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // the child runs only `emfile_child`
    }
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let mut guard = ChildGuard(Some(child));
    let mut control = Control::new(stdin, stdout);
    let ready = control.expect("ADDR ");
    let addr: std::net::SocketAddr = ready.split_whitespace().nth(1).unwrap().parse().unwrap();
    let child_fds = field(&ready.replace("FDS ", "FDS="), "FDS");
    assert!(
        child_fds + 10 < CHILD_NOFILE,
        "the child starts with {child_fds} fds"
    );

    // More connections than the child can accept; each sends 8 bytes.
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|i| {
            let mut conn = TcpStream::connect(addr).unwrap();
            conn.write_all(&message(i)).unwrap();
            conn
        })
        .collect();

    control.send("MEASURE");
    let measured = control.expect("MEASURED");
    let stats = control.expect("STATS");
    eprintln!("child: {measured}; {stats}");
    let cpu = Duration::from_micros(field(&measured, "cpu_us"));
    let retries = field(&measured, "emfile_in_window");
    let accepted = field(&stats, "connections") as usize;
    assert!(
        field(&stats, "emfile") > 0,
        "accept never hit EMFILE: {stats}"
    );
    assert!(
        cpu < MAX_CPU,
        "the exhausted server used {cpu:?} of CPU in {WINDOW:?}: it spins"
    );
    // 300 ms / 20 ms back-off = 15 retries; a spinning loop does thousands.
    assert!(
        (3..=40).contains(&retries),
        "{retries} accept retries in {WINDOW:?} (expected about 15)"
    );
    assert!(
        accepted > CONNECTIONS / 3 && accepted < CONNECTIONS,
        "accepted {accepted} of {CONNECTIONS}"
    );

    // The accepted connections echo; the others wait in the backlog.
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for (i, conn) in conns.iter_mut().enumerate() {
        if echo_of(conn, &message(i), Duration::from_millis(20)).is_some() {
            served.push(i);
        } else {
            waiting.push(i);
        }
    }
    assert_eq!(served.len(), accepted, "served {served:?}");
    assert!(!waiting.is_empty());

    // Free fds in the child: close enough served connections for every
    // waiting one and a new one (and a few more), keep the rest open.
    let close = (waiting.len() + 4).min(served.len());
    let closing: Vec<usize> = served.iter().copied().take(close).collect();
    for &i in closing.iter().rev() {
        drop(conns.remove(i));
    }
    let index = |i: usize| i - closing.iter().filter(|&&c| c < i).count();
    for &i in &waiting {
        assert!(
            echo_of(&mut conns[index(i)], &message(i), Duration::from_secs(10)).is_some(),
            "connection {i} was never served after fds were freed"
        );
    }
    // A new connection is served too.
    let mut fresh = TcpStream::connect(addr).unwrap();
    fresh.write_all(&message(9_999)).unwrap();
    assert!(
        echo_of(&mut fresh, &message(9_999), Duration::from_secs(10)).is_some(),
        "a new connection was not served"
    );

    control.send("STATS");
    let stats = control.expect("STATS");
    eprintln!("child after recovery: {stats}");
    assert_eq!(
        field(&stats, "connections") as usize,
        CONNECTIONS + 1,
        "every connection was accepted once"
    );
    assert_eq!(field(&stats, "errors"), 0, "{stats}");

    drop(conns);
    drop(fresh);
    control.send("EXIT");
    let mut child = guard.0.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "child failed: {status}");
    eprintln!("fd exhaustion test took {:?}", start.elapsed());
}
