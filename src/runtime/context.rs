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

pub(crate) fn no_runtime_error() -> io::Error {
    io::Error::other(
        "ringloop: no runtime is running on this thread; call this from inside ringloop::run or Runtime::block_on",
    )
}

/// Makes `handle` current until dropped; restores what was current before
/// (a runtime may block on another one's future from inside a task).
pub(crate) struct EnterGuard {
    previous: Option<Rc<Handle>>,
}

pub(crate) fn enter(handle: Rc<Handle>) -> EnterGuard {
    let previous = CURRENT.with(|current| current.borrow_mut().replace(handle));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
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
