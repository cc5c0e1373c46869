//! The echo server: ringloop's main job.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:8080
//! cargo run --release --example echo_client -- --message hello
//! ```
//!
//! One task per connection echoes bytes until EOF. Ctrl-C or SIGTERM prints
//! a summary and exits cleanly.

mod echo;

use std::process::ExitCode;
use std::rc::Rc;

use futures_util::future::{Either, select};
use ringloop::net::TcpListener;
use ringloop::signal::{SignalKind, signal};

const USAGE: &str = "\
echo_server: a TCP echo server on ringloop (io_uring)

USAGE:
    echo_server [--addr HOST:PORT] [--buf BYTES]

OPTIONS:
    --addr HOST:PORT   address to listen on (default 127.0.0.1:8080)
    --buf BYTES        read buffer per connection (default 16384)
    -h, --help         print this help

Stop it with Ctrl-C or SIGTERM; it prints what it served.";

struct Args {
    addr: String,
    buf: usize,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".to_owned(),
        buf: 16 * 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => {
                args.addr = it
                    .next()
                    .ok_or("--addr needs a value, e.g. 127.0.0.1:8080")?
            }
            "--buf" => {
                let value = it.next().ok_or("--buf needs a size in bytes")?;
                args.buf =
                    value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--buf: {value:?} is not a positive number of bytes")
                    })?;
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("echo_server: {msg}");
            return ExitCode::from(2);
        }
    };
    let runtime = match ringloop::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("echo_server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(&args.addr)
            .map_err(|err| format!("cannot listen on {}: {err}", args.addr))?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "ringloop echo server listening on {local} (pid {}); Ctrl-C to stop",
            std::process::id()
        );
        let stats = Rc::new(echo::Stats::default());
        let server = std::pin::pin!(echo::serve(listener, stats.clone(), args.buf));
        let stop = std::pin::pin!(async {
            let interrupt = std::pin::pin!(interrupt.recv());
            let terminate = std::pin::pin!(terminate.recv());
            match select(interrupt, terminate).await {
                Either::Left(_) => "SIGINT",
                Either::Right(_) => "SIGTERM",
            }
        });
        match select(server, stop).await {
            Either::Left((result, _)) => {
                result.map_err(|err| format!("accept failed: {err}"))?;
            }
            Either::Right((signal, _)) => {
                let m = ringloop::runtime::metrics().unwrap_or_default();
                println!(
                    "{signal}: served {} connections ({} still open, {} ended with an error), echoed {} bytes; \
                     {} SQEs in {} io_uring_enter calls",
                    stats.connections.get(),
                    stats.active.get(),
                    stats.errors.get(),
                    stats.bytes.get(),
                    m.sqes_submitted,
                    m.enter_calls,
                );
            }
        }
        Ok::<(), String>(())
    });
    // Dropping the runtime cancels the open connections' I/O and waits for
    // the kernel to return it.
    drop(runtime);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("echo_server: {msg}");
            ExitCode::FAILURE
        }
    }
}
