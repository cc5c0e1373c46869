//! The driver: runs every server over the matrix, interleaved, with the
//! server pinned to one CPU and the generator to another; then counts
//! syscalls per message under strace, and writes the report.

mod paired;
mod procs;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::args::Args;
use crate::common::{pin_to_cpu, proc_status_kib, raise_nofile};
use crate::load::LoadReport;
use crate::servers::{Kind, SERVERS, ServerSpec};
use procs::{Guard, Server, run_load, tail};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// One point of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    /// Connections.
    pub conns: usize,
    /// Message size, bytes.
    pub size: usize,
    /// Server read buffer, bytes.
    pub buf: usize,
}

impl Point {
    /// `256 conns x 64 B`.
    pub fn label(&self) -> String {
        let s = if self.conns == 1 { "" } else { "s" };
        format!("{} conn{s} × {}", self.conns, human_bytes(self.size))
    }

    /// `256x64B`, for charts.
    pub fn short(&self) -> String {
        format!("{}×{}", self.conns, human_bytes(self.size).replace(' ', ""))
    }
}

fn human_bytes(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// The default matrix: conns {1,16,256,1024} x size {64 B, 4 KiB} with a
/// 4 KiB server buffer, plus 16 conns x 64 KiB with a 64 KiB buffer.
pub fn default_points() -> Vec<Point> {
    let mut v = Vec::new();
    for size in [64, 4096] {
        for conns in [1, 16, 256, 1024] {
            v.push(Point {
                conns,
                size,
                buf: 4096,
            });
        }
    }
    v.push(Point {
        conns: 16,
        size: 65536,
        buf: 65536,
    });
    v
}

/// One server at one point in one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Server name.
    pub server: String,
    /// Matrix point.
    pub point: Point,
    /// Round, from 0.
    pub round: usize,
    /// Generator report, when the run succeeded.
    pub load: Option<LoadReport>,
    /// Server VmHWM, KiB.
    pub rss_kib: Option<u64>,
    /// What went wrong.
    pub error: Option<String>,
    /// Server did not exit cleanly on SIGTERM (reported, not fatal).
    pub shutdown_issue: Option<String>,
}

/// Syscall count of one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyscallRecord {
    /// Server name.
    pub server: String,
    /// Messages echoed in the traced window.
    pub msgs: u64,
    /// Syscalls counted by strace -c over the window.
    pub total: u64,
    /// Per-syscall counts, largest first.
    pub by_call: Vec<(String, u64)>,
    /// Throughput while traced.
    pub msgs_per_sec: f64,
    /// What went wrong.
    pub error: Option<String>,
}

/// Machine and software the run was on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    /// UTC date and time.
    pub date: String,
    /// CPU model (lscpu).
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// uname -r.
    pub kernel: String,
    /// rustc -V.
    pub rustc: String,
    /// The command that produced it.
    pub command: String,
    /// Quick (smoke) run.
    pub quick: bool,
    /// Rounds.
    pub rounds: usize,
    /// Measured seconds per run.
    pub secs: f64,
    /// Warm-up seconds per run.
    pub warmup: f64,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Whether the generator verified every byte.
    pub verify: bool,
    /// Whether the generator spun (busy-poll) at 1-connection points.
    #[serde(default)]
    pub busy_poll_1conn: bool,
    /// CPU of the servers.
    pub server_cpu: usize,
    /// CPU of the generator.
    pub load_cpu: usize,
    /// Traced window for syscalls, seconds.
    pub syscall_secs: f64,
    /// Wall time of the whole run, seconds.
    pub elapsed_secs: f64,
}

/// Server list entry as stored in the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Name.
    pub name: String,
    /// Description.
    pub about: String,
    /// Baseline, raw, runtime.
    pub kind: String,
    /// Crate and version.
    pub version: Option<String>,
    /// Why it was not run.
    pub unavailable: Option<String>,
}

/// Everything a report is made from (`benches/results/echo.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Where and how.
    pub meta: Meta,
    /// Servers, run or not.
    pub servers: Vec<ServerInfo>,
    /// Matrix points.
    pub points: Vec<Point>,
    /// Every run.
    pub runs: Vec<RunRecord>,
    /// Syscall counts.
    pub syscalls: Vec<SyscallRecord>,
}

const ECHO_USAGE: &str = "\
cargo run --release -p ringloop-bench -- echo [options]
  --quick              smoke run: 1 round, 0.5 s windows (under 2 minutes)
  --rounds N           rounds, servers interleaved round-robin (default 3)
  --secs S             measured seconds per run (default 4)
  --warmup S           warm-up seconds per run (default 1)
  --servers a,b,c      only these servers (tokio is always kept as the baseline)
  --points C×S,...     only these points, e.g. 1x64,1024x4096,16x65536
  --pipeline N         messages in flight per connection (default 1)
  --no-verify          do not check echoed bytes; the generator discards them
                       in the kernel (MSG_TRUNC), which gives it more headroom
  --no-busy-poll       let the generator sleep at 1-connection points too
  --no-syscalls        skip the strace pass
  --syscall-secs S     traced window per server (default 3)
  --out PATH           report path (default docs/benchmarks.md); --no-doc: none
  --results DIR        JSON + SVG directory (default benches/results)
  --server-cpu N       CPU for servers (default 0)
  --load-cpu N         CPU for the generator (default 1)";

/// Resolved options of `echo`.
#[derive(Debug, Clone)]
struct EchoOpts {
    rounds: usize,
    secs: f64,
    warmup: f64,
    quick: bool,
    servers: Vec<&'static ServerSpec>,
    points: Vec<Point>,
    pipeline: usize,
    verify: bool,
    busy_poll_1conn: bool,
    syscalls: bool,
    syscall_secs: f64,
    out: Option<PathBuf>,
    results: PathBuf,
    server_cpu: usize,
    load_cpu: usize,
}

fn repo_path(rel: &str) -> PathBuf {
    Path::new(MANIFEST_DIR)
        .parent()
        .unwrap_or(Path::new(".."))
        .join(rel)
}

fn parse_points(s: &str) -> Result<Vec<Point>, String> {
    s.split(',')
        .map(|p| {
            let (c, z) = p
                .split_once(['x', 'X', '×'])
                .ok_or_else(|| format!("point {p:?}: want CONNSxSIZE"))?;
            let conns: usize = c.trim().parse().map_err(|_| format!("point {p:?}"))?;
            let size: usize = z.trim().parse().map_err(|_| format!("point {p:?}"))?;
            if conns == 0 || size == 0 {
                return Err(format!("point {p:?}: zero"));
            }
            Ok(Point {
                conns,
                size,
                buf: if size > 4096 { 65536 } else { 4096 },
            })
        })
        .collect()
}

fn select_servers(filter: Option<String>) -> Result<Vec<&'static ServerSpec>, String> {
    let wanted: Option<Vec<String>> =
        filter.map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
    if let Some(w) = &wanted {
        for name in w {
            if !SERVERS.iter().any(|s| s.name == name) {
                let all: Vec<&str> = SERVERS.iter().map(|s| s.name).collect();
                return Err(format!(
                    "unknown server {name:?} (have: {})",
                    all.join(", ")
                ));
            }
        }
    }
    Ok(SERVERS
        .iter()
        .filter(|s| s.run.is_ok())
        .filter(|s| {
            s.kind == Kind::Baseline
                || match &wanted {
                    Some(w) => w.iter().any(|n| n == s.name),
                    // Feature variants run only when asked for.
                    None => s.kind != Kind::Variant,
                }
        })
        .collect())
}

fn parse_echo(a: &mut Args) -> Result<EchoOpts, String> {
    let quick = a.flag("--quick");
    let o = EchoOpts {
        rounds: a.value_or("--rounds", if quick { 1 } else { 3 })?,
        secs: a.value_or("--secs", if quick { 0.5 } else { 4.0 })?,
        warmup: a.value_or("--warmup", if quick { 0.25 } else { 1.0 })?,
        quick,
        servers: select_servers(a.value("--servers")?)?,
        points: match a.value::<String>("--points")? {
            Some(p) => parse_points(&p)?,
            None => default_points(),
        },
        pipeline: a.value_or("--pipeline", 1)?,
        verify: !a.flag("--no-verify"),
        busy_poll_1conn: !a.flag("--no-busy-poll"),
        syscalls: !a.flag("--no-syscalls"),
        syscall_secs: a.value_or("--syscall-secs", if quick { 0.75 } else { 3.0 })?,
        out: if a.flag("--no-doc") {
            None
        } else {
            Some(
                a.value::<PathBuf>("--out")?
                    .unwrap_or_else(|| repo_path("docs/benchmarks.md")),
            )
        },
        results: a
            .value::<PathBuf>("--results")?
            .unwrap_or_else(|| repo_path("benches/results")),
        server_cpu: a.value_or("--server-cpu", 0)?,
        load_cpu: a.value_or("--load-cpu", 1)?,
    };
    if o.rounds == 0 || o.rounds > 50 {
        return Err("--rounds must be 1..=50".into());
    }
    if !(0.1..=600.0).contains(&o.secs) || !(0.0..=60.0).contains(&o.warmup) {
        return Err("--secs must be 0.1..=600 and --warmup 0..=60".into());
    }
    if o.server_cpu == o.load_cpu {
        return Err("--server-cpu and --load-cpu must differ".into());
    }
    Ok(o)
}

fn check_tools(need_strace: bool) -> Result<(), String> {
    let ok = |p: &str| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !ok("taskset") {
        return Err("taskset not found (util-linux): it pins servers and generator".into());
    }
    if need_strace && !ok("strace") {
        return Err("strace not found: install it or pass --no-syscalls".into());
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("probe port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("current_exe: {e}"))
}

struct Ctx {
    exe: PathBuf,
    server_cpu: usize,
    load_cpu: usize,
}

fn run_one(ctx: &Ctx, spec: &ServerSpec, point: &Point, round: usize, o: &EchoOpts) -> RunRecord {
    let mut rec = RunRecord {
        server: spec.name.to_string(),
        point: point.clone(),
        round,
        load: None,
        rss_kib: None,
        error: None,
        shutdown_issue: None,
    };
    let result = (|| -> Result<(), String> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut server = Server::start(&ctx.exe, ctx.server_cpu, spec.name, &addr, point.buf)?;
        let pid = server.pid();
        let mut args: Vec<String> = [
            "--addr",
            &addr,
            "--conns",
            &point.conns.to_string(),
            "--size",
            &point.size.to_string(),
            "--pipeline",
            &o.pipeline.to_string(),
            "--secs",
            &o.secs.to_string(),
            "--warmup",
            &o.warmup.to_string(),
            "--server-pid",
            &pid.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Without verification the generator need not even copy the echo.
        args.push(if o.verify { "--verify" } else { "--discard" }.into());
        if point.conns == 1 && o.busy_poll_1conn {
            args.push("--busy-poll".into());
        }
        let timeout = Duration::from_secs_f64(o.warmup + o.secs + 40.0);
        let load = run_load(&ctx.exe, ctx.load_cpu, &args, timeout, |_, _| {});
        if !server.alive() {
            let why = format!("server died during the run: {}", tail(&server.stderr, 3));
            return Err(match load {
                Err(e) => format!("{why}; {e}"),
                Ok(_) => why,
            });
        }
        rec.rss_kib = proc_status_kib(pid, "VmHWM").ok();
        let load = load.map_err(|e| {
            let t = tail(&server.stderr, 2);
            if t.is_empty() {
                e
            } else {
                format!("{e}; server stderr: {t}")
            }
        })?;
        rec.load = Some(load);
        if let Err(e) = server.guard.terminate(Duration::from_secs(3)) {
            rec.shutdown_issue = Some(e);
        }
        Ok(())
    })();
    if let Err(e) = result {
        rec.error = Some(e);
    }
    rec
}

/// Parses `strace -c` output into (syscall, calls), without the total.
pub fn parse_strace_summary(text: &str) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 5 || t[0].parse::<f64>().is_err() {
            continue;
        }
        let name = t[t.len() - 1];
        if name == "total" {
            continue;
        }
        if let Ok(calls) = t[3].parse::<u64>() {
            v.push((name.to_string(), calls));
        }
    }
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    v
}

fn run_syscalls(
    ctx: &Ctx,
    spec: &ServerSpec,
    conns: usize,
    size: usize,
    secs: f64,
) -> SyscallRecord {
    let mut rec = SyscallRecord {
        server: spec.name.to_string(),
        msgs: 0,
        total: 0,
        by_call: Vec::new(),
        msgs_per_sec: 0.0,
        error: None,
    };
    let out = std::env::temp_dir().join(format!(
        "ringloop-bench-strace-{}-{}.txt",
        spec.name,
        std::process::id()
    ));
    let result = (|| -> Result<(), String> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let buf = if size > 4096 { 65536 } else { 4096 };
        let server = Server::start(&ctx.exe, ctx.server_cpu, spec.name, &addr, buf)?;
        let pid = server.pid().to_string();
        let args: Vec<String> = [
            "--addr",
            &addr,
            "--conns",
            &conns.to_string(),
            "--size",
            &size.to_string(),
            "--secs",
            &secs.to_string(),
            // The window opens on SIGUSR1, once strace is attached.
            "--window-on-signal",
            "--warmup",
            "20",
            "--events",
            "--verify",
            "--drain-timeout",
            "10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let _ = std::fs::remove_file(&out);
        let mut strace: Option<Guard> = None;
        let mut attach_err: Option<String> = None;
        let load = run_load(
            &ctx.exe,
            ctx.load_cpu,
            &args,
            Duration::from_secs_f64(secs + 60.0),
            |ev, gen_pid| match ev {
                // Every connection accepted and echoing: trace from here.
                "primed" => match attach_strace(&pid, &out) {
                    Ok(g) => {
                        strace = Some(g);
                        // SAFETY: kill(2) on the generator, our child.
                        unsafe { libc::kill(gen_pid, libc::SIGUSR1) };
                    }
                    Err(e) => attach_err = Some(e),
                },
                "window-end" => {
                    if let Some(s) = &strace {
                        s.signal(libc::SIGINT);
                    }
                }
                _ => {}
            },
        );
        if let Some(e) = attach_err {
            return Err(e);
        }
        if let Some(mut s) = strace.take() {
            s.signal(libc::SIGINT);
            if s.wait_timeout(Duration::from_secs(10)).is_none() {
                return Err("strace did not detach within 10s".into());
            }
        }
        let load = load?;
        let text = std::fs::read_to_string(&out).map_err(|e| format!("strace output: {e}"))?;
        rec.by_call = parse_strace_summary(&text);
        rec.total = rec.by_call.iter().map(|(_, c)| c).sum();
        rec.msgs = load.msgs;
        rec.msgs_per_sec = load.msgs_per_sec;
        if rec.total == 0 {
            return Err(format!("strace counted nothing: {}", text.trim()));
        }
        drop(server);
        Ok(())
    })();
    let _ = std::fs::remove_file(&out);
    if let Err(e) = result {
        rec.error = Some(e);
    }
    rec
}

/// Starts `strace -c -f -p PID -o OUT` and waits until it has attached.
fn attach_strace(pid: &str, out: &Path) -> Result<Guard, String> {
    let mut cmd = Command::new("strace");
    cmd.args(["-c", "-f", "-p", pid, "-o"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut g = Guard::spawn(&mut cmd)?;
    let lines = procs::line_channel(g.child().stderr.take().expect("piped"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains("attached") => break,
            Ok(_) => {}
            Err(_) => return Err("strace did not attach within 5s".into()),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(g)
}

fn cmd_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// UTC `YYYY-MM-DD HH:MM` from the system clock.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn machine_meta() -> Meta {
    let cpu = cmd_output("lscpu", &[])
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Model name:"))
                .map(|l| l["Model name:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Meta {
        date: utc_now(),
        cpu,
        // Online CPUs of the machine (not this process's affinity mask).
        // SAFETY: sysconf has no preconditions.
        cores: unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(0) as usize,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        rustc: cmd_output("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
        ..Meta::default()
    }
}

/// Versions from the workspace lock file: (crate, version prefix) -> version.
fn locked_version(lock: &str, krate: &str, prefix: &str) -> Option<String> {
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let Some(v) = line.strip_prefix("version = ") {
            let v = v.trim_matches('"');
            if name == Some(krate) && v.starts_with(prefix) {
                return Some(format!("{krate} {v}"));
            }
        }
    }
    None
}

fn server_infos(ran: &[&'static ServerSpec]) -> Vec<ServerInfo> {
    let lock = std::fs::read_to_string(repo_path("Cargo.lock")).unwrap_or_default();
    SERVERS
        .iter()
        .map(|s| ServerInfo {
            name: s.name.into(),
            about: s.about.into(),
            kind: format!("{:?}", s.kind).to_lowercase(),
            version: s.krate.and_then(|(k, p)| locked_version(&lock, k, p)),
            unavailable: match s.run {
                Err(why) => Some(why.into()),
                Ok(_) if !ran.iter().any(|r| r.name == s.name) => Some("not selected".into()),
                Ok(_) => None,
            },
        })
        .collect()
}

fn command_line(argv: &[String]) -> String {
    let mut s = String::from("cargo run --release -p ringloop-bench -- echo");
    for a in argv {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// `echo`: the whole benchmark.
pub fn echo_main(argv: Vec<String>) -> ExitCode {
    let mut a = Args::new(argv.clone());
    if a.flag("--help") || a.flag("-h") {
        println!("{ECHO_USAGE}");
        return ExitCode::SUCCESS;
    }
    let o = match parse_echo(&mut a).and_then(|o| a.finish().map(|_| o)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("echo: {e}\n{ECHO_USAGE}");
            return ExitCode::from(2);
        }
    };
    match echo(&o, &argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn echo(o: &EchoOpts, argv: &[String]) -> Result<(), String> {
    check_tools(o.syscalls)?;
    // SAFETY: sysconf has no preconditions.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    if o.server_cpu.max(o.load_cpu) >= cores {
        return Err(format!(
            "need CPUs {} and {}; this machine has {cores}",
            o.server_cpu, o.load_cpu
        ));
    }
    raise_nofile(65536);
    // The driver itself stays off the server's CPU.
    let _ = pin_to_cpu(o.load_cpu);
    let ctx = Ctx {
        exe: exe()?,
        server_cpu: o.server_cpu,
        load_cpu: o.load_cpu,
    };
    let started = Instant::now();
    let n_runs = o.rounds * o.points.len() * o.servers.len();
    let est = n_runs as f64 * (o.secs + o.warmup + 0.4)
        + if o.syscalls {
            o.servers.len() as f64 * (o.syscall_secs + 2.0)
        } else {
            0.0
        };
    let names: Vec<&str> = o.servers.iter().map(|s| s.name).collect();
    eprintln!(
        "echo: {} servers ({}), {} points, {} rounds = {n_runs} runs; about {:.0} s",
        o.servers.len(),
        names.join(", "),
        o.points.len(),
        o.rounds,
        est
    );
    for s in SERVERS.iter() {
        if let Err(why) = s.run {
            eprintln!("echo: skipping {}: {why}", s.name);
        }
    }

    let mut runs = Vec::with_capacity(n_runs);
    for round in 0..o.rounds {
        for point in &o.points {
            // Round-robin: each round starts one server further along.
            let n = o.servers.len();
            for k in 0..n {
                let spec = o.servers[(k + round) % n];
                let rec = run_one(&ctx, spec, point, round, o);
                match (&rec.load, &rec.error) {
                    (Some(l), _) => eprintln!(
                        "[{}/{}] {:<16} {:<12} {:>10.0} msg/s  p50 {:>7.1}us  p99 {:>8.1}us  gen idle {:>3.0}%  psi {:>3.0}%{}",
                        round + 1,
                        o.rounds,
                        point.short(),
                        spec.name,
                        l.msgs_per_sec,
                        l.lat_p50_us,
                        l.lat_p99_us,
                        l.gen_idle_share * 100.0,
                        l.cpu_pressure_share.unwrap_or(0.0) * 100.0,
                        rec.shutdown_issue
                            .as_ref()
                            .map(|s| format!("  (shutdown: {s})"))
                            .unwrap_or_default()
                    ),
                    (None, Some(e)) => eprintln!(
                        "[{}/{}] {:<16} {:<12} FAILED: {e}",
                        round + 1,
                        o.rounds,
                        point.short(),
                        spec.name
                    ),
                    (None, None) => {}
                }
                runs.push(rec);
            }
        }
    }

    let mut syscalls = Vec::new();
    if o.syscalls {
        for spec in &o.servers {
            let rec = run_syscalls(&ctx, spec, 256, 64, o.syscall_secs);
            match &rec.error {
                None => eprintln!(
                    "[strace] {:<12} {:.2} syscalls/msg ({} calls, {} msgs)",
                    spec.name,
                    rec.total as f64 / rec.msgs.max(1) as f64,
                    rec.total,
                    rec.msgs
                ),
                Some(e) => eprintln!("[strace] {:<12} FAILED: {e}", spec.name),
            }
            syscalls.push(rec);
        }
    }

    let mut meta = machine_meta();
    meta.command = command_line(argv);
    meta.quick = o.quick;
    meta.rounds = o.rounds;
    meta.secs = o.secs;
    meta.warmup = o.warmup;
    meta.pipeline = o.pipeline;
    meta.verify = o.verify;
    meta.busy_poll_1conn = o.busy_poll_1conn;
    meta.server_cpu = o.server_cpu;
    meta.load_cpu = o.load_cpu;
    meta.syscall_secs = o.syscall_secs;
    meta.elapsed_secs = started.elapsed().as_secs_f64();
    let results = Results {
        meta,
        servers: server_infos(&o.servers),
        points: o.points.clone(),
        runs,
        syscalls,
    };
    std::fs::create_dir_all(&o.results).map_err(|e| format!("{}: {e}", o.results.display()))?;
    let json_path = o.results.join("echo.json");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&results).expect("serializable"),
    )
    .map_err(|e| format!("{}: {e}", json_path.display()))?;
    eprintln!("echo: results in {}", json_path.display());
    if let Some(out) = &o.out {
        write_report(&results, out, &o.results)?;
    }
    eprintln!("echo: done in {:.0} s", results.meta.elapsed_secs);
    Ok(())
}

fn write_report(results: &Results, out: &Path, results_dir: &Path) -> Result<(), String> {
    let svg = results_dir.join("echo.svg");
    report::write_chart(results, &svg)?;
    let svg_rel = relative_to(&svg, out.parent().unwrap_or(Path::new(".")));
    let md = report::markdown(results, &svg_rel);
    std::fs::write(out, md).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("echo: wrote {} and {}", out.display(), svg.display());
    Ok(())
}

/// `target` as a path relative to directory `from` (both made absolute).
fn relative_to(target: &Path, from: &Path) -> String {
    let abs = |p: &Path| {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                c => out.push(c),
            }
        }
        out
    };
    let (t, f) = (abs(target), abs(from));
    let tc: Vec<_> = t.components().collect();
    let fc: Vec<_> = f.components().collect();
    let common = tc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); fc.len() - common];
    parts.extend(
        tc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// `syscalls`: the strace pass alone, printed.
pub fn syscalls_main(argv: Vec<String>) -> ExitCode {
    let mut a = Args::new(argv);
    let parsed = (|| -> Result<_, String> {
        let servers = select_servers(a.value("--servers")?)?;
        let secs: f64 = a.value_or("--secs", 3.0)?;
        let conns: usize = a.value_or("--conns", 256)?;
        let size: usize = a.value_or("--size", 64)?;
        Ok((servers, secs, conns, size))
    })()
    .and_then(|x| a.finish().map(|_| x));
    let (servers, secs, conns, size) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "syscalls: {e}\nusage: syscalls [--servers a,b] [--secs S] [--conns N] [--size B]"
            );
            return ExitCode::from(2);
        }
    };
    if let Err(e) = check_tools(true) {
        eprintln!("syscalls: {e}");
        return ExitCode::FAILURE;
    }
    raise_nofile(65536);
    let _ = pin_to_cpu(1);
    let ctx = match exe() {
        Ok(exe) => Ctx {
            exe,
            server_cpu: 0,
            load_cpu: 1,
        },
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{conns} conns × {size} B, strace -c -f over {secs} s (strace slows the server)");
    let mut failed = false;
    for spec in servers {
        let r = run_syscalls(&ctx, spec, conns, size, secs);
        match &r.error {
            None => {
                let top: Vec<String> = r
                    .by_call
                    .iter()
                    .take(4)
                    .map(|(n, c)| format!("{n} {:.3}", *c as f64 / r.msgs as f64))
                    .collect();
                println!(
                    "{:<12} {:>7.3} syscalls/msg  ({} msgs)  {}",
                    r.server,
                    r.total as f64 / r.msgs as f64,
                    r.msgs,
                    top.join(", ")
                );
            }
            Some(e) => {
                failed = true;
                println!("{:<12} FAILED: {e}", r.server);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `report`: re-renders the doc from a results file.
pub fn report_main(argv: Vec<String>) -> ExitCode {
    let mut a = Args::new(argv);
    let parsed = (|| -> Result<_, String> {
        let from: PathBuf = a
            .value("--from")?
            .unwrap_or_else(|| repo_path("benches/results/echo.json"));
        let out: PathBuf = a
            .value("--out")?
            .unwrap_or_else(|| repo_path("docs/benchmarks.md"));
        Ok((from, out))
    })()
    .and_then(|x| a.finish().map(|_| x));
    let (from, out) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("report: {e}\nusage: report [--from results.json] [--out doc.md]");
            return ExitCode::from(2);
        }
    };
    let r = std::fs::read_to_string(&from)
        .map_err(|e| format!("{}: {e}", from.display()))
        .and_then(|s| {
            serde_json::from_str::<Results>(&s).map_err(|e| format!("{}: {e}", from.display()))
        })
        .and_then(|res| write_report(&res, &out, from.parent().unwrap_or(Path::new("."))));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `list`: servers and availability.
pub fn list_main() -> ExitCode {
    use std::io::Write;
    let lock = std::fs::read_to_string(repo_path("Cargo.lock")).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    for s in SERVERS {
        let v = s
            .krate
            .and_then(|(k, p)| locked_version(&lock, k, p))
            .unwrap_or_default();
        // A closed pipe (`| head`) just ends the listing.
        let r = match s.run {
            Ok(_) => writeln!(out, "{:<12} {:<8} {:<22} {}", s.name, "built", v, s.about),
            Err(why) => writeln!(out, "{:<12} {:<8} {:<22} {why}", s.name, "absent", v),
        };
        if r.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_summary() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.060000           6     10000           write
 39.00    0.039000           3     10000       100 read
  1.00    0.001000           1      1000           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.100000           4     21000       100 total
";
        let v = parse_strace_summary(text);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], ("write".to_string(), 10000));
        assert_eq!(v.iter().map(|x| x.1).sum::<u64>(), 21000);
    }

    #[test]
    fn points_and_paths() {
        let p = parse_points("1x64,16x65536").unwrap();
        assert_eq!(p[1].buf, 65536);
        assert_eq!(p[0].buf, 4096);
        assert!(parse_points("1x").is_err());
        assert_eq!(
            relative_to(Path::new("/a/b/results/x.svg"), Path::new("/a/docs")),
            "../b/results/x.svg"
        );
        assert_eq!(default_points().len(), 9);
    }

    #[test]
    fn lock_versions() {
        let lock = "[[package]]\nname = \"io-uring\"\nversion = \"0.6.4\"\n\n[[package]]\nname = \"io-uring\"\nversion = \"0.7.16\"\n";
        assert_eq!(
            locked_version(lock, "io-uring", "0.7").as_deref(),
            Some("io-uring 0.7.16")
        );
        assert_eq!(locked_version(lock, "tokio", "1"), None);
    }

    #[test]
    fn date_format() {
        let d = utc_now();
        assert_eq!(d.len(), "2025-01-01 00:00 UTC".len());
        assert!(d.starts_with("20"));
    }
}
