//! `Barrier`: wait until a number of tasks have arrived.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::WaitList;

/// Lets `n` tasks wait until all of them have arrived, like
/// `asyncio.Barrier`; then all go on and the barrier resets for the next
/// round. Exactly one task per round — the last to arrive — is the
/// *leader*.
///
/// A barrier of 0 behaves as a barrier of 1: every `wait` completes at once
/// as the leader.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::Barrier;
///
/// ringloop::run(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             ringloop::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for task in tasks {
///         leaders += task.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
///
/// # Cancellation
///
/// A task whose `wait` future is dropped before the barrier opens leaves
/// it: it no longer counts as arrived, so the round needs another task.
pub struct Barrier {
    state: RefCell<State>,
}

struct State {
    parties: usize,
    arrived: usize,
    /// Waiters of the current round; `true` once released.
    waiters: WaitList<bool>,
}

impl Barrier {
    /// A barrier for `n` tasks (0 counts as 1).
    pub fn new(n: usize) -> Barrier {
        Barrier {
            state: RefCell::new(State {
                parties: n.max(1),
                arrived: 0,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Tasks per round.
    pub fn parties(&self) -> usize {
        self.state.borrow().parties
    }

    /// Tasks waiting in the current round.
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().arrived
    }

    /// Arrives and waits for the rest of the round.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("arrived", &state.arrived)
            .finish()
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<usize>,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let wakers = {
            let mut state = self.barrier.state.borrow_mut();
            match self.key {
                None => {
                    state.arrived += 1;
                    if state.arrived < state.parties {
                        self.key = Some(state.waiters.push_back(false, cx.waker()));
                        return Poll::Pending;
                    }
                    state.arrived = 0;
                    state.waiters.unlink_all(|released| *released = true)
                }
                Some(key) => {
                    if !state
                        .waiters
                        .poll_granted(key, cx.waker(), |released| *released)
                    {
                        return Poll::Pending;
                    }
                    self.key = None;
                    return Poll::Ready(BarrierWaitResult { leader: false });
                }
            }
        };
        wakers.wake();
        Poll::Ready(BarrierWaitResult { leader: true })
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.barrier.state.borrow_mut();
        let released = state.waiters.remove(key);
        if !released {
            state.arrived -= 1;
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// What [`Barrier::wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task was the round's leader (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}
