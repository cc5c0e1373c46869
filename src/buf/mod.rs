//! Owned buffers: the kernel writes into and reads from memory that the
//! operation owns, so every I/O call takes its buffer by value and gives it
//! back with the result.
//!
//! ```
//! use ringloop::buf::IoBuf;
//! let buf = b"hello world".to_vec();
//! let hello = buf.slice(..5);
//! assert_eq!(&hello[..], b"hello");
//! let buf = hello.into_inner(); // the whole buffer again
//! assert_eq!(buf.len(), 11);
//! ```

mod fixed;
mod ring;
mod slice;

use std::ops::{Bound, RangeBounds};

pub use fixed::{FixedBuf, FixedBufRegistry};
pub(crate) use ring::Inner as BufRingInner;
pub use ring::{BufRing, BufRingBuilder, PooledBuf};
pub use slice::Slice;

/// A buffer the kernel may read from while an operation is in flight.
///
/// # Safety
///
/// Implementors promise that:
/// - [`stable_ptr`](IoBuf::stable_ptr) points to at least
///   [`bytes_total`](IoBuf::bytes_total) bytes of memory owned by the buffer,
///   of which the first [`bytes_init`](IoBuf::bytes_init) are initialized;
/// - the pointer and that memory stay valid and unchanged while the buffer is
///   neither moved nor accessed. ringloop moves a buffer to its final place
///   (inside the operation's heap state) before it takes the pointer and
///   neither moves nor touches it until the kernel has completed the
///   operation; heap buffers (`Vec`, `Box`) keep their pointer even when
///   moved.
pub unsafe trait IoBuf: Unpin + 'static {
    /// Pointer to the start of the buffer.
    fn stable_ptr(&self) -> *const u8;

    /// Number of initialized bytes (for a `Vec`, its `len`): what a write
    /// sends.
    fn bytes_init(&self) -> usize;

    /// Total capacity (for a `Vec`, its `capacity`): what a read may fill.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer, owning the buffer.
    ///
    /// The range is clamped to the buffer's capacity rather than panicking:
    /// `buf.slice(5..100)` on a 10-byte buffer is `5..10`, and an inverted
    /// range is empty.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let total = self.bytes_total();
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .min(total);
        let end = match range.end_bound() {
            Bound::Included(&n) => n.saturating_add(1),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => total,
        }
        .clamp(begin, total);
        Slice::new(self, begin, end)
    }
}

/// A buffer the kernel may write into while an operation is in flight.
///
/// # Safety
///
/// As for [`IoBuf`], and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) must
/// be the same pointer as `stable_ptr`, writable for `bytes_total` bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// Mutable pointer to the start of the buffer.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `pos` bytes are initialized (after the kernel
    /// wrote them). Never shrinks the initialized part.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must be initialized, and `pos <= bytes_total()`.
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a Vec's heap pointer does not change when the Vec moves; `len`
// bytes are initialized out of `capacity`.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; the pointer is writable for `capacity` bytes.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if self.len() < pos {
            // SAFETY: the caller guarantees `pos <= capacity` and that the
            // first `pos` bytes are initialized.
            unsafe { self.set_len(pos) };
        }
    }
}

// SAFETY: a boxed slice's heap pointer is stable; all of it is initialized.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as above, and writable.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: static memory never moves or goes away; it is read-only here.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `&'static [u8]`.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a String's heap pointer is stable. Only `IoBuf`: the kernel writing
// arbitrary bytes into a String could break its UTF-8 invariant.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: an array is inline, so its pointer changes when it moves; the
// trait's contract only asks for stability while the buffer is not moved,
// and ringloop takes the pointer after moving the buffer into the
// operation's heap state, where it stays until the CQE.
unsafe impl<const N: usize> IoBuf for [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
    fn bytes_total(&self) -> usize {
        N
    }
}

// SAFETY: as for the `IoBuf` impl of arrays; all N bytes are initialized.
unsafe impl<const N: usize> IoBufMut for [u8; N] {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}
