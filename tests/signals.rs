//! Signals delivered to a running loop. Runs without the test harness so
//! that this process has a single thread, which blocks the signals: a
//! process-directed `kill` then reaches the runtime's signalfd, as in a
//! real server.

use std::time::Duration;

use ringloop::signal::{SignalKind, signal};

fn send(signo: i32) {
    // SAFETY: kill on our own pid with a valid signal number.
    let rc = unsafe { libc::kill(libc::getpid(), signo) };
    assert_eq!(rc, 0);
}

fn every_listener_sees_each_delivery() {
    ringloop::run(async {
        let mut a = signal(SignalKind::user_defined1()).unwrap();
        let mut b = signal(SignalKind::user_defined1()).unwrap();
        for round in 0..5 {
            // Sent from a task while the main future waits in the loop.
            drop(ringloop::spawn(async {
                ringloop::time::sleep(Duration::from_millis(5)).await;
                send(libc::SIGUSR1);
            }));
            let both = futures_util::future::join(a.recv(), b.recv());
            let (ra, rb) = ringloop::time::timeout(Duration::from_secs(10), both)
                .await
                .unwrap_or_else(|_| panic!("round {round}: signal not delivered"));
            ra.unwrap();
            rb.unwrap();
        }
    });
    println!("ok: every listener sees each delivery");
}

fn ctrl_c_and_terminate() {
    ringloop::run(async {
        let mut term = signal(SignalKind::terminate()).unwrap();
        let ctrl_c = ringloop::spawn(ringloop::signal::ctrl_c());
        ringloop::yield_now().await; // let ctrl_c register
        send(libc::SIGINT);
        send(libc::SIGTERM);
        ringloop::time::timeout(Duration::from_secs(10), ctrl_c)
            .await
            .expect("SIGINT delivered")
            .unwrap()
            .unwrap();
        ringloop::time::timeout(Duration::from_secs(10), term.recv())
            .await
            .expect("SIGTERM delivered")
            .unwrap();
    });
    println!("ok: ctrl_c and terminate");
}

fn bad_signals_are_errors() {
    ringloop::run(async {
        for signo in [0, -1, libc::SIGKILL, libc::SIGSTOP, 1000] {
            let err = signal(SignalKind::from_raw(signo)).unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::InvalidInput,
                "signal {signo}"
            );
        }
    });
    let err = signal(SignalKind::hangup()).unwrap_err();
    assert!(err.to_string().contains("no runtime"));
    println!("ok: bad signals are errors");
}

fn main() {
    every_listener_sees_each_delivery();
    ctrl_c_and_terminate();
    bad_signals_are_errors();
}
