//! `forward_to`: everything a stream receives, sent on to another stream
//! (or back to the same one), by the driver.
//!
//! A multishot receive into a buffer ring is entered as *forwarding*
//! (`Start::Forward`): each of its CQEs goes from the driver straight to
//! [`Forward::deliver`], which sends the received buffer on with the
//! write-behind send op, in a slot kept from one send to the next. No task
//! is woken per chunk: a message costs the receive's CQE and the send's
//! SQE and CQE, as in a hand-written loop. The task that awaits the
//! forward is woken only when it has to act: a chunk arrived while a send
//! was in flight (it then sends the queued chunks one after another), the
//! receive needs re-arming, a send failed, or the stream ended.
//!
//! One send is in flight at a time, which keeps the bytes in order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::socket::Socket;
use super::write_behind::{Sent, send_now_or_queue};
use crate::buf::{BufRing, PooledBuf};
use crate::driver::{Driver, OpId, Start};
use crate::io::SharedFd;
use crate::op::recv_multi::{ForwardTarget, RecvItem, RecvMulti};
use crate::op::send::{SendBehind, SendSink};
use crate::runtime::context;

/// What the driver (on each CQE) and the awaiting task share.
struct Forward {
    /// Where the data goes.
    to: SharedFd,
    /// Where it is received into.
    ring: BufRing,
    sink: Rc<SendSink>,
    /// The send slot kept from one send to the next.
    lane: Cell<Option<OpId>>,
    /// Chunks received while a send was in flight, in order.
    queue: RefCell<VecDeque<PooledBuf>>,
    /// Bytes received and handed to sends.
    bytes: Cell<u64>,
    /// The receiving side ended: `Ok` at end of stream, or its error.
    end: RefCell<Option<io::Result<()>>>,
    /// The kernel ended the receive (its last CQE came): re-arm it.
    rearm: Cell<bool>,
    /// The buffer ring ran dry (`ENOBUFS`): re-arm once a buffer is back.
    starved: Cell<bool>,
    /// The awaiting task.
    waiter: RefCell<Option<Waker>>,
}

impl Forward {
    fn wake(&self) {
        if let Some(waker) = self.waiter.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Sends `buf` now if nothing is in flight or queued, else queues it
    /// and has the end of the send in flight wake the task, which sends the
    /// queue on.
    fn send_or_queue(&self, driver: &Driver, buf: PooledBuf) {
        if self.sink.failure.borrow().is_some() {
            // The destination has a hole: nothing more goes out. The task
            // reports the failure.
            drop(buf);
            self.wake();
            return;
        }
        let mut queue = self.queue.borrow_mut();
        if self.sink.in_flight.get() || !queue.is_empty() {
            queue.push_back(buf);
            drop(queue);
            if let Some(waker) = self.waiter.borrow().as_ref() {
                *self.sink.waiter.borrow_mut() = Some(waker.clone());
            }
            return;
        }
        drop(queue);
        self.send(driver, buf);
    }

    /// Sends `buf` (the sink is idle): at once by `send(2)` while the loop
    /// is latency-bound, else through the ring in the kept slot.
    fn send(&self, driver: &Driver, buf: PooledBuf) {
        // A pooled buffer is far below a send's 2 GiB limit.
        let Ok(op) = SendBehind::new(self.to.clone(), buf, &self.sink) else {
            return;
        };
        match send_now_or_queue(driver, || self.lane.get(), op, &self.sink) {
            Ok(Sent::Queued(id)) => self.lane.set(Some(id)),
            Ok(Sent::Now) => {}
            Err(err) => {
                // The runtime is shutting down, or the send failed: the
                // failure ends the forward.
                self.sink.failure.borrow_mut().get_or_insert(err);
                self.wake();
            }
        }
    }

    /// Has the end of the send in flight wake the task if it has work
    /// then: queued chunks to send on, or the end to report.
    fn wait_for_send(&self, waker: &Waker) {
        let sending = self.sink.in_flight.get();
        if sending && (!self.queue.borrow().is_empty() || self.end.borrow().is_some()) {
            *self.sink.waiter.borrow_mut() = Some(waker.clone());
        }
    }
}

impl ForwardTarget for Forward {
    fn deliver(&self, driver: &Driver, item: RecvItem, more: bool) {
        match item {
            RecvItem::Data(buf) => {
                self.bytes.set(self.bytes.get() + buf.len() as u64);
                self.send_or_queue(driver, buf);
            }
            RecvItem::Eof => {
                self.end.borrow_mut().get_or_insert(Ok(()));
                self.wake();
            }
            RecvItem::Error(err) => match err.raw_os_error() {
                Some(libc::ENOBUFS) => {
                    // The kernel ends the receive: re-armed (below) once a
                    // buffer comes back. The data waits in the socket.
                    self.ring.inner().note_enobufs();
                    self.starved.set(true);
                }
                Some(libc::EINTR | libc::EAGAIN) => {}
                _ => {
                    self.end.borrow_mut().get_or_insert(Err(err));
                    self.wake();
                }
            },
        }
        if !more && self.end.borrow().is_none() {
            self.rearm.set(true);
            self.wake();
        }
    }
}

/// The future of `forward_to`.
pub(crate) struct ForwardTo<'a> {
    from: &'a Socket,
    state: Rc<Forward>,
    /// The receive in flight (or ended, not yet released).
    recv: Option<OpId>,
    driver: Option<Rc<Driver>>,
    done: bool,
}

impl<'a> ForwardTo<'a> {
    pub(crate) fn new(from: &'a Socket, ring: &BufRing, to: &Socket) -> ForwardTo<'a> {
        ForwardTo {
            from,
            state: Rc::new(Forward {
                to: to.fd.clone(),
                ring: ring.clone(),
                sink: Rc::default(),
                lane: Cell::new(None),
                queue: RefCell::default(),
                bytes: Cell::new(0),
                end: RefCell::new(None),
                rearm: Cell::new(true),
                starved: Cell::new(false),
                waiter: RefCell::new(None),
            }),
            recv: None,
            driver: None,
            done: false,
        }
    }

    /// Arms a new receive (after releasing the one the kernel ended);
    /// pending while the ring has no buffer (the ring wakes the task).
    fn arm(&mut self, driver: &Rc<Driver>, cx: &Context<'_>) -> io::Result<Poll<()>> {
        let state = &self.state;
        if state.starved.get() {
            if !state.ring.inner().has_buffers_or_wait(cx.waker()) {
                return Ok(Poll::Pending);
            }
            state.starved.set(false);
        }
        if let Some(old) = self.recv.take() {
            driver.orphan(old);
        }
        let target: Rc<dyn ForwardTarget> = state.clone();
        let op = RecvMulti::forwarding(self.from.fd.clone(), state.ring.inner().clone(), target);
        let id = driver.submit(op, Start::Forward).map_err(|(_, err)| err)?;
        self.recv = Some(id);
        state.rearm.set(false);
        Ok(Poll::Ready(()))
    }

    fn poll_forward(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let driver = match &self.driver {
            // Its receive and sends are in the ring of the runtime that
            // first polled it, which does not turn now: ended with an error
            // rather than left waiting.
            Some(driver) if driver.polled_elsewhere() => {
                return Poll::Ready(Err(context::other_runtime_error("this forward")));
            }
            Some(driver) => driver.clone(),
            None => {
                let driver = context::driver().ok_or_else(context::no_runtime_error)?;
                // The ring's buffer ids must be this ring's (see
                // `check_driver`), or data would be read from the wrong
                // memory and the other pool's buffers never given back.
                self.state.ring.inner().check_driver(&driver)?;
                self.driver.insert(driver).clone()
            }
        };
        // Registered first: a chunk the driver queues from now on makes the
        // end of the send in flight wake this task.
        match &mut *self.state.waiter.borrow_mut() {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waiter => *waiter = Some(cx.waker().clone()),
        }
        // A send the driver started on its own that fails wakes this task
        // (it reports the failure), even with no more data coming in.
        match &mut *self.state.sink.on_failure.borrow_mut() {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            watcher => *watcher = Some(cx.waker().clone()),
        }
        loop {
            let state = &self.state;
            if let Some(err) = state.sink.copy_failure() {
                return Poll::Ready(Err(err));
            }
            // Chunks that came while a send was in flight go out in order.
            if !state.sink.in_flight.get() {
                let next = state.queue.borrow_mut().pop_front();
                if let Some(buf) = next {
                    state.send(&driver, buf);
                    continue;
                }
            }
            let end = state.end.borrow_mut().take();
            match end {
                Some(Err(err)) => return Poll::Ready(Err(err)),
                Some(Ok(())) => {
                    let sending = state.sink.in_flight.get() || !state.queue.borrow().is_empty();
                    if !sending {
                        return Poll::Ready(Ok(state.bytes.get()));
                    }
                    *state.end.borrow_mut() = Some(Ok(()));
                }
                None if state.rearm.get() && self.arm(&driver, cx)?.is_ready() => continue,
                None => {}
            }
            self.state.wait_for_send(cx.waker());
            return Poll::Pending;
        }
    }
}

impl Future for ForwardTo<'_> {
    type Output = io::Result<u64>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        if self.done {
            return Poll::Ready(Ok(self.state.bytes.get()));
        }
        let polled = self.poll_forward(cx);
        if polled.is_ready() {
            self.done = true;
            self.release();
        }
        polled
    }
}

impl ForwardTo<'_> {
    /// Cancels the receive and a send still in flight (their buffers go
    /// back to the ring at their last CQE) and drops the queued chunks.
    fn release(&mut self) {
        let Some(driver) = self.driver.clone() else {
            return;
        };
        if let Some(id) = self.recv.take() {
            driver.orphan(id);
        }
        if let Some(lane) = self.state.lane.take() {
            driver.drop_kept(lane);
        }
        self.state.queue.borrow_mut().clear();
        self.state.waiter.borrow_mut().take();
        self.state.sink.waiter.borrow_mut().take();
        self.state.sink.on_failure.borrow_mut().take();
    }
}

impl Drop for ForwardTo<'_> {
    fn drop(&mut self) {
        // A send cut short is not sent on once the forward is gone.
        self.state.sink.abandoned.set(true);
        self.release();
    }
}
