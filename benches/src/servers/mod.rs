//! The echo servers, one module each, and the list the driver walks.
//!
//! Every server does the same thing: accept connections on `--addr`, run
//! one handler (task) per connection that reads into a `--buf`-byte buffer
//! and writes back everything it read until EOF, single-threaded, with
//! `TCP_NODELAY` on accepted sockets. It prints
//! `ready NAME pid=PID addr=ADDR` once listening and exits with status 0 on
//! SIGTERM/SIGINT.
//!
//! To add a server: write a module with `pub fn run(args: &ServeArgs) ->
//! io::Result<()>` and add one [`ServerSpec`] to [`SERVERS`].

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use crate::args::Args;
use crate::common::{exit_on_signals, raise_nofile};

mod epoll;
mod tokio_rt;
mod uring;

#[cfg(feature = "compio")]
mod compio_rt;
#[cfg(feature = "glommio")]
mod glommio_rt;
#[cfg(feature = "monoio")]
mod monoio_rt;
#[cfg(feature = "ringloop")]
mod ringloop_rt;
#[cfg(feature = "tokio-uring")]
mod tokio_uring_rt;

/// What a server is told.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Per-connection read buffer, bytes.
    pub buf: usize,
}

/// How a server relates to the others in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The baseline every ratio is taken against.
    Baseline,
    /// Hand-written loop without a runtime: a reference point.
    Raw,
    /// An async runtime.
    Runtime,
    /// A ringloop feature variant, to show one io_uring feature's effect:
    /// run only when named in `--servers` (see benches/README.md).
    Variant,
}

/// One entry of the server list.
#[derive(Debug, Clone, Copy)]
pub struct ServerSpec {
    /// Name used on the command line and in reports.
    pub name: &'static str,
    /// One-line description for the report.
    pub about: &'static str,
    /// Its role.
    pub kind: Kind,
    /// Crate whose version the report shows, with the version prefix to
    /// pick when the lock file holds several (e.g. `("io-uring", "0.7")`).
    pub krate: Option<(&'static str, &'static str)>,
    /// The server, or why it is not built.
    pub run: Result<fn(&ServeArgs) -> io::Result<()>, &'static str>,
}

macro_rules! feature_run {
    ($feature:literal, $path:path, $why:literal) => {{
        #[cfg(feature = $feature)]
        let r: Result<fn(&ServeArgs) -> io::Result<()>, &'static str> = Ok($path);
        #[cfg(not(feature = $feature))]
        let r: Result<fn(&ServeArgs) -> io::Result<()>, &'static str> = Err($why);
        r
    }};
}

/// Every server, in report order. The first is the baseline.
pub const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        name: "tokio",
        about: "tokio current_thread runtime (epoll) - the baseline",
        kind: Kind::Baseline,
        krate: Some(("tokio", "1")),
        run: Ok(tokio_rt::run),
    },
    ServerSpec {
        name: "epoll",
        about: "hand-written level-triggered epoll loop (libc, no runtime)",
        kind: Kind::Raw,
        krate: None,
        run: Ok(epoll::run),
    },
    ServerSpec {
        name: "uring",
        about: "hand-written io_uring loop (io-uring crate, no runtime): multishot accept into \
                direct descriptors, multishot recv from a provided-buffer ring, one \
                io_uring_enter per iteration, SINGLE_ISSUER+DEFER_TASKRUN - the ceiling",
        kind: Kind::Raw,
        krate: Some(("io-uring", "0.7")),
        run: Ok(uring::run),
    },
    ServerSpec {
        name: "ringloop",
        about: "ringloop (this repository), default fast path: multishot accept, multishot \
                recv into a shared provided-buffer ring (incremental), buffers written back as is \
                (write-behind), connections registered in the ring's file table",
        kind: Kind::Runtime,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-plain",
        about: "ringloop, plain path: one accept and one read buffer per connection",
        kind: Kind::Runtime,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_plain,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-direct",
        about: "ringloop, fast path with connections as direct descriptors (IOSQE_FIXED_FILE)",
        kind: Kind::Runtime,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_direct,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-sqpoll",
        about: "ringloop, default fast path with SQPOLL (a kernel thread submits)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_sqpoll,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-forward",
        about: "ringloop, default fast path echoing with forward_to (the driver sends each received buffer back: no task poll per message)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_forward,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-await",
        about: "ringloop, default fast path with each write awaited (write_all) instead of write-behind",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_awaited,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-ring",
        about: "ringloop, default fast path with eager sends off (every send an SQE)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_ring_only,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-spin",
        about: "ringloop, default fast path polling the completion ring for 50 us before it sleeps \
                while latency-bound (Builder::spin_before_park): the echo server example's default",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_spin,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-fd",
        about: "ringloop, default fast path with connections on plain fds only (not registered \
                in the ring's file table: the kernel looks the file up for every send)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_plain_fds,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-zc",
        about: "ringloop, plain path writing with SEND_ZC",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_zerocopy,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-fixed",
        about: "ringloop, plain path with registered buffers (READ_FIXED/WRITE_FIXED)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_fixed,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-linked",
        about: "ringloop, plain path, each read bounded by a 30 s linked kernel timeout (read_timeout)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_linked_timeout,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "ringloop-timer",
        about: "ringloop, plain path, each read bounded by a 30 s runtime timer (time::timeout)",
        kind: Kind::Variant,
        krate: None,
        run: feature_run!(
            "ringloop",
            ringloop_rt::run_timer_timeout,
            "built without the `ringloop` feature"
        ),
    },
    ServerSpec {
        name: "monoio",
        about: "monoio, io_uring driver, thread-per-core",
        kind: Kind::Runtime,
        krate: Some(("monoio", "0")),
        run: feature_run!(
            "monoio",
            monoio_rt::run,
            "built without the `monoio` feature"
        ),
    },
    ServerSpec {
        name: "compio",
        about: "compio, io_uring driver, thread-per-core",
        kind: Kind::Runtime,
        krate: Some(("compio", "0")),
        run: feature_run!(
            "compio",
            compio_rt::run,
            "built without the `compio` feature"
        ),
    },
    ServerSpec {
        name: "tokio-uring",
        about: "tokio-uring (io_uring driven from a tokio current_thread runtime)",
        kind: Kind::Runtime,
        krate: Some(("tokio-uring", "0")),
        run: feature_run!(
            "tokio-uring",
            tokio_uring_rt::run,
            "built without the `tokio-uring` feature"
        ),
    },
    ServerSpec {
        name: "glommio",
        about: "glommio LocalExecutor, io_uring, thread-per-core",
        kind: Kind::Runtime,
        krate: Some(("glommio", "0")),
        run: feature_run!(
            "glommio",
            glommio_rt::run,
            "built without the `glommio` feature"
        ),
    },
];

/// crates.io runtimes tried as peers that could not be built, with the
/// reason; the report lists them. Empty: monoio 0.2.4, compio 0.19.2,
/// tokio-uring 0.5.0 and glommio 0.9.0 all build on Rust 1.95 stable.
pub const NOT_BUILT: &[(&str, &str)] = &[];

/// Looks a server up by name.
pub fn find(name: &str) -> Option<&'static ServerSpec> {
    SERVERS.iter().find(|s| s.name == name)
}

/// `serve NAME --addr ADDR [--buf BYTES]`.
pub fn serve_main(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let mut a = Args::new(argv);
    let parsed = (|| -> Result<(&'static ServerSpec, ServeArgs), String> {
        let name = a.positional().ok_or("serve: which server?")?;
        let spec = find(&name).ok_or_else(|| format!("serve: unknown server {name:?}"))?;
        let addr = a
            .value("--addr")?
            .unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let buf: usize = a.value_or("--buf", 4096)?;
        if buf == 0 || buf > 1 << 20 {
            return Err("--buf must be 1..=1048576".into());
        }
        Ok((spec, ServeArgs { addr, buf }))
    })()
    .and_then(|x| a.finish().map(|_| x));
    let (spec, args) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}\nusage: serve NAME --addr HOST:PORT [--buf BYTES]");
            return ExitCode::from(2);
        }
    };
    let run = match spec.run {
        Ok(run) => run,
        Err(why) => {
            eprintln!("serve {}: unavailable: {why}", spec.name);
            return ExitCode::from(3);
        }
    };
    raise_nofile(65536);
    exit_on_signals();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve {}: {e}", spec.name);
            ExitCode::FAILURE
        }
    }
}
