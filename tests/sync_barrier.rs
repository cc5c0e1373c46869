//! Barrier: one leader per round, rounds repeat, a cancelled waiter no
//! longer counts as arrived, a barrier of 0 does not hang or panic.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringloop::sync::Barrier;
use ringloop::time::timeout;
use util::Rng;

#[test]
fn rounds_release_everyone_with_one_leader_each() {
    ringloop::run(util::within(20, "rounds", async {
        const PARTIES: usize = 5;
        const ROUNDS: usize = 50;
        let barrier = Rc::new(Barrier::new(PARTIES));
        let leaders = Rc::new(Cell::new(0));
        let passed = Rc::new(Cell::new(0));
        let arrived = Rc::new(Cell::new(0));
        let mut rng = Rng::new(5);
        let tasks: Vec<_> = (0..PARTIES)
            .map(|_| {
                let (barrier, leaders, passed, arrived) = (
                    barrier.clone(),
                    leaders.clone(),
                    passed.clone(),
                    arrived.clone(),
                );
                let mut rng = Rng::new(rng.next_u64());
                ringloop::spawn(async move {
                    for round in 0..ROUNDS {
                        for _ in 0..rng.range(0, 3) {
                            ringloop::yield_now().await;
                        }
                        arrived.set(arrived.get() + 1);
                        if barrier.wait().await.is_leader() {
                            leaders.set(leaders.get() + 1);
                        }
                        // Nobody leaves a round before all have arrived.
                        assert!(arrived.get() >= (round + 1) * PARTIES);
                        passed.set(passed.get() + 1);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(leaders.get(), ROUNDS);
        assert_eq!(passed.get(), ROUNDS * PARTIES);
        assert_eq!(barrier.n_waiting(), 0);
    }));
}

#[test]
fn a_cancelled_waiter_leaves_the_round() {
    ringloop::run(util::within(10, "leave", async {
        let barrier = Rc::new(Barrier::new(3));
        let spawn = || {
            let barrier = barrier.clone();
            ringloop::spawn(async move { barrier.wait().await.is_leader() })
        };
        let a = spawn();
        let b = spawn();
        ringloop::yield_now().await;
        assert_eq!(barrier.n_waiting(), 2);
        b.cancel();
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(barrier.n_waiting(), 1);
        // One more arrival is not enough now...
        assert!(
            timeout(Duration::from_millis(5), barrier.wait())
                .await
                .is_err()
        );
        assert_eq!(barrier.n_waiting(), 1);
        // ...two are.
        let c = spawn();
        let d = spawn();
        let leaders = [a.await.unwrap(), c.await.unwrap(), d.await.unwrap()];
        assert_eq!(leaders, [false, false, true]);
    }));
}

#[test]
fn a_barrier_of_zero_acts_as_one() {
    ringloop::run(util::within(10, "zero", async {
        let barrier = Barrier::new(0);
        assert_eq!(barrier.parties(), 1);
        assert!(barrier.wait().await.is_leader());
        assert!(barrier.wait().await.is_leader());
    }));
}

/// Waiters are cancelled at random while rounds run; the barrier's count
/// always equals the waiters really there, so topping a round up with
/// exactly the missing number of arrivals opens it.
#[test]
fn random_cancellation_leaves_no_phantom_arrivals() {
    ringloop::run(util::within(60, "barrier stress", async {
        const PARTIES: usize = 4;
        let barrier = Rc::new(Barrier::new(PARTIES));
        let mut rng = Rng::new(21);
        let released = Rc::new(Cell::new(0usize));
        let mut cancelled = 0;
        for _ in 0..100 {
            let mut tasks: Vec<ringloop::Task<()>> = Vec::new();
            let n = rng.range(1, PARTIES as u64 - 1) as usize;
            for _ in 0..n {
                let (barrier, released) = (barrier.clone(), released.clone());
                tasks.push(ringloop::spawn(async move {
                    barrier.wait().await;
                    released.set(released.get() + 1);
                }));
            }
            ringloop::yield_now().await;
            for task in &tasks {
                if rng.range(0, 1) == 0 {
                    task.cancel();
                    cancelled += 1;
                }
            }
            ringloop::yield_now().await;
            let live = tasks.iter().filter(|t| !t.is_finished()).count();
            assert_eq!(barrier.n_waiting(), live);
            // Top up the round; the last arrival is the leader.
            let before = released.get();
            for _ in live..PARTIES - 1 {
                let (barrier, released) = (barrier.clone(), released.clone());
                tasks.push(ringloop::spawn(async move {
                    barrier.wait().await;
                    released.set(released.get() + 1);
                }));
            }
            ringloop::yield_now().await;
            assert!(barrier.wait().await.is_leader());
            for task in tasks {
                let _ = task.await;
            }
            assert_eq!(released.get() - before, PARTIES - 1);
            assert_eq!(barrier.n_waiting(), 0);
        }
        assert!(cancelled > 0);
    }));
}
