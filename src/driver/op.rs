//! The generic op future: written once for every operation.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::Driver;
use super::table::PollSingle;
use super::user_data::OpId;
use std::marker::PhantomData;

use crate::op::{MultishotOperation, Operation};

/// A submitted operation. The owned state lives in the driver's table; this
/// future holds only its id. Dropping it before completion cancels the op in
/// the kernel (the state stays in the table until the op's final CQE).
pub(crate) struct Op<T: Operation> {
    state: State<T>,
    /// Resubmissions after transient errors so far.
    retries: u16,
    /// The op is linked to a kernel timeout of this length: `-ECANCELED`
    /// while its future is alive means the timeout fired.
    linked_timeout: Option<std::time::Duration>,
}

/// Resubmissions of one op after transient errors before the error is
/// returned to the caller instead.
const MAX_RETRIES: u16 = 64;

/// Errors after which the op had no effect, so it can run again: a signal
/// (EINTR), no resources right now (EAGAIN, ENOBUFS), or a cancellation
/// nobody asked for (ECANCELED: this op's future is alive, and the driver
/// cancels ops of live futures only at shutdown, when nothing is retried).
fn is_transient(result: i32) -> bool {
    matches!(
        -result,
        libc::EINTR | libc::EAGAIN | libc::ENOBUFS | libc::ECANCELED
    )
}

enum State<T> {
    Submitted {
        id: OpId,
        driver: Rc<Driver>,
    },
    /// The op never reached the kernel; the error is its result.
    Failed(T, io::Error),
    Done,
}

impl<T: Operation> Op<T> {
    /// Submits `op` on the current thread's runtime. Without one, the op's
    /// result is an error that says so (and the buffer comes back).
    pub(crate) fn submit(op: T) -> Op<T> {
        match crate::runtime::context::driver() {
            Some(driver) => Op::submit_on(&driver, op),
            None => Op {
                state: State::Failed(op, crate::runtime::context::no_runtime_error()),
                retries: 0,
                linked_timeout: None,
            },
        }
    }

    pub(crate) fn submit_on(driver: &Rc<Driver>, op: T) -> Op<T> {
        let state = match driver.submit(op) {
            Ok(id) => State::Submitted {
                id,
                driver: driver.clone(),
            },
            Err((op, err)) => State::Failed(op, err),
        };
        Op {
            state,
            retries: 0,
            linked_timeout: None,
        }
    }

    /// Submits `op` with a kernel timeout linked to it (one SQE pair): if
    /// `timeout` passes first, the op ends with a `TimedOut` error.
    pub(crate) fn submit_with_timeout(op: T, timeout: std::time::Duration) -> Op<T> {
        let Some(driver) = crate::runtime::context::driver() else {
            return Op::submit(op);
        };
        let state = match driver.submit_linked(op, timeout) {
            Ok(id) => State::Submitted { id, driver },
            Err((op, err)) => State::Failed(op, err),
        };
        Op {
            state,
            retries: 0,
            linked_timeout: Some(timeout),
        }
    }
}

// The owned state is never pinned: it lives in the driver's table (or, for a
// failed op, is only moved out and handed back), so `Op` may move freely.
impl<T: Operation> Unpin for Op<T> {}

impl<T: Operation> Future for Op<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Submitted { id, driver } => {
                    let polled = driver.table().poll_single(id, cx.waker());
                    match polled {
                        PollSingle::Pending => {
                            self.state = State::Submitted { id, driver };
                            return Poll::Pending;
                        }
                        PollSingle::Ready(completion, op) => {
                            let Ok(op) = op.into_any().downcast::<T>() else {
                                unreachable!("ringloop: an op id resolved to another op type")
                            };
                            if let Some(timeout) = self.linked_timeout {
                                if completion.result == -libc::ECANCELED {
                                    let err = io::Error::new(
                                        io::ErrorKind::TimedOut,
                                        format!("operation timed out after {timeout:?}"),
                                    );
                                    return Poll::Ready(op.complete(Err(err), completion.flags));
                                }
                            }
                            // A linked op is never retried: that would drop
                            // its deadline.
                            if T::RETRY_TRANSIENT
                                && self.linked_timeout.is_none()
                                && is_transient(completion.result)
                                && self.retries < MAX_RETRIES
                            {
                                // The op had no effect: run it again, from
                                // the same owned state.
                                self.retries += 1;
                                self.state = match driver.resubmit(op) {
                                    Ok(id) => State::Submitted { id, driver },
                                    Err((op, err)) => State::Failed(op, err),
                                };
                                continue;
                            }
                            let result = completion.to_io_result();
                            return Poll::Ready(op.complete(result, completion.flags));
                        }
                        PollSingle::Gone => {
                            unreachable!("ringloop: an in-flight op lost its state")
                        }
                    }
                }
                State::Failed(op, err) => return Poll::Ready(op.complete(Err(err), 0)),
                State::Done => unreachable!("ringloop: op future polled after completion"),
            }
        }
    }
}

impl<T: Operation> Drop for Op<T> {
    fn drop(&mut self) {
        if let State::Submitted { id, driver } = &self.state {
            driver.orphan(*id);
        }
    }
}

impl<T: Operation> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Submitted { id, .. } => format!("submitted({id:?})"),
            State::Failed(_, err) => format!("failed({err})"),
            State::Done => "done".to_owned(),
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
        let driver = crate::runtime::context::driver()
            .ok_or_else(crate::runtime::context::no_runtime_error)?;
        let id = driver.submit(op).map_err(|(_, err)| err)?;
        Ok(Multishot {
            id,
            driver,
            _op: PhantomData,
        })
    }

    /// The next item; `None` once the kernel ended the stream and every
    /// item was taken.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        let mut table = self.driver.table();
        match table.poll_stream(self.id, cx.waker()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(completion)) => {
                let Some(op) = table
                    .op_mut(self.id)
                    .and_then(|op| op.as_any_mut().downcast_mut::<T>())
                else {
                    unreachable!("ringloop: a multishot op lost its state")
                };
                Poll::Ready(Some(op.item(completion)))
            }
        }
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
