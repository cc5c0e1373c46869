//! A task that keeps waking itself cannot starve I/O completions, timers or
//! other tasks, and the loop never parks while a task is runnable.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn a_yield_loop_does_not_starve_io_or_timers() {
    ringloop::run(async {
        let stop = Rc::new(Cell::new(false));
        let spins = Rc::new(Cell::new(0u64));
        let (s, n) = (stop.clone(), spins.clone());
        let spinner = ringloop::spawn(async move {
            while !s.get() {
                n.set(n.get() + 1);
                ringloop::yield_now().await;
            }
        });
        let (reader, writer) = ringloop::io::pipe().unwrap();
        util::within(10, "pipe round trips beside a spinner", async {
            for i in 0..200u8 {
                let (res, _) = writer.write_all(vec![i; 100]).await;
                res.unwrap();
                let (res, buf) = reader.read_exact(Vec::with_capacity(100)).await;
                res.unwrap();
                assert_eq!(buf, vec![i; 100]);
            }
        })
        .await;
        util::within(
            10,
            "a timer beside a spinner",
            ringloop::time::sleep(Duration::from_millis(20)),
        )
        .await;
        assert!(spins.get() > 200, "the spinner ran too: {}", spins.get());
        stop.set(true);
        spinner.await.unwrap();
    });
}

#[test]
fn two_spinning_tasks_alternate() {
    ringloop::run(async {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..2)
            .map(|id| {
                let log = log.clone();
                ringloop::spawn(async move {
                    for _ in 0..50 {
                        log.borrow_mut().push(id);
                        ringloop::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.borrow();
        assert_eq!(log.len(), 100);
        assert!(log.windows(2).all(|w| w[0] != w[1]), "round robin: {log:?}");
    });
}
