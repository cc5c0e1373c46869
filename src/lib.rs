//! ringloop is an async runtime for Linux built on io_uring.
//!
//! It is what Python's asyncio is to Python — an event loop, tasks,
//! cancellation, timers and I/O — but completion-driven: every I/O call is
//! an io_uring operation that owns its buffer until the kernel is done with
//! it, and a single-threaded executor resolves futures as completions arrive.
//!
//! ```no_run
//! use ringloop::net::TcpListener;
//!
//! fn main() -> std::io::Result<()> {
//!     ringloop::run(async {
//!         let listener = TcpListener::bind("127.0.0.1:8080")?;
//!         loop {
//!             let (stream, _peer) = listener.accept().await?;
//!             ringloop::spawn(async move {
//!                 let mut buf = Vec::with_capacity(4096);
//!                 loop {
//!                     // The buffer goes to the kernel and comes back.
//!                     let (n, b) = stream.read(buf).await;
//!                     if !matches!(n, Ok(n) if n > 0) { return; }
//!                     let (res, b) = stream.write_all(b).await;
//!                     if res.is_err() { return; }
//!                     buf = b;
//!                     buf.clear();
//!                 }
//!             });
//!         }
//!     })
//! }
//! ```
//!
//! The layers, from the top: user code and the public APIs ([`net`], [`fs`],
//! [`time`], [`io`]); the op layer (one file per io_uring operation); the
//! driver (the ring, the table of in-flight operations, cancellation); and
//! the executor that ties a tick together. `docs/ARCHITECTURE.md` describes
//! them and the lifecycle of an operation.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]

mod blocking;
pub mod buf;
mod driver;
pub mod fs;
pub mod io;
pub mod net;
mod op;
pub mod process;
pub mod runtime;
pub mod signal;
pub mod sync;
mod sys;
pub mod task;
pub mod time;

pub use blocking::spawn_blocking;
pub use runtime::{Builder, JoinError, Runtime, Task, run, spawn, yield_now};
