//! Provided buffer rings (`IORING_REGISTER_PBUF_RING`, Linux 5.19): a pool
//! of buffers the kernel picks from when data arrives, instead of one
//! buffer per pending read. A thousand idle connections then cost no buffer
//! memory at all; a buffer is taken only for data that actually came.
//!
//! With incremental consumption (`IOU_PBUF_RING_INC`, Linux 6.12) one
//! buffer takes many receives, each at the next offset: small messages no
//! longer use up a whole buffer each. A buffer goes back to the ring when
//! the kernel is done with it (a CQE without `IORING_CQE_F_BUF_MORE`) and
//! every [`PooledBuf`] viewing part of it has been dropped. Offsets are
//! tracked in the order CQEs are reaped — the order in which the kernel
//! consumed the buffer, whichever socket it received for.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Waker;

use io_uring::types::BufRingEntry;

use super::IoBuf;
use crate::driver::Driver;
use crate::runtime::context;

/// A pool of equal-sized buffers registered with the ring as one buffer
/// group, for multishot receives
/// ([`TcpStream::recv_multishot`](crate::net::TcpStream::recv_multishot)).
///
/// Each received buffer comes back as a [`PooledBuf`]; dropping it returns
/// the buffer to the ring. Clone the `BufRing` (cheap) to share the pool
/// between connections.
///
/// ```
/// use ringloop::buf::BufRing;
/// ringloop::run(async {
///     let pool = BufRing::builder().entries(64).buf_len(4096).build()?;
///     assert_eq!(pool.buf_len(), 4096);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct BufRing {
    inner: Rc<Inner>,
}

pub(crate) struct Inner {
    driver: Rc<Driver>,
    bgid: u16,
    /// The ring the kernel reads buffer addresses from (page-aligned).
    ring: NonNull<BufRingEntry>,
    ring_layout: std::alloc::Layout,
    entries: u16,
    /// The buffers, one allocation: buffer `bid` is at `bid * buf_len`.
    /// Written only by the kernel, and only into buffers it picked from
    /// the ring; read by `PooledBuf` only after the kernel handed it over.
    memory: NonNull<u8>,
    memory_layout: std::alloc::Layout,
    buf_len: u32,
    /// Our copy of the ring tail (the kernel owns the head).
    tail: Cell<u16>,
    /// Registered with `IOU_PBUF_RING_INC`.
    incremental: bool,
    /// Per buffer id: how far the kernel has filled it, how many views of
    /// it exist (pending items included), and whether the kernel is done.
    usage: RefCell<Vec<Usage>>,
    /// Buffers currently in the ring (available to the kernel).
    available: Cell<u32>,
    /// Streams that stopped on ENOBUFS, woken when a buffer comes back.
    waiters: RefCell<Vec<Waker>>,
}

#[derive(Clone, Copy, Default)]
struct Usage {
    /// Bytes the kernel has written into the buffer so far.
    filled: u32,
    /// Views of the buffer: items not yet dropped (or not yet taken).
    views: u32,
    /// The kernel will put nothing more into it until it is pushed again.
    kernel_done: bool,
}

/// Builds a [`BufRing`].
#[derive(Clone, Debug)]
pub struct BufRingBuilder {
    entries: u16,
    buf_len: u32,
    incremental: bool,
}

impl BufRing {
    /// Defaults: 256 buffers of 4 KiB, incremental consumption where the
    /// kernel supports it.
    pub fn builder() -> BufRingBuilder {
        BufRingBuilder {
            entries: 256,
            buf_len: 4096,
            incremental: true,
        }
    }

    /// Whether the ring consumes buffers incrementally (Linux 6.12+).
    pub fn is_incremental(&self) -> bool {
        self.inner.incremental
    }

    /// Size of each buffer.
    pub fn buf_len(&self) -> usize {
        self.inner.buf_len as usize
    }

    /// Number of buffers.
    pub fn entries(&self) -> usize {
        usize::from(self.inner.entries)
    }

    /// Buffers available to the kernel now.
    pub fn available(&self) -> usize {
        self.inner.available.get() as usize
    }

    pub(crate) fn inner(&self) -> &Rc<Inner> {
        &self.inner
    }
}

impl BufRingBuilder {
    /// Number of buffers: a power of two from 1 to 32,768.
    pub fn entries(&mut self, entries: u16) -> &mut Self {
        self.entries = entries;
        self
    }

    /// Size of each buffer, 1 byte to 1 GiB; in practice a few KiB, or
    /// more with incremental consumption.
    pub fn buf_len(&mut self, len: u32) -> &mut Self {
        self.buf_len = len;
        self
    }

    /// Let one buffer take many receives (`IOU_PBUF_RING_INC`, Linux 6.12;
    /// default on; ignored where the kernel lacks it).
    pub fn incremental(&mut self, on: bool) -> &mut Self {
        self.incremental = on;
        self
    }

    /// Allocates the pool and registers it with the current runtime's ring.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a count that is not a power of two up to 32,768
    /// or a zero length; an error outside a runtime; the kernel's error if
    /// buffer rings are unsupported (Linux < 5.19).
    pub fn build(&self) -> io::Result<BufRing> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        let entries = self.entries;
        if entries == 0 || !entries.is_power_of_two() || entries > 32_768 {
            return Err(invalid(format!(
                "BufRing entries must be a power of two from 1 to 32768, not {entries}"
            )));
        }
        if self.buf_len == 0 || self.buf_len > (1 << 30) {
            return Err(invalid(format!(
                "BufRing buffer length must be 1 byte to 1 GiB, not {}",
                self.buf_len
            )));
        }
        let driver = context::driver().ok_or_else(context::no_runtime_error)?;
        let ring_layout = std::alloc::Layout::from_size_align(
            usize::from(entries) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(|e| invalid(e.to_string()))?;
        let total = usize::from(entries)
            .checked_mul(self.buf_len as usize)
            .ok_or_else(|| invalid("BufRing too large".to_owned()))?;
        let memory_layout =
            std::alloc::Layout::from_size_align(total, 64).map_err(|e| invalid(e.to_string()))?;
        // SAFETY: both layouts have a non-zero size (checked above).
        let (ring, memory) = unsafe {
            (
                std::alloc::alloc_zeroed(ring_layout).cast::<BufRingEntry>(),
                std::alloc::alloc(memory_layout),
            )
        };
        let (Some(ring), Some(memory)) = (NonNull::new(ring), NonNull::new(memory)) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let register = |flags| {
            // SAFETY: `ring` is a page-aligned allocation of `entries`
            // entries, freed only after the group is unregistered
            // (`Inner::drop`).
            unsafe { driver.register_buf_ring(ring.as_ptr() as u64, entries, flags) }
        };
        let mut incremental = self.incremental;
        let mut registered = if incremental {
            register(INCREMENTAL)
        } else {
            register(0)
        };
        if incremental
            && registered
                .as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(libc::EINVAL))
        {
            // A kernel without incremental consumption.
            incremental = false;
            registered = register(0);
        }
        let bgid = match registered {
            Ok(bgid) => bgid,
            Err(err) => {
                // SAFETY: allocated above with these layouts, never shared.
                unsafe {
                    std::alloc::dealloc(ring.as_ptr().cast(), ring_layout);
                    std::alloc::dealloc(memory.as_ptr(), memory_layout);
                }
                return Err(err);
            }
        };
        let inner = Inner {
            driver,
            bgid,
            ring,
            ring_layout,
            entries,
            memory,
            memory_layout,
            buf_len: self.buf_len,
            tail: Cell::new(0),
            incremental,
            usage: RefCell::new(vec![Usage::default(); usize::from(entries)]),
            available: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        };
        for bid in 0..entries {
            inner.push(bid);
        }
        Ok(BufRing {
            inner: Rc::new(inner),
        })
    }
}

/// `IOU_PBUF_RING_INC`.
const INCREMENTAL: u16 = 2;

impl Inner {
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // In bounds: bid < entries, and the allocation is entries * buf_len.
        self.memory
            .as_ptr()
            .wrapping_add(usize::from(bid) * self.buf_len as usize)
    }

    /// Hands buffer `bid` (back) to the kernel.
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let index = usize::from(tail & (self.entries - 1));
        // SAFETY: `index < entries`, inside the ring allocation. The kernel
        // reads entries only between its head and the published tail, and
        // this slot is past the tail until the store below publishes it.
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        entry.set_addr(self.buf_ptr(bid) as u64);
        entry.set_len(self.buf_len);
        entry.set_bid(bid);
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail field lives in the first entry of the ring, which
        // is valid for the life of `self`; the kernel reads it atomically.
        let shared_tail = unsafe { &*BufRingEntry::tail(self.ring.as_ptr()).cast::<AtomicU16>() };
        // Release: the entry is written before the kernel sees the tail.
        shared_tail.store(tail, Ordering::Release);
        self.available.set(self.available.get() + 1);
    }

    /// A CQE says the kernel put `len` bytes into buffer `bid` (in reap
    /// order, i.e. the kernel's order). Returns where they start in it. The
    /// data now has a view that [`take`](Self::take) or
    /// [`discard`](Self::discard) must end.
    #[inline]
    pub(crate) fn filled(&self, bid: u16, len: u32, more: bool) -> u32 {
        let mut usage = self.usage.borrow_mut();
        let Some(u) = usage.get_mut(usize::from(bid)) else {
            return 0;
        };
        let start = if self.incremental { u.filled } else { 0 };
        u.filled = start.saturating_add(len);
        u.views += 1;
        if !(self.incremental && more) {
            // Out of the ring until we push it again.
            u.kernel_done = true;
            self.available.set(self.available.get().saturating_sub(1));
        }
        start
    }

    /// The data of a CQE, as a buffer view for the user.
    #[inline]
    pub(crate) fn take(self: &Rc<Self>, bid: u16, start: u32, len: usize) -> PooledBuf {
        let start = start.min(self.buf_len);
        PooledBuf {
            ring: self.clone(),
            bid,
            start,
            len: len.min((self.buf_len - start) as usize),
        }
    }

    /// The data of a CQE nobody will read (its stream was dropped).
    pub(crate) fn discard(&self, bid: u16) {
        self.release(bid);
    }

    /// A view of buffer `bid` ended; when it was the last and the kernel is
    /// done with the buffer, it goes back into the ring.
    #[inline]
    fn release(&self, bid: u16) {
        let recycle = {
            let mut usage = self.usage.borrow_mut();
            let Some(u) = usage.get_mut(usize::from(bid)) else {
                return;
            };
            u.views = u.views.saturating_sub(1);
            if u.views == 0 && u.kernel_done {
                *u = Usage::default();
                true
            } else {
                false
            }
        };
        if recycle {
            self.push(bid);
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// Waits (registers `waker`) until a buffer is back; `true` if one
    /// already is.
    pub(crate) fn has_buffers_or_wait(&self, waker: &Waker) -> bool {
        if self.available.get() > 0 {
            return true;
        }
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        false
    }

    /// Fails unless this ring was registered with `driver`'s ring. Its
    /// group id means nothing in another ring (or names another pool
    /// there, whose buffer ids would be read out of this one's memory):
    /// a receive from another runtime must not use it.
    pub(crate) fn check_driver(&self, driver: &Rc<Driver>) -> io::Result<()> {
        if Rc::ptr_eq(&self.driver, driver) {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ringloop: this BufRing was built in another runtime; build one in the runtime that receives into it",
        ))
    }

    pub(crate) fn note_enobufs(&self) {
        crate::driver::bump(&self.driver.stats().enobufs);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last user gone: no op of this group is in flight and no buffer is
        // lent out. After unregistering, the kernel never touches the memory.
        self.driver.unregister_buf_ring(self.bgid);
        // SAFETY: allocated in `build` with these layouts; the group is
        // unregistered (or the ring is gone), so nothing else uses them.
        unsafe {
            std::alloc::dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            std::alloc::dealloc(self.memory.as_ptr(), self.memory_layout);
        }
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("bgid", &self.inner.bgid)
            .field("entries", &self.inner.entries)
            .field("buf_len", &self.inner.buf_len)
            .field("available", &self.inner.available.get())
            .field("incremental", &self.inner.incremental)
            .finish()
    }
}

/// A buffer from a [`BufRing`] holding received data. Dropping it gives
/// the buffer back to the ring. It is an [`IoBuf`], so it can be written
/// out as is (an echo without a copy).
pub struct PooledBuf {
    ring: Rc<Inner>,
    bid: u16,
    /// Where the data starts in the buffer (non-zero with incremental
    /// consumption).
    start: u32,
    len: usize,
}

impl PooledBuf {
    /// The buffer id within its ring.
    pub fn bid(&self) -> u16 {
        self.bid
    }

    fn data_ptr(&self) -> *const u8 {
        // In bounds: start + len <= buf_len (see `Inner::take`).
        self.ring
            .buf_ptr(self.bid)
            .wrapping_add(self.start as usize)
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // The kernel wrote these `len` bytes at `start` in the buffer and
        // reported them in a CQE. It never writes them again while this view
        // exists: with incremental consumption it only writes past them, and
        // the buffer goes back into the ring only after the last view drops.
        // SAFETY: so the bytes are initialized and not mutated while borrowed.
        unsafe { std::slice::from_raw_parts(self.data_ptr(), self.len) }
    }
}

// SAFETY: the pointer is into the ring's single allocation, which lives as
// long as the `Rc` this buffer holds, and does not move when the PooledBuf
// moves; `len` bytes are initialized (the kernel wrote them).
unsafe impl IoBuf for PooledBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}

impl Drop for PooledBuf {
    #[inline]
    fn drop(&mut self) {
        self.ring.release(self.bid);
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("bid", &self.bid)
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}
