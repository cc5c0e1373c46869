//! Child processes: output captured exactly, exit statuses, pipes as
//! streams, kill, errors.

mod util;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use ringloop::process::Command;

#[test]
fn output_is_captured_exactly() {
    ringloop::run(async {
        let out = Command::new("sh")
            .args(["-c", "printf 'out\\000line\\n'; printf 'err' >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"out\0line\n");
        assert_eq!(out.stderr, b"err");
        assert_eq!(out.status.code(), Some(3));
        assert!(!out.status.success());
    });
}

#[test]
fn large_output_through_pipes() {
    ringloop::run(async {
        let out = Command::new("sh")
            .args(["-c", "head -c 3000000 /dev/zero | tr '\\0' 'x'"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 3_000_000);
        assert!(out.stdout.iter().all(|&b| b == b'x'));
    });
}

#[test]
fn stdin_to_stdout_round_trip_through_cat() {
    ringloop::run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut data = vec![0u8; 1 << 20];
        util::Rng::new(3).fill(&mut data);
        let expected = data.clone();
        let writer = ringloop::spawn(async move {
            let (res, _) = stdin.write_all(data).await;
            res.unwrap();
            // stdin dropped here: cat sees EOF
        });
        let mut got = Vec::new();
        let mut buf = Vec::with_capacity(65536);
        loop {
            buf.clear();
            let (res, b) = stdout.read(buf).await;
            buf = b;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        assert_eq!(got, expected);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn wait_returns_the_status_and_kill_gives_sigkill() {
    ringloop::run(async {
        let status = Command::new("true").status().await.unwrap();
        assert!(status.success());
        let status = Command::new("sh")
            .args(["-c", "exit 42"])
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(42));
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(child.id().is_some());
        assert!(child.try_wait().unwrap().is_none());
        let status = util::within(10, "kill", child.kill()).await.unwrap();
        assert_eq!(status.signal(), Some(9));
        assert!(child.id().is_none(), "reaped");
    });
}

#[test]
fn waiting_does_not_block_the_loop() {
    ringloop::run(async {
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let ticker = ringloop::spawn(async {
            let mut ticks = 0;
            for _ in 0..5 {
                ringloop::time::sleep(Duration::from_millis(10)).await;
                ticks += 1;
            }
            ticks
        });
        assert!(child.wait().await.unwrap().success());
        assert_eq!(
            ticker.await.unwrap(),
            5,
            "the loop kept running while waiting"
        );
    });
}

#[test]
fn missing_program_is_not_found_with_its_name() {
    ringloop::run(async {
        let err = Command::new("/no/such/program-xyz").spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("program-xyz"), "{err}");
    });
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    ringloop::run(async {
        let child = Command::new("sleep")
            .arg("100")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        drop(child);
        util::within(10, "child gone", async {
            // Gone once reaped: /proc/<pid> disappears (a zombie would stay).
            while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                ringloop::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    });
}
