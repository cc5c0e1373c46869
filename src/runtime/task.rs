//! `Task<T>`: the handle of a spawned task, and `JoinError`.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Wake, Waker};

use super::waker::TaskWaker;

/// What a task and its handle share.
struct JoinState<T> {
    output: Option<Result<T, JoinError>>,
    /// The output was published (and maybe already taken).
    finished: bool,
    joiner: Option<Waker>,
    /// The task's waker state, where a cancel request is recorded: the
    /// executor reads it in the line it touches anyway to poll the task.
    task: Option<Arc<TaskWaker>>,
}

/// A handle to a spawned task; awaiting it yields the task's output.
///
/// Dropping the handle detaches the task: it keeps running. Call
/// [`Task::cancel`] to stop it.
///
/// ```
/// ringloop::run(async {
///     let task = ringloop::spawn(async { 6 * 7 });
///     assert_eq!(task.await.unwrap(), 42);
/// });
/// ```
pub struct Task<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> Task<T> {
    pub(crate) fn new() -> (Task<T>, TaskOutput<T>) {
        let state = Rc::new(RefCell::new(JoinState {
            output: None,
            finished: false,
            joiner: None,
            task: None,
        }));
        (
            Task {
                state: state.clone(),
            },
            TaskOutput {
                state,
                published: false,
            },
        )
    }

    /// A task that could not be spawned: awaiting it yields `error`.
    pub(crate) fn failed(error: JoinError) -> Task<T> {
        let (task, mut output) = Task::new();
        output.publish(Err(error));
        task
    }

    /// Requests cancellation, like asyncio's `Task.cancel()`.
    ///
    /// The task's future is dropped the next time the executor reaches it —
    /// which cancels its in-flight I/O in the kernel — and awaiting the task
    /// then yields a [`JoinError`] for which
    /// [`is_cancelled`](JoinError::is_cancelled) is true. Cancelling a task
    /// that has already finished does nothing: its output stays available.
    ///
    /// ```
    /// use std::time::Duration;
    /// ringloop::run(async {
    ///     let task = ringloop::spawn(ringloop::time::sleep(Duration::from_secs(60)));
    ///     task.cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) {
        let task = {
            let state = self.state.borrow();
            if state.finished {
                return;
            }
            state.task.clone()
        };
        if let Some(task) = task {
            task.cancel_requested.store(true, Ordering::Release);
            task.wake_by_ref();
        }
    }

    /// Whether the task has finished (with an output, a panic or by
    /// cancellation).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().finished
    }

    pub(crate) fn set_task(&self, task: Arc<TaskWaker>) {
        self.state.borrow_mut().task = Some(task);
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.borrow_mut();
        if let Some(output) = state.output.take() {
            return Poll::Ready(output);
        }
        if state.finished {
            return Poll::Ready(Err(JoinError {
                repr: Repr::AlreadyTaken,
            }));
        }
        match &state.joiner {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.joiner = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The task's side of the shared state. If it is dropped without publishing
/// (the task was cancelled, or dropped at runtime shutdown), the handle sees
/// a cancellation.
pub(crate) struct TaskOutput<T> {
    state: Rc<RefCell<JoinState<T>>>,
    published: bool,
}

impl<T> TaskOutput<T> {
    fn publish(&mut self, output: Result<T, JoinError>) {
        self.published = true;
        let joiner = {
            let mut state = self.state.borrow_mut();
            state.output = Some(output);
            state.finished = true;
            state.task = None;
            state.joiner.take()
        };
        if let Some(joiner) = joiner {
            joiner.wake();
        }
    }
}

impl<T> Drop for TaskOutput<T> {
    fn drop(&mut self) {
        if !self.published {
            self.publish(Err(JoinError {
                repr: Repr::Cancelled,
            }));
        }
    }
}

/// Wraps a user future into the task the executor polls: it catches panics,
/// drops the user future before publishing, and publishes the outcome for
/// the handle. (A cancel request is honoured by the executor: it drops the
/// task instead of polling it, and the unpublished `TaskOutput` reports the
/// cancellation.)
pub(crate) fn run_task<F: Future>(
    future: F,
    output: TaskOutput<F::Output>,
) -> impl Future<Output = ()> {
    drive(future, output, |value| Some(Ok(value)))
}

/// Like [`run_task`] for a future whose output is the task's outcome
/// itself: `None` ends the task as cancelled.
pub(crate) fn run_outcome<T, F>(future: F, output: TaskOutput<T>) -> impl Future<Output = ()>
where
    F: Future<Output = Option<Result<T, JoinError>>>,
{
    drive(future, output, |outcome| outcome)
}

/// The one task wrapper both share: a single state machine around the user
/// future, since it is polled on every wake-up of the task.
async fn drive<F: Future, T>(
    future: F,
    mut output: TaskOutput<T>,
    outcome_of: fn(F::Output) -> Option<Result<T, JoinError>>,
) {
    let outcome = {
        // In an `Option` so that it can be dropped in place (which keeps
        // the pin's promise) *inside* `catch_unwind` once it is ready: a
        // future whose drop panics after `Ready` (a guard it carries) would
        // otherwise unwind out of this wrapper before the outcome is
        // published, and the handle would read the unpublished output as a
        // cancellation, although nobody cancelled the task. It panicked.
        let mut future = pin!(Some(future));
        poll_fn(|cx| {
            let polled = catch_unwind(AssertUnwindSafe(|| match future.as_mut().as_pin_mut() {
                Some(running) => running.poll(cx),
                // Never polled again after `Ready`; nothing to do.
                None => Poll::Pending,
            }));
            let outcome = match polled {
                Ok(Poll::Ready(value)) => outcome_of(value),
                Ok(Poll::Pending) => return Poll::Pending,
                Err(payload) => Some(Err(JoinError::panic(payload))),
            };
            // A panic while dropping a panicked future is reported as the
            // first panic (its payload is the one that explains it).
            match catch_unwind(AssertUnwindSafe(|| future.as_mut().set(None))) {
                Err(payload) if !matches!(outcome, Some(Err(_))) => {
                    Poll::Ready(Some(Err(JoinError::panic(payload))))
                }
                _ => Poll::Ready(outcome),
            }
        })
        .await
    };
    // The user future (and every op it had in flight) is dropped above, so a
    // joiner that wakes on a cancellation finds the I/O already cancelled.
    if let Some(outcome) = outcome {
        output.publish(outcome);
    }
}

/// Why a task produced no output.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
    NoRuntime,
    AlreadyTaken,
}

impl JoinError {
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(payload),
        }
    }

    pub(crate) fn no_runtime() -> JoinError {
        JoinError {
            repr: Repr::NoRuntime,
        }
    }

    /// The task was cancelled (by [`Task::cancel`] or runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to inspect it or to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// If the error is not a panic; check [`is_panic`](Self::is_panic) first,
    /// or use [`try_into_panic`](Self::try_into_panic).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(err) => panic!("JoinError::into_panic called on a non-panic error: {err}"),
        }
    }

    /// The panic payload, or the error itself if it is not a panic.
    ///
    /// # Errors
    ///
    /// Returns `self` when the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload),
            repr => Err(JoinError { repr }),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string payload>")
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(payload) => write!(f, "task panicked: {}", panic_message(&**payload)),
            Repr::NoRuntime => f.write_str(
                "task was not spawned: no ringloop runtime is running on this thread; \
                 call spawn from inside ringloop::run or Runtime::block_on",
            ),
            Repr::AlreadyTaken => {
                f.write_str("the task's output was already taken by an earlier poll")
            }
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    /// Kind `Other` in every case. (Not `Interrupted`: by convention that
    /// means "retry", and a cancelled task's result never comes back.)
    fn from(err: JoinError) -> io::Error {
        io::Error::other(err.to_string())
    }
}
