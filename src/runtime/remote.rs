//! The queue of tasks woken from other threads, and the protocol that makes
//! sure a parked loop hears about them. Model-checked with loom
//! (`RUSTFLAGS="--cfg loom" cargo test --release --lib remote`).
//!
//! A waker pushes its task id under the mutex, then sets `notified`; if it
//! was the one to set it, it must wake the loop (eventfd write). The loop
//! clears `notified` before it drains the queue, and parks only if
//! `notified` is clear. So either the loop's drain sees the id, or the
//! waker found `notified` clear after the loop cleared it — and wakes the
//! loop, whose park then returns at once.

#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
use std::sync::Mutex;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::PoisonError;

#[derive(Debug, Default)]
pub(crate) struct RemoteQueue {
    ids: Mutex<Vec<u64>>,
    notified: AtomicBool,
}

impl RemoteQueue {
    /// Queues `id`; `true` if the caller must wake the loop.
    pub(crate) fn push(&self, id: u64) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
        !self.notified.swap(true, Ordering::AcqRel)
    }

    /// Whether ids were queued since the last drain (the loop must not
    /// park).
    pub(crate) fn has_pending(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Takes every queued id.
    pub(crate) fn drain(&self, mut each: impl FnMut(u64)) {
        // A plain load first: the loop drains several times per tick and
        // almost always finds nothing, and a load costs no locked write.
        // Reading false here is the same as a swap that reads false.
        if !self.notified.load(Ordering::Acquire) || !self.notified.swap(false, Ordering::AcqRel) {
            return;
        }
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(PoisonError::into_inner));
        ids.into_iter().for_each(&mut each);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::RemoteQueue;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};

    /// Two threads wake tasks while the loop drains and decides to park.
    /// In every interleaving: nothing is lost or duplicated, and if the loop
    /// parks with an id still queued, the eventfd was written (so the park
    /// returns at once).
    #[test]
    fn no_wake_is_lost() {
        loom::model(|| {
            let queue = Arc::new(RemoteQueue::default());
            let eventfd = Arc::new(AtomicUsize::new(0));
            let wakers: Vec<_> = (1..=2u64)
                .map(|id| {
                    let (queue, eventfd) = (queue.clone(), eventfd.clone());
                    loom::thread::spawn(move || {
                        if queue.push(id) {
                            eventfd.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            queue.drain(|id| got.push(id));
            let parks = !queue.has_pending();
            for waker in wakers {
                waker.join().unwrap();
            }
            if parks && got.len() < 2 {
                assert!(
                    eventfd.load(Ordering::SeqCst) > 0,
                    "the loop parked with a queued wake and no eventfd write"
                );
            }
            // The park returns (eventfd) and the loop drains again.
            queue.drain(|id| got.push(id));
            got.sort_unstable();
            assert_eq!(got, vec![1, 2], "lost or duplicated wakes");
        });
    }
}
