//! io_uring helpers: a provided-buffer ring (`IORING_REGISTER_PBUF_RING`) for multishot
//! receives, used by the raw io_uring server and the load generator.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

/// `entries` buffers of `buf_size` bytes each, registered as buffer group
/// `bgid`. The kernel picks a buffer per completion; the owner hands it
/// back with [`BufRing::recycle`] and makes the returns visible with
/// [`BufRing::publish`] (once per event-loop iteration).
///
/// The memory is deliberately never unmapped: the ring may still be
/// registered with a live io_uring when this value goes away, and every
/// user of this type is a short-lived benchmark process.
#[derive(Debug)]
pub struct BufRing {
    ring: *mut BufRingEntry,
    bufs: *mut u8,
    mask: u16,
    tail: u16,
    buf_size: usize,
    bgid: u16,
}

fn mmap_anon(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping with no address hint.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}

impl BufRing {
    /// Maps and registers the ring and fills it with every buffer.
    /// `entries` must be a power of two no larger than 32768.
    pub fn new(
        submitter: &Submitter<'_>,
        entries: u16,
        buf_size: usize,
        bgid: u16,
    ) -> io::Result<Self> {
        assert!(entries.is_power_of_two() && entries <= 32768);
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        let ring = mmap_anon(ring_bytes)?.cast::<BufRingEntry>();
        let bufs = mmap_anon(entries as usize * buf_size)?;
        // SAFETY: `ring` is a page-aligned mapping of `entries` entries that
        // stays mapped for the life of the process (never unmapped).
        unsafe { submitter.register_buf_ring_with_flags(ring as u64, entries, bgid, 0)? };
        let mut br = BufRing {
            ring,
            bufs,
            mask: entries - 1,
            tail: 0,
            buf_size,
            bgid,
        };
        for bid in 0..entries {
            br.recycle(bid);
        }
        br.publish();
        Ok(br)
    }

    /// The buffer group id to pass to `RecvMulti`.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Pointer to buffer `bid`.
    #[inline]
    pub fn ptr(&self, bid: u16) -> *const u8 {
        debug_assert!(bid <= self.mask);
        // SAFETY: bid < entries, so the offset is inside the buffer mapping.
        unsafe { self.bufs.add(bid as usize * self.buf_size) }
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    ///
    /// The kernel must have completed a receive into `bid` of at least `len`
    /// bytes, and `bid` must not have been recycled since.
    #[inline]
    pub unsafe fn data(&self, bid: u16, len: usize) -> &[u8] {
        debug_assert!(len <= self.buf_size);
        // SAFETY: per the contract, the kernel does not write `bid` until it
        // is recycled, and `len` bytes of it are initialized.
        unsafe { std::slice::from_raw_parts(self.ptr(bid), len) }
    }

    /// Gives buffer `bid` back (visible to the kernel after `publish`).
    #[inline]
    pub fn recycle(&mut self, bid: u16) {
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: idx <= mask is inside the ring mapping; the kernel only
        // reads entries between its head and the published tail, and this
        // slot is past the published tail.
        let entry = unsafe { &mut *self.ring.add(idx) };
        entry.set_addr(self.ptr(bid) as u64);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes every recycled buffer to the kernel.
    #[inline]
    pub fn publish(&self) {
        // SAFETY: `tail` points at the ring's tail field inside the mapping;
        // the kernel reads it with acquire ordering, and we are the only
        // writer.
        unsafe {
            let tail = BufRingEntry::tail(self.ring) as *mut u16;
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }
}

/// Pushes `entry`, submitting to make room when the queue is full.
///
/// # Safety
///
/// Every buffer and file the entry refers to must stay valid until its
/// completion is reaped.
pub unsafe fn push_sqe(
    sq: &mut io_uring::SubmissionQueue<'_>,
    submitter: &Submitter<'_>,
    entry: &io_uring::squeue::Entry,
) -> io::Result<()> {
    loop {
        // SAFETY: forwarded to the caller.
        if unsafe { sq.push(entry) }.is_ok() {
            return Ok(());
        }
        sq.sync();
        submitter.submit()?;
        sq.sync();
    }
}
