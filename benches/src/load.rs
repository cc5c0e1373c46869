//! `echo-load`: a single-threaded io_uring echo client.
//!
//! Every connection keeps `--pipeline` messages of `--size` bytes in
//! flight. Payloads are slices of one pseudo-random table, read at a
//! per-connection offset, so the echoed byte stream of each connection is a
//! known sequence: `--verify` compares every received byte with it. A
//! message is complete once the connection has received as many bytes as
//! the end of that message; its latency runs from the loop iteration that
//! queued it to the one that saw the last byte come back.
//!
//! The client is built to stay out of the way: registered files, one
//! multishot receive per connection feeding from a provided-buffer ring,
//! one send per connection at a time (coalescing whatever is queued), one
//! `io_uring_enter` per loop iteration, `DEFER_TASKRUN`.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use serde::{Deserialize, Serialize};

use crate::args::Args;
use crate::common::{
    XorShift, clock_ticks_per_sec, cpu_pressure_us, now_ns, pin_to_cpu, proc_cpu_ticks,
    raise_nofile, self_cpu_ns,
};
use crate::hist::Histogram;
use crate::uring_util::{BufRing, push_sqe};

/// Help text.
pub const USAGE: &str = "\
echo-load --addr HOST:PORT [options]
  --conns N            connections (default 1)
  --size BYTES         message size (default 64)
  --pipeline N         messages in flight per connection (default 1)
  --secs S             measured window (default 5)
  --warmup S           traffic before the window, not measured (default 1)
  --verify             check every echoed byte against the sent pattern
  --discard            receive with MSG_TRUNC: the kernel drops echoed bytes
                       without copying them (halves the client's copying;
                       excludes --verify)
  --busy-poll          never sleep in io_uring_enter (lowest latency, 100% CPU)
  --json               print the report as one JSON line
  --server-pid PID     also report the server's CPU time over the window
  --max-msgs N         end the window after N messages
  --cpu N              pin to CPU N
  --events             print `event primed|window-start|window-end` lines
                       (primed: every connection has had one echo back)
  --window-on-signal   start the window on SIGUSR1 instead of after --warmup
                       (then --warmup is the longest wait for the signal)
  --seed N             pattern seed (default 1)
  --connect-timeout S  (default 10)   --drain-timeout S (default 3)";

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Number of connections.
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Measured window, seconds.
    pub secs: f64,
    /// Unmeasured traffic before the window, seconds.
    pub warmup: f64,
    /// Check every echoed byte.
    pub verify: bool,
    /// Spin instead of sleeping for completions.
    pub busy_poll: bool,
    /// Receive with MSG_TRUNC (no copy, no verification).
    pub discard: bool,
    /// Sample this process's CPU time over the window.
    pub server_pid: Option<i32>,
    /// Stop the window after this many messages.
    pub max_msgs: Option<u64>,
    /// Print window events on stdout.
    pub events: bool,
    /// Start the window on SIGUSR1 (warm-up lasts until then, at most
    /// `warmup` seconds).
    pub window_on_signal: bool,
    /// Pattern seed.
    pub seed: u64,
    /// Bound on connecting all connections, seconds.
    pub connect_timeout: f64,
    /// Bound on collecting in-flight echoes after the window, seconds.
    pub drain_timeout: f64,
}

impl LoadConfig {
    /// Parses the options of [`USAGE`].
    pub fn from_args(a: &mut Args) -> Result<(Self, bool, Option<usize>), String> {
        let addr: SocketAddr = a.value("--addr")?.ok_or("--addr is required")?;
        let cfg = LoadConfig {
            addr,
            conns: a.value_or("--conns", 1)?,
            size: a.value_or("--size", 64)?,
            pipeline: a.value_or("--pipeline", 1)?,
            secs: a.value_or("--secs", 5.0)?,
            warmup: a.value_or("--warmup", 1.0)?,
            verify: a.flag("--verify"),
            busy_poll: a.flag("--busy-poll"),
            discard: a.flag("--discard"),
            server_pid: a.value("--server-pid")?,
            max_msgs: a.value("--max-msgs")?,
            events: a.flag("--events"),
            window_on_signal: a.flag("--window-on-signal"),
            seed: a.value_or("--seed", 1)?,
            connect_timeout: a.value_or("--connect-timeout", 10.0)?,
            drain_timeout: a.value_or("--drain-timeout", 3.0)?,
        };
        let json = a.flag("--json");
        let cpu = a.value("--cpu")?;
        if cfg.discard && cfg.verify {
            return Err("--discard and --verify exclude each other".into());
        }
        if cfg.conns == 0 || cfg.conns > 60_000 {
            return Err("--conns must be 1..=60000".into());
        }
        if cfg.size == 0 || cfg.pipeline == 0 || cfg.size * cfg.pipeline > 16 << 20 {
            return Err("--size and --pipeline must be >= 1, size*pipeline <= 16 MiB".into());
        }
        let bad = |s: f64| !(0.0..=3600.0).contains(&s);
        if bad(cfg.secs) || cfg.secs == 0.0 || bad(cfg.warmup) || bad(cfg.drain_timeout) {
            return Err("--secs/--warmup/--drain-timeout out of range (0..3600)".into());
        }
        Ok((cfg, json, cpu))
    }
}

/// What happened. Always produced, with `error` set on failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// Connections.
    pub conns: usize,
    /// Message size.
    pub size: usize,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Length of the measured window, seconds.
    pub window_secs: f64,
    /// Messages echoed completely within the window.
    pub msgs: u64,
    /// Payload bytes echoed within the window (one direction).
    pub bytes: u64,
    /// Messages per second.
    pub msgs_per_sec: f64,
    /// Echoed payload, 10^6 bytes per second (one direction).
    pub mb_per_sec: f64,
    /// Round-trip latency percentiles and extremes, microseconds.
    pub lat_p50_us: f64,
    /// 99th percentile.
    pub lat_p99_us: f64,
    /// 99.9th percentile.
    pub lat_p999_us: f64,
    /// Mean.
    pub lat_mean_us: f64,
    /// Maximum.
    pub lat_max_us: f64,
    /// This process's CPU time over the window, seconds.
    pub gen_cpu_secs: f64,
    /// Share of the window this process was not on a CPU (0..1).
    pub gen_idle_share: f64,
    /// The server's utime+stime over the window, seconds.
    pub server_cpu_secs: Option<f64>,
    /// Server CPU time per echoed message, microseconds.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Share of the window in which some task waited for a CPU
    /// (`/proc/pressure/cpu`): other load on the machine. None without PSI.
    #[serde(default)]
    pub cpu_pressure_share: Option<f64>,
    /// Time to connect every connection, milliseconds.
    pub connect_ms: f64,
    /// Whether every byte was checked.
    pub verify: bool,
    /// Bytes checked against the pattern (whole run).
    pub verified_bytes: u64,
    /// Whether the client spun.
    pub busy_poll: bool,
    /// Why the run failed.
    pub error: Option<String>,
}

/// Period of the pattern table: not a power of two and not a multiple of
/// any message size, so a shifted or cross-wired stream cannot line up.
const PERIOD: usize = (1 << 20) + 4099;
const OP_RECV: u64 = 1;
const OP_SEND: u64 = 2;
const BGID: u16 = 7;
/// `IORING_ENTER_GETEVENTS` (the crate keeps its `sys` module private).
const IORING_ENTER_GETEVENTS: u32 = 1;

static GOT_USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_sig: libc::c_int) {
    GOT_USR1.store(true, Ordering::Relaxed);
}

/// SIGUSR1 sets [`GOT_USR1`]; no SA_RESTART, so a waiting io_uring_enter
/// returns EINTR and the loop sees the flag at once.
fn catch_usr1() {
    // SAFETY: a zeroed sigaction with a plain handler and an empty mask is
    // valid; the handler only stores to an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

#[inline]
fn ud(conn: usize, op: u64) -> u64 {
    ((conn as u64) << 8) | op
}

struct Conn {
    /// Offset of this connection's stream in the table.
    base: usize,
    /// Bytes the kernel has taken.
    sent: u64,
    /// Bytes the client wants sent (end of the last queued message).
    queued: u64,
    /// A send is in flight.
    sending: bool,
    /// In the list of connections to send on.
    dirty: bool,
    /// Bytes received.
    recvd: u64,
    /// Messages completely echoed.
    done: u64,
    /// Queue time of message k at `ts[k % pipeline]`.
    ts: Box<[u64]>,
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Phase {
    Warmup,
    Measure,
    Drain,
}

struct Window {
    t0: u64,
    cpu0: u64,
    srv0: Option<u64>,
    psi0: Option<u64>,
}

/// Runs the load and returns the report (with `error` set on failure).
pub fn run(cfg: &LoadConfig) -> LoadReport {
    let mut report = LoadReport {
        conns: cfg.conns,
        size: cfg.size,
        pipeline: cfg.pipeline,
        verify: cfg.verify,
        busy_poll: cfg.busy_poll,
        ..Default::default()
    };
    if let Err(e) = run_inner(cfg, &mut report) {
        report.error = Some(e);
    }
    report
}

fn connect_all(cfg: &LoadConfig) -> Result<Vec<TcpStream>, String> {
    raise_nofile(cfg.conns as u64 + 256);
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.connect_timeout);
    let mut streams = Vec::with_capacity(cfg.conns);
    for i in 0..cfg.conns {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "connect timeout: {i} of {} connections after {}s",
                cfg.conns, cfg.connect_timeout
            ));
        }
        let s = TcpStream::connect_timeout(&cfg.addr, left)
            .map_err(|e| format!("connect #{i} to {}: {e}", cfg.addr))?;
        s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        streams.push(s);
    }
    Ok(streams)
}

fn build_ring(entries: u32) -> io::Result<IoUring> {
    let fast = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .setup_cqsize(entries * 4)
        .build(entries);
    match fast {
        Ok(r) => Ok(r),
        // Kernels before 6.1: no DEFER_TASKRUN.
        Err(_) => IoUring::builder().setup_cqsize(entries * 4).build(entries),
    }
}

fn push(
    sq: &mut io_uring::SubmissionQueue<'_>,
    submitter: &io_uring::Submitter<'_>,
    entry: &squeue::Entry,
) -> Result<(), String> {
    // SAFETY: every entry pushed here points at memory that outlives the
    // ring: the leaked pattern table, or registered files and the buffer
    // ring, which stay alive for the whole run.
    unsafe { push_sqe(sq, submitter, entry) }.map_err(|e| format!("io_uring_enter: {e}"))
}

fn run_inner(cfg: &LoadConfig, report: &mut LoadReport) -> Result<(), String> {
    let (size, pipe) = (cfg.size, cfg.pipeline);
    if cfg.window_on_signal {
        catch_usr1();
    }
    let max_send = (size * pipe).max(65536);

    // The pattern table, leaked so that it outlives any in-flight send.
    let mut rng = XorShift::new(cfg.seed);
    let mut table = vec![0u8; PERIOD + max_send];
    for chunk in table[..PERIOD].chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    table.copy_within(0..max_send, PERIOD);
    let table: &'static [u8] = table.leak();

    let t_connect = Instant::now();
    let streams = connect_all(cfg)?;
    report.connect_ms = t_connect.elapsed().as_secs_f64() * 1e3;
    let fds: Vec<RawFd> = streams.iter().map(|s| s.as_raw_fd()).collect();

    let entries = (cfg.conns * 2).next_power_of_two().clamp(64, 4096) as u32;
    let mut ring = build_ring(entries).map_err(|e| format!("io_uring setup: {e}"))?;
    ring.submitter()
        .register_files(&fds)
        .map_err(|e| format!("register_files: {e}"))?;
    let buf_size = (size * pipe).clamp(4096, 65536);
    let nbufs = (cfg.conns * 2).next_power_of_two().clamp(64, 16384) as u16;
    let mut bufs = BufRing::new(&ring.submitter(), nbufs, buf_size, BGID)
        .map_err(|e| format!("buffer ring: {e}"))?;

    let (mut submitter, mut sq, mut cq) = ring.split();
    // Saves a file lookup per io_uring_enter; optional.
    let _ = submitter.register_ring_fd();

    let mut base_rng = XorShift::new(cfg.seed ^ 0xA5A5_5A5A);
    let mut conns: Vec<Conn> = (0..cfg.conns)
        .map(|_| Conn {
            base: (base_rng.next_u64() % PERIOD as u64) as usize,
            sent: 0,
            queued: 0,
            sending: false,
            dirty: false,
            recvd: 0,
            done: 0,
            ts: vec![0; pipe].into_boxed_slice(),
        })
        .collect();

    let recv_entry = |i: usize| {
        opcode::RecvMulti::new(types::Fixed(i as u32), BGID)
            .flags(if cfg.discard { libc::MSG_TRUNC } else { 0 })
            .build()
            .user_data(ud(i, OP_RECV))
    };
    for i in 0..cfg.conns {
        push(&mut sq, &submitter, &recv_entry(i))?;
    }

    let ticks = clock_ticks_per_sec() as f64;
    let server_ticks = || cfg.server_pid.and_then(|p| proc_cpu_ticks(p).ok());
    let event = |what: &str| {
        if cfg.events {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "event {what}");
            let _ = out.flush();
        }
    };

    let mut hist = Histogram::new();
    let mut msgs: u64 = 0;
    let mut outstanding: u64 = 0; // queued bytes not yet echoed
    let mut verified: u64 = 0;
    let mut primed: usize = 0; // connections that have had an echo back
    let mut dirty: Vec<usize> = Vec::with_capacity(cfg.conns);
    let mut starved: Vec<usize> = Vec::new();
    let mut rearm: Vec<usize> = Vec::new();

    let start = now_ns();
    let warm_end = start + (cfg.warmup * 1e9) as u64;
    let mut drain_end = u64::MAX;
    let mut phase = Phase::Warmup;
    let mut window = Window {
        t0: start,
        cpu0: self_cpu_ns(),
        srv0: server_ticks(),
        psi0: cpu_pressure_us(),
    };
    let mut window_end: Option<(u64, u64, Option<u64>, Option<u64>)> = None;
    if cfg.warmup == 0.0 && !cfg.window_on_signal {
        phase = Phase::Measure;
        event("window-start");
    }

    // Initial messages.
    for (i, c) in conns.iter_mut().enumerate() {
        for _ in 0..pipe {
            let k = (c.queued / size as u64) as usize;
            c.ts[k % pipe] = start;
            c.queued += size as u64;
            outstanding += size as u64;
        }
        c.dirty = true;
        dirty.push(i);
    }

    loop {
        // Issue sends for connections with queued bytes and no send in flight.
        for i in dirty.drain(..) {
            let c = &mut conns[i];
            c.dirty = false;
            if c.sending || c.queued == c.sent {
                continue;
            }
            let len = ((c.queued - c.sent) as usize).min(max_send);
            let off = ((c.base as u64 + c.sent) % PERIOD as u64) as usize;
            let entry =
                opcode::Send::new(types::Fixed(i as u32), table[off..].as_ptr(), len as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .user_data(ud(i, OP_SEND));
            push(&mut sq, &submitter, &entry)?;
            c.sending = true;
        }
        for i in rearm.drain(..) {
            push(&mut sq, &submitter, &recv_entry(i))?;
        }

        sq.sync();
        let res = if cfg.busy_poll {
            // SAFETY: no extra argument is passed (size 0, null pointer).
            unsafe {
                submitter.enter::<libc::sigset_t>(sq.len() as u32, 0, IORING_ENTER_GETEVENTS, None)
            }
        } else {
            let deadline = match phase {
                Phase::Warmup => warm_end,
                Phase::Measure => window.t0 + (cfg.secs * 1e9) as u64,
                Phase::Drain => drain_end,
            };
            let wait = deadline.saturating_sub(now_ns()).max(1000);
            let ts = types::Timespec::new()
                .sec(wait / 1_000_000_000)
                .nsec((wait % 1_000_000_000) as u32);
            let args = types::SubmitArgs::new().timespec(&ts);
            submitter.submit_with_args(1, &args)
        };
        if let Err(e) = res {
            match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                _ => return Err(format!("io_uring_enter: {e}")),
            }
        }
        sq.sync();
        cq.sync();
        let now = now_ns();
        let measuring = phase == Phase::Measure;
        let refill = phase != Phase::Drain;

        for cqe in &mut cq {
            let data = cqe.user_data();
            let i = (data >> 8) as usize;
            let res = cqe.result();
            let flags = cqe.flags();
            let c = &mut conns[i];
            match data & 0xff {
                OP_RECV => {
                    if res > 0 {
                        let n = res as usize;
                        let bid = cqueue::buffer_select(flags)
                            .ok_or("receive completion without a buffer")?;
                        if c.recvd + n as u64 > c.queued {
                            return Err(format!(
                                "conn {i}: server echoed {} bytes but only {} were sent",
                                c.recvd + n as u64,
                                c.queued
                            ));
                        }
                        if cfg.verify {
                            let off = ((c.base as u64 + c.recvd) % PERIOD as u64) as usize;
                            // SAFETY: the kernel filled `n` bytes of `bid`
                            // for this completion; it is recycled below.
                            let got = unsafe { bufs.data(bid, n) };
                            let want = &table[off..off + n];
                            if got != want {
                                let at =
                                    got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
                                return Err(format!(
                                    "verify: conn {i} stream byte {}: got {:#04x}, expected {:#04x}",
                                    c.recvd + at as u64,
                                    got[at],
                                    want[at]
                                ));
                            }
                            verified += n as u64;
                        }
                        bufs.recycle(bid);
                        c.recvd += n as u64;
                        outstanding -= n as u64;
                        let done_now = c.recvd / size as u64;
                        if c.done == 0 && done_now > 0 {
                            primed += 1;
                            if primed == cfg.conns {
                                event("primed");
                            }
                        }
                        while c.done < done_now {
                            let slot = (c.done % pipe as u64) as usize;
                            if measuring {
                                hist.record(now.saturating_sub(c.ts[slot]));
                                msgs += 1;
                            }
                            c.done += 1;
                            if refill {
                                c.ts[slot] = now;
                                c.queued += size as u64;
                                outstanding += size as u64;
                                if !c.dirty {
                                    c.dirty = true;
                                    dirty.push(i);
                                }
                            }
                        }
                        if !cqueue::more(flags) {
                            rearm.push(i);
                        }
                    } else if res == 0 {
                        return Err(format!(
                            "conn {i}: server closed the connection after {} bytes",
                            c.recvd
                        ));
                    } else if -res == libc::ENOBUFS {
                        starved.push(i);
                    } else {
                        return Err(format!(
                            "conn {i}: recv: {}",
                            io::Error::from_raw_os_error(-res)
                        ));
                    }
                }
                OP_SEND => {
                    c.sending = false;
                    if res < 0 {
                        return Err(format!(
                            "conn {i}: send: {}",
                            io::Error::from_raw_os_error(-res)
                        ));
                    }
                    c.sent += res as u64;
                    if c.queued > c.sent && !c.dirty {
                        c.dirty = true;
                        dirty.push(i);
                    }
                }
                _ => return Err(format!("unexpected completion {data:#x}")),
            }
        }
        // Hand the consumed entries back before the next io_uring_enter:
        // a stale CQ head makes the kernel think completions are pending
        // and return at once (a silent busy loop).
        cq.sync();
        bufs.publish();
        // Multishot receives stopped for lack of buffers restart now that
        // this iteration's buffers are back.
        rearm.append(&mut starved);

        match phase {
            Phase::Warmup
                if (cfg.window_on_signal && GOT_USR1.load(Ordering::Relaxed))
                    || (!cfg.window_on_signal && now >= warm_end) =>
            {
                phase = Phase::Measure;
                window = Window {
                    t0: now,
                    cpu0: self_cpu_ns(),
                    srv0: server_ticks(),
                    psi0: cpu_pressure_us(),
                };
                hist.clear();
                msgs = 0;
                event("window-start");
            }
            Phase::Warmup if cfg.window_on_signal && now >= warm_end => {
                return Err(format!("no SIGUSR1 within {}s", cfg.warmup));
            }
            Phase::Measure
                if now >= window.t0 + (cfg.secs * 1e9) as u64
                    || cfg.max_msgs.is_some_and(|m| msgs >= m) =>
            {
                window_end = Some((now, self_cpu_ns(), server_ticks(), cpu_pressure_us()));
                event("window-end");
                phase = Phase::Drain;
                drain_end = now + (cfg.drain_timeout * 1e9) as u64;
            }
            Phase::Drain if outstanding == 0 => break,
            Phase::Drain if now >= drain_end => {
                return Err(format!(
                    "{outstanding} bytes still not echoed {}s after the window",
                    cfg.drain_timeout
                ));
            }
            _ => {}
        }
    }

    let (t1, cpu1, srv1, psi1) = window_end.expect("window ended");
    let wall = (t1 - window.t0) as f64 / 1e9;
    report.window_secs = wall;
    report.msgs = msgs;
    report.bytes = msgs * size as u64;
    report.msgs_per_sec = msgs as f64 / wall;
    report.mb_per_sec = report.bytes as f64 / wall / 1e6;
    report.lat_p50_us = hist.quantile(0.5) as f64 / 1e3;
    report.lat_p99_us = hist.quantile(0.99) as f64 / 1e3;
    report.lat_p999_us = hist.quantile(0.999) as f64 / 1e3;
    report.lat_mean_us = hist.mean() / 1e3;
    report.lat_max_us = hist.max() as f64 / 1e3;
    report.gen_cpu_secs = (cpu1 - window.cpu0) as f64 / 1e9;
    report.gen_idle_share = (1.0 - report.gen_cpu_secs / wall).clamp(0.0, 1.0);
    if let (Some(a), Some(b)) = (window.srv0, srv1) {
        let secs = (b.saturating_sub(a)) as f64 / ticks;
        report.server_cpu_secs = Some(secs);
        if msgs > 0 {
            report.server_cpu_us_per_msg = Some(secs * 1e6 / msgs as f64);
        }
    }
    if let (Some(a), Some(b)) = (window.psi0, psi1) {
        report.cpu_pressure_share = Some((b.saturating_sub(a) as f64 / 1e6 / wall).clamp(0.0, 1.0));
    }
    report.verified_bytes = verified;
    if msgs == 0 {
        return Err("no message was echoed in the window".into());
    }
    // `ring` (declared after `streams`) drops first, then the sockets close.
    Ok(())
}

/// Entry point shared by the `echo-load` binary and `ringloop-bench load`.
pub fn main_with_args(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let mut a = Args::new(argv);
    if a.flag("--help") || a.flag("-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = LoadConfig::from_args(&mut a).and_then(|c| a.finish().map(|_| c));
    let (cfg, json, cpu) = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo-load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(cpu) = cpu
        && let Err(e) = pin_to_cpu(cpu)
    {
        eprintln!("echo-load: pin to CPU {cpu}: {e}");
        return ExitCode::from(2);
    }
    let r = run(&cfg);
    if json {
        println!("{}", serde_json::to_string(&r).expect("serializable"));
    } else {
        print_human(&r);
    }
    match &r.error {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("echo-load: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_human(r: &LoadReport) {
    println!(
        "conns={} size={} pipeline={} window={:.2}s{}{}",
        r.conns,
        r.size,
        r.pipeline,
        r.window_secs,
        if r.verify { " verify" } else { "" },
        if r.busy_poll { " busy-poll" } else { "" }
    );
    println!(
        "msgs/s={:.0} MB/s={:.2} msgs={}",
        r.msgs_per_sec, r.mb_per_sec, r.msgs
    );
    println!(
        "latency us: p50={:.1} p99={:.1} p99.9={:.1} mean={:.1} max={:.1}",
        r.lat_p50_us, r.lat_p99_us, r.lat_p999_us, r.lat_mean_us, r.lat_max_us
    );
    println!(
        "generator: cpu={:.3}s idle={:.1}% connect={:.1}ms verified={}B cpu-pressure={}",
        r.gen_cpu_secs,
        r.gen_idle_share * 100.0,
        r.connect_ms,
        r.verified_bytes,
        r.cpu_pressure_share
            .map_or("n/a".into(), |p| format!("{:.1}%", p * 100.0))
    );
    if let Some(s) = r.server_cpu_secs {
        println!(
            "server: cpu={:.3}s per-msg={:.3}us",
            s,
            r.server_cpu_us_per_msg.unwrap_or(0.0)
        );
    }
}
