//! Adversarial checks of child processes, signals, files and paths.
//!
//! Signal tests here run under the ordinary (multi-threaded) test harness,
//! so they use `SIGWINCH` (ignored by default: a stray one harms nobody)
//! sent with `tgkill` to the test's own thread, which is the thread whose
//! mask `signal()` blocks: no other test sees it.

mod util;

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use futures_util::FutureExt;
use ringloop::fs::{self, File, OpenOptions};
use ringloop::process::Command;
use ringloop::signal::{SignalKind, signal};

// ---------------------------------------------------------------- process

/// The state letter of `/proc/<pid>/stat` (`Z` for a zombie), or `None`
/// once the process is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn output_of_more_than_a_pipe_buffer_on_both_streams_does_not_deadlock() {
    ringloop::run(async {
        // 1 MiB on each stream, interleaved in 64 KiB pieces: a reader that
        // drained one pipe before the other would deadlock at 64 KiB.
        let out = util::within(
            30,
            "output",
            Command::new("sh")
                .args([
                    "-c",
                    "i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero; \
                     head -c 65536 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done",
                ])
                .output(),
        )
        .await
        .unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        assert_eq!(out.stdout.len(), 1 << 20);
        assert_eq!(out.stderr.len(), 1 << 20);
        assert!(out.stdout.iter().all(|&b| b == 0));
        assert!(out.stderr.iter().all(|&b| b == b'e'));
    });
}

#[test]
fn wait_twice_try_wait_and_kill_after_exit() {
    ringloop::run(async {
        let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        let first = util::within(10, "wait", child.wait()).await.unwrap();
        assert_eq!(first.code(), Some(7));
        assert_eq!(child.id(), None, "reaped");
        let second = child.wait().await.unwrap();
        assert_eq!(second, first, "a second wait returns the same status");
        assert_eq!(child.try_wait().unwrap(), Some(first));
        // Killing a reaped child is a no-op, never a signal to a reused pid.
        child.start_kill().unwrap();
        assert_eq!(child.kill().await.unwrap(), first);
    });
}

#[test]
fn cancelled_wait_then_kill_and_wait_again() {
    ringloop::run(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        for _ in 0..3 {
            // The wait is dropped while its poll is in the kernel.
            let waited = ringloop::time::timeout(Duration::from_millis(20), child.wait()).await;
            assert!(waited.is_err(), "sleep 30 cannot have exited");
        }
        assert!(child.id().is_some(), "still running");
        let status = util::within(10, "kill", child.kill()).await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        // Every cancelled poll has come back from the kernel.
        util::within(10, "ops drain", async {
            while util::in_flight() > 0 {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}

#[test]
fn stdin_closed_early_by_the_child_is_broken_pipe_not_a_signal() {
    ringloop::run(async {
        let mut child = Command::new("head")
            .args(["-c", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        // Far more than a pipe holds: the child exits after one byte.
        let (res, _) = util::within(10, "write", stdin.write_all(vec![b'x'; 4 << 20])).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        let status = util::within(10, "wait", child.wait()).await.unwrap();
        assert!(status.success(), "{status:?}");
    });
}

#[test]
fn missing_program_in_path_is_not_found() {
    ringloop::run(async {
        let err = Command::new("ringloop-no-such-program-3141")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(
            err.to_string().contains("ringloop-no-such-program-3141"),
            "{err}"
        );
        // A directory is not a program either.
        let err = Command::new("/").spawn().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    });
}

#[test]
fn child_inherits_no_runtime_fds_and_no_blocked_signals() {
    ringloop::run(async {
        // Give the runtime a signalfd, a socket and an open file.
        let _winch = signal(SignalKind::window_change()).unwrap();
        let _listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = util::TempDir::new("misc-fds");
        let _file = File::create(dir.join("f")).await.unwrap();
        let out = Command::new("sh")
            .args([
                "-c",
                "for f in /proc/$$/fd/*; do echo \"fd $(readlink $f)\"; done; grep '^SigBlk' /proc/$$/status",
            ])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("SigBlk:"), "{text}");
        for line in text.lines() {
            if let Some(mask) = line.strip_prefix("SigBlk:") {
                assert!(
                    mask.trim().chars().all(|c| c == '0'),
                    "the child inherited a signal mask: {line}"
                );
            } else if line.starts_with("fd ") {
                // Only the runtime's objects are checked: the test's own
                // environment may pass other fds down.
                let target = line.strip_prefix("fd ").unwrap_or(line);
                for runtime_object in [
                    "io_uring", "signalfd", "eventfd", "pidfd", "socket:", "misc-fds",
                ] {
                    assert!(
                        !target.contains(runtime_object),
                        "the child inherited the runtime's {target}: {text}"
                    );
                }
            }
        }
    });
}

#[test]
fn kill_on_drop_child_is_reaped_even_if_the_runtime_ends_at_once() {
    let pid = ringloop::run(async {
        let child = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        drop(child);
        pid
    });
    // SIGKILLed children exit promptly; bounded wait for the state to settle.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match proc_state(pid) {
            None => break,
            Some('Z') if std::time::Instant::now() >= deadline => {
                panic!("child {pid} left as a zombie after its runtime ended")
            }
            Some(state) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "child {pid} still {state}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[test]
fn kill_on_drop_child_owned_by_a_task_dropped_at_shutdown() {
    let pid = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = pid.clone();
    ringloop::run(async move {
        drop(ringloop::spawn(async move {
            let mut child = Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            seen.set(child.id().unwrap());
            // Never finishes: dropped with the runtime.
            let _ = child.wait().await;
        }));
        // Let the task start and park on the child's pidfd.
        for _ in 0..4 {
            ringloop::yield_now().await;
        }
    });
    let pid = pid.get();
    assert_ne!(pid, 0, "the task ran");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(state) = proc_state(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "child {pid} not reaped after its runtime ended (state {state})"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------- signals

/// Sends `signo` to this thread only.
fn raise_here(signo: i32) {
    // SAFETY: tgkill on our own pid and tid with a valid signal number.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::syscall(libc::SYS_gettid),
            signo,
        )
    };
    assert_eq!(rc, 0);
}

/// Turns the loop a few times (timers and ring), so that a delivery the
/// kernel holds would be counted.
async fn settle() {
    for _ in 0..3 {
        ringloop::time::sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn signals_coalesce_and_every_listener_sees_them() {
    ringloop::run(async {
        let mut a = signal(SignalKind::window_change()).unwrap();
        let mut b = signal(SignalKind::window_change()).unwrap();
        let dropped = signal(SignalKind::window_change()).unwrap();
        for _ in 0..5 {
            raise_here(libc::SIGWINCH);
        }
        // A listener dropped with a delivery pending disturbs nobody.
        drop(dropped);
        util::within(10, "a", a.recv()).await.unwrap();
        util::within(10, "b", b.recv()).await.unwrap();
        settle().await;
        // Five deliveries before one recv count as one (as documented).
        assert!(a.recv().now_or_never().is_none(), "coalesced");
        assert!(b.recv().now_or_never().is_none(), "coalesced");
        // And the next delivery is seen again.
        raise_here(libc::SIGWINCH);
        util::within(10, "a again", a.recv()).await.unwrap();
        util::within(10, "b again", b.recv()).await.unwrap();
        // A listener made after a delivery does not see it.
        settle().await;
        let mut late = signal(SignalKind::window_change()).unwrap();
        assert!(late.recv().now_or_never().is_none());
    });
}

#[test]
fn sigrtmax_is_a_signal() {
    ringloop::run(async {
        let max = libc::SIGRTMAX();
        let mut sig = signal(SignalKind::from_raw(max))
            .unwrap_or_else(|err| panic!("SIGRTMAX ({max}) refused: {err}"));
        raise_here(max);
        util::within(10, "SIGRTMAX", sig.recv()).await.unwrap();
        let err = signal(SignalKind::from_raw(max + 1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

// ---------------------------------------------------------------- fs

#[test]
fn read_of_proc_files_with_size_zero() {
    ringloop::run(async {
        let meta = fs::metadata("/proc/self/status").await.unwrap();
        assert_eq!(meta.len(), 0, "procfs reports size 0");
        let data = fs::read("/proc/self/status").await.unwrap();
        let text = String::from_utf8(data).unwrap();
        assert!(text.starts_with("Name:"), "{text}");
        assert!(text.contains("\nPid:"), "{text}");
        // Bigger than one page, still size 0.
        let maps = fs::read("/proc/self/maps").await.unwrap();
        let std_maps = std::fs::read("/proc/self/maps").unwrap();
        assert!(maps.len() > 4096 || std_maps.len() <= 4096);
        assert!(maps.ends_with(b"\n"));
    });
}

#[test]
fn read_of_a_file_that_grows_while_read() {
    let dir = util::TempDir::new("misc-grow");
    let path = dir.join("grow");
    std::fs::write(&path, vec![b'a'; 10_000]).unwrap();
    ringloop::run(async {
        let file = File::open(&path).await.unwrap();
        // Grows after the size hint was taken, before the reads end.
        let appender = OpenOptions::new().append(true).open(&path).await.unwrap();
        let (res, _) = appender.write_all_at(vec![b'b'; 20_000], 0).await;
        res.unwrap();
        let data = fs::read(&path).await.unwrap();
        assert_eq!(data.len(), 30_000);
        assert!(data[..10_000].iter().all(|&b| b == b'a'));
        assert!(data[10_000..].iter().all(|&b| b == b'b'));
        file.close().await.unwrap();
        appender.close().await.unwrap();
    });
}

#[test]
fn concurrent_cancelled_writes_do_not_corrupt_other_offsets() {
    let dir = util::TempDir::new("misc-cancel");
    let path = dir.join("f");
    ringloop::run(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = file.write_all_at(vec![0u8; 64 * 1024], 0).await;
        res.unwrap();
        for round in 0..20u8 {
            // A write to [0, 4K) dropped at once, next to one to [4K, 8K)
            // that completes: the completed one is exact, the other one
            // either happened entirely or not at all.
            let cancelled = file.write_at(vec![round + 1; 4096], 0);
            let mut cancelled = Box::pin(cancelled);
            let _ = (&mut cancelled).now_or_never();
            let (res, _) = file.write_all_at(vec![round + 100; 4096], 4096).await;
            res.unwrap();
            drop(cancelled);
            let (res, buf) = file.read_exact_at(Vec::with_capacity(8192), 0).await;
            res.unwrap();
            assert!(
                buf[4096..].iter().all(|&b| b == round + 100),
                "round {round}"
            );
        }
        file.close().await.unwrap();
    });
}

#[test]
fn invalid_open_options_are_errors() {
    let dir = util::TempDir::new("misc-oo");
    let path = dir.join("f");
    std::fs::write(&path, b"keep").unwrap();
    ringloop::run(async {
        let cases = util::contradictory_open_options();
        for (what, options) in cases {
            let err = options.open(&path).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        }
        // A read-only open stays read-only even if custom flags name an
        // access mode: writing through it must fail.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_RDWR)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = file.write_at(b"XXXX".to_vec(), 0).await;
        assert!(res.is_err(), "a read-only open wrote");
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
    });
}

#[test]
fn metadata_of_symlinks_dangling_and_loops() {
    let dir = util::TempDir::new("misc-links");
    let target = dir.join("target");
    std::fs::write(&target, b"12345").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("missing"), &dangling).unwrap();
    let looped = dir.join("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    ringloop::run(async {
        let m = fs::metadata(&link).await.unwrap();
        assert!(m.is_file() && !m.is_symlink());
        assert_eq!(m.len(), 5);
        let l = fs::symlink_metadata(&link).await.unwrap();
        assert!(l.is_symlink() && !l.is_file() && !l.is_dir());
        let err = fs::metadata(&dangling).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(fs::symlink_metadata(&dangling).await.unwrap().is_symlink());
        let err = fs::metadata(&looped).await.unwrap_err();
        assert_eq!(util::errno_of(&err), Some(libc::ELOOP), "{err}");
        assert!(err.to_string().contains("loop"), "{err}");
        // remove_file removes the link, not its target.
        fs::remove_file(&link).await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"12345");
    });
}

#[test]
fn very_long_paths_are_name_too_long() {
    let dir = util::TempDir::new("misc-long");
    let long_name = dir.join("n".repeat(300));
    let long_path = dir.join("d/".repeat(3000));
    ringloop::run(async {
        for path in [&long_name, &long_path] {
            let errors = [
                File::open(path).await.unwrap_err(),
                File::create(path).await.unwrap_err(),
                fs::metadata(path).await.unwrap_err(),
                fs::create_dir(path).await.unwrap_err(),
                fs::remove_file(path).await.unwrap_err(),
                fs::write(path, "x").await.unwrap_err(),
            ];
            for err in errors {
                assert_eq!(util::errno_of(&err), Some(libc::ENAMETOOLONG), "{err}");
            }
        }
    });
}
