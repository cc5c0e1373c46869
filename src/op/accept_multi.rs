//! Multishot `IORING_OP_ACCEPT` (Linux 5.19): one SQE accepts connection
//! after connection until the kernel ends it.

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{MultishotOperation, Operation, close_returned_fd};
use crate::driver::{Completion, Driver};
use crate::io::SharedFd;

pub(crate) struct AcceptMulti {
    fd: SharedFd,
    /// Accept into direct descriptors (slots of this driver's file table)
    /// instead of fds.
    direct: Option<Rc<Driver>>,
}

/// One accepted connection.
pub(crate) enum Accepted {
    Fd(OwnedFd),
    /// A slot of the ring's file table (a direct descriptor).
    Slot(u32),
}

impl AcceptMulti {
    pub(crate) fn new(fd: SharedFd) -> AcceptMulti {
        AcceptMulti { fd, direct: None }
    }

    /// Accepts into direct descriptors of `driver`'s file table.
    pub(crate) fn direct(fd: SharedFd, driver: Rc<Driver>) -> AcceptMulti {
        AcceptMulti {
            fd,
            direct: Some(driver),
        }
    }
}

impl Operation for AcceptMulti {
    /// Items come through [`MultishotOperation::item`].
    type Output = ();

    fn build(&mut self) -> squeue::Entry {
        // A direct descriptor is no fd: close-on-exec means nothing for it,
        // and the kernel refuses the flag (EINVAL).
        let flags = if self.direct.is_some() {
            0
        } else {
            libc::SOCK_CLOEXEC
        };
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .allocate_file_index(self.direct.is_some())
            .flags(flags)
            .build()
    }

    fn complete(self, _result: io::Result<u32>, _flags: u32) {}

    /// A connection accepted after the stream was dropped: close it.
    fn dispose(&mut self, completion: Completion) {
        match (&self.direct, u32::try_from(completion.result)) {
            (Some(driver), Ok(slot)) => driver.close_slot_now(slot),
            (Some(_), Err(_)) => {}
            (None, _) => close_returned_fd(completion),
        }
    }
}

impl MultishotOperation for AcceptMulti {
    type Item = io::Result<Accepted>;

    fn item(&mut self, completion: Completion) -> io::Result<Accepted> {
        let n = completion.to_io_result()?;
        Ok(match self.direct {
            Some(_) => Accepted::Slot(n),
            None => Accepted::Fd(crate::sys::owned(n as i32)),
        })
    }
}
