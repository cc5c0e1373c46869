//! The event loop's API: builder, block_on, run, spawn from outside.

use std::time::Duration;

#[test]
fn builder_and_repeated_block_on() {
    let rt = ringloop::Runtime::builder()
        .entries(32)
        .cq_entries(128)
        .tasks_per_tick(8)
        .build()
        .unwrap();
    let m = rt.metrics();
    assert_eq!(m.sq_entries, 32);
    assert!(m.cq_entries >= 128);
    assert_eq!(rt.block_on(async { 1 }), 1);
    let task = rt.spawn(async { "spawned from outside" });
    assert_eq!(rt.block_on(task).unwrap(), "spawned from outside");
    // A task left running continues at the next block_on.
    let background = rt.spawn(ringloop::time::sleep(Duration::from_millis(1)));
    assert!(!background.is_finished());
    let finished = rt.block_on(async {
        let watchdog = std::time::Instant::now() + Duration::from_secs(10);
        while !background.is_finished() && std::time::Instant::now() < watchdog {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
        background.is_finished()
    });
    assert!(finished, "the background task ran during the next block_on");
}

#[test]
fn zero_entries_is_a_clear_error() {
    let err = ringloop::Runtime::builder().entries(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("entries"), "{err}");
}

#[test]
fn huge_entries_are_clamped_not_refused() {
    let rt = ringloop::Runtime::builder()
        .entries(1 << 20)
        .build()
        .unwrap();
    assert!(rt.metrics().sq_entries <= 32_768);
}

#[test]
fn runtimes_nest_across_block_on_of_another_runtime() {
    ringloop::run(async {
        let inner = ringloop::Runtime::new().unwrap();
        let v = inner.block_on(async {
            ringloop::io::nop().await.unwrap();
            7
        });
        assert_eq!(v, 7);
        ringloop::io::nop().await.unwrap();
    });
}

#[test]
fn io_outside_a_runtime_is_an_error_with_the_buffer_back() {
    let (reader, _writer) = {
        let rt = ringloop::Runtime::new().unwrap();
        rt.block_on(async { ringloop::io::pipe().unwrap() })
    };
    // Poll the read with a foreign executor: no ringloop runtime here.
    let (res, buf) = futures_util::FutureExt::now_or_never(reader.read(vec![7u8; 3]))
        .expect("completes at once");
    let err = res.unwrap_err();
    assert!(err.to_string().contains("no runtime"), "{err}");
    assert_eq!(buf, vec![7u8; 3], "the buffer comes back");
}

#[test]
#[should_panic(expected = "same runtime")]
fn block_on_inside_itself_panics_with_a_message() {
    let rt = std::rc::Rc::new(ringloop::Runtime::new().unwrap());
    let inner = rt.clone();
    rt.block_on(async move {
        inner.block_on(async {});
    });
}
