//! The run queue and the tasks it polls.
//!
//! Tasks are `'static` futures that may be `!Send`: they live in a slab owned
//! by this thread and are polled only here. A task id is its slab key plus a
//! generation (as for ops), so a late wake of a finished task whose slot was
//! reused does not poll the new task by mistake — that would only be a
//! spurious poll, but it is cheap to avoid.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::waker::{Shared, TaskWaker};

/// The id of the future `block_on` drives (never a slab task: generation 0).
pub(crate) const MAIN: u64 = 0;

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

struct TaskSlot {
    generation: u32,
    /// The future and its waker; taken out while the task is being polled.
    task: Option<(BoxFuture, Waker)>,
    state: Arc<TaskWaker>,
}

#[derive(Default)]
pub(crate) struct Executor {
    tasks: RefCell<Slab<TaskSlot>>,
    ready: RefCell<VecDeque<u64>>,
    next_generation: Cell<u32>,
    main_ready: Cell<bool>,
    polls: Cell<u64>,
}

fn split(id: u64) -> (usize, u32) {
    ((id as u32) as usize, (id >> 32) as u32)
}

impl Executor {
    /// Adds a task, ready to run. Returns its waker state, where
    /// `Task::cancel` records a cancel request.
    pub(crate) fn spawn(&self, future: BoxFuture, shared: &Arc<Shared>) -> Arc<TaskWaker> {
        let generation = self.next_generation.get().checked_add(1).unwrap_or(1);
        self.next_generation.set(generation);
        let mut tasks = self.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        // More than 2^32 live tasks would alias ids; the slab would need
        // hundreds of GiB first.
        let id = (u64::from(generation) << 32) | entry.key() as u64;
        let state = Arc::new(TaskWaker::new(id, shared.clone()));
        let waker = Waker::from(state.clone());
        entry.insert(TaskSlot {
            generation,
            task: Some((future, waker)),
            state: state.clone(),
        });
        drop(tasks);
        self.ready.borrow_mut().push_back(id);
        state
    }

    /// Queues a woken task (called by its waker on this thread).
    #[inline]
    pub(crate) fn schedule(&self, id: u64) {
        if id == MAIN {
            self.main_ready.set(true);
        } else {
            self.ready.borrow_mut().push_back(id);
        }
    }

    pub(crate) fn take_main_ready(&self) -> bool {
        self.main_ready.replace(false)
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.main_ready.get() || !self.ready.borrow().is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.borrow().len()
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.get()
    }

    /// Polls up to `budget` ready tasks. Tasks woken meanwhile queue behind
    /// the others, so a task that keeps waking itself gets one poll per turn
    /// of the queue and I/O is reaped at least every `budget` polls.
    #[inline]
    pub(crate) fn run_ready(&self, budget: usize) {
        for _ in 0..budget {
            let Some(id) = self.ready.borrow_mut().pop_front() else {
                return;
            };
            self.run_one(id);
        }
    }

    fn run_one(&self, id: u64) {
        let (key, generation) = split(id);
        let taken = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.get_mut(key) {
                Some(slot) if slot.generation == generation => {
                    // Cleared before the poll: a wake during the poll queues
                    // the task again.
                    slot.state.scheduled.store(false, Ordering::Release);
                    // Cancelled (and not being polled further up the
                    // stack): dropped instead of polled, outside the borrow.
                    // Dropping it cancels its I/O, and its unpublished output
                    // reports the cancellation to the handle.
                    if slot.task.is_some() && slot.state.cancel_requested.load(Ordering::Acquire) {
                        let cancelled = tasks.remove(key);
                        drop(tasks);
                        // A panic in its drop is contained like one in its
                        // poll: this task ends, the loop goes on.
                        let _ = catch_unwind(AssertUnwindSafe(move || drop(cancelled)));
                        return;
                    }
                    slot.task.take()
                }
                _ => None,
            }
        };
        // Stale id (finished task), or the task is being polled further up
        // the stack (a nested block_on of another runtime): nothing to do.
        let Some((mut future, waker)) = taken else {
            return;
        };
        self.polls.set(self.polls.get() + 1);
        let mut cx = Context::from_waker(&waker);
        // The task wrapper catches the user future's panics itself; this
        // catches one escaping from a drop inside it, so the loop survives.
        let done = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => false,
            Ok(Poll::Ready(())) | Err(_) => true,
        };
        if done {
            self.tasks.borrow_mut().remove(key);
            // Dropped with nothing borrowed: its drop may spawn or wake.
            drop(future);
        } else {
            let mut tasks = self.tasks.borrow_mut();
            if let Some(slot) = tasks.get_mut(key) {
                slot.task = Some((future, waker));
            }
        }
    }

    /// Drops every task (runtime shutdown). Tasks spawned by the drops are
    /// dropped too.
    pub(crate) fn drop_all(&self) {
        for _ in 0..1000 {
            let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
            if tasks.is_empty() {
                break;
            }
            for (_, slot) in tasks {
                // One at a time, with nothing borrowed. A panic in a task's
                // drop is contained as it is for a cancelled task's (see
                // `run_one`): else it would escape `Runtime::drop`, skip the
                // driver's shutdown, and a second one, dropping the rest of
                // `tasks` while unwinding, would abort the process.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(slot)));
            }
        }
        self.ready.borrow_mut().clear();
        self.main_ready.set(false);
    }
}
