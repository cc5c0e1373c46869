//! A server that stops gracefully. On SIGTERM or Ctrl-C it stops accepting,
//! gives the connections in flight a deadline to finish, then cancels the
//! ones still open (their in-flight I/O is cancelled in the kernel) and
//! exits.
//!
//! ```text
//! cargo run --example graceful_shutdown -- --addr 127.0.0.1:9000 --deadline-ms 3000
//! # in another terminal: a client that keeps a connection open
//! cargo run --example echo_client -- --addr 127.0.0.1:9000
//! # then: kill -TERM <pid>   (or Ctrl-C in the server's terminal)
//! ```

use std::process::ExitCode;
use std::time::Duration;

use futures_util::FutureExt;
use ringloop::net::{TcpListener, TcpStream};
use ringloop::signal::{SignalKind, signal};
use ringloop::task::{Either, JoinSet, race};
use ringloop::time::{sleep, timeout};

/// Echoes until the client closes its side.
async fn serve(stream: TcpStream) -> std::io::Result<u64> {
    let mut echoed = 0;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(echoed);
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        echoed += n as u64;
        buf = b;
    }
}

fn parse_args() -> Result<(String, Duration), String> {
    let mut addr = "127.0.0.1:9000".to_owned();
    let mut deadline = Duration::from_secs(5);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            ("--deadline-ms", Some(value)) => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("--deadline-ms: {value:?} is not a number"))?;
                deadline = Duration::from_millis(ms);
            }
            (other, _) => {
                return Err(format!(
                    "unknown argument {other:?}; usage: graceful_shutdown [--addr A] [--deadline-ms N]"
                ));
            }
        }
    }
    Ok((addr, deadline))
}

fn main() -> ExitCode {
    let (addr, deadline) = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("graceful_shutdown: {msg}");
            return ExitCode::from(2);
        }
    };
    let result = ringloop::run(async move {
        let listener = TcpListener::bind(&addr)?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        println!(
            "listening on {} (pid {}); SIGTERM or Ctrl-C stops it, connections get {deadline:?} to finish",
            listener.local_addr()?,
            std::process::id()
        );

        // 1. Serve until a stop signal.
        let mut connections = JoinSet::new();
        let mut served = 0u64;
        let which = loop {
            let stop = race(terminate.recv(), interrupt.recv());
            match race(listener.accept(), stop).await {
                Either::Left(Ok((stream, peer))) => {
                    served += 1;
                    println!("connection {served} from {peer}");
                    connections.spawn(serve(stream));
                }
                Either::Left(Err(err)) => {
                    // e.g. out of fds: back off, keep serving.
                    eprintln!("accept failed: {err}");
                    sleep(Duration::from_millis(50)).await;
                }
                Either::Right(Either::Left(_)) => break "SIGTERM",
                Either::Right(Either::Right(_)) => break "SIGINT",
            }
            // Reap connections that already finished.
            while let Some(Some(_)) = connections.join_next().now_or_never() {}
        };

        // 2. Stop accepting: new connections are refused from here on.
        listener.close().await?;
        println!(
            "{which}: stopped accepting; {} connection(s) in flight get {deadline:?}",
            connections.len()
        );

        // 3. Let them finish within the deadline.
        let mut finished = 0;
        let mut echoed = 0;
        let drained = timeout(deadline, async {
            while let Some(outcome) = connections.join_next().await {
                finished += 1;
                echoed += outcome.ok().and_then(Result::ok).unwrap_or(0);
            }
        })
        .await;

        // 4. Cancel the stragglers (their reads are cancelled in the kernel).
        let cancelled = connections.len();
        if drained.is_err() {
            connections.shutdown().await;
        }
        println!(
            "served {served} connection(s): {finished} finished in time ({echoed} bytes echoed), \
             {cancelled} cancelled at the deadline"
        );
        Ok::<(), std::io::Error>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("graceful_shutdown: {err}");
            ExitCode::FAILURE
        }
    }
}
