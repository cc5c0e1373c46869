//! `SharedFd`: an fd shared by its owner (a socket, a file) and the ops in
//! flight on it.
//!
//! Every op holds a clone until its final CQE, so the fd is closed only when
//! the owner is gone *and* the kernel has finished every op on it: the fd
//! number cannot be reused while a completion for the old file may still
//! arrive. The close itself goes through the ring (`IORING_OP_CLOSE`) when a
//! runtime is running on this thread, and is a plain `close` otherwise.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::driver::{Driver, Op, Wait, ring_being_built};
use crate::op::close::Close;
use crate::runtime::context;

#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    /// The fd, or the slot in the ring's file table for a direct descriptor.
    raw: RawFd,
    /// `None` once handed to an explicit close, and for direct descriptors.
    fd: RefCell<Option<OwnedFd>>,
    /// A direct descriptor: `raw` is a slot of the ring's registered file
    /// table, used with `IOSQE_FIXED_FILE`; it is no fd of the process.
    fixed: Cell<bool>,
    /// A slot of a ring's file table that holds this fd too
    /// (`Builder::register_streams`): ops that support it name the slot
    /// (`IOSQE_FIXED_FILE`) in SQEs for that ring, sparing the kernel a file
    /// lookup per op. Closed with the fd, when the owner and every op are
    /// done.
    ///
    /// Slots are their ring's own: an op for another ring (the stream used
    /// from another runtime on this thread, or after the registering one
    /// was dropped) names the fd. A direct descriptor records its ring
    /// here too (`registered` is then its slot), and has no fd to fall
    /// back on. `registered_in` is the registering
    /// driver's address (0: not registered), compared per op with the ring
    /// the SQE is built for; `registering_ring` keeps that address from
    /// being reused by another driver while the slot is recorded (a weak
    /// reference: a dropped runtime's driver is not kept alive).
    registered: Cell<u32>,
    registered_in: Cell<usize>,
    registering_ring: RefCell<Weak<Driver>>,
    /// The ring whose registration of this fd (`op::register_fd`) is still
    /// in flight; empty once its op is gone. That op holds a clone, which
    /// `try_into_owned` waits for (see `settle_registration`).
    registration_pending: RefCell<Weak<Driver>>,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                raw: fd.as_raw_fd(),
                fd: RefCell::new(Some(fd)),
                fixed: Cell::new(false),
                registered: Cell::new(0),
                registered_in: Cell::new(0),
                registering_ring: RefCell::new(Weak::new()),
                registration_pending: RefCell::new(Weak::new()),
            }),
        }
    }

    /// A direct descriptor: slot `slot` of `ring`'s file table. The slot is
    /// that ring's only: ops for another ring fail (`EBADF`) rather than
    /// name whatever that ring holds in the same slot, and the drop closes
    /// the slot in `ring`, not in the runtime that happens to run then.
    pub(crate) fn new_fixed(slot: u32, ring: &Rc<Driver>) -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                raw: RawFd::try_from(slot).unwrap_or(RawFd::MAX),
                fd: RefCell::new(None),
                fixed: Cell::new(true),
                registered: Cell::new(slot),
                registered_in: Cell::new(Rc::as_ptr(ring) as usize),
                registering_ring: RefCell::new(Rc::downgrade(ring)),
                registration_pending: RefCell::new(Weak::new()),
            }),
        }
    }

    /// Whether this is a direct descriptor (ops must set
    /// `IOSQE_FIXED_FILE`).
    pub(crate) fn is_fixed(&self) -> bool {
        self.inner.fixed.get()
    }

    /// The fd for syscalls (for a direct descriptor: its slot).
    pub(crate) fn raw(&self) -> RawFd {
        self.inner.raw
    }

    /// What an op that supports `IOSQE_FIXED_FILE` names in its SQE: the
    /// slot of the file table when the fd is registered there (or is a
    /// direct descriptor), else the fd. Goes with [`in_table`](Self::in_table).
    #[inline]
    pub(crate) fn ring_raw(&self) -> RawFd {
        match self.slot_here() {
            Some(slot) => RawFd::try_from(slot).unwrap_or(RawFd::MAX),
            // A direct descriptor used from another ring: no fd and no slot
            // there, so the kernel answers EBADF.
            None if self.inner.fixed.get() => -1,
            None => self.inner.raw,
        }
    }

    /// Whether [`ring_raw`](Self::ring_raw) is a slot of the ring's file
    /// table (the op's SQE must set `IOSQE_FIXED_FILE`).
    #[inline]
    pub(crate) fn in_table(&self) -> bool {
        self.slot_here().is_some()
    }

    /// The registered slot, if the SQE being built is for the ring that
    /// holds it.
    #[inline]
    fn slot_here(&self) -> Option<u32> {
        let ring = self.inner.registered_in.get();
        (ring != 0 && ring == ring_being_built()).then(|| self.inner.registered.get())
    }

    /// Records that the fd is also registered in slot `slot` of `ring`'s
    /// file table (see `op::register_fd`).
    pub(crate) fn set_registered(&self, slot: u32, ring: Weak<Driver>) {
        if !self.inner.fixed.get() {
            self.inner.registered.set(slot);
            self.inner.registered_in.set(ring.as_ptr() as usize);
            *self.inner.registering_ring.borrow_mut() = ring;
        }
    }

    /// A registration of the fd in `ring`'s file table is in flight (its op
    /// holds a clone of this `SharedFd` until [`registration_ended`]).
    ///
    /// [`registration_ended`]: Self::registration_ended
    pub(crate) fn registration_started(&self, ring: &Rc<Driver>) {
        *self.inner.registration_pending.borrow_mut() = Rc::downgrade(ring);
    }

    /// The registration's op is gone (its CQE came, or it never reached
    /// the kernel).
    pub(crate) fn registration_ended(&self) {
        *self.inner.registration_pending.borrow_mut() = Weak::new();
    }

    /// Turns the ring that registers the fd until its registration has
    /// completed, if that op is the only other holder of the fd.
    ///
    /// The registration is the runtime's own op, which the caller of
    /// `into_std` cannot wait for: `into_std` consumes the stream, so a
    /// `WouldBlock` because of it would close a connection that was just
    /// made (`from_std(s).into_std()`). Handing out the fd while the op may
    /// still name it is no option either: its SQE names the fd number,
    /// which the new owner may close and the process reuse before the ring
    /// is entered. So the ring is turned here — a few microseconds: the
    /// kernel completes the registration as it submits it — as the driver
    /// does at shutdown. Bounded: if it has not completed within a second,
    /// the caller reports `WouldBlock` as for any op in flight.
    fn settle_registration(&self) {
        let Some(ring) = self.inner.registration_pending.borrow().upgrade() else {
            return;
        };
        if Rc::strong_count(&self.inner) != 2 {
            // Other ops hold the fd too: the caller fails anyway.
            return;
        }
        let started = Instant::now();
        while self.inner.registration_pending.borrow().strong_count() > 0
            && started.elapsed() < Duration::from_secs(1)
        {
            // A failed enter (a broken ring) is tried again until the bound.
            let _ = ring.turn(Wait::Park(Some(Duration::from_millis(10))));
        }
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
        if inner.fixed.get() {
            return inner.close_fixed().await;
        }
        inner.release_slot(false);
        let fd = inner.fd.borrow_mut().take();
        match fd {
            Some(fd) => Op::new(Close::new(fd)).await,
            None => Ok(()),
        }
    }

    /// Gives up ownership without closing, if this is the only reference.
    pub(crate) fn try_into_owned(self) -> Result<OwnedFd, SharedFd> {
        self.settle_registration();
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => {
                // The fd leaves the runtime: its slot goes, at once.
                inner.release_slot(true);
                inner.fd.borrow_mut().take().ok_or_else(|| {
                    // Already handed to a close: nothing to give.
                    SharedFd::new_closed()
                })
            }
            Err(inner) => Err(SharedFd { inner }),
        }
    }

    fn new_closed() -> SharedFd {
        SharedFd {
            inner: Rc::new(Inner {
                raw: -1,
                fd: RefCell::new(None),
                fixed: Cell::new(false),
                registered: Cell::new(0),
                registered_in: Cell::new(0),
                registering_ring: RefCell::new(Weak::new()),
                registration_pending: RefCell::new(Weak::new()),
            }),
        }
    }
}

impl Inner {
    /// `close()` of a direct descriptor: its slot is closed in its own ring
    /// and nowhere else (the same slot number in another ring is another
    /// file), and once only: the drop that follows closes nothing more.
    async fn close_fixed(&self) -> io::Result<()> {
        let ring = self.registering_ring.take();
        self.registered_in.set(0);
        let here = context::driver();
        match ring.upgrade() {
            Some(ring) if here.is_some_and(|here| Rc::ptr_eq(&here, &ring)) => {
                Op::new(Close::fixed(self.raw)).await
            }
            Some(ring) => {
                let _ = ring.submit_detached(Close::fixed(self.raw));
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "ringloop: this direct descriptor belongs to another runtime; its slot is closed in that runtime's ring when it next runs",
                ))
            }
            // Its ring is gone, and its file table with it.
            None => Ok(()),
        }
    }

    /// Closes the file-table slot that also holds the fd, if any, on the
    /// ring that holds it. No op uses it any more: every op holds a clone
    /// of the `SharedFd`, and this runs once the last one is gone. A ring
    /// already dropped took its table with it.
    ///
    /// Through that ring (a detached close, batched with the next submit)
    /// only when it is the running one and the fd's own close follows
    /// through it too. Otherwise — the fd leaves the runtime (`leaving`:
    /// `into_std`), or is closed at once outside that ring's loop — the
    /// slot is closed now, by a synchronous update of the table: a close
    /// left queued in a ring that does not turn would keep the socket open
    /// (the peer sees no end of stream) until that runtime runs again.
    fn release_slot(&self, leaving: bool) {
        if self.fixed.get() || self.registered_in.replace(0) == 0 {
            return;
        }
        let slot = self.registered.get();
        if let Some(driver) = self.registering_ring.take().upgrade() {
            driver.stream_unregistered();
            let running = context::driver().is_some_and(|current| Rc::ptr_eq(&current, &driver));
            if running && !leaving {
                let _ = driver.submit_detached(Close::fixed(RawFd::try_from(slot).unwrap_or(-1)));
            } else {
                driver.close_slot_now(slot);
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.fixed.get() {
            // Closed in its own ring's table, whichever runtime runs now. A
            // ring already dropped took its table with it.
            if let Some(ring) = self.registering_ring.get_mut().upgrade() {
                let _ = ring.submit_detached(Close::fixed(self.raw));
            }
            return;
        }
        self.release_slot(false);
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
