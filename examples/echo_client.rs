//! Talks to the echo server: sends lines from stdin (or `--message`) and
//! prints what comes back.
//!
//! ```text
//! cargo run --example echo_client -- --addr 127.0.0.1:8080 --message hello
//! printf 'one\ntwo\n' | cargo run --example echo_client
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use ringloop::net::TcpStream;

const USAGE: &str = "\
echo_client: send lines to an echo server and print the replies

USAGE:
    echo_client [--addr HOST:PORT] [--message TEXT]

Without --message, every line of stdin is sent and its echo printed.";

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut message = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("-h" | "--help", _) => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            ("--addr", Some(value)) => addr = value,
            ("--message", Some(value)) => message = Some(value),
            (other, _) => {
                eprintln!("echo_client: bad argument {other:?}; see --help");
                return ExitCode::from(2);
            }
        }
    }
    let lines: Vec<String> = match message {
        Some(m) => vec![m],
        None => std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect(),
    };
    let result = ringloop::run(async {
        let stream = TcpStream::connect(&addr).await?;
        for line in lines {
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            let len = bytes.len();
            let (res, _) = stream.write_all(bytes).await;
            res?;
            let (res, echoed) = stream.read_exact(Vec::with_capacity(len)).await;
            res?;
            print!("{}", String::from_utf8_lossy(&echoed));
        }
        Ok::<(), std::io::Error>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_client: {addr}: {err}");
            ExitCode::FAILURE
        }
    }
}
