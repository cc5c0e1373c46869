//! Adversarial tests of the structured-concurrency, sync and time layer:
//! `Task` outcomes (panics in drops, double awaits, cancellation from
//! everywhere), `TaskGroup`, `JoinSet`, `wait`, `as_completed`, `race_all`
//! and `shield` under seeded random schedules; model checks of `mpsc`,
//! `oneshot`, `Mutex`, `RwLock` and `Event` driven poll by poll (no lost
//! wake-up, no lost or duplicated message or grant, FIFO order kept under
//! random cancellation); the timer queue at scale and at its edges; and
//! `Builder` with bad values (a clear `io::Error`, never a panic).
//!
//! Nothing here depends on tight wall-clock limits: time-based checks
//! assert ordering or lower bounds only, and every test runs under a
//! watchdog (`util::within`).

mod util;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ringloop::sync::mpsc;
use ringloop::time::{MissedTickBehavior, interval_at};
use util::Rng;

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future polled by hand, with a waker of its own, so that a test can
/// tell whether it was woken before it became ready.
struct Probe<T> {
    fut: Pin<Box<dyn Future<Output = T>>>,
    flag: Arc<Flag>,
    waker: Waker,
}

impl<T> Probe<T> {
    fn new(fut: impl Future<Output = T> + 'static) -> Probe<T> {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        Probe {
            fut: Box::pin(fut),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    fn woken(&self) -> bool {
        self.flag.0.load(Ordering::SeqCst)
    }

    fn poll(&mut self) -> Poll<T> {
        self.flag.0.store(false, Ordering::SeqCst);
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }

    /// Polls a future that was not woken: it must still be pending (a
    /// primitive that makes a waiter ready wakes it; else the task would
    /// sleep forever).
    fn assert_no_lost_wake(&mut self, what: &str) {
        if !self.woken() {
            assert!(
                self.poll().is_pending(),
                "{what}: ready without having been woken (lost wake-up)"
            );
        }
    }
}

/// Panics when dropped (outside an unwind).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A hand-written future that is ready at once and carries a guard whose
/// drop panics: the panic comes after `Ready`, when the task drops it.
struct ReadyWithBomb {
    _bomb: PanicOnDrop,
    value: u32,
}

impl Future for ReadyWithBomb {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(self.value)
    }
}

// ---------------------------------------------------------------- tasks

/// A task whose future panics while it is dropped after completing was
/// reported as *cancelled* (nobody cancelled it): the panic escaped the
/// task wrapper, so its output was never published and the unpublished
/// output read as a cancellation. It panicked: `is_panic`, with the payload.
#[test]
fn a_panic_in_the_drop_after_ready_is_a_panic_not_a_cancellation() {
    ringloop::run(util::within(10, "drop after ready", async {
        let task = ringloop::spawn(ReadyWithBomb {
            _bomb: PanicOnDrop("bomb after ready"),
            value: 7,
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("bomb after ready"), "{err}");
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("bomb after ready")
        );

        // The same through an async block whose captured guard is dropped
        // when the block completes.
        let bomb = PanicOnDrop("captured bomb");
        let task = ringloop::spawn(async move {
            let _keep = &bomb;
            ringloop::yield_now().await;
            5
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "{err}");
        // The loop is healthy.
        assert_eq!(ringloop::spawn(async { 1 }).await.unwrap(), 1);
        assert_eq!(ringloop::runtime::metrics().unwrap().tasks, 0);
    }));
}

// ---------------------------------------------------------------- time

/// `MissedTickBehavior::Skip` must land on the first grid point after now.
/// It counted the missed periods in a `u32`, which saturates when more than
/// 2^32 periods were missed (a 1 ns period and 5 s behind): the "next" tick
/// was then still in the past, and a burst of late ticks followed.
#[test]
fn interval_skip_lands_after_now_even_far_behind() {
    let Some(start) = Instant::now().checked_sub(Duration::from_secs(10)) else {
        eprintln!("skipped: the monotonic clock is younger than 10 s");
        return;
    };
    ringloop::run(util::within(10, "skip far behind", async move {
        let period = Duration::from_nanos(1);
        let mut every = interval_at(start, period);
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let before = Instant::now();
        let late = every.tick().await;
        assert_eq!(late, start, "the first tick is the (late) start");
        let next = every.tick().await;
        assert!(
            next > before,
            "Skip: the tick after a late one was still in the past ({:?} behind)",
            before - next
        );

        // A coarser grid, far behind too: the next tick is on the grid,
        // after now.
        let period = Duration::from_micros(1);
        let Some(start) = Instant::now().checked_sub(Duration::from_secs(5)) else {
            return;
        };
        let mut every = interval_at(start, period);
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let before = Instant::now();
        every.tick().await;
        let next = every.tick().await;
        assert!(next > before);
        assert_eq!(
            (next - start).as_nanos() % period.as_nanos(),
            0,
            "off the grid"
        );
    }));
}

// ---------------------------------------------------------------- builder

/// Bad ring sizes are the caller's mistake: an `InvalidInput` error that
/// names the setting, not "this kernel is too old" (the kernel answers
/// EINVAL, which the flag fallback took for a missing feature).
#[test]
fn bad_completion_queue_sizes_are_clear_errors() {
    for (entries, cq) in [(256, 0), (256, 1), (256, 128), (u32::MAX, 16)] {
        let err = ringloop::Runtime::builder()
            .entries(entries)
            .cq_entries(cq)
            .build()
            .expect_err("a completion queue smaller than the submission queue");
        let msg = err.to_string();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{msg}");
        assert!(msg.contains("cq_entries"), "{msg}");
        assert!(!msg.contains("5.11"), "blamed the kernel: {msg}");
    }
    // Equal or larger is fine, and huge is clamped, not refused.
    for (entries, cq) in [(256, 256), (8, 1000), (256, u32::MAX)] {
        let rt = ringloop::Runtime::builder()
            .entries(entries)
            .cq_entries(cq)
            .build()
            .unwrap_or_else(|e| panic!("entries {entries}, cq {cq}: {e}"));
        assert_eq!(rt.block_on(async { 3 }), 3);
        assert!(rt.metrics().cq_entries >= rt.metrics().sq_entries);
    }
}

// ---------------------------------------------------------------- mpsc

/// A model check of the bounded channel, polled by hand: producers and
/// consumers start, poll, cancel and `try_` at random. Whatever the
/// interleaving, the values received (in the order their receives
/// complete) are exactly the values sent (in the order their sends
/// complete): nothing lost, duplicated or reordered, and a cancelled send
/// is never delivered. No waiter becomes ready without a wake. Afterwards
/// no slot or claim has leaked: the drained channel takes exactly `bound`
/// messages again.
#[test]
fn mpsc_model_check_under_random_polls_and_cancellation() {
    let mut rng = Rng::new(0x5eed_0001);
    for round in 0..150 {
        let bound = rng.range(1, 4) as usize;
        let (tx, rx) = mpsc::channel::<u64>(bound);
        let (tx, rx) = (Rc::new(tx), Rc::new(rx));
        const PRODUCERS: usize = 4;
        const CONSUMERS: usize = 3;
        let mut sends: Vec<Option<(u64, Probe<Result<(), mpsc::SendError<u64>>>)>> =
            (0..PRODUCERS).map(|_| None).collect();
        let mut recvs: Vec<Option<Probe<Option<u64>>>> = (0..CONSUMERS).map(|_| None).collect();
        let mut next_value = [0u64; PRODUCERS];
        // In the order the sends (receives) completed.
        let mut pushed: VecDeque<u64> = VecDeque::new();
        let mut popped: Vec<u64> = Vec::new();
        let mut received_in_order = |value: u64, pushed: &mut VecDeque<u64>| {
            assert_eq!(
                pushed.pop_front(),
                Some(value),
                "round {round}: a receive got a message out of order (or one never sent)"
            );
            popped.push(value);
        };
        for _step in 0..300 {
            let p = rng.range(0, PRODUCERS as u64 - 1) as usize;
            let c = rng.range(0, CONSUMERS as u64 - 1) as usize;
            match rng.range(0, 9) {
                0 | 1 => {
                    if sends[p].is_none() {
                        let value = p as u64 * 1_000_000 + next_value[p];
                        next_value[p] += 1;
                        let tx = tx.clone();
                        let mut probe = Probe::new(async move { tx.send(value).await });
                        match probe.poll() {
                            Poll::Ready(Ok(())) => pushed.push_back(value),
                            Poll::Ready(Err(_)) => panic!("round {round}: open channel refused"),
                            Poll::Pending => sends[p] = Some((value, probe)),
                        }
                    }
                }
                2 => {
                    if let Some((value, probe)) = &mut sends[p] {
                        if probe.woken() || rng.range(0, 3) == 0 {
                            if let Poll::Ready(result) = probe.poll() {
                                result.expect("open channel refused a granted send");
                                pushed.push_back(*value);
                                sends[p] = None;
                            }
                        }
                    }
                }
                3 => {
                    // Cancel a waiting send: its message must never arrive.
                    sends[p] = None;
                }
                4 => {
                    if sends[p].is_none() {
                        let value = p as u64 * 1_000_000 + next_value[p];
                        next_value[p] += 1;
                        match tx.try_send(value) {
                            Ok(()) => pushed.push_back(value),
                            Err(mpsc::TrySendError::Full(v)) => assert_eq!(v, value),
                            Err(mpsc::TrySendError::Closed(_)) => panic!("closed"),
                        }
                    }
                }
                5 | 6 => {
                    if recvs[c].is_none() {
                        let rx = rx.clone();
                        let mut probe = Probe::new(async move { rx.recv().await });
                        match probe.poll() {
                            Poll::Ready(Some(v)) => received_in_order(v, &mut pushed),
                            Poll::Ready(None) => panic!("round {round}: open channel ended"),
                            Poll::Pending => recvs[c] = Some(probe),
                        }
                    }
                }
                7 => {
                    if let Some(probe) = &mut recvs[c] {
                        if probe.woken() || rng.range(0, 3) == 0 {
                            if let Poll::Ready(got) = probe.poll() {
                                received_in_order(got.expect("ended"), &mut pushed);
                                recvs[c] = None;
                            }
                        }
                    }
                }
                8 => recvs[c] = None,
                _ => match rx.try_recv() {
                    Ok(v) => received_in_order(v, &mut pushed),
                    Err(mpsc::TryRecvError::Empty) => {}
                    Err(mpsc::TryRecvError::Disconnected) => panic!("disconnected"),
                },
            }
            if rng.range(0, 4) == 0 {
                // Settle: run every woken waiter until none is. Then a
                // waiting receiver means nothing is queued, and a waiting
                // sender means the channel is full (else a waiter was
                // passed over: it would wait forever).
                loop {
                    let mut progressed = false;
                    for slot in sends.iter_mut() {
                        if let Some((value, probe)) = slot {
                            if probe.woken() {
                                progressed = true;
                                if let Poll::Ready(result) = probe.poll() {
                                    result.expect("refused");
                                    pushed.push_back(*value);
                                    *slot = None;
                                }
                            }
                        }
                    }
                    for slot in recvs.iter_mut() {
                        if let Some(probe) = slot {
                            if probe.woken() {
                                progressed = true;
                                if let Poll::Ready(got) = probe.poll() {
                                    received_in_order(got.expect("ended"), &mut pushed);
                                    *slot = None;
                                }
                            }
                        }
                    }
                    if !progressed {
                        break;
                    }
                }
                if recvs.iter().any(Option::is_some) {
                    assert_eq!(
                        rx.len(),
                        0,
                        "round {round}: a receiver waits beside a message"
                    );
                }
                if sends.iter().any(Option::is_some) {
                    assert_eq!(tx.len(), bound, "round {round}: a sender waits beside room");
                }
            }
            for (_, probe) in sends.iter_mut().flatten() {
                probe.assert_no_lost_wake("send");
            }
            for probe in recvs.iter_mut().flatten() {
                probe.assert_no_lost_wake("recv");
            }
            assert!(
                tx.len() <= bound,
                "round {round}: more queued than the bound"
            );
        }
        // Give up every waiter, then drain: what is left is exactly what
        // was sent and not yet received.
        sends.iter_mut().for_each(|s| *s = None);
        recvs.iter_mut().for_each(|r| *r = None);
        while let Ok(v) = rx.try_recv() {
            received_in_order(v, &mut pushed);
        }
        assert!(
            pushed.is_empty(),
            "round {round}: {} sent messages lost",
            pushed.len()
        );
        // No slot or claim leaked.
        for k in 0..bound as u64 {
            tx.try_send(k)
                .unwrap_or_else(|_| panic!("round {round}: a slot leaked"));
        }
        assert!(matches!(tx.try_send(99), Err(mpsc::TrySendError::Full(99))));
        // The channel ends cleanly: the queued messages, then `None`.
        tx.close();
        let mut last = Probe::new({
            let rx = rx.clone();
            async move {
                let mut n = 0;
                while rx.recv().await.is_some() {
                    n += 1;
                }
                n
            }
        });
        assert_eq!(last.poll(), Poll::Ready(bound));
        let _ = popped;
    }
}

// ---------------------------------------------------------------- locks

/// A guard held by a model client.
enum Held {
    Read(ringloop::sync::RwLockReadGuard<'static, u64>),
    Write(ringloop::sync::RwLockWriteGuard<'static, u64>),
    Mutex(ringloop::sync::MutexGuard<'static, u64>),
}

impl Held {
    fn is_read(&self) -> bool {
        matches!(self, Held::Read(_))
    }
}

/// One client of the lock model: idle, waiting (its arrival number and
/// whether it wants to write), or holding a guard.
enum Client {
    Idle,
    Waiting(u64, bool, Probe<Held>),
    Holding(Held),
}

/// Drives `Mutex` (`rw == false`) or `RwLock` by hand with random
/// requests, polls, cancellations (of waiters, some after being granted)
/// and releases, and checks after every step: exclusion; FIFO order (a
/// request is granted only when no earlier waiter that it may not pass is
/// still waiting: for a writer or a mutex, none at all; for a reader, no
/// earlier writer); no waiter ready without a wake; and, once every woken
/// waiter has run, no waiter passed over while the lock could take it.
fn lock_model(seed: u64, rw: bool) {
    let mut rng = Rng::new(seed);
    let rwlock: &'static ringloop::sync::RwLock<u64> =
        Box::leak(Box::new(ringloop::sync::RwLock::new(0)));
    let mutex: &'static ringloop::sync::Mutex<u64> =
        Box::leak(Box::new(ringloop::sync::Mutex::new(0)));
    const CLIENTS: usize = 6;
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::Idle).collect();
    let mut arrivals = 0u64;

    fn check_holders(clients: &[Client]) {
        let held: Vec<&Held> = clients
            .iter()
            .filter_map(|c| match c {
                Client::Holding(h) => Some(h),
                _ => None,
            })
            .collect();
        let writers = held.iter().filter(|h| !h.is_read()).count();
        assert!(
            writers == 0 || held.len() == 1,
            "exclusion broken: {} holders with {writers} writer(s)",
            held.len()
        );
    }

    /// A waiter (arrival `seq`, writer or not) was just granted: nobody it
    /// may not pass is still waiting.
    fn check_order(clients: &[Client], seq: u64, write: bool) {
        for c in clients {
            if let Client::Waiting(other, other_write, _) = c {
                if *other < seq && (write || *other_write) {
                    panic!(
                        "FIFO broken: request {seq} (write: {write}) granted before \
                         earlier request {other} (write: {other_write})"
                    );
                }
            }
        }
    }

    for step in 0..4000 {
        let i = rng.range(0, CLIENTS as u64 - 1) as usize;
        match std::mem::replace(&mut clients[i], Client::Idle) {
            Client::Idle => {
                let write = !rw || rng.range(0, 2) == 0;
                let mut probe = match (rw, write) {
                    (false, _) => Probe::new(async move { Held::Mutex(mutex.lock().await) }),
                    (true, false) => Probe::new(async move { Held::Read(rwlock.read().await) }),
                    (true, true) => Probe::new(async move { Held::Write(rwlock.write().await) }),
                };
                arrivals += 1;
                match probe.poll() {
                    Poll::Ready(held) => {
                        // Taken at once: it passed nobody it may not pass
                        // (a reader may join readers that were let in but
                        // have not run yet).
                        check_order(&clients, u64::MAX, write);
                        clients[i] = Client::Holding(held);
                    }
                    Poll::Pending => clients[i] = Client::Waiting(arrivals, write, probe),
                }
            }
            Client::Waiting(seq, write, mut probe) => {
                let roll = rng.range(0, 9);
                if roll < 2 {
                    // Cancelled (perhaps after the lock was handed to it).
                } else if probe.woken() || roll < 4 {
                    match probe.poll() {
                        Poll::Ready(held) => {
                            check_order(&clients, seq, write);
                            clients[i] = Client::Holding(held);
                        }
                        Poll::Pending => clients[i] = Client::Waiting(seq, write, probe),
                    }
                } else {
                    clients[i] = Client::Waiting(seq, write, probe);
                }
            }
            Client::Holding(mut held) => {
                if rng.range(0, 2) != 0 {
                    // Keep it a while longer (and use it); else released.
                    match &mut held {
                        Held::Write(g) => **g += 1,
                        Held::Mutex(g) => **g += 1,
                        Held::Read(g) => assert!(**g < u64::MAX),
                    }
                    clients[i] = Client::Holding(held);
                }
            }
        }
        check_holders(&clients);
        for c in clients.iter_mut() {
            if let Client::Waiting(_, _, probe) = c {
                probe.assert_no_lost_wake("lock waiter");
            }
        }
        if step % 7 == 0 {
            // Settle, then the first waiter must be blocked by a holder.
            loop {
                let mut progressed = false;
                for k in 0..CLIENTS {
                    if let Client::Waiting(seq, write, probe) = &mut clients[k] {
                        if probe.woken() {
                            progressed = true;
                            let (seq, write) = (*seq, *write);
                            if let Poll::Ready(held) = probe.poll() {
                                check_order(&clients, seq, write);
                                clients[k] = Client::Holding(held);
                            }
                        }
                    }
                }
                if !progressed {
                    break;
                }
            }
            check_holders(&clients);
            let first = clients
                .iter()
                .filter_map(|c| match c {
                    Client::Waiting(seq, write, _) => Some((*seq, *write)),
                    _ => None,
                })
                .min();
            if let Some((seq, write)) = first {
                let holders: Vec<bool> = clients
                    .iter()
                    .filter_map(|c| match c {
                        Client::Holding(h) => Some(h.is_read()),
                        _ => None,
                    })
                    .collect();
                let blocked = if write {
                    !holders.is_empty()
                } else {
                    holders.iter().any(|read| !read)
                };
                assert!(
                    blocked,
                    "step {step}: request {seq} (write: {write}) waits on a lock it could take"
                );
            }
        }
    }
    drop(clients);
    // Everything released: the lock is free again.
    if rw {
        assert!(rwlock.try_write().is_ok(), "the rwlock was left held");
    } else {
        assert!(!mutex.is_locked(), "the mutex was left held");
    }
}

#[test]
fn mutex_model_check_fifo_exclusion_and_no_lost_grant() {
    for seed in 0..6 {
        lock_model(0x10c0 + seed, false);
    }
}

#[test]
fn rwlock_model_check_writer_fairness_exclusion_and_no_lost_grant() {
    for seed in 0..6 {
        lock_model(0x2e40 + seed, true);
    }
}
