//! `IORING_OP_NOP` (Linux 5.1): completes at once. Used by tests to push
//! many completions through the ring.

use std::io;

use io_uring::{opcode, squeue};

use super::Operation;

pub(crate) struct Nop;

impl Operation for Nop {
    type Output = io::Result<()>;

    fn build(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
