//! `wait` and `as_completed`, after asyncio's.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, Stream};

use crate::runtime::{JoinError, Task};

/// When [`wait`] returns, like asyncio's `return_when`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// As soon as any task has finished.
    FirstCompleted,
    /// As soon as any task has failed — returned `Err`, panicked or been
    /// cancelled — or when all have finished.
    FirstException,
    /// When every task has finished.
    #[default]
    AllCompleted,
}

/// A finished task's outcome: its own `Result`, inside the [`JoinError`]
/// of a task that panicked or was cancelled.
pub type Outcome<T, E> = Result<Result<T, E>, JoinError>;

/// Waits for tasks like `asyncio.wait(tasks, return_when=mode)` and returns
/// `(done, pending)`: the outcomes of the finished tasks and the tasks still
/// running, each with its index in `tasks`, in index order.
///
/// Tasks return `Result`s: a task "raises" (for
/// [`WaitMode::FirstException`]) when it returns `Err`, panics or is
/// cancelled. Pending tasks are neither cancelled nor detached: they are
/// handed back, to await, [`cancel`](Task::cancel), or pass to `wait`
/// again. With no tasks, both lists are empty at once (asyncio raises
/// instead).
///
/// Dropping the `wait` future (a [`timeout`](crate::time::timeout) around
/// it, say) drops the task handles it holds: the tasks are detached and
/// keep running, as in asyncio, but their outcomes can no longer be
/// awaited. To wait with a deadline and keep the tasks, use
/// [`as_completed`] or a [`JoinSet`](super::JoinSet), whose `next` and
/// `join_next` are cancel-safe.
///
/// ```
/// use std::time::Duration;
/// use ringloop::task::{WaitMode, wait};
/// use ringloop::time::sleep;
///
/// ringloop::run(async {
///     let tasks = [1u64, 50, 100].map(|ms| {
///         ringloop::spawn(async move {
///             sleep(Duration::from_millis(ms)).await;
///             Ok::<_, String>(ms)
///         })
///     });
///     let (done, pending) = wait(tasks, WaitMode::FirstCompleted).await;
///     assert_eq!(done.len(), 1);
///     let (index, outcome) = &done[0];
///     assert_eq!((*index, outcome.as_ref().unwrap().as_ref().unwrap()), (0, &1));
///     assert_eq!(pending.len(), 2);
///     for (_, task) in pending {
///         task.cancel();
///     }
/// });
/// ```
pub async fn wait<T, E, I>(tasks: I, mode: WaitMode) -> WaitOutput<T, E>
where
    I: IntoIterator<Item = Task<Result<T, E>>>,
{
    // The tasks sit in a `FuturesUnordered`, so that a wake-up looks only
    // at the tasks that finished. (Re-examining every unfinished task on
    // every wake-up was quadratic: 50,000 tasks took tens of seconds.)
    // A finished task's outcome is taken as it comes; the ones still
    // running are handed back untouched.
    let mut running: FuturesUnordered<Indexed<Result<T, E>>> = tasks
        .into_iter()
        .enumerate()
        .map(|(index, task)| Indexed { index, task })
        .collect();
    let total = running.len();
    let mut done: Vec<(usize, Outcome<T, E>)> = Vec::new();
    poll_fn(|cx| {
        let mut failed = false;
        // `poll_next` may also return `Pending` to yield (having woken us
        // again) while more tasks are ready: that only ends this poll.
        while let Poll::Ready(Some((index, outcome))) = Pin::new(&mut running).poll_next(cx) {
            failed |= !matches!(outcome, Ok(Ok(_)));
            done.push((index, outcome));
        }
        let ready = done.len() == total
            || match mode {
                WaitMode::FirstCompleted => !done.is_empty(),
                WaitMode::FirstException => failed,
                WaitMode::AllCompleted => false,
            };
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    // Tasks that finished since (or that a yield above left unseen) are
    // done too.
    let mut pending = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    for mut entry in running {
        if entry.task.is_finished() {
            if let Poll::Ready(outcome) = Pin::new(&mut entry.task).poll(&mut cx) {
                done.push((entry.index, outcome));
                continue;
            }
        }
        pending.push((entry.index, entry.task));
    }
    done.sort_by_key(|(index, _)| *index);
    pending.sort_by_key(|(index, _)| *index);
    (done, pending)
}

/// What [`wait`] returns: `(done, pending)`, each entry with the task's
/// index in the input.
pub type WaitOutput<T, E> = (
    Vec<(usize, Outcome<T, E>)>,
    Vec<(usize, Task<Result<T, E>>)>,
);

/// Yields the outcomes of `tasks` in the order they finish, like
/// `asyncio.as_completed`, each with the task's index in `tasks`.
///
/// Use [`AsCompleted::next`] in a loop, or it as a
/// [`Stream`](futures_util::Stream). Dropping it detaches the tasks not yet
/// yielded (they keep running), as dropping their [`Task`] handles would;
/// use a [`JoinSet`](super::JoinSet) to have them cancelled instead.
///
/// ```
/// use std::time::Duration;
/// use ringloop::task::as_completed;
/// use ringloop::time::sleep;
///
/// ringloop::run(async {
///     let tasks = [30u64, 10, 20].map(|ms| {
///         ringloop::spawn(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         })
///     });
///     let mut finished = as_completed(tasks);
///     let mut order = Vec::new();
///     while let Some((index, outcome)) = finished.next().await {
///         order.push((index, outcome.unwrap()));
///     }
///     assert_eq!(order, [(1, 10), (2, 20), (0, 30)]);
/// });
/// ```
pub fn as_completed<T, I>(tasks: I) -> AsCompleted<T>
where
    I: IntoIterator<Item = Task<T>>,
{
    AsCompleted {
        tasks: tasks
            .into_iter()
            .enumerate()
            .map(|(index, task)| Indexed { index, task })
            .collect(),
    }
}

/// The stream of [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<T> {
    tasks: FuturesUnordered<Indexed<T>>,
}

struct Indexed<T> {
    index: usize,
    task: Task<T>,
}

impl<T> Future for Indexed<T> {
    type Output = (usize, Result<T, JoinError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        Pin::new(&mut self.task).poll(cx).map(|out| (index, out))
    }
}

impl<T> AsCompleted<T> {
    /// The next task to finish: its index and outcome; `None` when all have
    /// been yielded. Cancel-safe.
    ///
    /// # Errors
    ///
    /// The outcome is the task's [`JoinError`] if it panicked or was
    /// cancelled.
    pub async fn next(&mut self) -> Option<(usize, Result<T, JoinError>)> {
        poll_fn(|cx| Pin::new(&mut self.tasks).poll_next(cx)).await
    }

    /// Tasks not yet yielded.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether every task has been yielded.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancels every task not yet yielded (their outcomes, cancelled or
    /// not, are still yielded).
    pub fn cancel_all(&self) {
        for task in self.tasks.iter() {
            task.task.cancel();
        }
    }
}

impl<T> Stream for AsCompleted<T> {
    type Item = (usize, Result<T, JoinError>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.tasks).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.tasks.len(), Some(self.tasks.len()))
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.tasks.len())
            .finish()
    }
}
