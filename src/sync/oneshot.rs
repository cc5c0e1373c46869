//! A one-shot channel: a value set once and awaited once, like an
//! `asyncio.Future` that one task resolves (`set_result`) and another
//! awaits.
//!
//! To resolve with an error (`set_exception`), send a `Result`.
//!
//! ```
//! use ringloop::sync::oneshot;
//!
//! ringloop::run(async {
//!     let (tx, rx) = oneshot::channel::<Result<u32, String>>();
//!     ringloop::spawn(async move {
//!         let _ = tx.send(Err("no answer".to_string()));
//!     });
//!     assert_eq!(rx.await.unwrap(), Err("no answer".to_string()));
//!
//!     // A sender dropped without sending: the receiver learns it.
//!     let (tx, rx) = oneshot::channel::<u32>();
//!     drop(tx);
//!     assert!(rx.await.is_err());
//! });
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A new one-shot channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
        value: None,
        sender_alive: true,
        receiver_closed: false,
        receiver_waker: None,
        sender_waker: None,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

struct Inner<T> {
    value: Option<T>,
    sender_alive: bool,
    /// The receiver was dropped or closed: sends fail.
    receiver_closed: bool,
    receiver_waker: Option<Waker>,
    /// Wakes [`Sender::closed`].
    sender_waker: Option<Waker>,
}

/// Sets the value; consumed by [`send`](Self::send). Dropping it unsent
/// makes the receiver yield [`RecvError`].
pub struct Sender<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sets the value and wakes the receiver.
    ///
    /// # Errors
    ///
    /// The value back, if the receiver is gone or [closed](Receiver::close).
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            if inner.receiver_closed {
                return Err(value);
            }
            inner.value = Some(value);
            inner.receiver_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone or closed (a send would fail).
    pub fn is_closed(&self) -> bool {
        self.inner.borrow().receiver_closed
    }

    /// Waits until the receiver is gone or closed — to stop computing a
    /// value nobody waits for.
    ///
    /// ```
    /// use ringloop::sync::oneshot;
    /// ringloop::run(async {
    ///     let (tx, rx) = oneshot::channel::<u32>();
    ///     drop(rx);
    ///     tx.closed().await;
    ///     assert!(tx.is_closed());
    /// });
    /// ```
    pub async fn closed(&self) {
        poll_fn(|cx| {
            let mut inner = self.inner.borrow_mut();
            if inner.receiver_closed {
                Poll::Ready(())
            } else {
                inner.sender_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.sender_alive = false;
            inner.sender_waker = None;
            inner.receiver_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Awaits the value: a future yielding `Ok(value)`, or [`RecvError`] if the
/// sender was dropped without sending. Dropping it makes sends fail.
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent.
    ///
    /// ```
    /// use ringloop::sync::oneshot::{self, TryRecvError};
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(5).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if not sent yet, [`TryRecvError::Closed`] if
    /// it never will be (or was already taken).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut inner = self.inner.borrow_mut();
        match inner.value.take() {
            Some(value) => Ok(value),
            None if inner.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Closed),
        }
    }

    /// Refuses the value: later sends fail (and [`Sender::closed`]
    /// completes). A value sent before this can still be received.
    pub fn close(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.receiver_closed = true;
            inner.sender_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether no value is waiting and none will come (the sender is gone).
    pub fn is_closed(&self) -> bool {
        let inner = self.inner.borrow();
        inner.value.is_none() && !inner.sender_alive
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            return Poll::Ready(Ok(value));
        }
        if !inner.sender_alive {
            return Poll::Ready(Err(RecvError(())));
        }
        match &inner.receiver_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => inner.receiver_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (value, waker) = {
            let mut inner = self.inner.borrow_mut();
            inner.receiver_closed = true;
            (inner.value.take(), inner.sender_waker.take())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        // An unreceived value is dropped outside the borrow.
        drop(value);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Receiver")
            .field("ready", &inner.value.is_some())
            .field("sender_alive", &inner.sender_alive)
            .finish()
    }
}

/// The error of awaiting a [`Receiver`]: the sender was dropped without
/// sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

/// The error of [`Receiver::try_recv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Not sent yet.
    Empty,
    /// The sender is gone without sending (or the value was taken).
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value sent yet"),
            TryRecvError::Closed => f.write_str("no value will be sent"),
        }
    }
}

impl std::error::Error for TryRecvError {}
