//! Reliability: shutdown with thousands of operations pending.
//!
//! 1,000 pending accepts, 1,000 pending receives, 1,000 timers and 1,000
//! pending file reads (on FIFOs opened read+write through
//! `ringloop::fs::OpenOptions`, so the open does not block and `read_at`
//! waits for a writer that never writes).
//!
//! - Cancelling every task brings the op table and the timer queue back to
//!   their baseline, and frees every owned buffer.
//! - Dropping the runtime with all 4,000 pending returns within 1 s, frees
//!   every buffer the kernel held, and leaves the process with exactly the
//!   fds it had before the runtime existed.
//!
//! The fd count is process-wide, so this file holds a single test.

mod util;

use std::cell::Cell;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::Task;
use ringloop::buf::{IoBuf, IoBufMut};
use ringloop::fs::{File, OpenOptions};
use ringloop::net::{TcpListener, TcpStream};

const LISTENERS: usize = 10;
const ACCEPTS_PER_LISTENER: usize = 100;
const PAIRS: usize = 250;
/// Receives pending on each end of each pair: 250 pairs x 2 ends x 2.
const RECVS_PER_END: usize = 2;
const TIMERS: usize = 1_000;
const FIFOS: usize = 10;
const READS_PER_FIFO: usize = 100;

const ACCEPTS: usize = LISTENERS * ACCEPTS_PER_LISTENER;
const RECVS: usize = PAIRS * 2 * RECVS_PER_END;
const READS: usize = FIFOS * READS_PER_FIFO;

/// A read buffer that counts how many of its kind have been freed.
struct Counted {
    data: Vec<u8>,
    freed: Rc<Cell<usize>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.freed.set(self.freed.get() + 1);
    }
}

// SAFETY: delegates to the Vec: its heap pointer is stable when the Vec
// moves, and `len` of its `capacity` bytes are initialized.
unsafe impl IoBuf for Counted {
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

// SAFETY: as above; the pointer is writable for `capacity` bytes and the
// kernel's count is forwarded to the Vec.
unsafe impl IoBufMut for Counted {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller guarantees `pos` bytes were initialized.
        unsafe { self.data.set_init(pos) }
    }
}

/// Everything the pending operations run on; the tasks hold clones.
struct Fixture {
    listeners: Vec<Rc<TcpListener>>,
    /// Both ends of every connection.
    ends: Vec<Rc<TcpStream>>,
    fifos: Vec<Rc<File>>,
}

fn mkfifo(path: &std::path::Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

async fn fixture(dir: &util::TempDir) -> Fixture {
    let mut listeners = Vec::new();
    for _ in 0..LISTENERS {
        listeners.push(Rc::new(TcpListener::bind("127.0.0.1:0").unwrap()));
    }
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let mut ends = Vec::new();
    for _ in 0..PAIRS {
        let (client, accepted) = futures_util::join!(TcpStream::connect(addr), server.accept());
        ends.push(Rc::new(client.unwrap()));
        ends.push(Rc::new(accepted.unwrap().0));
    }
    let mut fifos = Vec::new();
    for i in 0..FIFOS {
        let path = dir.join(format!("fifo{i}"));
        mkfifo(&path);
        // Read+write: the open does not wait for a writer, and as this
        // end is also the only writer, a read waits forever.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        fifos.push(Rc::new(file));
    }
    Fixture {
        listeners,
        ends,
        fifos,
    }
}

/// Spawns the 4,000 pending operations; every task would fail the test if
/// its operation ever completed.
fn spawn_pending(fx: &Fixture, freed: &Rc<Cell<usize>>) -> Vec<Task<()>> {
    let mut tasks = Vec::new();
    for listener in &fx.listeners {
        for _ in 0..ACCEPTS_PER_LISTENER {
            let listener = listener.clone();
            tasks.push(ringloop::spawn(async move {
                let res = listener.accept().await;
                panic!("an accept with no client completed: {res:?}");
            }));
        }
    }
    for end in &fx.ends {
        for _ in 0..RECVS_PER_END {
            let (end, freed) = (end.clone(), freed.clone());
            tasks.push(ringloop::spawn(async move {
                let buf = Counted {
                    data: Vec::with_capacity(256),
                    freed,
                };
                let (res, _) = end.read(buf).await;
                panic!("a receive with a silent peer completed: {res:?}");
            }));
        }
    }
    for i in 0..TIMERS {
        tasks.push(ringloop::spawn(async move {
            ringloop::time::sleep(Duration::from_secs(3_600 + i as u64)).await;
            panic!("an hour-long timer fired");
        }));
    }
    for fifo in &fx.fifos {
        for _ in 0..READS_PER_FIFO {
            let (fifo, freed) = (fifo.clone(), freed.clone());
            tasks.push(ringloop::spawn(async move {
                let buf = Counted {
                    data: Vec::with_capacity(256),
                    freed,
                };
                let (res, _) = fifo.read_at(buf, 0).await;
                panic!("a read of an empty FIFO completed: {res:?}");
            }));
        }
    }
    tasks
}

/// Waits (bounded) until every operation is in the kernel and every timer
/// is registered.
async fn all_pending(baseline_ops: usize, baseline_timers: usize) {
    util::within(20, "4,000 operations pending", async {
        loop {
            let m = ringloop::runtime::metrics().unwrap();
            if m.ops_in_flight >= baseline_ops + ACCEPTS + RECVS + READS
                && m.timers >= baseline_timers + TIMERS
            {
                break;
            }
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let m = ringloop::runtime::metrics().unwrap();
    assert_eq!(
        m.ops_in_flight,
        baseline_ops + ACCEPTS + RECVS + READS,
        "{m:?}"
    );
    assert_eq!(m.timers, baseline_timers + TIMERS, "{m:?}");
}

fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the live, writable `lim`.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) };
    assert_eq!(rc, 0);
    lim.rlim_cur
}

#[test]
fn dropping_a_runtime_with_4000_pending_ops_is_prompt_and_leaks_nothing() {
    let dir = util::TempDir::new("reliability-shutdown");
    let baseline_fds = util::fd_count();
    // Listeners, both ends of each pair, FIFOs, the ring, its eventfd.
    let needed = (baseline_fds + LISTENERS + 1 + 2 * PAIRS + FIFOS + 64) as u64;
    let Some(limit) = util::raise_nofile(needed) else {
        return; // printed why
    };
    assert!(limit >= needed && fd_limit() >= needed);

    let freed = Rc::new(Cell::new(0usize));
    let runtime = ringloop::Runtime::new().unwrap();
    runtime.block_on(async {
        let baseline_ops = util::in_flight();
        let baseline_timers = ringloop::runtime::metrics().unwrap().timers;
        let fx = util::within(30, "sockets and FIFOs set up", fixture(&dir)).await;

        // Round 1: cancel every task; the table and the timers drain.
        let tasks = spawn_pending(&fx, &freed);
        all_pending(baseline_ops, baseline_timers).await;
        let cancelled_at = Instant::now();
        for task in &tasks {
            task.cancel();
        }
        util::within(5, "cancelled ops return", async {
            loop {
                let m = ringloop::runtime::metrics().unwrap();
                if m.ops_in_flight == baseline_ops
                    && m.timers <= baseline_timers + 1
                    && freed.get() == RECVS + READS
                {
                    break;
                }
                ringloop::yield_now().await;
            }
        })
        .await;
        eprintln!("4,000 cancels drained in {:?}", cancelled_at.elapsed());
        for task in tasks {
            let err = task.await.unwrap_err();
            assert!(err.is_cancelled(), "{err}");
        }
        let m = ringloop::runtime::metrics().unwrap();
        assert_eq!(m.ops_in_flight, baseline_ops, "{m:?}");
        assert_eq!(m.timers, baseline_timers, "{m:?}");
        assert_eq!(m.tasks, 0, "every cancelled task is gone: {m:?}");

        // Round 2: the same again, left pending for the runtime's drop.
        // The handles are dropped (detached): the tasks own the sockets.
        drop(spawn_pending(&fx, &freed));
        all_pending(baseline_ops, baseline_timers).await;
    });
    assert_eq!(freed.get(), RECVS + READS, "round 2 buffers still owned");
    assert!(util::fd_count() >= baseline_fds + 2 * PAIRS);

    let start = Instant::now();
    drop(runtime);
    let took = start.elapsed();
    eprintln!("runtime with 4,000 pending ops dropped in {took:?}");
    assert!(took < Duration::from_secs(1), "runtime drop took {took:?}");
    assert_eq!(
        freed.get(),
        2 * (RECVS + READS),
        "every buffer the kernel held was freed"
    );
    assert_eq!(
        util::fd_count(),
        baseline_fds,
        "sockets, FIFOs, the ring and its eventfd were all closed"
    );
}
