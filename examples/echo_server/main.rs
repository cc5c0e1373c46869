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
use ringloop::buf::BufRing;
use ringloop::signal::{SignalKind, signal};

const USAGE: &str = "\
echo_server: a TCP echo server on ringloop (io_uring)

USAGE:
    echo_server [--addr HOST:PORT] [--plain [--buf BYTES] | --direct | --forward] [--pool-bufs N] [--pool-buf-len BYTES] [--no-register] [--spin-us N]

By default it uses io_uring's fast paths: one multishot accept for all
connections, and per connection a multishot receive into buffers from one
shared pool (provided buffer ring), so idle connections hold no buffer;
each buffer is written back write-behind (the send's completion frees it
without waking the connection's task); each connection is also registered
in the ring's file table, so its sends skip the kernel's file lookup.
While the load is light (a turn brings one or two completions), the loop
polls the completion ring for up to 50 us before it sleeps, so a round
trip skips the sleep and the wake-up; under load, and once idle, it
sleeps as usual.

OPTIONS:
    --addr HOST:PORT      address to listen on (default 127.0.0.1:8080)
    --plain               plain path: one accept per connection, one read
                          buffer per connection
    --direct              pooled path with connections held as direct
                          descriptors (slots of the ring's file table)
    --forward             pooled path echoing with forward_to: the runtime's
                          driver writes each received buffer back itself, so
                          the connection's task is not polled per message
                          (bytes are counted when a connection ends)
    --buf BYTES           plain path: read buffer per connection (default 16384)
    --pool-bufs N         pooled path: buffers in the pool, a power of two
                          (default 128, or 1024 without incremental consumption)
    --pool-buf-len BYTES  pooled path: size of each pooled buffer
                          (default 8192, or 2048 without incremental consumption)
    --no-register         pooled path: keep connections on plain fds only
                          (not registered in the ring's file table)
    --spin-us N           before the loop sleeps, poll the completion ring
                          for up to N microseconds (no syscalls): at low load
                          the round trip skips the sleep and wake-up, for CPU
                          while requests keep coming within N us of each
                          other (default 50; 0 turns it off)
    -h, --help            print this help

Stop it with Ctrl-C or SIGTERM; it prints what it served.";

struct Args {
    addr: String,
    buf: usize,
    plain: bool,
    direct: bool,
    forward: bool,
    /// `None`: the default for the kernel's buffer-ring features.
    pool_bufs: Option<u16>,
    pool_buf_len: Option<u32>,
    spin_us: u64,
    no_register: bool,
}

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".to_owned(),
        buf: 16 * 1024,
        plain: false,
        direct: false,
        forward: false,
        pool_bufs: None,
        pool_buf_len: None,
        spin_us: 50,
        no_register: false,
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
                args.buf = parse("--buf", it.next())?;
                // One buffer per connection: a size the allocator cannot
                // give would abort at the first connection.
                if args.buf == 0 || args.buf > 1 << 30 {
                    return Err("--buf must be from 1 byte to 1 GiB (1073741824)".to_owned());
                }
            }
            "--plain" => args.plain = true,
            "--direct" => args.direct = true,
            "--forward" => args.forward = true,
            "--pool-bufs" => args.pool_bufs = Some(parse("--pool-bufs", it.next())?),
            "--pool-buf-len" => args.pool_buf_len = Some(parse("--pool-buf-len", it.next())?),
            "--spin-us" => args.spin_us = parse("--spin-us", it.next())?,
            "--no-register" => args.no_register = true,
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    if [args.plain, args.direct, args.forward]
        .iter()
        .filter(|&&on| on)
        .count()
        > 1
    {
        return Err("--plain, --direct and --forward each choose the path: give one".to_owned());
    }
    Ok(Some(args))
}

/// The shared receive pool. With incremental consumption (Linux 6.12) small
/// messages share buffers, so 1 MiB of 8 KiB buffers serves thousands of
/// connections; without it each receive takes a whole buffer, so there must
/// be one per connection with a message in flight (2 MiB of 2 KiB buffers).
fn build_pool(args: &Args) -> std::io::Result<BufRing> {
    let pool = BufRing::builder()
        .entries(args.pool_bufs.unwrap_or(128))
        .buf_len(args.pool_buf_len.unwrap_or(8192))
        .build()?;
    if pool.is_incremental() || args.pool_bufs.is_some() || args.pool_buf_len.is_some() {
        return Ok(pool);
    }
    drop(pool);
    BufRing::builder().entries(1024).buf_len(2048).build()
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
    let mut builder = ringloop::Runtime::builder();
    if args.direct {
        builder.direct_descriptors(65_536);
    } else if !args.plain && !args.no_register {
        builder.register_streams(65_536);
    }
    if args.spin_us > 0 {
        builder.spin_before_park(std::time::Duration::from_micros(args.spin_us));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("echo_server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = echo::listen(&args.addr)
            .map_err(|err| format!("cannot listen on {}: {err}", args.addr))?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let (mode, described) = if args.plain {
            (echo::Mode::Plain { buf_size: args.buf }, format!("plain path, {} B buffer per connection", args.buf))
        } else {
            let pool = build_pool(&args)
                .map_err(|err| format!("cannot set up the buffer pool: {err} (try --plain)"))?;
            let described = format!(
                "multishot accept + multishot recv into a pool of {} x {} B{}{}{}",
                pool.entries(),
                pool.buf_len(),
                if pool.is_incremental() { " (incremental)" } else { "" },
                if args.forward { ", echoed by forward_to" } else { "" },
                if args.direct {
                    ", direct descriptors"
                } else if args.no_register {
                    ", plain fds"
                } else {
                    ", registered in the file table"
                }
            );

            let mode = if args.direct {
                echo::Mode::PooledDirect(pool)
            } else if args.forward {
                echo::Mode::Forward(pool)
            } else {
                echo::Mode::Pooled(pool)
            };
            (mode, described)
        };
        let described = if args.spin_us > 0 {
            format!("{described}, spinning up to {} us before sleeping while latency-bound", args.spin_us)
        } else {
            described
        };
        println!(
            "ringloop echo server listening on {local} (pid {}, {described}); Ctrl-C to stop",
            std::process::id()
        );
        let stats = Rc::new(echo::Stats::default());
        let server = std::pin::pin!(echo::serve_with(listener, stats.clone(), mode));
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
                    "{signal}: served {} connections ({} still open, {} ended with an error), echoed {} bytes",
                    stats.connections.get(),
                    stats.active.get(),
                    stats.errors.get(),
                    stats.bytes.get(),
                );
                println!(
                    "ring: {} SQEs submitted, {} io_uring_enter calls, {} CQEs reaped, {} SQ-full, \
                     {} CQ-overflow, {} ENOBUFS, {} cancels, {} eager sends, {} parks, \
                     {} of {} spins found work, {} streams registered; in flight: {:?}",
                    m.sqes_submitted,
                    m.enter_calls,
                    m.cqes_reaped,
                    m.sq_full_events,
                    m.cq_overflow_events,
                    m.enobufs_events,
                    m.cancels_issued,
                    m.eager_sends,
                    m.parks,
                    m.spin_wakeups,
                    m.spins,
                    m.registered_streams,
                    m.ops_in_flight_by_kind,
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
