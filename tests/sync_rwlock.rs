//! RwLock: readers share, writers exclude, writer fairness, and no access
//! lost when waiters are cancelled.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::sync::RwLock;
use ringloop::time::timeout;
use util::Rng;

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn readers_share_and_a_waiting_writer_blocks_new_readers() {
    ringloop::run(util::within(10, "fairness", async {
        let lock = RwLock::new(0);
        let r1 = lock.read().await;
        let r2 = lock.read().await;
        let mut w = Box::pin(lock.write());
        assert!(poll_once(w.as_mut()).is_pending());
        // A writer waits: a new reader queues behind it.
        assert!(lock.try_read().is_err());
        let mut r3 = Box::pin(lock.read());
        let mut r4 = Box::pin(lock.read());
        assert!(poll_once(r3.as_mut()).is_pending());
        assert!(poll_once(r4.as_mut()).is_pending());
        drop(r1);
        assert!(poll_once(w.as_mut()).is_pending());
        drop(r2);
        let mut guard = match poll_once(w.as_mut()) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("writer not granted"),
        };
        *guard = 5;
        assert!(poll_once(r3.as_mut()).is_pending());
        drop(guard);
        // Both readers queued behind the writer get in together.
        let (a, b) = match (poll_once(r3.as_mut()), poll_once(r4.as_mut())) {
            (Poll::Ready(a), Poll::Ready(b)) => (a, b),
            _ => panic!("readers not granted together"),
        };
        assert_eq!((*a, *b), (5, 5));
    }));
}

#[test]
fn a_granted_access_dropped_unused_is_released() {
    ringloop::run(util::within(10, "granted dropped", async {
        let lock = RwLock::new(());
        let w = lock.write().await;
        let mut r = Box::pin(lock.read());
        let mut w2 = Box::pin(lock.write());
        assert!(poll_once(r.as_mut()).is_pending());
        assert!(poll_once(w2.as_mut()).is_pending());
        drop(w); // read access granted to `r`
        drop(r); // never used: released, and on to `w2`
        assert!(matches!(poll_once(w2.as_mut()), Poll::Ready(_)));
        drop(w2);
        assert!(lock.try_write().is_ok());

        // A queued writer leaving lets the readers behind it in.
        let r0 = lock.read().await;
        let mut w = Box::pin(lock.write());
        let mut r = Box::pin(lock.read());
        assert!(poll_once(w.as_mut()).is_pending());
        assert!(poll_once(r.as_mut()).is_pending());
        drop(w);
        assert!(matches!(poll_once(r.as_mut()), Poll::Ready(_)));
        drop(r0);
    }));
}

/// Readers and writers contend, with random cancellation and timeouts.
/// Never a writer beside anyone else; the value equals the writes done;
/// at the end the lock is free.
#[test]
fn contention_with_random_cancellation() {
    ringloop::run(util::within(60, "rwlock stress", async {
        let lock = Rc::new(RwLock::new(0u64));
        let readers = Rc::new(Cell::new(0usize));
        let writers = Rc::new(Cell::new(0usize));
        let max_readers = Rc::new(Cell::new(0usize));
        let writes = Rc::new(Cell::new(0u64));
        let mut rng = Rng::new(0xAB);
        let mut cancelled = 0;
        for _round in 0..100 {
            let mut tasks = Vec::new();
            for _ in 0..12 {
                let (lock, readers, writers, max_readers, writes) = (
                    lock.clone(),
                    readers.clone(),
                    writers.clone(),
                    max_readers.clone(),
                    writes.clone(),
                );
                let write = rng.range(0, 2) == 0;
                let limit = match rng.range(0, 3) {
                    0 => Some(Duration::ZERO),
                    1 => Some(Duration::from_millis(1)),
                    _ => None,
                };
                let yields = rng.range(0, 2);
                tasks.push(ringloop::spawn(async move {
                    struct Count(Rc<Cell<usize>>);
                    impl Drop for Count {
                        fn drop(&mut self) {
                            self.0.set(self.0.get() - 1);
                        }
                    }
                    if write {
                        let mut guard = match limit {
                            Some(d) => match timeout(d, lock.write()).await {
                                Ok(g) => g,
                                Err(_) => return,
                            },
                            None => lock.write().await,
                        };
                        writers.set(writers.get() + 1);
                        let _c = Count(writers.clone());
                        assert_eq!((writers.get(), readers.get()), (1, 0));
                        let v = *guard;
                        for _ in 0..yields {
                            ringloop::yield_now().await;
                        }
                        *guard = v + 1;
                        writes.set(writes.get() + 1);
                    } else {
                        let guard = match limit {
                            Some(d) => match timeout(d, lock.read()).await {
                                Ok(g) => g,
                                Err(_) => return,
                            },
                            None => lock.read().await,
                        };
                        readers.set(readers.get() + 1);
                        let _c = Count(readers.clone());
                        max_readers.set(max_readers.get().max(readers.get()));
                        assert_eq!(writers.get(), 0);
                        let v = *guard;
                        for _ in 0..yields {
                            ringloop::yield_now().await;
                        }
                        assert_eq!(*guard, v, "changed under a reader");
                    }
                }));
            }
            cancelled += cancel_randomly(tasks, &mut rng, 2).await;
            assert_eq!((readers.get(), writers.get()), (0, 0));
            let guard = lock.try_write().expect("the lock was left held");
            assert_eq!(*guard, writes.get());
        }
        eprintln!(
            "rwlock stress: {} writes, max {} readers at once, {cancelled} cancelled",
            writes.get(),
            max_readers.get()
        );
        assert!(max_readers.get() > 1 && writes.get() > 0 && cancelled > 0);
    }));
}
/// Lets `tasks` run while a canceller — a task in the run queue beside
/// them, so it can run between a hand-off and the receiver's next poll —
/// cancels unfinished ones at random (one chance in `one_in` per turn).
/// Returns how many ended cancelled; a panic in a task fails the test.
async fn cancel_randomly(tasks: Vec<ringloop::Task<()>>, rng: &mut Rng, one_in: u64) -> usize {
    let mut rng = Rng::new(rng.next_u64());
    let canceller = ringloop::spawn(async move {
        loop {
            let alive: Vec<usize> = (0..tasks.len())
                .filter(|&i| !tasks[i].is_finished())
                .collect();
            if alive.is_empty() {
                break;
            }
            if rng.range(1, one_in) == 1 {
                tasks[alive[rng.range(0, alive.len() as u64 - 1) as usize]].cancel();
            }
            ringloop::yield_now().await;
        }
        let mut cancelled = 0;
        for task in tasks {
            match task.await {
                Ok(()) => {}
                Err(err) if err.is_cancelled() => cancelled += 1,
                Err(err) => panic!("{err}"),
            }
        }
        cancelled
    });
    match canceller.await {
        Ok(n) => n,
        Err(err) => panic!("{err}"),
    }
}
