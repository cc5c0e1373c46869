//! Wakers: `Send + Sync`, so any thread may wake a task.
//!
//! A wake on the runtime's own thread pushes the task straight onto the local
//! run queue. A wake from another thread goes through `Shared`: the task id
//! is queued under a mutex and, if no notification is pending yet, the
//! runtime's eventfd is written. The driver always has a read of that eventfd
//! in flight, so the write completes it and a loop parked in
//! `io_uring_enter` wakes up.
//!
//! No wake is lost: see `remote.rs`, whose protocol is model-checked with
//! loom.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Wake;

use super::context;
use super::remote::RemoteQueue;

/// The part of a runtime other threads can reach.
#[derive(Debug)]
pub(crate) struct Shared {
    remote: RemoteQueue,
    eventfd: Arc<OwnedFd>,
}

impl Shared {
    pub(crate) fn new(eventfd: Arc<OwnedFd>) -> Shared {
        Shared {
            remote: RemoteQueue::default(),
            eventfd,
        }
    }

    fn schedule_remote(&self, task: u64) {
        if self.remote.push(task) {
            crate::sys::eventfd_write(&self.eventfd);
        }
    }

    /// Whether another thread woke a task that `drain` has not collected.
    pub(crate) fn has_remote(&self) -> bool {
        self.remote.has_pending()
    }

    /// Collects the ids other threads woke.
    pub(crate) fn drain(&self, each: impl FnMut(u64)) {
        self.remote.drain(each);
    }
}

/// The waker of one task (or of the future `block_on` drives).
#[derive(Debug)]
pub(crate) struct TaskWaker {
    pub(crate) id: u64,
    /// Set while the task sits in a run queue: later wakes are no-ops until
    /// the executor polls it again.
    pub(crate) scheduled: AtomicBool,
    /// Set by `Task::cancel`: the executor drops the task instead of
    /// polling it. Kept here, not in the join state, because the executor
    /// touches this struct on every poll anyway.
    pub(crate) cancel_requested: AtomicBool,
    shared: Arc<Shared>,
}

impl TaskWaker {
    pub(crate) fn new(id: u64, shared: Arc<Shared>) -> TaskWaker {
        TaskWaker {
            id,
            scheduled: AtomicBool::new(true),
            cancel_requested: AtomicBool::new(false),
            shared,
        }
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    #[inline]
    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let local = context::with_current(|handle| {
            if Arc::ptr_eq(&handle.shared, &self.shared) {
                handle.executor.schedule(self.id);
                true
            } else {
                false
            }
        });
        if local != Some(true) {
            self.shared.schedule_remote(self.id);
        }
    }
}
