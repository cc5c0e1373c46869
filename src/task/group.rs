//! `TaskGroup`: asyncio.TaskGroup — tasks that succeed together or are
//! cancelled together.

use std::cell::RefCell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, Stream};

use crate::runtime::{JoinError, Task};

/// A group of tasks with `asyncio.TaskGroup` semantics: tasks return
/// `Result<T, E>`; [`join`](Self::join) waits for all of them and returns
/// their values in spawn order — or, as soon as one fails (returns `Err` or
/// panics), cancels the others, waits until they have ended, and returns
/// the first failure.
///
/// Dropping the group cancels every task still running, so a group inside
/// a task that is itself cancelled (say, by an outer group) takes its tasks
/// down with it: groups nest.
///
/// ```
/// use std::time::Duration;
/// use ringloop::task::{TaskGroup, TaskGroupError};
/// use ringloop::time::sleep;
///
/// ringloop::run(async {
///     let group = TaskGroup::new();
///     for i in 1..=3u64 {
///         group.spawn(async move {
///             sleep(Duration::from_millis(i)).await;
///             Ok::<_, String>(i * 10)
///         });
///     }
///     assert_eq!(group.join().await.unwrap(), [10, 20, 30]);
///
///     let group = TaskGroup::new();
///     group.spawn(async {
///         sleep(Duration::from_secs(60)).await; // cancelled
///         Ok(())
///     });
///     group.spawn(async { Err("boom".to_string()) });
///     match group.join().await {
///         Err(TaskGroupError::Failed(msg)) => assert_eq!(msg, "boom"),
///         other => panic!("{other:?}"),
///     }
/// });
/// ```
///
/// Tasks may spawn more tasks into the group while it is being joined
/// (share it with an `Rc`). After a failure the group is closed: a
/// [`spawn`](Self::spawn) then drops its future without running it and
/// returns `false`. After a successful `join` the group is empty and can
/// be used again.
///
/// Unlike asyncio, a failure does not cancel the task that awaits
/// [`join`](Self::join) (there is no ambient cancellation in Rust): `join`
/// returns the error, and what the awaiting task does with it is up to it.
pub struct TaskGroup<T, E> {
    inner: RefCell<Inner<T, E>>,
}

struct Inner<T, E> {
    tasks: FuturesUnordered<Indexed<Task<Result<T, E>>>>,
    /// Outputs by spawn index.
    results: Vec<Option<T>>,
    /// The first failure, until `join` returns it.
    error: Option<TaskGroupError<E>>,
    /// A failure happened: the rest are being cancelled; no new tasks.
    failed: bool,
    /// The task awaiting `join`, woken when a task is spawned.
    joiner: Option<Waker>,
}

/// A task and its spawn index.
struct Indexed<F> {
    index: usize,
    task: F,
}

impl<T> Future for Indexed<Task<T>> {
    type Output = (usize, Result<T, JoinError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        Pin::new(&mut self.task).poll(cx).map(|out| (index, out))
    }
}

impl<T: 'static, E: 'static> TaskGroup<T, E> {
    /// An empty group.
    pub fn new() -> TaskGroup<T, E> {
        TaskGroup {
            inner: RefCell::new(Inner {
                tasks: FuturesUnordered::new(),
                results: Vec::new(),
                error: None,
                failed: false,
                joiner: None,
            }),
        }
    }

    /// Spawns `future` on the current runtime as a task of this group.
    /// Returns `false` (and drops the future unrun) if the group has
    /// failed.
    pub fn spawn<F>(&self, future: F) -> bool
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        let joiner = {
            let mut inner = self.inner.borrow_mut();
            if inner.failed {
                return false;
            }
            let index = inner.results.len();
            inner.results.push(None);
            let task = crate::spawn(future);
            inner.tasks.push(Indexed { index, task });
            inner.joiner.take()
        };
        if let Some(joiner) = joiner {
            joiner.wake();
        }
        true
    }

    /// Tasks still running (or finished but not yet seen by `join`).
    pub fn len(&self) -> usize {
        self.inner.borrow().tasks.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for every task; returns their values in spawn order.
    ///
    /// # Errors
    ///
    /// The first failure: [`TaskGroupError::Failed`] with a task's `Err`,
    /// or [`TaskGroupError::Join`] if a task panicked (or was cancelled
    /// from outside the group, by runtime shutdown). By then every other
    /// task has been cancelled and has ended.
    pub async fn join(&self) -> Result<Vec<T>, TaskGroupError<E>> {
        poll_fn(|cx| self.poll_join(cx)).await
    }

    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, TaskGroupError<E>>> {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        loop {
            match Pin::new(&mut inner.tasks).poll_next(cx) {
                Poll::Ready(Some((index, Ok(Ok(value))))) => {
                    if let Some(slot) = inner.results.get_mut(index) {
                        *slot = Some(value);
                    }
                }
                Poll::Ready(Some((_, Ok(Err(err))))) => inner.fail(TaskGroupError::Failed(err)),
                Poll::Ready(Some((_, Err(err)))) => {
                    // Our own cancellations after a failure are expected.
                    if !(inner.failed && err.is_cancelled()) {
                        inner.fail(TaskGroupError::Join(err));
                    }
                }
                Poll::Ready(None) => {
                    inner.joiner = None;
                    let results = std::mem::take(&mut inner.results);
                    return Poll::Ready(match inner.error.take() {
                        Some(err) => Err(err),
                        None => Ok(results.into_iter().flatten().collect()),
                    });
                }
                Poll::Pending => {
                    match &inner.joiner {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => inner.joiner = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<T, E> Inner<T, E> {
    fn fail(&mut self, err: TaskGroupError<E>) {
        if !self.failed {
            self.failed = true;
            self.error = Some(err);
            for task in self.tasks.iter() {
                task.task.cancel();
            }
        }
    }
}

impl<T: 'static, E: 'static> Default for TaskGroup<T, E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        for task in self.inner.get_mut().tasks.iter() {
            task.task.cancel();
        }
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("TaskGroup")
            .field("running", &inner.tasks.len())
            .field("failed", &inner.failed)
            .finish()
    }
}

/// Why [`TaskGroup::join`] failed: the first failure among its tasks.
pub enum TaskGroupError<E> {
    /// A task returned this error.
    Failed(E),
    /// A task panicked (see [`JoinError::is_panic`] and
    /// [`JoinError::into_panic`]), or was cancelled from outside the group
    /// (runtime shutdown), or could not be spawned (no runtime).
    Join(JoinError),
}

impl<E> TaskGroupError<E> {
    /// Whether a task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskGroupError::Join(err) if err.is_panic())
    }

    /// The task's error, if it returned one (rather than panicking).
    pub fn into_failed(self) -> Option<E> {
        match self {
            TaskGroupError::Failed(err) => Some(err),
            TaskGroupError::Join(_) => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskGroupError::Failed(err) => f.debug_tuple("Failed").field(err).finish(),
            TaskGroupError::Join(err) => f.debug_tuple("Join").field(err).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskGroupError::Failed(err) => write!(f, "a task of the group failed: {err}"),
            TaskGroupError::Join(err) => write!(f, "a task of the group failed: {err}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for TaskGroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskGroupError::Failed(err) => Some(err),
            TaskGroupError::Join(err) => Some(err),
        }
    }
}
