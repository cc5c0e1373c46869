//! `Slice<B>`: a range of an owned buffer.

use std::ops::{Deref, DerefMut};

use super::{IoBuf, IoBufMut};

/// A range `begin..end` of an owned buffer, made by [`IoBuf::slice`]. I/O on
/// a slice reads into or writes from that range only; `into_inner` gives the
/// whole buffer back.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    pub(crate) fn new(buf: B, begin: usize, end: usize) -> Slice<B> {
        Slice { buf, begin, end }
    }

    /// Start of the range in the underlying buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// End of the range (exclusive) in the underlying buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The underlying buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// The underlying buffer, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.buf
    }

    /// Gives the whole buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

impl<B: IoBuf> Slice<B> {
    /// The end of the range within what the buffer holds *now*: `slice`
    /// clamped `end` to the capacity at the time, but `get_mut` lets safe
    /// code shrink the buffer afterwards (`Vec::shrink_to_fit`), and a
    /// stale `end` would have the kernel fill memory the buffer gave back.
    fn live_end(&self) -> usize {
        self.end.min(self.buf.bytes_total())
    }
}

// SAFETY: the range is clamped, on every call, to the underlying buffer's
// current capacity (`live_end`), so the offset pointer and lengths describe
// memory the underlying buffer owns, with the same stability. A `begin`
// past the capacity gives a length of 0 (the pointer is then never used).
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf
            .bytes_init()
            .min(self.live_end())
            .saturating_sub(self.begin)
    }
    fn bytes_total(&self) -> usize {
        self.live_end().saturating_sub(self.begin)
    }
}

// SAFETY: as for `IoBuf`; writable because the underlying buffer is.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if pos == 0 {
            return;
        }
        // `pos <= bytes_total()` (the caller's promise) and `pos > 0`, so
        // `begin + pos` lies within the buffer's current capacity.
        let init = self.buf.bytes_init();
        if init < self.begin {
            // The slice starts past the initialized part: the gap was never
            // written. Zero it, or marking `begin + pos` initialized would
            // expose uninitialized memory.
            // SAFETY: `init..begin` lies within the buffer's capacity
            // (`begin < begin + pos <= live_end() <= capacity`, see above)
            // and we have unique access.
            unsafe {
                std::ptr::write_bytes(self.buf.stable_mut_ptr().add(init), 0, self.begin - init);
            }
        }
        // SAFETY: `0..begin` is initialized (it was, or was just zeroed) and
        // the caller initialized `pos` bytes from `begin`.
        unsafe { self.buf.set_init(self.begin + pos) };
    }
}

impl<B: IoBuf + AsRef<[u8]>> Deref for Slice<B> {
    type Target = [u8];

    /// The initialized part of the range.
    fn deref(&self) -> &[u8] {
        let bytes = self.buf.as_ref();
        let end = self.end.min(bytes.len());
        &bytes[self.begin.min(end)..end]
    }
}

impl<B: IoBuf + AsRef<[u8]> + AsMut<[u8]>> DerefMut for Slice<B> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let bytes = self.buf.as_mut();
        let end = self.end.min(bytes.len());
        &mut bytes[self.begin.min(end)..end]
    }
}
