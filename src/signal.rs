//! Unix signals as async events, like asyncio's `loop.add_signal_handler`.
//!
//! Each signal a runtime listens for gets one signalfd (the signal is
//! blocked in the runtime's thread so that it is queued there instead of
//! running its default action) and one reader task that reads it through
//! the ring. Every [`Signal`] for that number sees every delivery; several
//! deliveries between two `recv`s count as one, as with any Unix signal.
//!
//! Signals are per process: listen from the runtime's thread before
//! spawning other threads (they inherit the blocked mask), or a signal may
//! be delivered to a thread that does not block it. ringloop's own blocking
//! pool blocks every signal in its threads.
//!
//! ```no_run
//! ringloop::run(async {
//!     let mut term = ringloop::signal::signal(ringloop::signal::SignalKind::terminate())?;
//!     tokio_like_server_until(term.recv()).await
//! })?;
//! # async fn tokio_like_server_until(f: impl std::future::Future) -> std::io::Result<()> { f.await; Ok(()) }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::driver::Op;
use crate::io::SharedFd;
use crate::op::read::Read;
use crate::runtime::context;

/// Size of one `struct signalfd_siginfo`.
const SIGINFO_SIZE: usize = 128;

/// A signal number, with names for the common ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// Any signal by number.
    pub fn from_raw(signo: i32) -> SignalKind {
        SignalKind(signo)
    }

    /// The number.
    pub fn as_raw(self) -> i32 {
        self.0
    }

    /// `SIGINT` (Ctrl-C).
    pub fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM` (polite stop: `kill`, systemd, Kubernetes).
    pub fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP` (reload configuration, by convention).
    pub fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGQUIT`.
    pub fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGUSR1`.
    pub fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGCHLD`.
    pub fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGWINCH`.
    pub fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

/// What all listeners of one signal on one runtime share.
pub(crate) struct SignalState {
    deliveries: u64,
    error: Option<io::ErrorKind>,
    /// The reader task is gone (its runtime shut down): no delivery will
    /// ever be counted again.
    reader_gone: bool,
    waiters: Vec<Waker>,
}

/// The runtime's signals: one state (and reader task) per signal number.
#[derive(Default)]
pub(crate) struct Registry {
    signals: HashMap<libc::c_int, Rc<RefCell<SignalState>>>,
}

/// A stream of deliveries of one signal.
pub struct Signal {
    kind: SignalKind,
    state: Rc<RefCell<SignalState>>,
    seen: u64,
}

/// Listens for `kind` on the current runtime from now on.
///
/// # Errors
///
/// `InvalidInput` for a number that is not a signal or cannot be caught
/// (`SIGKILL`, `SIGSTOP`); an error outside a runtime; the errors of
/// creating the signalfd.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let signo = kind.0;
    // SIGRTMAX itself is a signal (the last one): only above it is not.
    if signo <= 0 || signo > libc::SIGRTMAX() || signo == libc::SIGKILL || signo == libc::SIGSTOP {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "signal {signo} cannot be listened for: it is not a signal number, or it is SIGKILL/SIGSTOP"
            ),
        ));
    }
    let handle = context::handle().ok_or_else(context::no_runtime_error)?;
    let existing = handle.signals.borrow().signals.get(&signo).cloned();
    let state = match existing {
        Some(state) => state,
        None => {
            let fd = SharedFd::new(crate::sys::signalfd(signo)?);
            let state = Rc::new(RefCell::new(SignalState {
                deliveries: 0,
                error: None,
                reader_gone: false,
                waiters: Vec::new(),
            }));
            handle
                .signals
                .borrow_mut()
                .signals
                .insert(signo, state.clone());
            // Detached: it lives as long as the runtime.
            let gone = ReaderGone(state.clone());
            drop(handle.spawn(read_signals(fd, state.clone(), gone)));
            state
        }
    };
    let seen = state.borrow().deliveries;
    Ok(Signal { kind, state, seen })
}

/// Reads the signalfd forever, announcing each delivery to every listener.
/// Marks the reader gone when the reader task ends or is dropped (its
/// runtime shut down): a `Signal` kept beyond its runtime, and awaited in
/// another one, gets an error instead of waiting for deliveries nobody
/// reads.
struct ReaderGone(Rc<RefCell<SignalState>>);

impl Drop for ReaderGone {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.0.borrow_mut();
            state.reader_gone = true;
            std::mem::take(&mut state.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// `gone` is an argument, not made in the body: the task may be dropped
/// before its first poll.
async fn read_signals(fd: SharedFd, state: Rc<RefCell<SignalState>>, gone: ReaderGone) {
    let _gone = gone;
    let mut buf = Vec::with_capacity(SIGINFO_SIZE * 8);
    loop {
        buf.clear();
        let (result, returned) = Op::new(Read::records(fd.clone(), buf)).await;
        buf = returned;
        let waiters = {
            let mut state = state.borrow_mut();
            match result {
                Ok(n) => state.deliveries += (n / SIGINFO_SIZE).max(1) as u64,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => state.error = Some(err.kind()),
            }
            std::mem::take(&mut state.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
        if state.borrow().error.is_some() {
            return;
        }
    }
}

impl Signal {
    /// Waits for the next delivery of the signal (one that arrives after
    /// this listener was created or last returned).
    ///
    /// # Errors
    ///
    /// If reading the signalfd failed (never expected), or the runtime this
    /// listener was made in has been dropped (nothing reads the signal for
    /// it any more: make a new listener in the runtime that runs now).
    pub async fn recv(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if state.deliveries > self.seen {
                self.seen = state.deliveries;
                return Poll::Ready(Ok(()));
            }
            if let Some(kind) = state.error {
                return Poll::Ready(Err(io::Error::new(kind, "reading the signalfd failed")));
            }
            if state.reader_gone {
                return Poll::Ready(Err(io::Error::other(
                    "ringloop: the runtime this signal listener was made in has shut down; call signal() again in the runtime that runs now",
                )));
            }
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// The signal this listener receives.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Waits for Ctrl-C (`SIGINT`).
///
/// # Errors
///
/// As for [`signal`].
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::interrupt())?.recv().await
}
