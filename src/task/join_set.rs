//! `JoinSet`: a set of spawned tasks, joined in completion order.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, Stream};

use crate::runtime::{JoinError, Task};

/// A set of tasks spawned on the current runtime, whose outputs are
/// collected in the order the tasks finish.
///
/// Dropping the set cancels every task still in it — the tasks live no
/// longer than the set (structured concurrency). To let one outlive it,
/// spawn it with [`spawn`](crate::spawn) instead.
///
/// ```
/// use std::time::Duration;
/// use ringloop::task::JoinSet;
/// use ringloop::time::sleep;
///
/// ringloop::run(async {
///     let mut set = JoinSet::new();
///     for ms in [30u64, 10, 20] {
///         set.spawn(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(result) = set.join_next().await {
///         order.push(result.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub struct JoinSet<T> {
    tasks: FuturesUnordered<Task<T>>,
}

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: FuturesUnordered::new(),
        }
    }

    /// Spawns `future` on the current runtime as a task of this set.
    ///
    /// Outside a runtime nothing runs: [`join_next`](Self::join_next)
    /// yields that task's [`JoinError`].
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        self.tasks.push(crate::spawn(future));
    }

    /// Adds an already spawned task to the set (it will be cancelled with
    /// the set).
    pub fn push(&mut self, task: Task<T>) {
        self.tasks.push(task);
    }

    /// Tasks in the set (not yet joined).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for the next task to finish and returns its outcome; `None`
    /// when the set is empty.
    ///
    /// Cancel-safe: if this future is dropped, no outcome is lost (the
    /// task stays in the set).
    ///
    /// # Errors
    ///
    /// The task's [`JoinError`] if it panicked or was cancelled.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next finished task.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        Pin::new(&mut self.tasks).poll_next(cx)
    }

    /// Requests the cancellation of every task in the set (like asyncio's
    /// `Task.cancel` on each). They stay in the set: [`join_next`](Self::join_next)
    /// yields their outcomes — cancelled, or their output if they had
    /// already finished.
    pub fn abort_all(&mut self) {
        for task in self.tasks.iter() {
            task.cancel();
        }
    }

    /// Cancels every task and waits until all have ended (their futures
    /// dropped); the set is then empty.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Waits for every task and returns the outcomes in completion order.
    pub async fn join_all(mut self) -> Vec<Result<T, JoinError>> {
        let mut outcomes = Vec::with_capacity(self.len());
        while let Some(outcome) = self.join_next().await {
            outcomes.push(outcome);
        }
        outcomes
    }
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        for task in self.tasks.iter() {
            task.cancel();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.tasks.len())
            .finish()
    }
}

impl<T: 'static, F> Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + 'static,
{
    fn extend<I: IntoIterator<Item = F>>(&mut self, futures: I) {
        for future in futures {
            self.spawn(future);
        }
    }
}

impl<T: 'static, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + 'static,
{
    fn from_iter<I: IntoIterator<Item = F>>(futures: I) -> Self {
        let mut set = JoinSet::new();
        set.extend(futures);
        set
    }
}
