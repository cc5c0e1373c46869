//! `SharedFd`: an fd shared by its owner (a socket, a file) and the ops in
//! flight on it.
//!
//! Every op holds a clone until its final CQE, so the fd is closed only when
//! the owner is gone *and* the kernel has finished every op on it: the fd
//! number cannot be reused while a completion for the old file may still
//! arrive. The close itself goes through the ring (`IORING_OP_CLOSE`) when a
//! runtime is running on this thread, and is a plain `close` otherwise.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use crate::driver::Op;
use crate::op::close::Close;
use crate::runtime::context;

#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    raw: RawFd,
    /// `None` once handed to an explicit close.
    fd: RefCell<Option<OwnedFd>>,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                raw: fd.as_raw_fd(),
                fd: RefCell::new(Some(fd)),
            }),
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.raw
    }

    /// Closes the fd and reports the kernel's verdict. Waits for ops still
    /// holding it (a cancelled op whose CQE has not arrived yet).
    pub(crate) async fn close(self) -> io::Result<()> {
        let mut shared = self;
        let inner = loop {
            match Rc::try_unwrap(shared.inner) {
                Ok(inner) => break inner,
                Err(inner) => {
                    shared = SharedFd { inner };
                    crate::yield_now().await;
                }
            }
        };
        let fd = inner.fd.borrow_mut().take();
        match fd {
            Some(fd) => Op::submit(Close::new(fd)).await,
            None => Ok(()),
        }
    }

    /// Gives up ownership without closing, if this is the only reference.
    pub(crate) fn try_into_owned(self) -> Result<OwnedFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => inner.fd.borrow_mut().take().ok_or_else(|| {
                // Already handed to a close: nothing to give.
                SharedFd::new_closed()
            }),
            Err(inner) => Err(SharedFd { inner }),
        }
    }

    fn new_closed() -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                raw: -1,
                fd: RefCell::new(None),
            }),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(fd) = self.fd.get_mut().take() else {
            return;
        };
        let close = Close::new(fd);
        match context::driver() {
            Some(driver) => {
                // If the driver has shut down the op comes back and dropping
                // it closes the fd synchronously.
                let _ = driver.submit_detached(close);
            }
            None => drop(close),
        }
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFd").field(&self.inner.raw).finish()
    }
}
