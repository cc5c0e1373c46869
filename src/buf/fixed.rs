//! Registered (fixed) buffers (`IORING_REGISTER_BUFFERS`): memory the kernel
//! has pinned and mapped once, so `read_fixed`/`write_fixed` skip the
//! per-operation page pinning.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use super::{IoBuf, IoBufMut};
use crate::driver::Driver;
use crate::runtime::context;

/// A set of buffers registered with the current runtime's ring. Check a
/// buffer out, use it with `read_fixed`/`write_fixed`
/// ([`File::read_fixed_at`](crate::fs::File::read_fixed_at),
/// [`TcpStream::write_fixed`](crate::net::TcpStream::write_fixed), ...);
/// dropping the [`FixedBuf`] checks it back in. A ring has one set at a
/// time; it is unregistered when the registry and every checked-out buffer
/// are gone.
///
/// ```
/// use ringloop::buf::FixedBufRegistry;
/// ringloop::run(async {
///     let registry = FixedBufRegistry::register((0..4).map(|_| Vec::with_capacity(4096)))?;
///     let mut buf = registry.check_out(0).expect("buffer 0 is free");
///     buf.put_slice(b"hello");
///     assert_eq!(&buf[..], b"hello");
///     assert!(registry.check_out(0).is_none(), "already checked out");
///     drop(buf);
///     assert!(registry.check_out(0).is_some());
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct FixedBufRegistry {
    inner: Rc<Registry>,
}

struct Registry {
    driver: Rc<Driver>,
    /// `Some` while checked in. The heap memory of each Vec is what was
    /// registered; a Vec is never grown (which could move it).
    slots: RefCell<Vec<Option<Vec<u8>>>>,
}

impl FixedBufRegistry {
    /// Registers `buffers` (each `Vec`'s capacity is the buffer) with the
    /// current runtime's ring.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for no buffers, more than 16,384, or a zero-capacity
    /// one; `EBUSY` if the ring already has registered buffers; `ENOMEM`
    /// when over the locked-memory limit; an error outside a runtime.
    pub fn register(buffers: impl IntoIterator<Item = Vec<u8>>) -> io::Result<FixedBufRegistry> {
        let buffers: Vec<Vec<u8>> = buffers.into_iter().collect();
        let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned());
        if buffers.is_empty() || buffers.len() > 16_384 {
            return Err(invalid("register 1 to 16384 fixed buffers"));
        }
        if buffers.iter().any(|b| b.capacity() == 0) {
            return Err(invalid(
                "a fixed buffer needs a non-zero capacity (Vec::with_capacity)",
            ));
        }
        let driver = context::driver().ok_or_else(context::no_runtime_error)?;
        let mut buffers = buffers;
        let iovecs: Vec<libc::iovec> = buffers
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.capacity(),
            })
            .collect();
        // SAFETY: the Vecs' heap memory is owned by the registry from here on,
        // never grown, and freed only after `unregister_buffers`.
        unsafe { driver.register_buffers(&iovecs) }.map_err(|err| {
            if err.raw_os_error() == Some(libc::EBUSY) {
                io::Error::new(
                    err.kind(),
                    "this runtime already has registered buffers; drop that FixedBufRegistry first",
                )
            } else {
                err
            }
        })?;
        Ok(FixedBufRegistry {
            inner: Rc::new(Registry {
                driver,
                slots: RefCell::new(buffers.into_iter().map(Some).collect()),
            }),
        })
    }

    /// Takes buffer `index` out, if it is checked in.
    pub fn check_out(&self, index: usize) -> Option<FixedBuf> {
        let index16 = u16::try_from(index).ok()?;
        let buf = self.inner.slots.borrow_mut().get_mut(index)?.take()?;
        Some(FixedBuf {
            registry: self.inner.clone(),
            index: index16,
            buf,
        })
    }

    /// Takes any checked-in buffer.
    pub fn check_out_any(&self) -> Option<FixedBuf> {
        let index = self.inner.slots.borrow().iter().position(Option::is_some)?;
        self.check_out(index)
    }

    /// Number of registered buffers.
    pub fn len(&self) -> usize {
        self.inner.slots.borrow().len()
    }

    /// Whether there are no buffers (never true: registration needs one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Every FixedBuf (and every op using one) is gone: unregister, then
        // the Vecs are freed with `slots`.
        self.driver.unregister_buffers();
    }
}

impl fmt::Debug for FixedBufRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.inner.slots.borrow();
        f.debug_struct("FixedBufRegistry")
            .field("buffers", &slots.len())
            .field("checked_in", &slots.iter().filter(|s| s.is_some()).count())
            .finish()
    }
}

/// A registered buffer, checked out of a [`FixedBufRegistry`]. Its length
/// is the initialized part (what a write sends); its capacity is fixed.
pub struct FixedBuf {
    registry: Rc<Registry>,
    index: u16,
    buf: Vec<u8>,
}

impl FixedBuf {
    /// The buffer's index in the registry (the kernel's `buf_index`).
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Copies as much of `data` as fits, replacing the content; returns the
    /// count copied.
    pub fn put_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.buf.capacity());
        self.buf.clear();
        // Never grows: n <= capacity, so the registered memory stays put.
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// Empties the buffer (keeps its capacity).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

impl Deref for FixedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

// SAFETY: the Vec's heap pointer is stable (it is never grown) and `len`
// of its `capacity` bytes are initialized.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.buf.len()
    }
    fn bytes_total(&self) -> usize {
        self.buf.capacity()
    }
}

// SAFETY: as above, writable.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: forwarded: `pos` bytes are initialized, pos <= capacity.
        unsafe { self.buf.set_init(pos) };
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if let Some(slot) = self
            .registry
            .slots
            .borrow_mut()
            .get_mut(usize::from(self.index))
        {
            *slot = Some(buf);
        }
    }
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.buf.len())
            .field("capacity", &self.buf.capacity())
            .finish()
    }
}
