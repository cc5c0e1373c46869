//! Cancel racing completion: 10,000 reads are submitted and dropped at
//! random moments on a pipe another thread writes to. Each read either
//! completes or is cancelled, exactly once; a read cancelled too late to
//! stop the kernel still accounts for the bytes it took (the kernel's count
//! is recorded in its buffer before the buffer is freed). Every byte written
//! is found exactly once: read, taken by a late-cancelled read, or left in
//! the pipe.

mod util;

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_util::task::noop_waker_ref;
use ringloop::buf::{IoBuf, IoBufMut};

const ROUNDS: usize = 10_000;
const TOTAL: usize = 4 << 20;

/// Byte histogram of everything the reads got, in any order.
struct Tally {
    counts: Vec<u64>,
    bytes: u64,
    buffers_dropped: u64,
}

/// A read buffer that adds whatever the kernel wrote into it to the tally
/// when it is dropped (normal or late completion).
struct TallyBuf {
    data: Vec<u8>,
    tally: Rc<RefCell<Tally>>,
}

impl Drop for TallyBuf {
    fn drop(&mut self) {
        let mut t = self.tally.borrow_mut();
        for &b in &self.data {
            t.counts[b as usize] += 1;
        }
        t.bytes += self.data.len() as u64;
        t.buffers_dropped += 1;
    }
}

// SAFETY: delegates to the Vec (stable heap pointer, `len` initialized).
unsafe impl IoBuf for TallyBuf {
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

// SAFETY: as above; the kernel's count is forwarded to the Vec.
unsafe impl IoBufMut for TallyBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller guarantees `pos` bytes were written.
        unsafe { self.data.set_init(pos) }
    }
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

#[test]
fn every_byte_is_read_once_whatever_the_cancel_timing() {
    let (reader, writer) = std::io::pipe().unwrap();
    let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
    let (started_tx, started) = std::sync::mpsc::channel();
    let writer_thread = std::thread::spawn(move || {
        let mut writer = writer;
        for (i, chunk) in data.chunks(997).enumerate() {
            writer.write_all(chunk).unwrap();
            if i == 0 {
                started_tx.send(()).unwrap();
            }
        }
        // Dropped: the reader sees end of stream once the pipe is empty.
    });
    // Reads race a writer that is already writing.
    started.recv().unwrap();
    let reader = ringloop::io::PipeReader::from(std::os::fd::OwnedFd::from(reader));
    let tally = Rc::new(RefCell::new(Tally {
        counts: vec![0; 256],
        bytes: 0,
        buffers_dropped: 0,
    }));
    let mut rng = util::Rng::new(11);
    let (completed, orphaned) = ringloop::run(async {
        let baseline = util::in_flight();
        let (mut completed, mut orphaned) = (0usize, 0usize);
        for _ in 0..ROUNDS {
            let buf = TallyBuf {
                data: Vec::with_capacity(rng.range(1, 4096) as usize),
                tally: tally.clone(),
            };
            let mut read = pin!(reader.read(buf));
            let mut cx = Context::from_waker(noop_waker_ref());
            let mut done = false;
            for _ in 0..rng.range(0, 3) {
                if let Poll::Ready((res, _buf)) = read.as_mut().poll(&mut cx) {
                    res.unwrap();
                    done = true;
                    break;
                }
                ringloop::yield_now().await;
            }
            if !done {
                if let Poll::Ready((res, _buf)) = read.as_mut().poll(&mut cx) {
                    res.unwrap();
                    done = true;
                }
            }
            if done {
                completed += 1;
            } else {
                orphaned += 1;
            } // `read` dropped here: cancelled if still in the kernel
        }
        // Let every cancelled read come back from the kernel.
        util::within(10, "cancelled reads return", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
        // Drain what is left in the pipe.
        loop {
            let buf = TallyBuf {
                data: Vec::with_capacity(65536),
                tally: tally.clone(),
            };
            let (res, _buf) = util::within(30, "drain", reader.read(buf)).await;
            if res.unwrap() == 0 {
                break;
            }
        }
        (completed, orphaned)
    });
    writer_thread.join().unwrap();
    let tally = tally.borrow();
    assert_eq!(completed + orphaned, ROUNDS);
    assert!(
        completed > 0 && orphaned > 0,
        "both outcomes were exercised: {completed} completed, {orphaned} cancelled"
    );
    assert!(
        tally.buffers_dropped >= ROUNDS as u64,
        "every round's buffer was freed exactly once"
    );
    assert_eq!(tally.bytes, TOTAL as u64, "bytes lost or duplicated");
    let mut expected = vec![0u64; 256];
    for i in 0..TOTAL {
        expected[pattern(i) as usize] += 1;
    }
    assert!(tally.counts == expected, "byte values lost or duplicated");
}
