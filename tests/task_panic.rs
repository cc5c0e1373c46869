//! A panicking task is isolated: its handle gets a JoinError with the
//! payload; the runtime and the other tasks keep running.

use std::time::Duration;

#[test]
fn panic_is_caught_and_others_keep_running() {
    ringloop::run(async {
        let survivor = ringloop::spawn(async {
            ringloop::time::sleep(Duration::from_millis(5)).await;
            "still here"
        });
        let crasher = ringloop::spawn(async {
            ringloop::yield_now().await;
            panic!("boom {}", 42);
        });
        let err = crasher.await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("boom 42"), "{err}");
        let payload = err.into_panic();
        // A String, or a &'static str when rustc folds the literal format.
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        assert_eq!(message, Some("boom 42"));
        assert_eq!(survivor.await.unwrap(), "still here");
        // The loop still works after the panic.
        ringloop::io::nop().await.unwrap();
    });
}

#[test]
fn try_into_panic_gives_back_a_non_panic_error() {
    ringloop::run(async {
        let task = ringloop::spawn(std::future::pending::<()>());
        task.cancel();
        let err = task.await.unwrap_err();
        let err = err.try_into_panic().unwrap_err();
        assert!(err.is_cancelled());
    });
}
