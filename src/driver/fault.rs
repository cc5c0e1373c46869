//! Fault injection for tests (feature `fault-injection`, off by default).
//!
//! With the feature on and `RINGLOOP_FAULT_SEED` set, every runtime on the
//! process injects faults, reproducibly from the seed, at a rate of
//! `RINGLOOP_FAULT_RATE` per thousand (default 50):
//!
//! - an operation, instead of reaching the kernel, completes with a
//!   synthetic `EINTR`, `EAGAIN`, `ECANCELED` or `ENOBUFS` (the kernel never
//!   saw it, so no data moved: the op future retries it, as it does for
//!   those errors from the kernel);
//! - a read or write on a stream asks the kernel for fewer bytes than the
//!   buffer holds (a short transfer, which callers must loop over);
//! - `io_uring_enter` reports `EINTR`, `EAGAIN` or `EBUSY` without entering.
//!
//! Faults never rewrite a result the kernel produced: that would lose data
//! the kernel had already moved, which no caller could recover.
//!
//! Without the feature every hook is a constant `None` and compiles away.

#[cfg(feature = "fault-injection")]
use std::cell::Cell;

/// The errors an operation may be completed with instead of running.
#[cfg(feature = "fault-injection")]
const OP_ERRORS: [i32; 4] = [libc::EINTR, libc::EAGAIN, libc::ECANCELED, libc::ENOBUFS];
/// The errors `io_uring_enter` may report instead of entering.
#[cfg(feature = "fault-injection")]
const ENTER_ERRORS: [i32; 3] = [libc::EINTR, libc::EAGAIN, libc::EBUSY];

#[cfg(feature = "fault-injection")]
thread_local! {
    /// The injector of the runtime on this thread (`None`: faults off).
    static INJECTOR: Cell<Option<(u64, u32)>> = const { Cell::new(None) };
}

/// Reads the configuration from the environment; called once per runtime.
pub(crate) fn configure_from_env() {
    #[cfg(feature = "fault-injection")]
    {
        let seed = std::env::var("RINGLOOP_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        let rate = std::env::var("RINGLOOP_FAULT_RATE")
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(50)
            .min(1000);
        INJECTOR.with(|i| i.set(seed.map(|s| (s.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, rate))));
    }
}

/// Draws a number in `0..n` if a fault should happen now.
#[cfg(feature = "fault-injection")]
fn roll(n: u64) -> Option<u64> {
    INJECTOR.with(|cell| {
        let (mut x, rate) = cell.get()?;
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(Some((x, rate)));
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((r >> 32) % 1000 < u64::from(rate)).then_some((r & 0xffff_ffff) % n.max(1))
    })
}

/// A synthetic error to complete an op with instead of submitting it.
pub(crate) fn op_error() -> Option<i32> {
    #[cfg(feature = "fault-injection")]
    {
        roll(OP_ERRORS.len() as u64).map(|i| -OP_ERRORS[i as usize])
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        None
    }
}

/// An error `io_uring_enter` reports instead of entering.
pub(crate) fn enter_error() -> Option<i32> {
    #[cfg(feature = "fault-injection")]
    {
        roll(ENTER_ERRORS.len() as u64).map(|i| ENTER_ERRORS[i as usize])
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        None
    }
}

/// The length a stream transfer asks the kernel for: `len`, or sometimes
/// less (at least 1 byte of a non-empty buffer).
#[inline]
pub(crate) fn stream_len(len: usize) -> usize {
    #[cfg(feature = "fault-injection")]
    {
        if len > 1 {
            if let Some(short) = roll(len as u64) {
                return (short as usize).max(1);
            }
        }
    }
    len
}
