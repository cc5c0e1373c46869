//! Re-entrancy of the cross-runtime paths (ARCHITECTURE 6c, 6a): an op of
//! runtime A polled while A's ring does not turn is cancelled in A's ring,
//! which the poll turns synchronously (`Driver::cancel_here`); `into_std`
//! turns the registering ring until the stream's registration is done
//! (`SharedFd::settle_registration`). Turning A's ring from inside another
//! runtime (or from inside one of A's own tasks) dispatches A's CQEs:
//! wakers of A's tasks, op states freed (closing fds), multishot items.
//! This file checks that those turns neither hang, nor panic on a borrow,
//! nor lose or duplicate data, and that a runtime blocked in a nested
//! `block_on` of another one does not deadlock on its own ops.
//!
//! A hang here would be a synchronous one (a loop that never returns, not
//! a future that never wakes), which no `ringloop::time::timeout` can cut
//! short: each test body runs on a thread of its own, watched by the test
//! thread (`watched`).

mod util;

use std::future::{Future, poll_fn};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use ringloop::Runtime;
use ringloop::buf::BufRing;
use ringloop::net::{TcpListener, TcpStream};

/// Polls `fut` once; its result, if it finished.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// A connected loopback pair of blocking std sockets: (client, server).
/// The client has a read timeout, so a test that expects data fails
/// instead of hanging.
fn std_pair() -> (StdStream, StdStream) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (client, server)
}

/// Whether `err` is the refusal of an object used outside its runtime.
fn is_other_runtime(err: &std::io::Error) -> bool {
    err.kind() == ErrorKind::InvalidInput && err.to_string().contains("another runtime")
}

/// Runs `body` on a thread of its own and fails the test if it has not
/// returned within `secs` (a synchronous hang, or a deadlock between
/// nested runtimes). A panic in `body` fails the test with its message.
fn watched(secs: u64, what: &str, body: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => thread.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        // The thread is left behind (it cannot be stopped); the test
        // binary exits when the harness is done.
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: hung for {secs} s"),
    }
}

/// Reads from `stream` in the current runtime until `len` bytes came.
async fn read_len(stream: &TcpStream, mut got: Vec<u8>, len: usize) -> Vec<u8> {
    while got.len() < len {
        let (res, buf) = stream.read(Vec::with_capacity(len - got.len())).await;
        let n = res.expect("read");
        assert!(n > 0, "EOF after {} of {len} bytes", got.len());
        got.extend_from_slice(&buf);
    }
    got
}

// ---- a runtime blocked in a nested block_on of another one ----------------

/// A read of A first polled in A, then awaited in a `block_on` of B nested
/// inside A's own future. A's ring cannot turn until B returns, and B
/// waits for A's read: without care a deadlock (no bound, no error). It
/// must complete in B, with the data, whether the data came before B
/// polled it or after.
#[test]
fn an_op_of_the_outer_runtime_awaited_in_a_nested_block_on_completes() {
    for data_first in [true, false] {
        watched(30, "a's read in a nested block_on of b", move || {
            let rt_a = Runtime::new().unwrap();
            let rt_b = Runtime::new().unwrap();
            let (mut client, server) = std_pair();
            rt_a.block_on(async {
                let stream = TcpStream::from_std(server);
                let mut read = Box::pin(stream.read(Vec::with_capacity(64)));
                assert!(poll_once(&mut read).await.is_pending());
                if data_first {
                    client.write_all(b"nested").unwrap();
                }
                let got = rt_b.block_on(async {
                    let first = poll_once(&mut read).await;
                    if !data_first {
                        client.write_all(b"nested").unwrap();
                    }
                    let (res, buf) = match first {
                        Poll::Ready(done) => done,
                        Poll::Pending => util::within(10, "the read, in b", read).await,
                    };
                    let n = res.expect("read");
                    assert!(n > 0 && buf.len() == n);
                    buf
                });
                // Fault injection may make the read short: the rest is
                // there, read back in A.
                let got = read_len(&stream, got, 6).await;
                assert_eq!(got, b"nested", "data_first {data_first}");
            });
        });
    }
}

/// A task of A blocks in a nested `block_on` of B on an accept of A's
/// multishot `Incoming`: refused (`InvalidInput`) rather than a deadlock;
/// back in A the same `Incoming` goes on.
#[test]
fn a_stream_of_the_outer_runtime_polled_in_a_nested_block_on_is_refused() {
    watched(30, "a's incoming in a nested block_on of b", || {
        let rt_a = Runtime::new().unwrap();
        let rt_b = Runtime::new().unwrap();
        rt_a.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut incoming = listener.incoming();
            {
                let mut next = Box::pin(incoming.next());
                assert!(poll_once(&mut next).await.is_pending());
            }
            let _client = StdStream::connect(addr).unwrap();
            let refused = rt_b.block_on(async { incoming.next().await });
            let err = refused.expect_err("a's accept polled in b");
            assert!(is_other_runtime(&err), "{err:?}");
            util::within(10, "accept, back in a", incoming.next())
                .await
                .unwrap();
        });
    });
}

/// A write-behind send in flight in A, flushed in a nested `block_on` of
/// B: refused rather than a deadlock; back in A it goes out.
#[test]
fn a_write_behind_of_the_outer_runtime_flushed_in_a_nested_block_on_is_refused() {
    watched(30, "a's write-behind in a nested block_on of b", || {
        let rt_a = Runtime::builder().eager_sends(false).build().unwrap();
        let rt_b = Runtime::new().unwrap();
        let (mut client, server) = std_pair();
        rt_a.block_on(async {
            let stream = TcpStream::from_std(server);
            let mut tx = stream.write_behind();
            tx.write(b"behind".to_vec()).await.unwrap();
            if tx.is_sending() {
                let err = rt_b.block_on(tx.flush()).expect_err("a's send polled in b");
                assert!(is_other_runtime(&err), "{err:?}");
            }
            util::within(10, "flush, in a", tx.flush()).await.unwrap();
        });
        let mut got = [0u8; 6];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"behind");
    });
}

// ---- what a turn of A's ring dispatches, from inside B ---------------------

/// While B's poll of A's read turns A's ring (`cancel_here`), that turn
/// also completes another task of A (its read had data) and a forward of
/// A (its receive delivers; the target sends through A). None of it is
/// lost: back in A the task gets its data and the forward's bytes reach
/// its destination, in order.
#[test]
fn a_turn_of_a_from_inside_b_keeps_the_wakes_and_forwards_of_a() {
    for nested in [false, true] {
        watched(60, "a's other work across a turn from b", move || {
            let rt_a = Runtime::new().unwrap();
            let rt_b = Runtime::new().unwrap();
            let (mut client_read, server_read) = std_pair();
            let (mut client_task, server_task) = std_pair();
            let (mut client_from, server_from) = std_pair();
            let (mut client_to, server_to) = std_pair();
            let (read_stream, task, forward) = rt_a.block_on(async {
                let task_stream = TcpStream::from_std(server_task);
                let task =
                    ringloop::spawn(async move { read_len(&task_stream, Vec::new(), 4).await });
                let ring = BufRing::builder().entries(8).buf_len(64).build().unwrap();
                let from = TcpStream::from_std(server_from);
                let to = TcpStream::from_std(server_to);
                let forward = ringloop::spawn(async move {
                    let res = from.forward_to(&ring, &to).await;
                    drop(to);
                    res
                });
                // Both tasks poll once: their ops are in A's ring.
                ringloop::yield_now().await;
                ringloop::yield_now().await;
                (TcpStream::from_std(server_read), task, forward)
            });
            let mut read = Box::pin(read_stream.read(Vec::with_capacity(64)));
            {
                rt_a.block_on(async { assert!(poll_once(&mut read).await.is_pending()) });
                client_task.write_all(b"task").unwrap();
                client_from.write_all(b"forwarded").unwrap();
                client_read.write_all(b"read").unwrap();
                let mut in_b = || {
                    rt_b.block_on(async {
                        let (res, buf) = util::within(10, "a's read, in b", &mut read).await;
                        assert!(res.expect("read") > 0);
                        buf
                    })
                };
                let got = if nested {
                    rt_a.block_on(async { in_b() })
                } else {
                    in_b()
                };
                rt_a.block_on(async {
                    let got = read_len(&read_stream, got, 4).await;
                    assert_eq!(got, b"read");
                    let got = util::within(10, "a's task", task).await.unwrap();
                    assert_eq!(got, b"task", "a's task lost its wake or data");
                    // The forward's destination gets every byte, in order.
                    let mut got = [0u8; 9];
                    let reader =
                        std::thread::spawn(move || client_to.read_exact(&mut got).map(|()| got));
                    drop(client_from);
                    let forwarded = util::within(10, "the forward", forward).await.unwrap();
                    assert_eq!(forwarded.expect("forward"), 9);
                    assert_eq!(&reader.join().unwrap().unwrap(), b"forwarded");
                });
            }
        });
    }
}

/// A registered stream of A whose last holder is an orphaned read of A
/// (the stream was dropped while B ran): the read's final CQE comes in a
/// turn of A made from inside B (B polls another read of A), where the
/// op's state is freed and the stream's slot is closed at once, from
/// inside A's dispatch. The peer sees end of stream, A's table slot is
/// released, and nothing panics on a borrow.
#[test]
fn a_stream_freed_inside_a_turn_of_a_from_b_is_closed() {
    watched(
        60,
        "a registered stream freed in a's dispatch from b",
        || {
            let rt_a = Runtime::builder().register_streams(8).build().unwrap();
            let rt_b = Runtime::new().unwrap();
            let (mut client_gone, server_gone) = std_pair();
            let (mut client_read, server_read) = std_pair();
            let (gone, other) = rt_a.block_on(async {
                let gone = TcpStream::from_std(server_gone);
                let other = TcpStream::from_std(server_read);
                // The registrations complete.
                let (res, _) = gone.write_all(b"up".to_vec()).await;
                res.unwrap();
                (gone, other)
            });
            let mut up = [0u8; 2];
            client_gone.read_exact(&mut up).unwrap();
            assert_eq!(rt_a.metrics().registered_streams, 2);
            let mut orphaned = Box::pin(gone.read(Vec::with_capacity(16)));
            let mut read = Box::pin(other.read(Vec::with_capacity(16)));
            rt_a.block_on(async {
                assert!(poll_once(&mut orphaned).await.is_pending());
                assert!(poll_once(&mut read).await.is_pending());
            });
            client_read.write_all(b"ping").unwrap();
            // Dropped while A does not run: the read's cancel is queued in A;
            // the stream lives on in the read's state.
            drop(orphaned);
            drop(gone);
            rt_b.block_on(async {
                let (res, buf) = util::within(10, "a's read, in b", &mut read).await;
                assert!(res.expect("read") > 0);
                assert!(b"ping".starts_with(&buf));
                // The orphaned read's final CQE usually comes in the turn of
                // A that B made (its cancel was queued first); else in a later
                // turn of A, below.
            });
            rt_a.block_on(util::within(10, "a's orphaned read freed", async {
                while ringloop::runtime::metrics().unwrap().registered_streams > 1 {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
            }));
            // The fd's own close went through the ring running when the state
            // was freed (B's or A's): both turn, so it is submitted.
            rt_a.block_on(ringloop::yield_now());
            rt_b.block_on(ringloop::yield_now());
            client_gone
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut rest = Vec::new();
            client_gone
                .read_to_end(&mut rest)
                .expect("the peer sees end of stream");
            assert!(rest.is_empty());
        },
    );
}

/// `into_std` right after a registered stream of A was made (its
/// registration op still in A's ring), called while B runs, while B runs
/// nested in A, and with no runtime: the registering ring is turned to
/// finish the registration, the connection survives, A's slot is
/// released, and a task of A woken in that turn still runs.
#[test]
fn into_std_of_a_stream_of_a_called_elsewhere_keeps_the_connection() {
    for place in ["b", "nested b", "no runtime"] {
        watched(60, "into_std elsewhere", move || {
            let rt_a = Runtime::builder().register_streams(8).build().unwrap();
            let rt_b = Runtime::new().unwrap();
            let (mut client, server) = std_pair();
            let (mut client_task, server_task) = std_pair();
            let task = rt_a.spawn(async move {
                let task_stream = TcpStream::from_std(server_task);
                read_len(&task_stream, Vec::new(), 4).await
            });
            // The task runs once: its read is in A's ring.
            rt_a.block_on(async {
                ringloop::yield_now().await;
                ringloop::yield_now().await;
            });
            // The task's stream is registered too.
            let baseline = rt_a.metrics().registered_streams;
            // Made in A; its registration is queued, A's ring not turned.
            let stream = rt_a.block_on(async { TcpStream::from_std(server) });
            client_task.write_all(b"task").unwrap();
            let into_std = move || stream.into_std().expect("into_std elsewhere");
            let mut std_stream = match place {
                "b" => rt_b.block_on(async { into_std() }),
                "nested b" => rt_a.block_on(async { rt_b.block_on(async { into_std() }) }),
                _ => into_std(),
            };
            assert_eq!(
                rt_a.metrics().registered_streams,
                baseline,
                "{place}: slot kept"
            );
            std_stream.write_all(b"std").unwrap();
            let mut got = [0u8; 3];
            client.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"std", "{place}");
            client.write_all(b"back").unwrap();
            let mut got = [0u8; 4];
            std_stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            std_stream.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"back", "{place}");
            let got = rt_a.block_on(util::within(10, "a's task", task)).unwrap();
            assert_eq!(got, b"task", "{place}");
        });
    }
}

// ---- the count of entered runtimes --------------------------------------

/// Panics unwinding through `block_on` (the main future's own, and a
/// nested `block_on` of B inside a task of A) leave each runtime counted
/// as running exactly while it runs: afterwards an op of A awaited in A
/// is not cancelled (A's ring turns), and an op of B awaited in A is not
/// left waiting for B's ring (B does not).
#[test]
fn panics_through_block_on_keep_the_running_count() {
    watched(60, "counts after panics", || {
        let rt_a = Runtime::new().unwrap();
        let rt_b = Runtime::new().unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt_a.block_on(async { panic!("in a's block_on") })
        }));
        assert!(caught.is_err());
        let rt_b = std::rc::Rc::new(rt_b);
        let inner = rt_b.clone();
        rt_a.block_on(async move {
            let task = ringloop::spawn(async move {
                inner.block_on(async { panic!("in b's nested block_on") })
            });
            let err = util::within(10, "the panicking task", task)
                .await
                .expect_err("the task panicked");
            assert!(err.is_panic());
        });
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt_a.block_on(async { rt_b.block_on(async { panic!("in b, nested in a's future") }) })
        }));
        assert!(caught.is_err());

        let (mut client_a, server_a) = std_pair();
        let (mut client_b, server_b) = std_pair();
        let stream_b = rt_b.block_on(async { TcpStream::from_std(server_b) });
        let mut read_b = Box::pin(stream_b.read(Vec::with_capacity(16)));
        rt_b.block_on(async { assert!(poll_once(&mut read_b).await.is_pending()) });
        let cancels_before = rt_a.metrics().cancels_issued;
        rt_a.block_on(async {
            let stream_a = TcpStream::from_std(server_a);
            let mut read_a = Box::pin(stream_a.read(Vec::with_capacity(16)));
            assert!(poll_once(&mut read_a).await.is_pending());
            client_a.write_all(b"a").unwrap();
            let (res, _) = util::within(10, "a's read, in a", read_a).await;
            assert_eq!(res.unwrap(), 1);
            // B does not run: its read is finished from here, not waited for.
            client_b.write_all(b"b").unwrap();
            let (res, _) = util::within(10, "b's read, in a", read_b).await;
            assert_eq!(res.unwrap(), 1);
        });
        assert_eq!(
            rt_a.metrics().cancels_issued,
            cancels_before,
            "a's own read was treated as polled elsewhere"
        );
    });
}

// ---- timers -----------------------------------------------------------------

/// A sleep registered in A, whose runtime is then dropped (emptying its
/// timer queue), polled with no runtime on the thread: it must not report
/// its deadline as passed (the queue lost it; it did not fire).
#[test]
fn a_sleep_of_a_dropped_runtime_polled_outside_any_runtime_does_not_fire_early() {
    let rt_a = Runtime::new().unwrap();
    let mut sleep = Box::pin(ringloop::time::sleep(Duration::from_secs(3600)));
    rt_a.block_on(async { assert!(poll_once(&mut sleep).await.is_pending()) });
    drop(rt_a);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    // Documented: a sleep polled outside a runtime panics. What it must
    // not do is return Ready an hour early.
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sleep.as_mut().poll(&mut cx)
    }));
    assert!(
        !matches!(polled, Ok(Poll::Ready(()))),
        "a one-hour sleep fired at once"
    );
}
