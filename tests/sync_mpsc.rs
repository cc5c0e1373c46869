//! mpsc: asyncio.Queue semantics — backpressure, FIFO senders and
//! receivers, close, end of stream — and no message lost or duplicated
//! when send and recv futures are cancelled at any point.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringloop::sync::mpsc::{self, TryRecvError, TrySendError};
use ringloop::time::timeout;
use util::Rng;

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn bounded_send_waits_while_full_and_senders_are_served_in_order() {
    ringloop::run(util::within(10, "backpressure", async {
        let (tx, rx) = mpsc::channel(2);
        assert_eq!(tx.capacity(), Some(2));
        tx.send(0).await.unwrap();
        tx.send(1).await.unwrap();
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        let mut s2 = Box::pin(tx.send(2));
        let mut s3 = Box::pin(tx.send(3));
        assert!(poll_once(s2.as_mut()).is_pending());
        assert!(poll_once(s3.as_mut()).is_pending());
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.recv().await, Some(0));
        // The freed slot is reserved for the first waiting sender: a
        // newcomer cannot take it.
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        assert!(poll_once(s3.as_mut()).is_pending());
        assert!(matches!(poll_once(s2.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(rx.recv().await, Some(1));
        assert!(matches!(poll_once(s3.as_mut()), Poll::Ready(Ok(()))));
        drop((s2, s3));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv().await, None);
    }));
}

#[test]
fn a_granted_sender_dropped_passes_its_slot_and_its_message_is_not_sent() {
    ringloop::run(util::within(10, "granted sender", async {
        let (tx, rx) = mpsc::channel(1);
        tx.send("first").await.unwrap();
        let mut a = Box::pin(tx.send("a"));
        let mut b = Box::pin(tx.send("b"));
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        assert_eq!(rx.recv().await, Some("first")); // slot reserved for `a`
        drop(a); // ...which gives up: on to `b`
        assert!(matches!(poll_once(b.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(rx.try_recv(), Ok("b"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }));
}

#[test]
fn a_woken_receiver_dropped_passes_the_message_on() {
    ringloop::run(util::within(10, "claimed receiver", async {
        let (tx, rx) = mpsc::channel(4);
        let mut a = Box::pin(rx.recv());
        let mut b = Box::pin(rx.recv());
        assert!(poll_once(a.as_mut()).is_pending());
        assert!(poll_once(b.as_mut()).is_pending());
        tx.send(7).await.unwrap(); // set aside for `a`
        // ...so a newcomer does not get it.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(a);
        assert_eq!(poll_once(b.as_mut()), Poll::Ready(Some(7)));
        drop(b);

        // With tasks: the woken consumer is cancelled before it runs.
        let rx = Rc::new(rx);
        let spawn = |rx: Rc<mpsc::Receiver<i32>>| ringloop::spawn(async move { rx.recv().await });
        let first = spawn(rx.clone());
        let second = spawn(rx.clone());
        ringloop::yield_now().await;
        tx.send(8).await.unwrap();
        first.cancel();
        assert!(first.await.unwrap_err().is_cancelled());
        assert_eq!(second.await.unwrap(), Some(8));
    }));
}

#[test]
fn close_fails_sends_with_the_value_and_drains_then_ends() {
    ringloop::run(util::within(10, "close", async {
        let (tx, rx) = mpsc::channel(1);
        tx.send(1).await.unwrap();
        let waiting = {
            let tx = tx.clone();
            ringloop::spawn(async move { tx.send(2).await })
        };
        ringloop::yield_now().await;
        rx.close();
        assert!(tx.is_closed() && rx.is_closed());
        // The waiting sender gets its message back.
        assert_eq!(waiting.await.unwrap().unwrap_err().0, 2);
        assert_eq!(tx.send(3).await.unwrap_err().into_inner(), 3);
        assert_eq!(tx.try_send(4), Err(TrySendError::Closed(4)));
        // Queued messages are still delivered, then the end.
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);

        // Sender::close ends waiting receivers too.
        let (tx, rx) = mpsc::channel::<u8>(1);
        let rx = Rc::new(rx);
        let r = {
            let rx = rx.clone();
            ringloop::spawn(async move { rx.recv().await })
        };
        ringloop::yield_now().await;
        tx.close();
        assert_eq!(r.await.unwrap(), None);
    }));
}

#[test]
fn dropping_the_receiver_fails_sends_and_drops_queued_messages() {
    ringloop::run(util::within(10, "receiver dropped", async {
        struct Counted(
            Rc<Cell<usize>>,
            #[allow(dead_code)] Option<mpsc::Sender<Counted>>,
        );
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let drops = Rc::new(Cell::new(0));
        let (tx, rx) = mpsc::unbounded::<Counted>();
        tx.send(Counted(drops.clone(), None)).await.unwrap();
        // A message holding a sender of its own channel: dropping it must
        // not find the channel borrowed.
        tx.send(Counted(drops.clone(), Some(tx.clone())))
            .await
            .unwrap();
        drop(rx);
        assert_eq!(drops.get(), 2);
        let err = tx.send(Counted(drops.clone(), None)).await.unwrap_err();
        assert_eq!(drops.get(), 2);
        drop(err);
        assert_eq!(drops.get(), 3);
    }));
}

#[test]
fn bound_zero_is_one_and_unbounded_never_waits() {
    ringloop::run(util::within(10, "bounds", async {
        let (tx, rx) = mpsc::channel(0);
        assert_eq!(rx.capacity(), Some(1));
        tx.try_send(1).unwrap();
        assert!(tx.try_send(2).is_err());
        let (tx, rx) = mpsc::unbounded();
        assert_eq!(tx.capacity(), None);
        for i in 0..10_000 {
            tx.send(i).await.unwrap();
        }
        assert_eq!((rx.len(), rx.is_empty()), (10_000, false));
        assert_eq!(rx.recv().await, Some(0));
    }));
}

/// Producers send numbered messages through a small bounded channel,
/// retrying a send that timed out; consumers share the receiver and
/// receive under random timeouts; a canceller cancels producers and
/// consumers at random. Every message whose send completed is received
/// exactly once; no other message is received.
#[test]
fn no_message_lost_or_duplicated_under_cancellation() {
    ringloop::run(util::within(60, "mpsc stress", async {
        const PRODUCERS: u64 = 6;
        const MESSAGES: u64 = 150;
        let (tx, rx) = mpsc::channel::<u64>(3);
        let rx = Rc::new(rx);
        let confirmed = Rc::new(RefCell::new(Vec::new()));
        let received = Rc::new(RefCell::new(Vec::new()));
        let send_timeouts = Rc::new(Cell::new(0));
        let recv_timeouts = Rc::new(Cell::new(0));
        let mut rng = Rng::new(0xC0FFEE);

        let mut producers = Vec::new();
        for p in 0..PRODUCERS {
            let (tx, confirmed, send_timeouts) =
                (tx.clone(), confirmed.clone(), send_timeouts.clone());
            let mut rng = Rng::new(rng.next_u64());
            producers.push(ringloop::spawn(async move {
                for k in 0..MESSAGES {
                    let value = p * 1000 + k;
                    loop {
                        let limit = match rng.range(0, 3) {
                            0 => Some(Duration::ZERO),
                            1 => Some(Duration::from_millis(rng.range(0, 1))),
                            _ => None,
                        };
                        let sent = match limit {
                            Some(d) => timeout(d, tx.send(value)).await,
                            None => Ok(tx.send(value).await),
                        };
                        match sent {
                            Ok(Ok(())) => {
                                confirmed.borrow_mut().push(value);
                                break;
                            }
                            Ok(Err(_)) => panic!("channel closed early"),
                            Err(_) => {
                                send_timeouts.set(send_timeouts.get() + 1);
                                ringloop::yield_now().await;
                            }
                        }
                    }
                }
            }));
        }
        drop(tx);
        let consumer = |rng: Rng| {
            let (rx, received, recv_timeouts) =
                (rx.clone(), received.clone(), recv_timeouts.clone());
            let mut rng = rng;
            ringloop::spawn(async move {
                loop {
                    let limit = match rng.range(0, 3) {
                        0 => Some(Duration::ZERO),
                        1 => Some(Duration::from_millis(rng.range(0, 1))),
                        _ => None,
                    };
                    let got = match limit {
                        Some(d) => timeout(d, rx.recv()).await,
                        None => Ok(rx.recv().await),
                    };
                    match got {
                        Ok(Some(v)) => received.borrow_mut().push(v),
                        Ok(None) => return,
                        Err(_) => {
                            recv_timeouts.set(recv_timeouts.get() + 1);
                            ringloop::yield_now().await;
                        }
                    }
                    for _ in 0..rng.range(0, 1) {
                        ringloop::yield_now().await;
                    }
                }
            })
        };
        let immortal: Vec<_> = (0..2).map(|_| consumer(Rng::new(rng.next_u64()))).collect();
        let mortal: Vec<_> = (0..4).map(|_| consumer(Rng::new(rng.next_u64()))).collect();

        // The canceller runs among the tasks until the producers are done.
        let mut crng = Rng::new(rng.next_u64());
        let canceller = ringloop::spawn(async move {
            let mut cancelled = 0;
            while producers.iter().any(|t| !t.is_finished()) {
                match crng.range(0, 40) {
                    0 => {
                        let t = &producers[crng.range(0, PRODUCERS - 1) as usize];
                        if !t.is_finished() {
                            t.cancel();
                            cancelled += 1;
                        }
                    }
                    1..=4 => {
                        let t = &mortal[crng.range(0, mortal.len() as u64 - 1) as usize];
                        if !t.is_finished() {
                            t.cancel();
                            cancelled += 1;
                        }
                    }
                    _ => {}
                }
                ringloop::yield_now().await;
            }
            for t in mortal {
                t.cancel();
            }
            cancelled
        });
        let cancelled = canceller.await.unwrap();
        // Every sender is gone: the immortal consumers drain and stop.
        for t in immortal {
            t.await.unwrap();
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        let mut confirmed = confirmed.borrow().clone();
        let mut received = received.borrow().clone();
        let total = received.len();
        confirmed.sort_unstable();
        received.sort_unstable();
        received.dedup();
        assert_eq!(received.len(), total, "a message was received twice");
        assert_eq!(received, confirmed, "received != sent");
        eprintln!(
            "mpsc stress: {total} messages, {} send / {} recv timeouts, {cancelled} tasks cancelled",
            send_timeouts.get(),
            recv_timeouts.get()
        );
        assert!(send_timeouts.get() > 0 && recv_timeouts.get() > 0 && cancelled > 0);
    }));
}

/// One task per message, cancelled at random — often right after a slot
/// was reserved for it. Sent messages arrive exactly once, and no slot is
/// lost: afterwards the channel still takes `bound` messages.
#[test]
fn cancelled_senders_lose_no_slot() {
    ringloop::run(util::within(60, "sender stress", async {
        const BOUND: usize = 3;
        let (tx, rx) = mpsc::channel::<u64>(BOUND);
        let confirmed = Rc::new(RefCell::new(Vec::new()));
        let received = Rc::new(RefCell::new(Vec::new()));
        let consumer = {
            let received = received.clone();
            let mut rng = Rng::new(8);
            ringloop::spawn(async move {
                while let Some(v) = rx.recv().await {
                    received.borrow_mut().push(v);
                    for _ in 0..rng.range(0, 2) {
                        ringloop::yield_now().await;
                    }
                }
                rx
            })
        };
        let mut rng = Rng::new(99);
        let mut cancelled = 0;
        for wave in 0..20u64 {
            let senders: Vec<_> = (0..15u64)
                .map(|i| {
                    let (tx, confirmed) = (tx.clone(), confirmed.clone());
                    let value = wave * 100 + i;
                    ringloop::spawn(async move {
                        tx.send(value).await.unwrap();
                        confirmed.borrow_mut().push(value);
                    })
                })
                .collect();
            let mut crng = Rng::new(rng.next_u64());
            cancelled += ringloop::spawn(async move {
                let mut cancelled = 0;
                while senders.iter().any(|t| !t.is_finished()) {
                    if crng.range(0, 2) == 0 {
                        let t = &senders[crng.range(0, 14) as usize];
                        if !t.is_finished() {
                            t.cancel();
                            cancelled += 1;
                        }
                    }
                    ringloop::yield_now().await;
                }
                cancelled
            })
            .await
            .unwrap();
        }
        // Let the consumer empty the queue, then check every slot is free.
        util::within(5, "drained", async {
            while !tx.is_empty() {
                ringloop::yield_now().await;
            }
        })
        .await;
        let tx2 = tx.clone();
        drop(tx);
        for i in 0..BOUND as u64 {
            tx2.try_send(10_000 + i).expect("a slot was lost");
            confirmed.borrow_mut().push(10_000 + i);
        }
        drop(tx2);
        let _rx = consumer.await.unwrap();
        let mut confirmed = confirmed.borrow().clone();
        let mut received = received.borrow().clone();
        confirmed.sort_unstable();
        received.sort_unstable();
        assert_eq!(received, confirmed);
        assert!(cancelled > 0);
    }));
}
