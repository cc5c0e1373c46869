//! oneshot: a value set once and awaited once; the receiver learns when
//! the sender is dropped, the sender when the receiver is; a receiver
//! awaited under a timeout loses nothing.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::oneshot::{self, TryRecvError};
use ringloop::time::timeout;
use util::Rng;

#[test]
fn send_then_receive_and_error_results() {
    ringloop::run(util::within(10, "basics", async {
        let (tx, rx) = oneshot::channel();
        let task = ringloop::spawn(rx);
        ringloop::yield_now().await;
        tx.send(Ok::<u8, String>(3)).unwrap();
        assert_eq!(task.await.unwrap().unwrap(), Ok(3));

        // set_exception: send an Err.
        let (tx, rx) = oneshot::channel::<Result<u8, String>>();
        tx.send(Err("bad".into())).unwrap();
        assert_eq!(rx.await.unwrap(), Err("bad".into()));
    }));
}

#[test]
fn dropped_sender_is_an_error_and_dropped_receiver_fails_send() {
    ringloop::run(util::within(10, "drops", async {
        let (tx, rx) = oneshot::channel::<u8>();
        let task = ringloop::spawn(rx);
        ringloop::yield_now().await;
        drop(tx);
        let err = task.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("dropped"));

        let (tx, rx) = oneshot::channel::<String>();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send("back".into()).unwrap_err(), "back");
    }));
}

#[test]
fn closed_waits_for_the_receiver_to_go() {
    ringloop::run(util::within(10, "closed", async {
        let (tx, mut rx) = oneshot::channel::<u8>();
        let watcher = ringloop::spawn(async move {
            tx.closed().await;
            tx.send(1)
        });
        ringloop::yield_now().await;
        assert!(!watcher.is_finished());
        rx.close();
        assert_eq!(watcher.await.unwrap(), Err(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert!(rx.is_closed());
    }));
}

#[test]
fn a_value_sent_before_close_can_still_be_received() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(5).unwrap();
    rx.close();
    assert!(!rx.is_closed());
    assert_eq!(rx.try_recv(), Ok(5));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_receiver_dropped_with_a_value_drops_it_once() {
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let drops = Rc::new(Cell::new(0));
    let (tx, rx) = oneshot::channel();
    tx.send(Counted(drops.clone())).ok().unwrap();
    assert_eq!(drops.get(), 0);
    drop(rx);
    assert_eq!(drops.get(), 1);
}

/// Many channels; receivers await under repeated short timeouts (the
/// receiver itself is kept), senders send after random delays or are
/// cancelled first. Each receiver ends with the value exactly when the
/// send succeeded, else with RecvError.
#[test]
fn outcomes_match_sends_under_cancellation() {
    ringloop::run(util::within(60, "oneshot stress", async {
        let mut rng = Rng::new(4);
        let mut pairs = Vec::new();
        for i in 0..300u64 {
            let (tx, rx) = oneshot::channel::<u64>();
            let sent = Rc::new(Cell::new(false));
            let delay = rng.range(0, 3);
            let sender = {
                let sent = sent.clone();
                ringloop::spawn(async move {
                    for _ in 0..delay {
                        ringloop::yield_now().await;
                    }
                    if tx.send(i).is_ok() {
                        sent.set(true);
                    }
                })
            };
            let patience = rng.range(0, 2);
            let receiver = ringloop::spawn(async move {
                let mut rx = rx;
                loop {
                    match timeout(Duration::from_millis(patience), &mut rx).await {
                        Ok(result) => return result,
                        Err(_) => ringloop::yield_now().await,
                    }
                }
            });
            pairs.push((i, sender, receiver, sent));
        }
        let mut cancelled = 0;
        for (_, sender, _, _) in &pairs {
            if rng.range(0, 3) == 0 {
                sender.cancel();
                cancelled += 1;
            }
            if rng.range(0, 5) == 0 {
                ringloop::yield_now().await;
            }
        }
        let (mut values, mut errors) = (0, 0);
        for (i, sender, receiver, sent) in pairs {
            let _ = sender.await;
            match receiver.await.unwrap() {
                Ok(v) => {
                    assert!(sent.get());
                    assert_eq!(v, i);
                    values += 1;
                }
                Err(_) => {
                    assert!(!sent.get());
                    errors += 1;
                }
            }
        }
        assert!(values > 0 && errors > 0 && cancelled > 0);
    }));
}
