//! `spawn_blocking`: a bounded pool of threads for blocking work, like
//! asyncio's `loop.run_in_executor(None, f)`.
//!
//! A job's result comes back to the loop through the ring, not by polling:
//! the worker stores it and wakes the waiting task; that wake, coming from
//! another thread, writes the runtime's eventfd, whose read is always in
//! flight in the ring, so a parked loop wakes up at once.
//!
//! Shutdown: dropping the runtime discards jobs that have not started (their
//! tasks end as cancelled) and does not wait for jobs that are running —
//! they finish on their threads and their results are dropped. The threads
//! exit once idle.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::runtime::{JoinError, Task, context};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long an idle worker waits for a job before its thread exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The blocking pool of one runtime.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    state: Mutex<PoolState>,
    work: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    /// Workers waiting for a job and not yet claimed by a wake-up.
    idle: usize,
    /// Wake-ups sent to idle workers and not yet taken.
    wakeups: usize,
    shutdown: bool,
    /// Most threads alive at once (for tests and metrics).
    peak_threads: usize,
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolState")
            .field("queued", &self.queue.len())
            .field("threads", &self.threads)
            .field("idle", &self.idle)
            .field("shutdown", &self.shutdown)
            .finish()
    }
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize) -> BlockingPool {
        BlockingPool {
            inner: Arc::new(PoolInner {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
            }),
        }
    }

    fn submit(&self, job: Job) -> io::Result<()> {
        let mut state = self.inner.lock();
        if state.shutdown {
            return Err(io::Error::other(
                "ringloop: the runtime is shutting down; no blocking job can start",
            ));
        }
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.wakeups += 1;
            self.inner.work.notify_one();
            return Ok(());
        }
        if state.threads >= self.inner.max_threads {
            // Queued: the next worker to finish takes it.
            return Ok(());
        }
        state.threads += 1;
        state.peak_threads = state.peak_threads.max(state.threads);
        drop(state);
        let inner = self.inner.clone();
        let spawned = thread::Builder::new()
            .name("ringloop-blocking".to_owned())
            .spawn(move || worker(&inner));
        if let Err(err) = spawned {
            let mut state = self.inner.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // No worker will ever take the job: report it.
                state.queue.pop_back();
                return Err(err);
            }
        }
        Ok(())
    }

    /// Threads alive now, and the most alive at once.
    pub(crate) fn threads(&self) -> (usize, usize) {
        let state = self.inner.lock();
        (state.threads, state.peak_threads)
    }

    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut state = self.inner.lock();
            state.shutdown = true;
            std::mem::take(&mut state.queue)
        };
        self.inner.work.notify_all();
        // Dropped outside the lock: each drop ends its task as cancelled.
        drop(queued);
    }
}

fn worker(pool: &PoolInner) {
    // Signals belong to the runtime's signalfd, not to these threads.
    crate::sys::block_all_signals();
    let mut state = pool.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = pool.lock();
            continue;
        }
        if state.shutdown {
            break;
        }
        state.idle += 1;
        let (guard, wait) = pool
            .work
            .wait_timeout(state, KEEP_ALIVE)
            .unwrap_or_else(PoisonError::into_inner);
        state = guard;
        if state.wakeups > 0 {
            // Claimed by a submit, which already took us off `idle`.
            state.wakeups -= 1;
            continue;
        }
        state.idle -= 1;
        if wait.timed_out() && state.queue.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}

/// Where a job leaves its result for the loop.
struct Slot<T> {
    /// `Some` once the job ran (Err: it panicked).
    result: Option<thread::Result<T>>,
    /// The job was dropped without running (shutdown).
    abandoned: bool,
    waker: Option<Waker>,
}

/// Sets `abandoned` if the job is dropped before it ran.
struct Delivery<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Delivery<T> {
    fn deliver(self, result: thread::Result<T>) {
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            slot.result = Some(result);
            slot.waker.take()
        };
        // From a worker thread: goes through the runtime's eventfd.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Delivery<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.result.is_some() {
                return;
            }
            slot.abandoned = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Runs `f` on the runtime's blocking pool and returns a task for its
/// result. Use it for work that would block the loop: CPU-heavy
/// computation, blocking system calls, libraries without async APIs.
///
/// ```
/// ringloop::run(async {
///     let sum = ringloop::spawn_blocking(|| (1..=1_000u64).sum::<u64>()).await.unwrap();
///     assert_eq!(sum, 500_500);
/// });
/// ```
///
/// The pool has at most `Builder::max_blocking_threads` threads (default
/// 64); more jobs queue. A panic in `f` is returned as a [`JoinError`] with
/// [`is_panic`](JoinError::is_panic). Cancelling the task stops waiting for
/// the result: a job still queued then never runs, and one that has started
/// runs to completion (threads cannot be interrupted). Dropping the task
/// detaches it: the job runs, and its result is dropped. Outside a
/// runtime, the task's output is an error.
pub fn spawn_blocking<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(handle) = context::handle() else {
        return Task::failed(JoinError::no_runtime());
    };
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        abandoned: false,
        waker: None,
    }));
    let delivery = Delivery { slot: slot.clone() };
    let job: Job = Box::new(move || {
        // The slot is shared by the delivery and the task waiting for it
        // only: alone, the task was cancelled while the job was queued, so
        // it does not start (as documented; only a started job runs to
        // completion). A detached task (its handle dropped) still waits.
        if Arc::strong_count(&delivery.slot) == 1 {
            return;
        }
        let result = catch_unwind(AssertUnwindSafe(f));
        delivery.deliver(result);
    });
    if let Err(err) = handle.blocking.submit(job) {
        // The job (and its delivery) was dropped: the slot says abandoned.
        let _ = err;
    }
    let result = poll_fn(move |cx| {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(result) = slot.result.take() {
            return Poll::Ready(Some(result));
        }
        if slot.abandoned {
            return Poll::Ready(None);
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    });
    handle.spawn_outcome(async move { result.await.map(|r| r.map_err(JoinError::panic)) })
}
