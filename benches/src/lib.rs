//! Benchmark harness for ringloop: an io_uring load generator
//! ([`load`]), the same echo server on several runtimes ([`servers`]), and
//! the driver that runs the matrix and writes `docs/benchmarks.md`
//! ([`driver`]). See `benches/README.md`.

pub mod args;
pub mod common;
pub mod driver;
pub mod hist;
pub mod load;
pub mod servers;
pub mod uring_util;
