//! How an operation is named in the ring: the 64-bit `user_data` of its SQE
//! and CQE.
//!
//! The low 32 bits are the op table's slab key, the high 32 bits a
//! generation drawn from a counter that never yields 0. A slab key is reused
//! as soon as its slot is freed, but the generation differs, so a stale or
//! duplicated CQE can never complete the op that now lives in that slot.
//!
//! Values whose high half is 0 are reserved for the driver's own SQEs; they
//! are the named constants below and never reach the op table.

/// The CQE of an `ASYNC_CANCEL` the driver issued. Its result only says
/// whether the target was found; the target's own CQE is what matters.
pub(crate) const CANCEL: u64 = 1;
/// The read of the runtime's eventfd that wakes a parked loop when a task is
/// woken from another thread.
pub(crate) const WAKE: u64 = 2;

/// The name of one in-flight operation: its slab key and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct OpId {
    pub(crate) key: u32,
    pub(crate) generation: u32,
}

impl OpId {
    pub(crate) fn to_user_data(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.key)
    }

    /// `None` for the reserved values (generation 0).
    pub(crate) fn from_user_data(user_data: u64) -> Option<OpId> {
        let generation = (user_data >> 32) as u32;
        if generation == 0 {
            return None;
        }
        Some(OpId {
            key: user_data as u32,
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = OpId {
            key: 0xdead_beef,
            generation: 7,
        };
        assert_eq!(OpId::from_user_data(id.to_user_data()), Some(id));
    }

    #[test]
    fn reserved_values_are_not_ops() {
        for ud in [CANCEL, WAKE, 0, u64::from(u32::MAX)] {
            assert_eq!(OpId::from_user_data(ud), None);
        }
    }
}
