//! The I/O every stream socket shares (TCP and Unix streams, their split
//! halves): written once here, exposed by the public types.

use std::io;
use std::net::Shutdown as How;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::buf::{FixedBuf, IoBuf, IoBufMut};
use crate::driver::Op;
use crate::io::SharedFd;
use crate::op::fixed::{ReadFixed, WriteFixed};
use crate::op::read::{CURRENT_POSITION, Readv};
use crate::op::recv::Recv;
use crate::op::send::Send;
use crate::op::send_zc::SendZc;
use crate::op::shutdown::Shutdown;
use crate::op::write::Writev;
use crate::runtime::context;

#[derive(Clone, Debug)]
pub(crate) struct Socket {
    pub(crate) fd: SharedFd,
}

impl Socket {
    pub(crate) fn new(fd: OwnedFd) -> Socket {
        Socket {
            fd: SharedFd::new(fd),
        }
    }

    /// A connected stream socket: also registered in the ring's file table
    /// when the runtime asks for it (`Builder::register_streams`).
    pub(crate) fn stream(fd: OwnedFd) -> Socket {
        let socket = Socket::new(fd);
        socket.register();
        socket
    }

    /// Registers the fd in the ring's file table if the runtime asks for it
    /// (`Builder::register_streams`); nothing waits for it.
    pub(crate) fn register(&self) {
        if let Some(driver) = context::driver() {
            driver.register_stream(&self.fd);
        }
    }

    pub(crate) fn borrow_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `SharedFd` keeps the fd open for as long as `self` lives,
        // which bounds the borrow.
        unsafe { BorrowedFd::borrow_raw(self.fd.raw()) }
    }

    pub(crate) async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        // Like read(2) with a zero length: nothing to wait for. (The kernel
        // would arm a poll and wait for data it cannot deliver.)
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        Op::new(Recv::new(self.fd.clone(), buf)).await
    }

    /// The op future itself, not an `async fn` around it: the hot path
    /// (one write per echoed message) polls one future less, and moves a
    /// smaller one.
    pub(crate) fn write<B: IoBuf>(&self, buf: B) -> Op<Send<B>> {
        Op::new(Send::new(self.fd.clone(), buf))
    }

    pub(crate) async fn read_timeout<B: IoBufMut>(
        &self,
        buf: B,
        timeout: std::time::Duration,
    ) -> (io::Result<usize>, B) {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        Op::with_timeout(Recv::new(self.fd.clone(), buf), timeout).await
    }

    pub(crate) async fn write_timeout<B: IoBuf>(
        &self,
        buf: B,
        timeout: std::time::Duration,
    ) -> (io::Result<usize>, B) {
        Op::with_timeout(Send::new(self.fd.clone(), buf), timeout).await
    }

    pub(crate) async fn write_zc<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(SendZc::new(self.fd.clone(), buf)).await
    }

    pub(crate) async fn read_fixed(&self, buf: FixedBuf) -> (io::Result<usize>, FixedBuf) {
        Op::new(ReadFixed::new(self.fd.clone(), buf, CURRENT_POSITION)).await
    }

    pub(crate) async fn write_fixed(&self, buf: FixedBuf) -> (io::Result<usize>, FixedBuf) {
        Op::new(WriteFixed::new(self.fd.clone(), buf, CURRENT_POSITION)).await
    }

    pub(crate) async fn recv_datagram<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Recv::datagram(self.fd.clone(), buf)).await
    }

    pub(crate) async fn send_datagram<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        Op::new(Send::datagram(self.fd.clone(), buf)).await
    }

    pub(crate) async fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        Op::new(Readv::new(self.fd.clone(), bufs, CURRENT_POSITION)).await
    }

    pub(crate) async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (io::Result<usize>, Vec<B>) {
        Op::new(Writev::socket(self.fd.clone(), bufs)).await
    }

    pub(crate) async fn shutdown(&self, how: How) -> io::Result<()> {
        Op::new(Shutdown::new(self.fd.clone(), how)).await
    }

    /// Shuts the write side down without waiting (a dropped write half).
    pub(crate) fn shutdown_write_detached(&self) {
        if let Some(driver) = context::driver() {
            let _ = driver.submit_detached(Shutdown::new(self.fd.clone(), How::Write));
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        crate::sys::socket::take_error(self.borrow_fd())
    }
}
