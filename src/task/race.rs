//! Racing futures, and shielding one from its awaiter's cancellation.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

pub use futures_util::future::Either;

use crate::runtime::{JoinError, Task};

/// Runs `a` and `b` concurrently (in this task) and returns the output of
/// the first to finish; the other is dropped — which cancels it, with its
/// in-flight I/O. If both are ready in the same poll, `a` wins.
///
/// This is the two-future case of `asyncio.wait(..., FIRST_COMPLETED)`
/// followed by cancelling the rest, without spawning. For more futures see
/// [`race_all`]; for `select!`-style matching, `futures_util::future::select`
/// works with ringloop futures too (it hands the loser back instead of
/// dropping it).
///
/// ```
/// use std::time::Duration;
/// use ringloop::task::{Either, race};
/// use ringloop::time::sleep;
///
/// ringloop::run(async {
///     let fast = async { sleep(Duration::from_millis(1)).await; "fast" };
///     let slow = async { sleep(Duration::from_secs(60)).await; 0 };
///     match race(fast, slow).await {
///         Either::Left(s) => assert_eq!(s, "fast"),
///         Either::Right(_) => unreachable!(),
///     }
/// });
/// ```
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(out));
        }
        Poll::Pending
    })
    .await
}

/// Runs every future concurrently (in this task) and returns the index and
/// output of the first to finish; the others are dropped (cancelled). Ties
/// go to the lowest index. `None` if there are no futures.
///
/// ```
/// use std::time::Duration;
/// use ringloop::task::race_all;
/// use ringloop::time::sleep;
///
/// ringloop::run(async {
///     let sleeps = [40u64, 5, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     assert_eq!(race_all(sleeps).await, Some((1, 5)));
/// });
/// ```
pub async fn race_all<I>(futures: I) -> Option<(usize, <I::Item as Future>::Output)>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut futures: Vec<Pin<Box<I::Item>>> = futures.into_iter().map(Box::pin).collect();
    if futures.is_empty() {
        return None;
    }
    poll_fn(|cx| {
        for (index, future) in futures.iter_mut().enumerate() {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(Some((index, out)));
            }
        }
        Poll::Pending
    })
    .await
}

/// Runs `future` as a task of its own, so that cancelling the task that
/// awaits the result does not cancel it — `asyncio.shield`.
///
/// In asyncio, `await shield(fut)` in a task that gets cancelled raises
/// `CancelledError` in that task while `fut` runs on. Here, dropping the
/// [`Shield`] (because its task was cancelled, a
/// [`timeout`](crate::time::timeout) elapsed, or a [`race`] was lost)
/// detaches the inner task, which runs to completion; its output is then
/// discarded unless you kept the task with [`Shield::into_task`]. Awaiting
/// the `Shield` yields the output, or a [`JoinError`] if the inner task
/// panicked or the runtime shut down. Like any spawned task, it needs a
/// running runtime (outside one, awaiting yields a `JoinError`).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use ringloop::task::shield;
/// use ringloop::time::{sleep, timeout};
///
/// ringloop::run(async {
///     let saved = Rc::new(Cell::new(false));
///     let flag = saved.clone();
///     let save = shield(async move {
///         sleep(Duration::from_millis(20)).await;
///         flag.set(true); // must not be interrupted
///     });
///     // The caller gives up waiting...
///     assert!(timeout(Duration::from_millis(1), save).await.is_err());
///     // ...but the shielded work finishes anyway.
///     sleep(Duration::from_millis(40)).await;
///     assert!(saved.get());
/// });
/// ```
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Shield {
        task: crate::spawn(future),
    }
}

/// The future of [`shield`].
#[must_use = "the shielded task runs anyway, but its output is lost unless awaited"]
pub struct Shield<T> {
    task: Task<T>,
}

impl<T> Shield<T> {
    /// The inner task, e.g. to await it later or to cancel it explicitly.
    pub fn into_task(self) -> Task<T> {
        self.task
    }
}

impl<T> Future for Shield<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield")
            .field("finished", &self.task.is_finished())
            .finish()
    }
}
