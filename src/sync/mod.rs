//! Synchronization for the tasks of one runtime, after asyncio's: [`Mutex`],
//! [`RwLock`], [`Semaphore`], [`Event`], [`Notify`], [`Condition`],
//! [`Barrier`], and channels ([`mpsc`], [`oneshot`]).
//!
//! A runtime is one thread, so these are local: built on `Rc` and
//! `RefCell`, not atomics, and not `Send`. Share them between tasks with an
//! `Rc`. (Their futures work under any executor on one thread; they do not
//! need a running ringloop runtime.)
//!
//! Every primitive has the same two guarantees:
//!
//! - **FIFO fairness**: waiters are served in the order they started
//!   waiting.
//! - **Cancellation without loss**: a waiting future that is dropped (its
//!   task cancelled, a [`timeout`](crate::time::timeout) elapsed, a
//!   [`race`](crate::task::race) lost) gives up its place, and whatever had
//!   already been handed to it — a lock, permits, a notification, a slot or
//!   a message in a channel — goes back or on to the next waiter. Nothing
//!   is lost, nothing is duplicated.
//!
//! ```
//! use std::rc::Rc;
//! use std::time::Duration;
//! use ringloop::sync::Semaphore;
//! use ringloop::time::timeout;
//!
//! ringloop::run(async {
//!     let sem = Rc::new(Semaphore::new(1));
//!     let held = sem.acquire().await.unwrap();
//!     // Gives up after 1 ms: the waiter leaves the queue.
//!     assert!(timeout(Duration::from_millis(1), sem.acquire()).await.is_err());
//!     drop(held);
//!     assert_eq!(sem.available_permits(), 1);
//! });
//! ```

mod barrier;
mod condition;
mod event;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use mutex::{Lock, Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use rwlock::{ReadLock, RwLock, RwLockReadGuard, RwLockWriteGuard, WriteLock};
pub use semaphore::{
    Acquire, AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
