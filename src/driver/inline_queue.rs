//! `InlineQueue`: a FIFO whose oldest element lives inline.
//!
//! A per-op queue that usually holds at most one element (a stream's
//! pending CQE, the start offset of its buffer) should not cost a heap
//! allocation and two extra cache lines per element: the common push and
//! pop touch only the struct itself. Later elements spill into a heap queue
//! made at the first spill.

use std::collections::VecDeque;

/// Invariant: `spilled > 0` only while `head` is `Some` (a pop refills
/// `head` from the spill), so a push with `head` empty can take the inline
/// place without looking at the spill.
#[derive(Debug)]
pub(crate) struct InlineQueue<T> {
    head: Option<T>,
    spilled: u32,
    #[allow(clippy::box_collection)] // one pointer in the struct until a spill
    spill: Option<Box<VecDeque<T>>>,
}

impl<T> Default for InlineQueue<T> {
    fn default() -> Self {
        InlineQueue {
            head: None,
            spilled: 0,
            spill: None,
        }
    }
}

impl<T> InlineQueue<T> {
    #[inline]
    pub(crate) fn push_back(&mut self, value: T) {
        if self.head.is_none() {
            self.head = Some(value);
        } else {
            self.spill.get_or_insert_default().push_back(value);
            self.spilled += 1;
        }
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let first = self.head.take();
        if self.spilled > 0 {
            self.spilled -= 1;
            self.head = self.spill.as_mut().and_then(|spill| spill.pop_front());
        }
        first
    }

    /// Every element, oldest first; the queue is left empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + use<T> {
        let head = self.head.take();
        self.spilled = 0;
        let spill = self
            .spill
            .as_mut()
            .map(|spill| std::mem::take(&mut **spill));
        head.into_iter().chain(spill.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain `VecDeque`, over every mix of pushes and pops a fixed
    /// pseudo-random walk produces (spills, refills, drains with and
    /// without a spill).
    #[test]
    fn keeps_fifo_order_across_spills() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut queue = InlineQueue::default();
        let mut model = VecDeque::new();
        let mut seq = 0u32;
        for step in 0..20_000 {
            match next() % 8 {
                0..=3 => {
                    queue.push_back(seq);
                    model.push_back(seq);
                    seq += 1;
                }
                4..=6 => assert_eq!(queue.pop_front(), model.pop_front(), "step {step}"),
                _ if step % 50 == 0 => {
                    let drained: Vec<_> = queue.drain().collect();
                    let expected: Vec<_> = model.drain(..).collect();
                    assert_eq!(drained, expected, "step {step}");
                }
                _ => {}
            }
            assert_eq!(queue.head.is_some(), !model.is_empty());
            assert_eq!(queue.spilled as usize, model.len().saturating_sub(1));
        }
        assert!(seq > 1000, "the walk pushed too little to test anything");
    }
}
