//! Errors are values: `?` on io::Result, a panicking task caught as a
//! JoinError, a timeout as Err(Elapsed).

use std::time::Duration;

use ringloop::net::TcpStream;
use ringloop::time::timeout;

async fn connect_to_nothing() -> std::io::Result<TcpStream> {
    // Port 1 on loopback: nothing listens there.
    let stream = TcpStream::connect("127.0.0.1:1").await?;
    Ok(stream)
}

fn main() {
    ringloop::run(async {
        // 1. `?` propagates the kernel's error, errno included.
        match connect_to_nothing().await {
            Ok(_) => println!("unexpected: something listens on port 1"),
            Err(err) => println!(
                "connect failed: {err} (kind {:?}, errno {:?})",
                err.kind(),
                err.raw_os_error()
            ),
        }
        match ringloop::fs::read("/no/such/file").await {
            Ok(_) => println!("unexpected: the file exists"),
            Err(err) => println!("read failed: {err} (kind {:?})", err.kind()),
        }

        // 2. A panic inside a task is caught; the loop and other tasks go on.
        //    (Rust's default panic hook still prints the panic message.)
        let task = ringloop::spawn(async {
            let items: Vec<u32> = Vec::new();
            items[3] // index out of bounds: panics
        });
        match task.await {
            Ok(v) => println!("unexpected: {v}"),
            Err(err) if err.is_panic() => println!("task panicked, caught as JoinError: {err}"),
            Err(err) => println!("task failed: {err}"),
        }

        // 3. A timeout is an error value too.
        let slow = ringloop::time::sleep(Duration::from_secs(10));
        match timeout(Duration::from_millis(50), slow).await {
            Ok(()) => println!("unexpected: finished"),
            Err(elapsed) => println!("gave up: {elapsed}"),
        }
        println!("the event loop is still running fine");
    });
}
