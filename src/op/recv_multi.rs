//! Multishot `IORING_OP_RECV` with provided buffers (Linux 6.0): one SQE
//! receives again and again, each time into a buffer the kernel picks from
//! a [`BufRing`](crate::buf::BufRing).

use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{MultishotOperation, Operation};
use crate::buf::{BufRingInner, PooledBuf};
use crate::driver::{Completion, Driver, InlineQueue};
use crate::io::SharedFd;

pub(crate) struct RecvMulti {
    fd: SharedFd,
    /// Keeps the ring (and its memory) alive while the kernel may pick
    /// buffers from it for this op.
    ring: Rc<BufRingInner>,
    /// Where the data of each observed, not yet consumed CQE starts in its
    /// buffer, in CQE order (usually one: kept inline).
    starts: InlineQueue<u32>,
    /// Set for a forwarding receive: where its items go, from the
    /// driver, as they arrive.
    forward: Option<Rc<dyn ForwardTarget>>,
}

/// Where a forwarding receive's items go (`net::forward`). Called by the
/// driver for each CQE, with nothing borrowed: it may submit ops.
pub(crate) trait ForwardTarget {
    /// One item; `more` is false for the receive's last CQE (the kernel
    /// ended it, and it must be re-armed to receive further).
    fn deliver(&self, driver: &Driver, item: RecvItem, more: bool);
}

impl RecvMulti {
    pub(crate) fn new(fd: SharedFd, ring: Rc<BufRingInner>) -> RecvMulti {
        RecvMulti {
            fd,
            ring,
            starts: InlineQueue::default(),
            forward: None,
        }
    }

    /// A receive whose items the driver hands to `target` (to be entered
    /// with `Start::Forward`).
    pub(crate) fn forwarding(
        fd: SharedFd,
        ring: Rc<BufRingInner>,
        target: Rc<dyn ForwardTarget>,
    ) -> RecvMulti {
        let mut op = RecvMulti::new(fd, ring);
        op.forward = Some(target);
        op
    }

    /// The target of a forwarding receive.
    pub(crate) fn forward_target(&self) -> Option<Rc<dyn ForwardTarget>> {
        self.forward.clone()
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

    fn fixed_file(&self) -> bool {
        self.fd.in_table()
    }

    fn build(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.ring_raw()), self.ring.bgid()).build()
    }

    fn complete(self, _result: io::Result<u32>, _flags: u32) {}

    /// Data that arrived after the stream was dropped: discarded with the
    /// stream; its buffer goes back to the ring.
    fn dispose(&mut self, completion: Completion) {
        if let Some(bid) = io_uring::cqueue::buffer_select(completion.flags) {
            self.starts.pop_front();
            self.ring.discard(bid);
        }
    }

    /// Every CQE, in reap order: account for the buffer space it used.
    fn observe(&mut self, completion: Completion) {
        if let Some(bid) = io_uring::cqueue::buffer_select(completion.flags) {
            let len = u32::try_from(completion.result).unwrap_or(0);
            let more = io_uring::cqueue::buffer_more(completion.flags);
            self.starts.push_back(self.ring.filled(bid, len, more));
        }
    }
}

impl MultishotOperation for RecvMulti {
    type Item = RecvItem;

    fn item(&mut self, completion: Completion) -> RecvItem {
        let bid = io_uring::cqueue::buffer_select(completion.flags);
        let start = bid.and_then(|_| self.starts.pop_front()).unwrap_or(0);
        match (completion.to_io_result(), bid) {
            (Ok(n), Some(bid)) => RecvItem::Data(self.ring.take(bid, start, n as usize)),
            (Ok(_), None) => RecvItem::Eof,
            (Err(err), bid) => {
                if let Some(bid) = bid {
                    self.ring.discard(bid);
                }
                RecvItem::Error(err)
            }
        }
    }
}
