//! `Event`: a flag that tasks can wait for, like `asyncio.Event`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::WaitList;

/// A flag, initially clear, that tasks wait to be set — `asyncio.Event`.
///
/// [`set`](Self::set) wakes every waiter; they all complete even if the
/// event is [`clear`](Self::clear)ed again before they run (as in asyncio).
/// While set, [`wait`](Self::wait) completes at once.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::Event;
///
/// ringloop::run(async {
///     let ready = Rc::new(Event::new());
///     let waiter = {
///         let ready = ready.clone();
///         ringloop::spawn(async move {
///             ready.wait().await;
///             "go"
///         })
///     };
///     ringloop::yield_now().await;
///     assert!(!waiter.is_finished());
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "go");
/// });
/// ```
///
/// Dropping a [`wait`](Self::wait) future simply leaves the queue.
pub struct Event {
    state: RefCell<State>,
}

struct State {
    set: bool,
    /// Waiters; `true` once woken by a `set`.
    waiters: WaitList<bool>,
}

impl Event {
    /// A clear event.
    pub fn new() -> Event {
        Event {
            state: RefCell::new(State {
                set: false,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.set = true;
            state.waiters.unlink_all(|woken| *woken = true)
        };
        wakers.wake();
    }

    /// Clears the flag: later [`wait`](Self::wait)s wait for the next
    /// [`set`](Self::set).
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Waits until the flag is set (at once if it is).
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Event")
            .field("set", &state.set)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<usize>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.event.state.borrow_mut();
        match self.key {
            None => {
                if state.set {
                    return Poll::Ready(());
                }
                self.key = Some(state.waiters.push_back(false, cx.waker()));
                Poll::Pending
            }
            Some(key) => {
                if !state.waiters.poll_granted(key, cx.waker(), |set| *set) {
                    return Poll::Pending;
                }
                self.key = None;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.event.state.borrow_mut().waiters.remove(key);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("queued", &self.key.is_some())
            .finish()
    }
}
