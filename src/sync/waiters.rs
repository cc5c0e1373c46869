//! `WaitList`: the FIFO queue of waiting futures shared by every primitive.
//!
//! A waiter is a node in a slab, linked into a doubly linked list in arrival
//! order. Whoever wakes a waiter *unlinks* it and records in its value why
//! (granted, notified, closed); the node itself stays allocated until the
//! waiter's own future frees it, on completion or on drop. So a future's key
//! never names somebody else's node, and a future dropped after it was
//! woken still finds out what it was given — and can give it back.

use std::task::Waker;

use slab::Slab;

struct Node<T> {
    prev: Option<usize>,
    next: Option<usize>,
    linked: bool,
    waker: Option<Waker>,
    value: T,
}

/// Waiters in arrival order; see the module docs.
pub(crate) struct WaitList<T> {
    nodes: Slab<Node<T>>,
    head: Option<usize>,
    tail: Option<usize>,
    linked: usize,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList {
            nodes: Slab::new(),
            head: None,
            tail: None,
            linked: 0,
        }
    }
}

impl<T> WaitList<T> {
    /// Queues a waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, value: T, waker: &Waker) -> usize {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: None,
            linked: true,
            waker: Some(waker.clone()),
            value,
        });
        match self.tail {
            Some(tail) => self.nodes[tail].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.linked += 1;
        key
    }

    /// The first waiter still queued.
    pub(crate) fn front(&self) -> Option<usize> {
        self.head
    }

    /// Whether no waiter is queued (woken ones do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Waiters queued (woken ones do not count).
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    pub(crate) fn value(&self, key: usize) -> &T {
        &self.nodes[key].value
    }

    pub(crate) fn value_mut(&mut self, key: usize) -> &mut T {
        &mut self.nodes[key].value
    }

    /// Refreshes the waker of a queued waiter.
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        let slot = &mut self.nodes[key].waker;
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Takes the waiter out of the queue (its node stays until
    /// [`remove`](Self::remove)) and returns its waker, to be woken once
    /// the state's borrow is released.
    pub(crate) fn unlink(&mut self, key: usize) -> Option<Waker> {
        let node = &mut self.nodes[key];
        if !node.linked {
            return None;
        }
        node.linked = false;
        let (prev, next) = (node.prev.take(), node.next.take());
        let waker = node.waker.take();
        match prev {
            Some(prev) => self.nodes[prev].next = next,
            None => self.head = next,
        }
        match next {
            Some(next) => self.nodes[next].prev = prev,
            None => self.tail = prev,
        }
        self.linked -= 1;
        waker
    }

    /// Sets the value of every queued waiter with `f`, unlinks them all and
    /// returns their wakers.
    pub(crate) fn unlink_all(&mut self, mut f: impl FnMut(&mut T)) -> Wakers {
        let mut wakers = Wakers::default();
        while let Some(key) = self.head {
            f(&mut self.nodes[key].value);
            wakers.push(self.unlink(key));
        }
        wakers
    }

    /// Polls a queued waiter: once `granted` holds for its value, frees its
    /// node and returns `true`; until then refreshes its waker and returns
    /// `false`.
    pub(crate) fn poll_granted(
        &mut self,
        key: usize,
        waker: &Waker,
        granted: impl FnOnce(&T) -> bool,
    ) -> bool {
        if !granted(self.value(key)) {
            self.set_waker(key, waker);
            return false;
        }
        self.remove(key);
        true
    }

    /// Frees the waiter's node (unlinking it first if it is still queued)
    /// and returns its value.
    pub(crate) fn remove(&mut self, key: usize) -> T {
        self.unlink(key);
        self.nodes.remove(key).value
    }
}

/// Wakers collected under a borrow, woken after it is released, so that a
/// waker that runs code at once cannot find the state borrowed.
#[derive(Default)]
#[must_use = "the collected wakers must be woken"]
pub(crate) struct Wakers(Vec<Waker>);

impl Wakers {
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            self.0.push(waker);
        }
    }

    pub(crate) fn extend(&mut self, other: Wakers) {
        self.0.extend(other.0);
    }

    pub(crate) fn wake(self) {
        for waker in self.0 {
            waker.wake();
        }
    }
}

impl From<Option<Waker>> for Wakers {
    fn from(waker: Option<Waker>) -> Self {
        let mut wakers = Wakers::default();
        wakers.push(waker);
        wakers
    }
}
