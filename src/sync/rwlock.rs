//! `RwLock`: an async, writer-fair reader-writer lock.

use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::TryLockError;
use super::waiters::{WaitList, Wakers};

/// An async reader-writer lock for the tasks of one runtime: many readers
/// or one writer.
///
/// It is writer-fair: requests are served in arrival order, so once a
/// writer waits, readers that arrive after it wait too (writers are not
/// starved by a stream of readers), and readers queued together behind a
/// writer are let in together when it is done.
///
/// ```
/// use std::rc::Rc;
/// use ringloop::sync::RwLock;
///
/// ringloop::run(async {
///     let config = Rc::new(RwLock::new(String::from("v1")));
///     {
///         let a = config.read().await;
///         let b = config.read().await; // readers share
///         assert_eq!(*a, *b);
///     }
///     config.write().await.push_str("+patch");
///     assert_eq!(*config.read().await, "v1+patch");
/// });
/// ```
///
/// # Cancellation
///
/// Dropping a [`read`](Self::read) or [`write`](Self::write) future gives
/// up its place; access already granted to it is released (and passed on).
pub struct RwLock<T> {
    state: RefCell<State>,
    value: RefCell<T>,
}

struct State {
    readers: usize,
    writer: bool,
    waiters: WaitList<Waiter>,
}

struct Waiter {
    write: bool,
    granted: bool,
}

impl State {
    /// Grants access to the waiters at the front, in order: a writer when
    /// the lock is free, or every reader up to the next writer.
    fn grant(&mut self) -> Wakers {
        let mut wakers = Wakers::default();
        while let Some(key) = self.waiters.front() {
            if self.writer {
                break;
            }
            if self.waiters.value(key).write {
                if self.readers > 0 {
                    break;
                }
                self.writer = true;
            } else {
                self.readers += 1;
            }
            self.waiters.value_mut(key).granted = true;
            wakers.push(self.waiters.unlink(key));
        }
        wakers
    }

    fn release(&mut self, write: bool) -> Wakers {
        if write {
            self.writer = false;
        } else {
            self.readers = self.readers.saturating_sub(1);
        }
        self.grant()
    }
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            state: RefCell::new(State {
                readers: 0,
                writer: false,
                waiters: WaitList::default(),
            }),
            value: RefCell::new(value),
        }
    }

    /// Waits for shared (read) access.
    pub fn read(&self) -> ReadLock<'_, T> {
        ReadLock {
            lock: self,
            key: None,
        }
    }

    /// Waits for exclusive (write) access.
    pub fn write(&self) -> WriteLock<'_, T> {
        WriteLock {
            lock: self,
            key: None,
        }
    }

    /// Takes read access if no writer holds or waits for the lock.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] otherwise.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let mut state = self.state.borrow_mut();
        if state.writer || !state.waiters.is_empty() {
            return Err(TryLockError::new());
        }
        state.readers += 1;
        drop(state);
        Ok(self.read_guard())
    }

    /// Takes write access if the lock is free and nobody waits.
    ///
    /// ```
    /// use ringloop::sync::RwLock;
    /// let lock = RwLock::new(0);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// drop(r);
    /// *lock.try_write().unwrap() += 1;
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryLockError`] otherwise.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let mut state = self.state.borrow_mut();
        if state.writer || state.readers > 0 || !state.waiters.is_empty() {
            return Err(TryLockError::new());
        }
        state.writer = true;
        drop(state);
        Ok(self.write_guard())
    }

    /// The value, through exclusive access.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            // Readers only while no writer: shared borrows never conflict.
            value: self.value.borrow(),
            release: Release {
                lock: self,
                write: false,
            },
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            // The only holder: no other borrow exists.
            value: self.value.borrow_mut(),
            release: Release {
                lock: self,
                write: true,
            },
        }
    }

    fn release(&self, write: bool) {
        let wakers = self.state.borrow_mut().release(write);
        wakers.wake();
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.value.try_borrow() {
            Ok(value) if !self.state.borrow().writer => d.field("value", &*value),
            _ => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

macro_rules! access_future {
    ($(#[$doc:meta])* $name:ident, $guard:ident, $write:expr, $make:ident) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless awaited"]
        pub struct $name<'a, T> {
            lock: &'a RwLock<T>,
            key: Option<usize>,
        }

        impl<'a, T> Future for $name<'a, T> {
            type Output = $guard<'a, T>;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let lock = self.lock;
                match lock.poll_access(&mut self.key, $write, cx) {
                    Poll::Ready(()) => Poll::Ready(lock.$make()),
                    Poll::Pending => Poll::Pending,
                }
            }
        }

        impl<T> Drop for $name<'_, T> {
            fn drop(&mut self) {
                if let Some(key) = self.key.take() {
                    self.lock.leave(key);
                }
            }
        }

        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("queued", &self.key.is_some())
                    .finish()
            }
        }
    };
}

access_future!(
    /// The future of [`RwLock::read`].
    ReadLock,
    RwLockReadGuard,
    false,
    read_guard
);

access_future!(
    /// The future of [`RwLock::write`].
    WriteLock,
    RwLockWriteGuard,
    true,
    write_guard
);

impl<T> RwLock<T> {
    /// Takes access now if it is free, else queues (or checks the queued
    /// waiter `key`).
    fn poll_access(&self, key: &mut Option<usize>, write: bool, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        match *key {
            None => {
                let free =
                    !state.writer && state.waiters.is_empty() && (!write || state.readers == 0);
                if free {
                    if write {
                        state.writer = true;
                    } else {
                        state.readers += 1;
                    }
                    return Poll::Ready(());
                }
                let waiter = Waiter {
                    write,
                    granted: false,
                };
                *key = Some(state.waiters.push_back(waiter, cx.waker()));
                Poll::Pending
            }
            Some(k) => {
                if !state.waiters.value(k).granted {
                    state.waiters.set_waker(k, cx.waker());
                    return Poll::Pending;
                }
                state.waiters.remove(k);
                *key = None;
                Poll::Ready(())
            }
        }
    }

    /// A waiting future is dropped.
    fn leave(&self, key: usize) {
        let wakers = {
            let mut state = self.state.borrow_mut();
            let waiter = state.waiters.remove(key);
            if waiter.granted {
                // Access handed to us and never used: release it.
                state.release(waiter.write)
            } else {
                // A writer leaving the front may let readers behind it in.
                state.grant()
            }
        };
        wakers.wake();
    }
}

struct Release<'a, T> {
    lock: &'a RwLock<T>,
    write: bool,
}

impl<T> Drop for Release<'_, T> {
    fn drop(&mut self) {
        self.lock.release(self.write);
    }
}

/// Shared access to a [`RwLock`]'s value.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockReadGuard<'a, T> {
    // The borrow ends before the lock is released (field order).
    value: Ref<'a, T>,
    #[allow(dead_code)]
    release: Release<'a, T>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

/// Exclusive access to a [`RwLock`]'s value.
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockWriteGuard<'a, T> {
    value: RefMut<'a, T>,
    #[allow(dead_code)]
    release: Release<'a, T>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}
