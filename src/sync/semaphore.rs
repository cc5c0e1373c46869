//! `Semaphore`: a FIFO-fair counting semaphore.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{WaitList, Wakers};

/// A counting semaphore for the tasks of one runtime, like
/// `asyncio.Semaphore`, with FIFO fairness: permits go to waiters in the
/// order they started waiting, and a waiter that needs many permits is not
/// overtaken by later ones that need fewer.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::Semaphore;
///
/// ringloop::run(async {
///     let slots = Rc::new(Semaphore::new(2));
///     let mut tasks = Vec::new();
///     for i in 0..5 {
///         let slots = slots.clone();
///         tasks.push(ringloop::spawn(async move {
///             let _permit = slots.acquire().await.unwrap();
///             // At most two tasks are here at once.
///             ringloop::yield_now().await;
///             i
///         }));
///     }
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(slots.available_permits(), 2);
/// });
/// ```
///
/// # Cancellation
///
/// Dropping an [`acquire`](Self::acquire) future gives up its place in the
/// queue. If permits had already been handed to it, they go back to the
/// semaphore (and on to the next waiter): no permit is ever lost.
pub struct Semaphore {
    state: RefCell<State>,
}

struct State {
    permits: usize,
    closed: bool,
    waiters: WaitList<Waiter>,
}

struct Waiter {
    needed: usize,
    status: Status,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    Granted,
    Closed,
}

impl Semaphore {
    /// The most permits a semaphore holds; more are clamped to it.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits (0 is fine: acquirers wait until
    /// [`add_permits`](Self::add_permits); more than
    /// [`MAX_PERMITS`](Self::MAX_PERMITS) is clamped).
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: RefCell::new(State {
                permits: permits.min(Self::MAX_PERMITS),
                closed: false,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Permits available now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Tasks waiting for permits.
    pub fn waiters(&self) -> usize {
        self.state.borrow().waiters.len()
    }

    /// Waits for one permit; it returns to the semaphore when the
    /// [`SemaphorePermit`] is dropped.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is [closed](Self::close), before
    /// or while waiting.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once (0 completes at once).
    ///
    /// ```
    /// use ringloop::sync::Semaphore;
    /// ringloop::run(async {
    ///     let sem = Semaphore::new(5);
    ///     let three = sem.acquire_many(3).await.unwrap();
    ///     assert_eq!(sem.available_permits(), 2);
    ///     drop(three);
    ///     assert_eq!(sem.available_permits(), 5);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, or if `n` is more than
    /// [`MAX_PERMITS`](Self::MAX_PERMITS) (it could never be granted).
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            needed: n,
            key: None,
        }
    }

    /// Takes one permit if one is available and nobody is waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are available and nobody is waiting.
    ///
    /// ```
    /// use ringloop::sync::{Semaphore, TryAcquireError};
    /// let sem = Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// sem.close();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if there are too few permits or
    /// others are waiting first; [`TryAcquireError::Closed`] if closed.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(TryAcquireError::Closed);
        }
        if state.waiters.is_empty() && state.permits >= n {
            state.permits -= n;
            Ok(SemaphorePermit {
                sem: self,
                permits: n,
            })
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Like [`acquire`](Self::acquire), for a semaphore in an `Rc`: the
    /// permit keeps the semaphore alive and can move into a spawned task.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use ringloop::sync::Semaphore;
    /// ringloop::run(async {
    ///     let sem = Rc::new(Semaphore::new(1));
    ///     let permit = sem.clone().acquire_owned().await.unwrap();
    ///     ringloop::spawn(async move { drop(permit) }).await.unwrap();
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`acquire`](Self::acquire).
    pub async fn acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Like [`acquire_many`](Self::acquire_many), with an owned permit.
    ///
    /// # Errors
    ///
    /// As for [`acquire_many`](Self::acquire_many).
    pub async fn acquire_many_owned(
        self: Rc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        let permit = self.acquire_many(n).await?;
        let permits = permit.num_permits();
        permit.forget();
        Ok(OwnedSemaphorePermit { sem: self, permits })
    }

    /// Adds `n` permits (the total is clamped to
    /// [`MAX_PERMITS`](Self::MAX_PERMITS)), waking waiters in order.
    pub fn add_permits(&self, n: usize) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.permits = state.permits.saturating_add(n).min(Self::MAX_PERMITS);
            state.grant()
        };
        wakers.wake();
    }

    /// Closes the semaphore: every waiter and every later acquire fails
    /// with [`AcquireError`]. Permits already held stay valid and still
    /// return to the count when dropped.
    pub fn close(&self) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.waiters.unlink_all(|w| w.status = Status::Closed)
        };
        wakers.wake();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }
}

impl State {
    /// Hands permits to the waiters at the front, in order, while there
    /// are enough for the first one.
    fn grant(&mut self) -> Wakers {
        let mut wakers = Wakers::default();
        while let Some(key) = self.waiters.front() {
            let needed = self.waiters.value(key).needed;
            if needed > self.permits {
                break;
            }
            self.permits -= needed;
            self.waiters.value_mut(key).status = Status::Granted;
            wakers.push(self.waiters.unlink(key));
        }
        wakers
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// The future of [`Semaphore::acquire`] and
/// [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    needed: usize,
    /// Our node in the wait list, once queued.
    key: Option<usize>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let sem = self.sem;
        let needed = self.needed;
        let mut state = sem.state.borrow_mut();
        let Some(key) = self.key else {
            if state.closed {
                return Poll::Ready(Err(AcquireError(ErrorKind::Closed)));
            }
            if needed > Semaphore::MAX_PERMITS {
                return Poll::Ready(Err(AcquireError(ErrorKind::TooMany)));
            }
            // Zero permits take nothing from anyone, so they need not queue
            // (as documented: "0 completes at once"). Queued behind a waiter
            // that is never served, they would wait forever.
            if needed == 0 {
                return Poll::Ready(Ok(SemaphorePermit { sem, permits: 0 }));
            }
            if state.waiters.is_empty() && state.permits >= needed {
                state.permits -= needed;
                return Poll::Ready(Ok(SemaphorePermit {
                    sem,
                    permits: needed,
                }));
            }
            let waiter = Waiter {
                needed,
                status: Status::Waiting,
            };
            self.key = Some(state.waiters.push_back(waiter, cx.waker()));
            return Poll::Pending;
        };
        match state.waiters.value(key).status {
            Status::Waiting => {
                state.waiters.set_waker(key, cx.waker());
                Poll::Pending
            }
            Status::Granted => {
                state.waiters.remove(key);
                self.key = None;
                Poll::Ready(Ok(SemaphorePermit {
                    sem,
                    permits: needed,
                }))
            }
            Status::Closed => {
                state.waiters.remove(key);
                self.key = None;
                Poll::Ready(Err(AcquireError(ErrorKind::Closed)))
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let wakers = {
            let mut state = self.sem.state.borrow_mut();
            let waiter = state.waiters.remove(key);
            match waiter.status {
                // Granted but never seen: the permits go back. Or still
                // queued: leaving may unblock smaller requests behind us.
                Status::Granted | Status::Waiting => {
                    if waiter.status == Status::Granted {
                        state.permits = state.permits.saturating_add(self.needed);
                    }
                    state.grant()
                }
                Status::Closed => Wakers::default(),
            }
        };
        wakers.wake();
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("needed", &self.needed)
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good (they are not
    /// returned on drop).
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.add_permits(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits of a [`Semaphore`] held through an `Rc`, from
/// [`Semaphore::acquire_owned`]; dropping it gives them back.
#[must_use = "the permit is released at once if not kept"]
pub struct OwnedSemaphorePermit {
    sem: Rc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Rc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.add_permits(self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    Closed,
    TooMany,
}

/// The error of [`Semaphore::acquire`]: the semaphore was closed, or more
/// permits were asked for than a semaphore can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquireError(ErrorKind);

impl AcquireError {
    /// Whether the semaphore was closed (otherwise: too many permits were
    /// asked for).
    pub fn is_closed(&self) -> bool {
        self.0 == ErrorKind::Closed
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ErrorKind::Closed => f.write_str("the semaphore is closed"),
            ErrorKind::TooMany => write!(
                f,
                "more permits asked for than a semaphore can hold ({})",
                Semaphore::MAX_PERMITS
            ),
        }
    }
}

impl std::error::Error for AcquireError {}

/// The error of [`Semaphore::try_acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough permits now (or other tasks are waiting first).
    NoPermits,
    /// The semaphore is closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::NoPermits => f.write_str("no permits available"),
            TryAcquireError::Closed => f.write_str("the semaphore is closed"),
        }
    }
}

impl std::error::Error for TryAcquireError {}
