//! Multi-producer channels with asyncio.Queue semantics: [`channel`]
//! (bounded: senders wait when it is full) and [`unbounded`].
//!
//! Several consumers can share one [`Receiver`] (`recv` takes `&self`;
//! put it in an `Rc`): messages are handed out in order, each to exactly
//! one of them, and waiting consumers are served first come, first served.
//!
//! ```
//! use ringloop::sync::mpsc;
//!
//! ringloop::run(async {
//!     let (tx, rx) = mpsc::channel(2);
//!     let producer = ringloop::spawn(async move {
//!         for i in 0..5 {
//!             tx.send(i).await.unwrap(); // waits while 2 are queued
//!         }
//!         // Dropping the last sender ends the stream.
//!     });
//!     let mut got = Vec::new();
//!     while let Some(i) = rx.recv().await {
//!         got.push(i);
//!     }
//!     producer.await.unwrap();
//!     assert_eq!(got, [0, 1, 2, 3, 4]);
//! });
//! ```
//!
//! # Cancellation
//!
//! A [`send`](Sender::send) future keeps its message until it completes:
//! dropped before then, the message is dropped with it and never delivered
//! (a slot already reserved for it goes to the next waiting sender). A
//! [`recv`](Receiver::recv) future takes a message out of the queue only in
//! the poll that returns it: dropped before then, no message is lost — one
//! set aside for it goes to the next waiting consumer. So wrapping either
//! in [`timeout`](crate::time::timeout) neither loses nor duplicates
//! messages.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{WaitList, Wakers};

/// A channel holding at most `bound` queued messages, like
/// `asyncio.Queue(maxsize=bound)`: [`Sender::send`] waits while it is full.
///
/// A bound of 0 is raised to 1 (a rendezvous channel is not provided; note
/// that in asyncio `maxsize=0` means unbounded — use [`unbounded`] for
/// that).
pub fn channel<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    new_channel(Some(bound.max(1)))
}

/// A channel without a bound: [`Sender::send`] never waits (memory is the
/// limit), like `asyncio.Queue()`.
///
/// ```
/// use ringloop::sync::mpsc;
/// let (tx, rx) = mpsc::unbounded();
/// for i in 0..1000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(rx.try_recv(), Ok(0));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new_channel(None)
}

fn new_channel<T>(bound: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        queue: VecDeque::new(),
        bound,
        reserved: 0,
        claimed: 0,
        senders: 1,
        receiver_alive: true,
        closed: false,
        send_waiters: WaitList::default(),
        recv_waiters: WaitList::default(),
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

struct Chan<T> {
    queue: VecDeque<T>,
    bound: Option<usize>,
    /// Slots granted to woken senders that have not pushed yet.
    reserved: usize,
    /// Queued messages set aside for woken receivers that have not taken
    /// them yet. Invariant: `claimed <= queue.len()`, and a receiver is
    /// queued only while `queue.len() == claimed`.
    claimed: usize,
    senders: usize,
    receiver_alive: bool,
    closed: bool,
    send_waiters: WaitList<SendStatus>,
    recv_waiters: WaitList<RecvStatus>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SendStatus {
    Waiting,
    /// A slot is reserved for this sender.
    Granted,
    Closed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RecvStatus {
    Waiting,
    /// A queued message is set aside for this receiver.
    Claimed,
    /// No message will come.
    Closed,
}

impl<T> Chan<T> {
    fn send_closed(&self) -> bool {
        self.closed || !self.receiver_alive
    }

    /// No more messages will be queued.
    fn recv_ended(&self) -> bool {
        self.closed || self.senders == 0
    }

    fn has_room(&self) -> bool {
        match self.bound {
            Some(bound) => self.queue.len() + self.reserved < bound,
            None => true,
        }
    }

    /// Reserves free slots for waiting senders, in order.
    fn grant_senders(&mut self, wakers: &mut Wakers) {
        while self.has_room() {
            let Some(key) = self.send_waiters.front() else {
                break;
            };
            self.reserved += 1;
            *self.send_waiters.value_mut(key) = SendStatus::Granted;
            wakers.push(self.send_waiters.unlink(key));
        }
    }

    /// Sets unclaimed messages aside for waiting receivers, in order.
    fn notify_receivers(&mut self, wakers: &mut Wakers) {
        while self.queue.len() > self.claimed {
            let Some(key) = self.recv_waiters.front() else {
                break;
            };
            self.claimed += 1;
            *self.recv_waiters.value_mut(key) = RecvStatus::Claimed;
            wakers.push(self.recv_waiters.unlink(key));
        }
    }

    fn push(&mut self, value: T, wakers: &mut Wakers) {
        self.queue.push_back(value);
        self.notify_receivers(wakers);
    }

    /// Takes the first message, freeing a slot.
    fn pop(&mut self, wakers: &mut Wakers) -> Option<T> {
        let value = self.queue.pop_front();
        self.grant_senders(wakers);
        value
    }

    /// No more messages will come: wake the receivers that wait for one.
    fn end_receivers(&mut self, wakers: &mut Wakers) {
        if self.recv_ended() {
            // Queued receivers hold no claim (see `claimed`), and nothing
            // more will be pushed.
            let woken = self.recv_waiters.unlink_all(|s| *s = RecvStatus::Closed);
            wakers.extend(woken);
        }
    }

    fn close(&mut self) -> Wakers {
        self.closed = true;
        let mut wakers = self.send_waiters.unlink_all(|s| *s = SendStatus::Closed);
        self.end_receivers(&mut wakers);
        wakers
    }
}

/// The sending half; clone it for more producers. The channel ends for the
/// receiver when every `Sender` is dropped (or it is [closed](Self::close)).
pub struct Sender<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Sender<T> {
    /// Queues `value`, waiting while a bounded channel is full. Senders are
    /// served in the order they started waiting.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value back if the channel is closed or the
    /// receiver is gone (before or while waiting).
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            sender: self,
            value: Some(value),
            key: None,
        }
    }

    /// Queues `value` if there is room now and no sender is waiting.
    ///
    /// ```
    /// use ringloop::sync::mpsc::{self, TrySendError};
    /// let (tx, rx) = mpsc::channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let wakers = {
            let mut chan = self.chan.borrow_mut();
            if chan.send_closed() {
                return Err(TrySendError::Closed(value));
            }
            if !chan.send_waiters.is_empty() || !chan.has_room() {
                return Err(TrySendError::Full(value));
            }
            let mut wakers = Wakers::default();
            chan.push(value, &mut wakers);
            wakers
        };
        wakers.wake();
        Ok(())
    }

    /// Closes the channel for every sender: sends fail from now on (waiting
    /// ones too); messages already queued can still be received, then
    /// [`Receiver::recv`] returns `None`.
    pub fn close(&self) {
        let wakers = self.chan.borrow_mut().close();
        wakers.wake();
    }

    /// Whether sending fails: the channel was closed, or the receiver is
    /// gone.
    pub fn is_closed(&self) -> bool {
        self.chan.borrow().send_closed()
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.chan.borrow().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel's bound; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.borrow().bound
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.borrow_mut().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let wakers = {
            let mut chan = self.chan.borrow_mut();
            chan.senders -= 1;
            let mut wakers = Wakers::default();
            chan.end_receivers(&mut wakers);
            wakers
        };
        wakers.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chan = self.chan.borrow();
        f.debug_struct("Sender")
            .field("len", &chan.queue.len())
            .field("bound", &chan.bound)
            .field("closed", &chan.send_closed())
            .finish()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    sender: &'a Sender<T>,
    /// The message, until it is queued or handed back.
    value: Option<T>,
    key: Option<usize>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(value) = this.value.take() else {
            // Polled after completion.
            return Poll::Ready(Ok(()));
        };
        let mut wakers = Wakers::default();
        let result = {
            let mut chan = this.sender.chan.borrow_mut();
            match this.key {
                None => {
                    if chan.send_closed() {
                        Err(SendError(value))
                    } else if chan.send_waiters.is_empty() && chan.has_room() {
                        chan.push(value, &mut wakers);
                        Ok(())
                    } else {
                        this.key =
                            Some(chan.send_waiters.push_back(SendStatus::Waiting, cx.waker()));
                        this.value = Some(value);
                        return Poll::Pending;
                    }
                }
                Some(key) => match *chan.send_waiters.value(key) {
                    SendStatus::Waiting => {
                        chan.send_waiters.set_waker(key, cx.waker());
                        this.value = Some(value);
                        return Poll::Pending;
                    }
                    SendStatus::Granted => {
                        chan.send_waiters.remove(key);
                        this.key = None;
                        chan.reserved -= 1;
                        if chan.send_closed() {
                            Err(SendError(value))
                        } else {
                            chan.push(value, &mut wakers);
                            Ok(())
                        }
                    }
                    SendStatus::Closed => {
                        chan.send_waiters.remove(key);
                        this.key = None;
                        Err(SendError(value))
                    }
                },
            }
        };
        wakers.wake();
        Poll::Ready(result)
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let wakers = {
            let mut chan = self.sender.chan.borrow_mut();
            let mut wakers = Wakers::default();
            if chan.send_waiters.remove(key) == SendStatus::Granted {
                // The slot reserved for us goes to the next sender.
                chan.reserved -= 1;
                chan.grant_senders(&mut wakers);
            }
            wakers
        };
        wakers.wake();
        // `self.value` (the unsent message) is dropped after the borrow.
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// The receiving half. Share it (`Rc<Receiver<T>>`) for several consumers.
pub struct Receiver<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Receiver<T> {
    /// Waits for the next message; `None` once the channel is closed (or
    /// every sender is gone) and empty.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            key: None,
        }
    }

    /// Takes the next message if one is ready for a new consumer.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is (messages already set aside for
    /// waiting consumers do not count), [`TryRecvError::Disconnected`] if
    /// none will ever come.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let (value, wakers) = {
            let mut chan = self.chan.borrow_mut();
            if chan.queue.len() > chan.claimed {
                let mut wakers = Wakers::default();
                (chan.pop(&mut wakers), wakers)
            } else if chan.recv_ended() {
                return Err(TryRecvError::Disconnected);
            } else {
                return Err(TryRecvError::Empty);
            }
        };
        wakers.wake();
        value.ok_or(TryRecvError::Empty)
    }

    /// Closes the channel: sends fail from now on (waiting ones too);
    /// messages already queued can still be received, then
    /// [`recv`](Self::recv) returns `None`.
    pub fn close(&self) {
        let wakers = self.chan.borrow_mut().close();
        wakers.wake();
    }

    /// Whether no more messages will be queued (closed, or every sender
    /// gone); some may still wait to be received.
    pub fn is_closed(&self) -> bool {
        self.chan.borrow().recv_ended()
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.chan.borrow().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel's bound; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.borrow().bound
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (queue, wakers) = {
            let mut chan = self.chan.borrow_mut();
            chan.receiver_alive = false;
            let wakers = chan.send_waiters.unlink_all(|s| *s = SendStatus::Closed);
            chan.claimed = 0;
            (std::mem::take(&mut chan.queue), wakers)
        };
        wakers.wake();
        // Undelivered messages are dropped outside the borrow: their drop
        // may use the channel (a message holding a Sender, say).
        drop(queue);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chan = self.chan.borrow();
        f.debug_struct("Receiver")
            .field("len", &chan.queue.len())
            .field("bound", &chan.bound)
            .field("closed", &chan.recv_ended())
            .finish()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    receiver: &'a Receiver<T>,
    key: Option<usize>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut wakers = Wakers::default();
        let value = {
            let mut chan = self.receiver.chan.borrow_mut();
            match self.key {
                None => {
                    if chan.queue.len() > chan.claimed {
                        chan.pop(&mut wakers)
                    } else if chan.recv_ended() {
                        None
                    } else {
                        let key = chan.recv_waiters.push_back(RecvStatus::Waiting, cx.waker());
                        self.key = Some(key);
                        return Poll::Pending;
                    }
                }
                Some(key) => match *chan.recv_waiters.value(key) {
                    RecvStatus::Waiting => {
                        chan.recv_waiters.set_waker(key, cx.waker());
                        return Poll::Pending;
                    }
                    RecvStatus::Claimed => {
                        chan.recv_waiters.remove(key);
                        self.key = None;
                        chan.claimed -= 1;
                        chan.pop(&mut wakers)
                    }
                    RecvStatus::Closed => {
                        chan.recv_waiters.remove(key);
                        self.key = None;
                        None
                    }
                },
            }
        };
        wakers.wake();
        Poll::Ready(value)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let wakers = {
            let mut chan = self.receiver.chan.borrow_mut();
            let mut wakers = Wakers::default();
            if chan.recv_waiters.remove(key) == RecvStatus::Claimed {
                // The message set aside for us goes to the next consumer.
                chan.claimed -= 1;
                chan.notify_receivers(&mut wakers);
            }
            wakers
        };
        wakers.wake();
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// The error of [`Sender::send`]: the channel is closed; the message is
/// handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// The error of [`Sender::try_send`], with the message handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full (or senders are waiting first).
    Full(T),
    /// The channel is closed, or the receiver is gone.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Closed(value) => value,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the channel is full"),
            TrySendError::Closed(_) => f.write_str("sending on a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        TrySendError::Closed(err.0)
    }
}

/// The error of [`Receiver::try_recv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No message is ready now.
    Empty,
    /// No message will come: closed (or every sender gone) and empty.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the channel is empty"),
            TryRecvError::Disconnected => f.write_str("the channel is closed and empty"),
        }
    }
}

impl std::error::Error for TryRecvError {}
