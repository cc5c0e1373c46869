//! `IORING_OP_LINK_TIMEOUT` (Linux 5.5): bounds the op linked before it.
//! The timespec lives in this op's state, in the driver's table, until the
//! timeout's own CQE: the kernel reads it asynchronously.

use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::Operation;

pub(crate) struct LinkTimeout {
    timespec: types::Timespec,
}

impl LinkTimeout {
    pub(crate) fn new(duration: Duration) -> LinkTimeout {
        // The kernel reads the seconds as signed: saturate instead of
        // letting a huge duration wrap into an invalid (EINVAL) timespec.
        let max = Duration::from_secs(i64::MAX as u64);
        LinkTimeout {
            timespec: types::Timespec::from(duration.min(max)),
        }
    }
}

impl Operation for LinkTimeout {
    type Output = ();

    /// Its result only says whether it fired; the linked op's result is
    /// what matters.
    const RETRY_TRANSIENT: bool = false;

    fn build(&mut self) -> squeue::Entry {
        opcode::LinkTimeout::new(&raw const self.timespec).build()
    }

    fn complete(self, _result: io::Result<u32>, _flags: u32) {}
}
