//! Child processes, like asyncio's `create_subprocess_exec`: capture a
//! command's output, stream a child's stdout line by line while the loop
//! keeps running, and feed a child's stdin.

use std::process::Stdio;
use std::time::Duration;

use ringloop::process::Command;

fn main() -> std::io::Result<()> {
    ringloop::run(async {
        // 1. Run to completion and capture everything.
        let out = Command::new("uname").arg("-sr").output().await?;
        print!("uname says: {}", String::from_utf8_lossy(&out.stdout));
        println!("exit status: {}", out.status);

        // 2. Stream output while other tasks run.
        let mut child = Command::new("sh")
            .args(["-c", "for i in 1 2 3; do echo tick $i; sleep 0.05; done"])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let heartbeat = ringloop::spawn(async {
            for _ in 0..3 {
                ringloop::time::sleep(Duration::from_millis(40)).await;
                println!("  (the loop is free: heartbeat)");
            }
        });
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            let (res, b) = stdout.read(buf).await;
            buf = b;
            let n = res?;
            if n == 0 {
                break;
            }
            print!("child: {}", String::from_utf8_lossy(&buf[..n]));
        }
        println!("child exited with {}", child.wait().await?);
        heartbeat.await.ok();

        // 3. Feed stdin, read the result.
        let mut sort = Command::new("sort")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = sort.stdin.take().expect("piped");
        let (res, _) = stdin.write_all(b"pear\napple\nfig\n".to_vec()).await;
        res?;
        drop(stdin); // EOF for sort
        let out = sort.wait_with_output().await?;
        print!("sorted:\n{}", String::from_utf8_lossy(&out.stdout));
        Ok(())
    })
}
