//! The generic op future: written once for every operation.

use std::any::Any;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::table::{PollSingle, Start};
use super::user_data::OpId;
use super::{Completion, Driver};
use crate::op::{MultishotOperation, OpCell, Operation};
use crate::runtime::context;

/// An operation as a future. Like every Rust future it is lazy: the op is
/// submitted at the first poll, with that poll's waker. From then on the
/// owned state lives in the driver's table and this future holds only its
/// id. Dropping it before completion cancels the op in the kernel (the
/// state stays in the table until the op's final CQE).
pub(crate) struct Op<T: Operation> {
    /// The op before its first poll.
    unsubmitted: Option<T>,
    /// The op's id in the table while it is in flight.
    submitted: Option<(OpId, Rc<Driver>)>,
    /// Resubmissions after transient errors so far.
    retries: u16,
    /// The op is linked to a kernel timeout of this length: `-ECANCELED`
    /// while its future is alive means the timeout fired.
    linked_timeout: Option<Duration>,
}

/// Resubmissions of one op after transient errors before the error is
/// returned to the caller instead.
const MAX_RETRIES: u16 = 64;

/// Errors after which the op had no effect, so it can run again: a signal
/// (EINTR), no resources right now (EAGAIN, ENOBUFS), or a cancellation
/// nobody asked for (ECANCELED: this op's future is alive, and the driver
/// cancels ops of live futures only at shutdown, when nothing is retried).
pub(super) fn is_transient(result: i32) -> bool {
    matches!(
        -result,
        libc::EINTR | libc::EAGAIN | libc::ENOBUFS | libc::ECANCELED
    )
}

impl<T: Operation> Op<T> {
    /// The future of `op`, submitted on the current thread's runtime when
    /// first polled. Without a runtime its result is an error that says so
    /// (and the buffer comes back).
    pub(crate) fn new(op: T) -> Op<T> {
        Op {
            unsubmitted: Some(op),
            submitted: None,
            retries: 0,
            linked_timeout: None,
        }
    }

    /// As [`new`](Self::new), with a kernel timeout linked to the op (one
    /// SQE pair): if `timeout` passes first, the op ends with a `TimedOut`
    /// error.
    pub(crate) fn with_timeout(op: T, timeout: Duration) -> Op<T> {
        Op {
            unsubmitted: Some(op),
            submitted: None,
            retries: 0,
            linked_timeout: Some(timeout),
        }
    }

    /// Submits `op`; the table wakes `waker` when it completes. When the
    /// loop is latency-bound the op may instead complete at once, by a
    /// syscall (see `Driver::take_eager_slot`).
    fn start(&mut self, driver: Rc<Driver>, mut op: T, waker: &Waker) -> Poll<T::Output> {
        // An op with a linked timeout always goes through the ring: its
        // deadline is the kernel's.
        if self.linked_timeout.is_none()
            && let Some(result) = driver.run_eagerly(&mut op)
        {
            let completion = Completion { result, flags: 0 };
            return Poll::Ready(op.complete(completion.to_io_result(), 0));
        }
        let submitted = match self.linked_timeout {
            Some(timeout) => driver.submit_linked(op, timeout, waker),
            None => driver.submit(op, Start::Single(Some(waker.clone()))),
        };
        self.submitted(driver, submitted)
    }

    fn submitted(
        &mut self,
        driver: Rc<Driver>,
        submitted: Result<OpId, (T, io::Error)>,
    ) -> Poll<T::Output> {
        match submitted {
            Ok(id) => {
                self.submitted = Some((id, driver));
                Poll::Pending
            }
            Err((op, err)) => Poll::Ready(op.complete(Err(err), 0)),
        }
    }
}

// The owned state is never pinned: it is only moved, into the driver's
// table at submission and back out at completion, so `Op` may move freely.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = &mut *self;
        let Some((id, driver)) = &this.submitted else {
            let Some(op) = this.unsubmitted.take() else {
                unreachable!("ringloop: op future polled after completion")
            };
            return match context::driver() {
                Some(driver) => this.start(driver, op, cx.waker()),
                None => Poll::Ready(op.complete(Err(context::no_runtime_error()), 0)),
            };
        };
        let mut polled = driver.table().poll_single(*id, cx.waker());
        // Polled outside its runtime (another one runs on this thread, or
        // none), the op would wait for a ring that does not turn: it is
        // cancelled there and finished now (see below).
        let moved = matches!(polled, PollSingle::Pending) && driver.polled_elsewhere();
        if moved {
            polled = driver.cancel_here(*id, cx.waker());
        }
        let (completion, cell) = match polled {
            PollSingle::Pending => return Poll::Pending,
            PollSingle::Ready(completion, cell) => (completion, cell),
            PollSingle::Gone => unreachable!("ringloop: an in-flight op lost its state"),
        };
        // The table no longer knows the id: the future must not orphan it.
        let Some((_, driver)) = this.submitted.take() else {
            unreachable!()
        };
        let cell: Box<dyn Any> = cell;
        let Some(op) = cell.downcast::<OpCell<T>>().ok().and_then(|mut cell| {
            let op = cell.0.take();
            driver.table().recycle(cell);
            op
        }) else {
            unreachable!("ringloop: an op id resolved to another op type")
        };
        if moved && is_transient(completion.result) {
            // Cancelled in its own ring (or it failed there transiently):
            // it had no effect. An op that may run again does so in the
            // runtime polling it now; one that may not (a connect, an op
            // whose deadline is its first ring's) reports why it stopped.
            if T::RETRY_TRANSIENT && this.linked_timeout.is_none() {
                return match context::driver() {
                    Some(here) => this.start(here, op, cx.waker()),
                    None => Poll::Ready(op.complete(Err(context::no_runtime_error()), 0)),
                };
            }
            let err = context::other_runtime_error("this operation");
            return Poll::Ready(op.complete(Err(err), completion.flags));
        }
        if let Some(timeout) = this.linked_timeout {
            if completion.result == -libc::ECANCELED {
                let err = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("operation timed out after {timeout:?}"),
                );
                return Poll::Ready(op.complete(Err(err), completion.flags));
            }
            // A linked op is never retried: that would drop its deadline.
        } else if T::RETRY_TRANSIENT
            && is_transient(completion.result)
            && this.retries < MAX_RETRIES
        {
            // The op had no effect: run it again, from the same owned state.
            this.retries += 1;
            let submitted = driver.resubmit(op, cx.waker());
            return this.submitted(driver, submitted);
        }
        Poll::Ready(op.complete(completion.to_io_result(), completion.flags))
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        if let Some((id, driver)) = &self.submitted {
            driver.orphan(*id);
        }
    }
}

impl<T: Operation> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match (&self.unsubmitted, &self.submitted) {
            (Some(_), _) => "unsubmitted".to_owned(),
            (None, Some((id, _))) => format!("submitted({id:?})"),
            (None, None) => "done".to_owned(),
        };
        f.debug_struct("Op")
            .field("op", &std::any::type_name::<T>())
            .field("state", &state)
            .finish()
    }
}

/// A submitted multishot operation: a stream of items, one per CQE, until
/// the kernel ends it (a CQE without `IORING_CQE_F_MORE`). Dropping it
/// cancels the op; CQEs that arrive afterwards are disposed of (an accepted
/// fd closed, a provided buffer given back) until the final one frees it.
pub(crate) struct Multishot<T: MultishotOperation> {
    id: OpId,
    driver: Rc<Driver>,
    _op: PhantomData<fn(T)>,
}

impl<T: MultishotOperation> Multishot<T> {
    /// Submits `op` on the current runtime.
    pub(crate) fn submit(op: T) -> io::Result<Multishot<T>> {
        let driver = context::driver().ok_or_else(context::no_runtime_error)?;
        let id = driver
            .submit(op, Start::Multishot)
            .map_err(|(_, err)| err)?;
        Ok(Multishot {
            id,
            driver,
            _op: PhantomData,
        })
    }

    /// Whether the stream is polled outside its runtime, whose ring does
    /// not turn now (see `Driver::polled_elsewhere`): its items would not
    /// come until that runtime runs again.
    pub(crate) fn polled_elsewhere(&self) -> bool {
        self.driver.polled_elsewhere()
    }

    /// The next item; `None` once the kernel ended the stream and every
    /// item was taken.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        self.driver.table().poll_stream_item(
            self.id,
            cx.waker(),
            |cell: &mut OpCell<T>, completion| match &mut cell.0 {
                Some(op) => op.item(completion),
                None => unreachable!("ringloop: a multishot op lost its state"),
            },
        )
    }
}

impl<T: MultishotOperation> Drop for Multishot<T> {
    fn drop(&mut self) {
        self.driver.orphan(self.id);
    }
}

impl<T: MultishotOperation> std::fmt::Debug for Multishot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multishot")
            .field("op", &std::any::type_name::<T>())
            .field("id", &self.id)
            .finish()
    }
}
