//! Multishot `IORING_OP_RECV` with provided buffers (Linux 6.0): one SQE
//! receives again and again, each time into a buffer the kernel picks from
//! a [`BufRing`](crate::buf::BufRing).

use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{MultishotOperation, Operation};
use crate::buf::{BufRingInner, PooledBuf};
use crate::driver::Completion;
use crate::io::SharedFd;

pub(crate) struct RecvMulti {
    fd: SharedFd,
    /// Keeps the ring (and its memory) alive while the kernel may pick
    /// buffers from it for this op.
    ring: Rc<BufRingInner>,
}

impl RecvMulti {
    pub(crate) fn new(fd: SharedFd, ring: Rc<BufRingInner>) -> RecvMulti {
        RecvMulti { fd, ring }
    }
}

/// One completion of a multishot receive.
pub(crate) enum RecvItem {
    Data(PooledBuf),
    Eof,
    Error(io::Error),
}

impl Operation for RecvMulti {
    /// Items come through [`MultishotOperation::item`].
    type Output = ();

    const MULTISHOT: bool = true;

    fn fixed_file(&self) -> bool {
        self.fd.is_fixed()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.raw()), self.ring.bgid()).build()
    }

    fn complete(self, _result: io::Result<u32>, _flags: u32) {}

    /// Data that arrived after the stream was dropped: its buffer goes
    /// straight back to the ring (the data is discarded with the stream).
    fn dispose(&mut self, completion: Completion) {
        if let Some(bid) = io_uring::cqueue::buffer_select(completion.flags) {
            self.ring.give_back(bid);
        }
    }

    /// The kernel took a buffer out of the ring for this CQE.
    fn observe(&mut self, completion: Completion) {
        if io_uring::cqueue::buffer_select(completion.flags).is_some() {
            self.ring.taken_by_kernel();
        }
    }
}

impl MultishotOperation for RecvMulti {
    type Item = RecvItem;

    fn item(&mut self, completion: Completion) -> RecvItem {
        let bid = io_uring::cqueue::buffer_select(completion.flags);
        match (completion.to_io_result(), bid) {
            (Ok(n), Some(bid)) => RecvItem::Data(self.ring.take(bid, n as usize)),
            (Ok(_), None) => RecvItem::Eof,
            (Err(err), bid) => {
                if let Some(bid) = bid {
                    self.ring.give_back(bid);
                }
                RecvItem::Error(err)
            }
        }
    }
}
