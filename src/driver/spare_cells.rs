//! Emptied op cells kept for the next op of the same type, so that the hot
//! path (one send per echoed message) allocates nothing.
//!
//! One free list per cell type, each bounded on its own: a burst of one
//! type (a registration or a close per connection of a thousand new or
//! departing connections) cannot crowd out the hot type's cells, nor make
//! its lookups walk past them. The bound per type is large enough for the
//! sends of a loaded loop's whole turn (hundreds complete together and are
//! sent again in the same tick): a smaller one would free most of them at
//! every turn and allocate them again.

use std::any::{Any, TypeId};

use super::table::InFlight;

/// Cells kept per type.
const PER_TYPE: usize = 1024;
/// Types kept at most (a program has a few dozen op types, most rarely
/// used); cells of further types are freed. Bounds what is kept at
/// `TYPES * PER_TYPE` empty cells (a few hundred bytes each).
const TYPES: usize = 32;

#[derive(Default)]
pub(crate) struct SpareCells {
    /// Each holds no owned state any more: nothing here is visible to the
    /// kernel. The type recycled last is at the end, where `take` looks
    /// first.
    lists: Vec<(TypeId, Vec<Box<dyn InFlight>>)>,
}

impl SpareCells {
    /// A kept cell of type `C`, if there is one.
    pub(crate) fn take<C: InFlight>(&mut self) -> Option<Box<C>> {
        let wanted = TypeId::of::<C>();
        let (_, list) = self
            .lists
            .iter_mut()
            .rev()
            .find(|(kind, _)| *kind == wanted)?;
        let spare: Box<dyn Any> = list.pop()?;
        spare.downcast().ok()
    }

    /// Keeps `cell`, an emptied cell whose concrete type is `kind`, unless
    /// its type's list (or the table of types) is full: then it is freed.
    pub(crate) fn put(&mut self, kind: TypeId, cell: Box<dyn InFlight>) {
        let last = self.lists.len().wrapping_sub(1);
        match self.lists.iter().rposition(|(k, _)| *k == kind) {
            Some(index) => {
                if index != last {
                    self.lists.swap(index, last);
                }
                let list = &mut self.lists[last].1;
                if list.len() < PER_TYPE {
                    list.push(cell);
                }
            }
            None if self.lists.len() < TYPES => self.lists.push((kind, vec![cell])),
            None => {}
        }
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lists.iter().map(|(_, list)| list.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Completion;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A cell that counts its drops.
    struct Cell1(Rc<Cell<usize>>);
    /// Another cell type.
    struct Cell2(Rc<Cell<usize>>);

    impl InFlight for Cell1 {
        fn orphaned(&mut self, _: Completion) {}
    }
    impl InFlight for Cell2 {
        fn orphaned(&mut self, _: Completion) {}
    }
    impl Drop for Cell1 {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    impl Drop for Cell2 {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn cells_come_back_only_for_their_own_type() {
        let drops = Rc::new(Cell::new(0));
        let mut spares = SpareCells::default();
        assert!(spares.take::<Cell1>().is_none());
        spares.put(TypeId::of::<Cell1>(), Box::new(Cell1(drops.clone())));
        assert!(
            spares.take::<Cell2>().is_none(),
            "a cell of another type must never be handed out"
        );
        assert!(spares.take::<Cell1>().is_some());
        assert!(spares.take::<Cell1>().is_none(), "handed out once");
    }

    #[test]
    fn each_type_is_bounded_and_nothing_leaks() {
        let drops = Rc::new(Cell::new(0));
        let mut spares = SpareCells::default();
        for _ in 0..PER_TYPE + 10 {
            spares.put(TypeId::of::<Cell1>(), Box::new(Cell1(drops.clone())));
        }
        assert_eq!(spares.kept(), PER_TYPE);
        assert_eq!(drops.get(), 10, "the cells beyond the bound are freed");
        drop(spares);
        assert_eq!(drops.get(), PER_TYPE + 10, "every cell is freed once");
    }

    #[test]
    fn a_burst_of_one_type_does_not_crowd_out_another() {
        // Thousands of registrations (say) fill their own list only: the
        // hot type is still kept, and found.
        let drops = Rc::new(Cell::new(0));
        let mut spares = SpareCells::default();
        spares.put(TypeId::of::<Cell1>(), Box::new(Cell1(drops.clone())));
        for _ in 0..PER_TYPE + 100 {
            spares.put(TypeId::of::<Cell2>(), Box::new(Cell2(drops.clone())));
        }
        spares.put(TypeId::of::<Cell1>(), Box::new(Cell1(drops.clone())));
        assert_eq!(spares.kept(), PER_TYPE + 2);
        assert!(spares.take::<Cell1>().is_some());
        assert!(spares.take::<Cell1>().is_some());
        assert!(spares.take::<Cell1>().is_none());
    }

    #[test]
    fn the_number_of_types_is_bounded() {
        macro_rules! types {
            ($($name:ident)*) => {$(
                struct $name;
                impl InFlight for $name {
                    fn orphaned(&mut self, _: Completion) {}
                }
            )*};
        }
        types!(T0 T1 T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T13 T14 T15 T16 T17 T18 T19
            T20 T21 T22 T23 T24 T25 T26 T27 T28 T29 T30 T31 T32 T33);
        let mut spares = SpareCells::default();
        macro_rules! put {
            ($($name:ident)*) => {$( spares.put(TypeId::of::<$name>(), Box::new($name)); )*};
        }
        put!(T0 T1 T2 T3 T4 T5 T6 T7 T8 T9 T10 T11 T12 T13 T14 T15 T16 T17 T18 T19
            T20 T21 T22 T23 T24 T25 T26 T27 T28 T29 T30 T31 T32 T33);
        assert_eq!(spares.kept(), TYPES);
        assert!(spares.take::<T0>().is_some());
        assert!(
            spares.take::<T33>().is_none(),
            "a type beyond the bound is not kept"
        );
    }
}
