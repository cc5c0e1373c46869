//! Child processes of the driver: servers, generators, strace. Every child
//! is killed when its guard drops (error paths included) and gets
//! `PR_SET_PDEATHSIG` so that it dies with the driver too.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::load::LoadReport;

/// Makes `cmd` die with the driver.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure only calls prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A child that is SIGKILLed and reaped on drop unless it already exited.
#[derive(Debug)]
pub struct Guard {
    child: Child,
    exited: Option<ExitStatus>,
}

impl Guard {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> Result<Guard, String> {
        die_with_parent(cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {:?}: {e}", cmd.get_program()))?;
        Ok(Guard {
            child,
            exited: None,
        })
    }

    /// Process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The child, for taking its pipes.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends a signal (no-op once reaped).
    pub fn signal(&self, sig: i32) {
        if self.exited.is_none() {
            // SAFETY: kill(2) on our own, not yet reaped, child.
            unsafe { libc::kill(self.pid(), sig) };
        }
    }

    /// Exit status, if it exited already.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits up to `timeout`; None if still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. Ok if it exited with status 0
    /// on SIGTERM.
    pub fn terminate(&mut self, grace: Duration) -> Result<(), String> {
        if let Some(s) = self.try_wait() {
            return Err(format!("had already exited ({s})"));
        }
        self.signal(libc::SIGTERM);
        match self.wait_timeout(grace) {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(format!("exited with {s} on SIGTERM")),
            None => {
                self.kill();
                Err(format!("ignored SIGTERM for {grace:?}; killed"))
            }
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Lines of a pipe, read on a thread.
pub fn line_channel(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects a pipe into a shared string (last 64 KiB kept).
pub fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let o = out.clone();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            let mut s = o.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
            if s.len() > 64 << 10 {
                let cut = s.len() - (32 << 10);
                let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                s.drain(..cut);
            }
        }
    });
    out
}

/// Last `n` lines of collected output, on one line.
pub fn tail(s: &Arc<Mutex<String>>, n: usize) -> String {
    let s = s.lock().unwrap();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A running echo server, pinned to a CPU.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub guard: Guard,
    /// Its stderr.
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `exe serve NAME` under `taskset -c CPU` and waits for its
    /// ready line.
    pub fn start(
        exe: &Path,
        cpu: usize,
        name: &str,
        addr: &str,
        buf: usize,
    ) -> Result<Server, String> {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg(cpu.to_string())
            .arg(exe)
            .args(["serve", name, "--addr", addr, "--buf", &buf.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = Guard::spawn(&mut cmd)?;
        let stdout = guard.child().stdout.take().expect("piped");
        let stderr = collect(guard.child().stderr.take().expect("piped"));
        let lines = line_channel(stdout);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with("ready ") => break,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "server {name} not ready after 15s: {}",
                        tail(&stderr, 3)
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = guard.wait_timeout(Duration::from_secs(2));
                    thread::sleep(Duration::from_millis(50));
                    return Err(format!(
                        "server {name} exited before ready ({status:?}): {}",
                        tail(&stderr, 3)
                    ));
                }
            }
        }
        // Keep draining stdout so the server never blocks on it.
        thread::spawn(move || for _ in lines {});
        Ok(Server { guard, stderr })
    }

    /// Pid of the server process (taskset execs it in place).
    pub fn pid(&self) -> i32 {
        self.guard.pid()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        self.guard.try_wait().is_none()
    }
}

/// Runs the generator (`exe load ...`) under `taskset -c CPU` and returns
/// its report. `on_event` sees each `event X` line as it comes, with the
/// generator's pid.
pub fn run_load(
    exe: &Path,
    cpu: usize,
    args: &[String],
    timeout: Duration,
    mut on_event: impl FnMut(&str, i32),
) -> Result<LoadReport, String> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(cpu.to_string())
        .arg(exe)
        .arg("load")
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd)?;
    let lines = line_channel(guard.child().stdout.take().expect("piped"));
    let stderr = collect(guard.child().stderr.take().expect("piped"));
    let pid = guard.pid();
    let deadline = Instant::now() + timeout;
    let mut report: Option<LoadReport> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(ev) = line.strip_prefix("event ") {
                    on_event(ev.trim(), pid);
                } else if line.starts_with('{') {
                    report = Some(
                        serde_json::from_str(&line)
                            .map_err(|e| format!("bad generator output: {e}"))?,
                    );
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                guard.kill();
                return Err(format!("generator still running after {timeout:?}; killed"));
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = guard.wait_timeout(deadline.saturating_duration_since(Instant::now()));
    match (report, status) {
        (Some(r), _) if r.error.is_some() => Err(format!("generator: {}", r.error.unwrap())),
        (Some(r), Some(s)) if s.success() => Ok(r),
        (_, status) => {
            thread::sleep(Duration::from_millis(50));
            Err(format!(
                "generator failed ({status:?}): {}",
                tail(&stderr, 3)
            ))
        }
    }
}
