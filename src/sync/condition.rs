//! `Condition`: wait for a change of state protected by a [`Mutex`].

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll};

use super::mutex::{Mutex, MutexGuard};
use super::waiters::{WaitList, Wakers};

/// A condition variable over a [`Mutex`], like `asyncio.Condition`: a task
/// holding the lock [`wait`](Self::wait)s — the lock is released while it
/// waits and taken again before `wait` returns — until another task
/// [`notify`](Self::notify)s.
///
/// One `Condition` is meant to be used with one mutex (asyncio binds them
/// at construction; here the guard passed to `wait` names the mutex).
/// Notifications go to waiters in FIFO order. As with any condition
/// variable, check the state again after waking — or use
/// [`wait_for`](Self::wait_for), which does.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::{Condition, Mutex};
///
/// ringloop::run(async {
///     let shared = Rc::new((Mutex::new(Vec::new()), Condition::new()));
///     let consumer = {
///         let shared = shared.clone();
///         ringloop::spawn(async move {
///             let (items, cond) = &*shared;
///             let mut guard = items.lock().await;
///             guard = cond.wait_for(guard, |items| !items.is_empty()).await;
///             guard.pop()
///         })
///     };
///     ringloop::yield_now().await;
///     let (items, cond) = &*shared;
///     items.lock().await.push(7);
///     cond.notify(1);
///     assert_eq!(consumer.await.unwrap(), Some(7));
/// });
/// ```
///
/// # Cancellation
///
/// A `wait` future that is dropped gives up its place. If it had already
/// been notified, the notification goes to the next waiter, so none is
/// lost. (A dropped `wait` does not hand a guard back: its caller's guard
/// was consumed, and the lock is simply not re-taken.)
pub struct Condition {
    /// Waiters; `true` once notified.
    waiters: RefCell<WaitList<bool>>,
}

impl Condition {
    /// A condition with no waiters.
    pub fn new() -> Condition {
        Condition {
            waiters: RefCell::new(WaitList::default()),
        }
    }

    /// Releases the lock held by `guard`, waits for a notification, then
    /// takes the lock again and returns the new guard.
    ///
    /// The wait starts when the returned future is first polled (it holds
    /// the lock until then), so a notification sent by a task that needs
    /// the lock cannot be missed.
    pub async fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex: &'a Mutex<T> = MutexGuard::mutex(&guard);
        // Queue first, then release the lock: nothing can slip in between.
        let mut waiter = CondWait {
            cond: self,
            key: None,
            done: false,
        };
        waiter.key = Some(self.waiters.borrow_mut().push_back(false, &noop_waker()));
        drop(guard);
        poll_fn(|cx| waiter.poll_notified(cx)).await;
        // Notified. If we are dropped while re-taking the lock, the
        // notification was not used: pass it on.
        let mut pass_on = PassOn {
            cond: self,
            armed: true,
        };
        let guard = mutex.lock().await;
        pass_on.armed = false;
        guard
    }

    /// Waits until `ready` returns true for the value under the lock:
    /// checks it first, then [`wait`](Self::wait)s and checks again after
    /// each notification. Returns the guard with `ready` true.
    pub async fn wait_for<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut ready: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while !ready(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiting tasks, longest-waiting first. Notifying with
    /// nobody waiting does nothing (nothing is stored).
    pub fn notify(&self, n: usize) {
        let wakers = self.notify_inner(n);
        wakers.wake();
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        let wakers = self.waiters.borrow_mut().unlink_all(|n| *n = true);
        wakers.wake();
    }

    /// Tasks waiting now.
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }

    fn notify_inner(&self, n: usize) -> Wakers {
        let mut waiters = self.waiters.borrow_mut();
        let mut wakers = Wakers::default();
        for _ in 0..n {
            let Some(key) = waiters.front() else { break };
            *waiters.value_mut(key) = true;
            wakers.push(waiters.unlink(key));
        }
        wakers
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// A waker that does nothing: the placeholder of a waiter queued before its
/// first poll (the first poll installs the real one).
fn noop_waker() -> std::task::Waker {
    std::task::Waker::noop().clone()
}

/// Waits for a notification of an already-queued waiter.
struct CondWait<'c> {
    cond: &'c Condition,
    key: Option<usize>,
    done: bool,
}

impl CondWait<'_> {
    fn poll_notified(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        let Some(key) = this.key else {
            return Poll::Ready(());
        };
        let mut waiters = this.cond.waiters.borrow_mut();
        if !waiters.poll_granted(key, cx.waker(), |notified| *notified) {
            return Poll::Pending;
        }
        this.key = None;
        this.done = true;
        Poll::Ready(())
    }
}

impl Drop for CondWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let notified = self.cond.waiters.borrow_mut().remove(key);
        if notified && !self.done {
            self.cond.notify(1);
        }
    }
}

struct PassOn<'c> {
    cond: &'c Condition,
    armed: bool,
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.cond.notify(1);
        }
    }
}
