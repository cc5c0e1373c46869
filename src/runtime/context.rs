//! The runtime running on this thread, for the free functions (`spawn`,
//! `sleep`, every I/O call) that do not take a handle.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use super::Handle;
use crate::driver::Driver;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Handle>>> = const { RefCell::new(None) };
}

/// Runs `f` with the current runtime, if there is one.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Handle>) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| current.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

pub(crate) fn handle() -> Option<Rc<Handle>> {
    with_current(Rc::clone)
}

#[inline]
pub(crate) fn driver() -> Option<Rc<Driver>> {
    with_current(|handle| handle.driver.clone())
}

/// The error of an object whose I/O is in flight in another runtime's ring
/// (on this thread), polled while that runtime does not run: it would
/// wait for a loop that may never turn again. `what` says what it is.
pub(crate) fn other_runtime_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "ringloop: {what} was started in another runtime, which is not running now; await it in the runtime that started it"
        ),
    )
}

pub(crate) fn no_runtime_error() -> io::Error {
    io::Error::other(
        "ringloop: no runtime is running on this thread; call this from inside ringloop::run or Runtime::block_on",
    )
}

/// Makes `handle` current until dropped; restores what was current before
/// (a runtime may block on another one's future from inside a task).
pub(crate) struct EnterGuard {
    previous: Option<Rc<Handle>>,
    /// The entered runtime's driver, told when it is left.
    entered: Rc<Driver>,
}

pub(crate) fn enter(handle: Rc<Handle>) -> EnterGuard {
    let entered = handle.driver.clone();
    let previous = CURRENT.with(|current| current.borrow_mut().replace(handle));
    // The runtime that was current (a nested `block_on` from inside one of
    // its tasks) is suspended until this one is left: its ring does not
    // turn meanwhile, so its ops polled in here must count as polled
    // elsewhere (`Driver::polled_elsewhere`), else they wait for it and
    // it waits for them: a deadlock.
    if let Some(previous) = &previous {
        previous.driver.left();
    }
    entered.entered();
    EnterGuard { previous, entered }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        self.entered.left();
        if let Some(previous) = &self.previous {
            previous.driver.entered();
        }
        let previous = self.previous.take();
        // Drop the replaced handle outside the borrow: it may be the last
        // reference, and dropping a runtime handle runs arbitrary drops.
        let replaced = CURRENT
            .try_with(|current| std::mem::replace(&mut *current.borrow_mut(), previous))
            .ok()
            .flatten();
        drop(replaced);
    }
}
