//! A cancelled read takes no data with it: after dropping a pending pipe
//! read, the next read gets every byte written afterwards.

mod util;

use std::future::Future;
use std::pin::pin;
use std::task::Context;

use futures_util::task::noop_waker_ref;

#[test]
fn dropped_pipe_read_then_write_4096_next_read_gets_all() {
    ringloop::run(async {
        let (reader, writer) = ringloop::io::pipe().unwrap();
        for round in 0..1_000u32 {
            {
                let mut pending = pin!(reader.read(Vec::with_capacity(4096)));
                let mut cx = Context::from_waker(noop_waker_ref());
                assert!(pending.as_mut().poll(&mut cx).is_pending());
            }
            let payload: Vec<u8> = (0..4096u32).map(|i| (i ^ round) as u8).collect();
            let (res, _) = writer.write_all(payload.clone()).await;
            res.unwrap();
            let (res, got) = util::within(
                5,
                "read after cancel",
                reader.read_exact(Vec::with_capacity(4096)),
            )
            .await;
            res.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(got, payload, "round {round}: bytes lost or reordered");
        }
    });
}

#[test]
fn cancelled_read_result_is_ecanceled_in_the_kernel() {
    if std::env::var_os("RINGLOOP_FAULT_SEED").is_some() {
        // Injected faults keep some reads from the kernel, which then has
        // nothing to confirm.
        return;
    }
    ringloop::run(async {
        let (reader, _writer) = ringloop::io::pipe().unwrap();
        let before = ringloop::runtime::metrics().unwrap().ops_cancelled;
        let task = ringloop::spawn(async move { reader.read(vec![0u8; 16]).await });
        ringloop::yield_now().await; // the task starts its read
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        util::within(5, "cancel CQE", async {
            while ringloop::runtime::metrics().unwrap().ops_cancelled == before {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}
