//! `Mutex`: an async, FIFO-fair lock.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{WaitList, Wakers};

/// An async mutual-exclusion lock for the tasks of one runtime, like
/// `asyncio.Lock` (with the data inside, as in Rust's `Mutex`).
///
/// Unlike a `RefCell`, its guard may be held across `.await`: other tasks
/// that call [`lock`](Self::lock) wait for it. The lock is FIFO-fair: it is
/// handed to waiters in arrival order, directly, so a task that calls `lock`
/// later cannot overtake one that is waiting.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::Mutex;
///
/// ringloop::run(async {
///     let total = Rc::new(Mutex::new(0));
///     let mut tasks = Vec::new();
///     for _ in 0..10 {
///         let total = total.clone();
///         tasks.push(ringloop::spawn(async move {
///             let mut n = total.lock().await;
///             ringloop::yield_now().await; // held across an await
///             *n += 1;
///         }));
///     }
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(*total.lock().await, 10);
/// });
/// ```
///
/// # Cancellation
///
/// Dropping a [`lock`](Self::lock) future gives up its place in the queue;
/// if the lock had already been handed to it, it is handed on to the next
/// waiter (or released). The lock is never left held by nobody.
pub struct Mutex<T> {
    state: RefCell<State>,
    value: RefCell<T>,
}

struct State {
    locked: bool,
    /// Waiters; `true` once the lock has been handed to one.
    waiters: WaitList<bool>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            state: RefCell::new(State {
                locked: false,
                waiters: WaitList::default(),
            }),
            value: RefCell::new(value),
        }
    }

    /// Waits for the lock.
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            key: None,
        }
    }

    /// Takes the lock if it is free.
    ///
    /// ```
    /// use ringloop::sync::Mutex;
    /// let m = Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_err());
    /// drop(guard);
    /// assert!(m.try_lock().is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the lock is held (or handed to a waiter).
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let mut state = self.state.borrow_mut();
        if state.locked {
            return Err(TryLockError::new());
        }
        state.locked = true;
        drop(state);
        Ok(self.guard())
    }

    /// Whether the lock is held (or handed to a waiter that has not run
    /// yet).
    pub fn is_locked(&self) -> bool {
        self.state.borrow().locked
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            // The lock is ours, so nobody else holds a borrow of the value.
            value: self.value.borrow_mut(),
            unlock: Unlock { mutex: self },
        }
    }

    /// Hands the lock to the first waiter, or releases it.
    fn unlock(&self) {
        let wakers: Wakers = {
            let mut state = self.state.borrow_mut();
            match state.waiters.front() {
                Some(key) => {
                    *state.waiters.value_mut(key) = true;
                    state.waiters.unlink(key).into()
                }
                None => {
                    state.locked = false;
                    Wakers::default()
                }
            }
        };
        wakers.wake();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("value", &*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.field("waiters", &self.state.borrow().waiters.len())
            .finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T> {
    mutex: &'a Mutex<T>,
    key: Option<usize>,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let mutex = self.mutex;
        let mut state = mutex.state.borrow_mut();
        match self.key {
            None => {
                if !state.locked {
                    state.locked = true;
                    drop(state);
                    return Poll::Ready(mutex.guard());
                }
                self.key = Some(state.waiters.push_back(false, cx.waker()));
                Poll::Pending
            }
            Some(key) => {
                if !state
                    .waiters
                    .poll_granted(key, cx.waker(), |locked| *locked)
                {
                    return Poll::Pending;
                }
                self.key = None;
                drop(state);
                Poll::Ready(mutex.guard())
            }
        }
    }
}

impl<T> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let handed = self.mutex.state.borrow_mut().waiters.remove(key);
        if handed {
            // We own the lock without ever having used it: pass it on.
            self.mutex.unlock();
        }
    }
}

impl<T> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("queued", &self.key.is_some())
            .finish()
    }
}

/// Exclusive access to a [`Mutex`]'s value; dropping it unlocks (handing
/// the lock to the next waiter).
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct MutexGuard<'a, T> {
    // Field order matters: the borrow of the value ends before the lock is
    // handed on.
    value: RefMut<'a, T>,
    unlock: Unlock<'a, T>,
}

struct Unlock<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Drop for Unlock<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<'a, T> MutexGuard<'a, T> {
    /// The mutex this guard locks.
    pub fn mutex(guard: &Self) -> &'a Mutex<T> {
        guard.unlock.mutex
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

/// The error of [`Mutex::try_lock`], [`RwLock::try_read`](super::RwLock::try_read)
/// and [`RwLock::try_write`](super::RwLock::try_write): the lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryLockError(());

impl TryLockError {
    pub(super) fn new() -> TryLockError {
        TryLockError(())
    }
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held")
    }
}

impl std::error::Error for TryLockError {}
