//! Task cancellation: a cancelled task's future is dropped (cancelling its
//! I/O), its handle reports the cancellation; cancelling a finished task
//! does nothing; dropping a handle detaches the task.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn cancel_drops_the_future_and_its_io() {
    ringloop::run(async {
        let (reader, _writer) = ringloop::io::pipe().unwrap();
        let baseline = util::in_flight();
        let task = ringloop::spawn(async move { reader.read(vec![0u8; 8]).await.0 });
        util::within(10, "read submitted", async {
            while util::in_flight() != baseline + 1 {
                ringloop::yield_now().await;
            }
        })
        .await;
        assert!(!task.is_finished());
        task.cancel();
        let err = util::within(5, "cancelled task", task).await.unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        util::within(5, "cancel CQE", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}

#[test]
fn cancel_of_a_finished_task_is_a_no_op() {
    ringloop::run(async {
        let task = ringloop::spawn(async { 5 });
        while !task.is_finished() {
            ringloop::yield_now().await;
        }
        task.cancel();
        task.cancel();
        assert_eq!(task.await.unwrap(), 5);
    });
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop of a cancelled task's state");
    }
}

#[test]
fn a_panic_while_dropping_a_cancelled_task_is_contained() {
    ringloop::run(async {
        let guard = PanicOnDrop;
        let task = ringloop::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        ringloop::yield_now().await;
        task.cancel();
        let err = util::within(5, "cancelled task", task).await.unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        // The loop is still alive: another task runs to completion.
        assert_eq!(ringloop::spawn(async { 7 }).await.unwrap(), 7);
    });
}

#[test]
fn cancel_before_first_poll_never_runs_the_future() {
    ringloop::run(async {
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        let task = ringloop::spawn(async move { flag.set(true) });
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!ran.get());
    });
}

#[test]
fn dropping_the_handle_detaches() {
    ringloop::run(async {
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        drop(ringloop::spawn(async move {
            ringloop::time::sleep(Duration::from_millis(2)).await;
            flag.set(true);
        }));
        util::within(5, "detached task", async {
            while !done.get() {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
}

#[test]
fn a_task_can_cancel_itself_via_its_own_handle() {
    ringloop::run(async {
        let slot: Rc<Cell<Option<ringloop::Task<()>>>> = Rc::new(Cell::new(None));
        let inner = slot.clone();
        let reached_end = Rc::new(Cell::new(false));
        let end = reached_end.clone();
        let task = ringloop::spawn(async move {
            ringloop::yield_now().await;
            if let Some(me) = inner.take() {
                me.cancel();
                inner.set(Some(me));
            }
            ringloop::yield_now().await;
            end.set(true);
        });
        // Keep a second handle? Tasks have one handle; hand it to the task.
        slot.set(Some(task));
        util::within(5, "self-cancel", async {
            loop {
                let finished = match slot.take() {
                    Some(t) => {
                        let f = t.is_finished();
                        slot.set(Some(t));
                        f
                    }
                    None => false,
                };
                if finished {
                    break;
                }
                ringloop::yield_now().await;
            }
        })
        .await;
        let task = slot.take().unwrap();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(
            !reached_end.get(),
            "the future was dropped at its next await"
        );
    });
}

#[test]
fn runtime_drop_cancels_remaining_tasks() {
    let runtime = ringloop::Runtime::new().unwrap();
    let task = runtime.spawn(std::future::pending::<()>());
    runtime.block_on(ringloop::yield_now());
    drop(runtime);
    assert!(task.is_finished());
    let outcome = ringloop::Runtime::new().unwrap().block_on(task);
    assert!(outcome.unwrap_err().is_cancelled());
}

#[test]
fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
    let task = ringloop::spawn(async { 1 });
    let rt = ringloop::Runtime::new().unwrap();
    let err = rt.block_on(task).unwrap_err();
    assert!(!err.is_cancelled() && !err.is_panic());
    assert!(err.to_string().contains("no ringloop runtime"), "{err}");
}
