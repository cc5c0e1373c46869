//! Dropping an op future after its first poll: the buffer it owns is freed
//! only once the kernel has returned the op's CQE — never while the kernel
//! may still write into it.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Context;

use futures_util::task::noop_waker_ref;
use ringloop::buf::{IoBuf, IoBufMut};

/// A buffer that records when it is dropped.
struct Tracked {
    data: Vec<u8>,
    dropped: Rc<Cell<bool>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

// SAFETY: delegates to the Vec, whose heap pointer is stable and whose
// `len` bytes out of `capacity` are initialized.
unsafe impl IoBuf for Tracked {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.len()
    }
    fn bytes_total(&self) -> usize {
        self.data.capacity()
    }
}

// SAFETY: as above; `set_init` forwards the kernel's count to the Vec.
unsafe impl IoBufMut for Tracked {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller guarantees `pos` bytes were initialized.
        unsafe { self.data.set_init(pos) }
    }
}

#[test]
fn buffer_outlives_the_dropped_future_until_the_cqe() {
    ringloop::run(async {
        let (reader, _writer) = ringloop::io::pipe().unwrap();
        let baseline = util::in_flight();
        for round in 0..10_000 {
            let dropped = Rc::new(Cell::new(false));
            let buf = Tracked {
                data: Vec::with_capacity(64),
                dropped: dropped.clone(),
            };
            {
                let mut read = pin!(reader.read(buf));
                let mut cx = Context::from_waker(noop_waker_ref());
                // First poll: the op is pushed; nothing can be read yet.
                assert!(read.as_mut().poll(&mut cx).is_pending());
            } // dropped here: the op is cancelled, not freed
            assert!(
                !dropped.get(),
                "round {round}: buffer freed while the kernel still owned it"
            );
            assert_eq!(util::in_flight(), baseline + 1);
            // Let the loop run until the cancelled op's CQE has come back.
            let mut turns = 0;
            while util::in_flight() > baseline {
                assert!(!dropped.get(), "round {round}: freed before the CQE");
                ringloop::yield_now().await;
                turns += 1;
                assert!(turns < 1_000, "round {round}: cancel never completed");
            }
            assert!(dropped.get(), "round {round}: buffer leaked after the CQE");
        }
        let m = ringloop::runtime::metrics().unwrap();
        assert!(m.cancels_issued >= 10_000);
        // With fault injection some reads never reach the kernel, which then
        // has nothing to confirm.
        if std::env::var_os("RINGLOOP_FAULT_SEED").is_none() {
            assert!(
                m.ops_cancelled >= 10_000,
                "kernel confirmed every cancel: {m:?}"
            );
        }
    });
}
