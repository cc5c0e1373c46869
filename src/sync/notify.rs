//! `Notify`: wake one task or all waiting tasks, without data.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{WaitList, Wakers};

/// Sends wake-ups to tasks: [`notify_one`](Self::notify_one) wakes the
/// longest-waiting task (or, if none waits, lets the next
/// [`notified`](Self::notified) complete at once: one stored permit, not a
/// count); [`notify_waiters`](Self::notify_waiters) wakes every task
/// waiting now and stores nothing.
///
/// A [`Notified`] future counts as waiting from the moment it is created
/// for `notify_waiters`, and from its first poll for `notify_one`.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::Notify;
///
/// ringloop::run(async {
///     let notify = Rc::new(Notify::new());
///     let n = notify.clone();
///     let task = ringloop::spawn(async move {
///         n.notified().await;
///         "woken"
///     });
///     ringloop::yield_now().await;
///     notify.notify_one();
///     assert_eq!(task.await.unwrap(), "woken");
///
///     // Without a waiter, the wake-up is kept for the next one.
///     notify.notify_one();
///     notify.notified().await;
/// });
/// ```
///
/// # Cancellation
///
/// A [`Notified`] future dropped after `notify_one` chose it, but before it
/// completed, passes the wake-up on (to the next waiter, or to the stored
/// permit): a `notify_one` is never lost.
pub struct Notify {
    state: RefCell<State>,
}

struct State {
    permit: bool,
    /// Calls of `notify_waiters` so far.
    generation: u64,
    waiters: WaitList<Woken>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Woken {
    No,
    /// By `notify_one`: a wake-up to pass on if unused.
    One,
    /// By `notify_waiters`.
    All,
}

impl State {
    fn notify_one(&mut self) -> Wakers {
        match self.waiters.front() {
            Some(key) => {
                *self.waiters.value_mut(key) = Woken::One;
                self.waiters.unlink(key).into()
            }
            None => {
                self.permit = true;
                Wakers::default()
            }
        }
    }
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify {
            state: RefCell::new(State {
                permit: false,
                generation: 0,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Wakes the longest-waiting task, or stores one permit for the next
    /// [`notified`](Self::notified) if none waits.
    pub fn notify_one(&self) {
        let wakers = self.state.borrow_mut().notify_one();
        wakers.wake();
    }

    /// Wakes every task waiting now (including [`Notified`] futures
    /// created but not yet polled); stores no permit.
    pub fn notify_waiters(&self) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.generation += 1;
            state.waiters.unlink_all(|w| *w = Woken::All)
        };
        wakers.wake();
    }

    /// Waits for a notification.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.state.borrow().generation,
            key: None,
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
    key: Option<usize>,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.notify.state.borrow_mut();
        match self.key {
            None => {
                if state.generation != self.generation {
                    // A notify_waiters since we were created.
                    return Poll::Ready(());
                }
                if state.permit {
                    state.permit = false;
                    return Poll::Ready(());
                }
                self.key = Some(state.waiters.push_back(Woken::No, cx.waker()));
                Poll::Pending
            }
            Some(key) => {
                if !state
                    .waiters
                    .poll_granted(key, cx.waker(), |woken| *woken != Woken::No)
                {
                    return Poll::Pending;
                }
                self.key = None;
                // Seen: a later poll must not complete again by generation.
                self.generation = state.generation;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let wakers = {
            let mut state = self.notify.state.borrow_mut();
            match state.waiters.remove(key) {
                Woken::One => state.notify_one(),
                Woken::No | Woken::All => Wakers::default(),
            }
        };
        wakers.wake();
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("queued", &self.key.is_some())
            .finish()
    }
}
