//! Echo integrity at scale: 1,000 concurrent connections through the echo
//! server's own handler (`examples/echo_server/echo.rs`, plain mode), each
//! sending 1 MiB of pseudo-random data in random chunks of 1 B to 64 KiB,
//! and every echoed byte checked, in order, against what was sent.
//!
//! All 1,000 connections are established before any data moves (a gate),
//! so they are truly concurrent. Each client writes from one task (its
//! write half) while reading from another, so full socket buffers never
//! deadlock it; dropping the write half when done makes the server see EOF
//! and end the connection, and the client then reads EOF.
//!
//! To keep a debug build fast, the data is not generated per byte: every
//! connection's stream is its own window of one shared pseudo-random pool,
//! starting at a distinct offset, so building chunks and checking them are
//! memcpy/memcmp. A byte out of place, lost, duplicated or from another
//! connection lands at a position where the pool differs.

mod util;

#[path = "../examples/echo_server/echo.rs"]
#[allow(dead_code)] // the direct-descriptor mode is not driven here
mod echo;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ringloop::buf::BufRing;
use ringloop::net::{TcpListener, TcpStream};

const MAX_CHUNK: u64 = 64 * 1024;
/// Offsets of the connections' windows are `i * STRIDE`, all distinct.
const STRIDE: usize = 4099;
/// The plain handler's read buffer (the example's default).
const SERVER_BUF: usize = 16 * 1024;

/// Waits until `n` tasks have arrived.
#[derive(Clone)]
struct Gate {
    left: Rc<Cell<usize>>,
    waiting: Rc<RefCell<Vec<Waker>>>,
}

impl Gate {
    fn new(n: usize) -> Gate {
        Gate {
            left: Rc::new(Cell::new(n)),
            waiting: Rc::default(),
        }
    }

    async fn arrive(&self) {
        self.left.set(self.left.get() - 1);
        if self.left.get() == 0 {
            for waker in self.waiting.borrow_mut().drain(..) {
                waker.wake();
            }
            return;
        }
        poll_fn(|cx| {
            if self.left.get() == 0 {
                Poll::Ready(())
            } else {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// One client: connects, waits for all the others, then writes its window
/// of `pool` in random chunks from one task while checking the echo in
/// this one. Returns the bytes it got back.
async fn client(
    id: usize,
    addr: SocketAddr,
    pool: Rc<Vec<u8>>,
    per_connection: usize,
    gate: Gate,
) -> usize {
    let stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|err| panic!("connection {id}: connect: {err}"));
    gate.arrive().await;
    let start = id * STRIDE;
    let (read_half, write_half) = stream.into_split();

    let writer = {
        let pool = pool.clone();
        ringloop::spawn(async move {
            let mut sizes = util::Rng::new(id as u64 + 1);
            let mut buf = Vec::with_capacity(MAX_CHUNK as usize);
            let mut sent = 0;
            while sent < per_connection {
                let n = (sizes.range(1, MAX_CHUNK) as usize).min(per_connection - sent);
                buf.clear();
                buf.extend_from_slice(&pool[start + sent..start + sent + n]);
                let (res, b) = write_half.write_all(buf).await;
                if let Err(err) = res {
                    panic!("connection {id}: write at {sent}: {err}");
                }
                buf = b;
                sent += n;
            }
            // Dropping the write half shuts the write side: the server
            // sees EOF once it has echoed everything.
            drop(write_half);
        })
    };

    let mut received = 0;
    let mut buf = Vec::with_capacity(MAX_CHUNK as usize);
    loop {
        let (res, b) = read_half.read(buf).await;
        let n = res.unwrap_or_else(|err| panic!("connection {id}: read at {received}: {err}"));
        if n == 0 {
            break;
        }
        assert!(
            received + n <= per_connection,
            "connection {id}: more bytes echoed than sent"
        );
        let expected = &pool[start + received..start + received + n];
        if b[..n] != *expected {
            let at = (0..n).find(|&i| b[i] != expected[i]).unwrap_or(0);
            panic!(
                "connection {id}: byte {} differs: got {:#04x}, sent {:#04x}",
                received + at,
                b[at],
                expected[at]
            );
        }
        received += n;
        buf = b;
        buf.clear();
    }
    writer.await.unwrap();
    received
}

/// How the server under test serves connections.
#[derive(Clone, Copy, Debug)]
enum Server {
    /// `echo::serve`: one accept and one read buffer per connection.
    Plain,
    /// The example's default fast path: multishot accept, multishot recv
    /// into one shared buffer pool, connections registered in the ring's
    /// file table (as the example's runtime does).
    Pooled,
    /// The pooled path echoing with `forward_to` (`--forward`).
    Forward,
}

/// Runs `connections` clients of `per_connection` bytes each against the
/// echo handler in one runtime and checks every byte and the server's
/// counters.
fn echo_test(server_kind: Server, connections: usize, per_connection: usize) {
    // Two fds per connection (client and server side), plus the runtime's.
    if util::raise_nofile(2 * connections as u64 + 200).is_none() {
        return;
    }
    let started = Instant::now();
    let pool = Rc::new(util::ByteStream::new(0xEC40).take(connections * STRIDE + per_connection));

    let mut builder = ringloop::Runtime::builder();
    if let Server::Pooled | Server::Forward = server_kind {
        builder.register_streams(4096);
    }
    builder.build().unwrap().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Rc::new(echo::Stats::default());
        let server = match server_kind {
            Server::Plain => ringloop::spawn(echo::serve(listener, stats.clone(), SERVER_BUF)),
            Server::Pooled | Server::Forward => {
                let ring = BufRing::builder()
                    .entries(1024)
                    .buf_len(2048)
                    .build()
                    .unwrap();
                let mode = match server_kind {
                    Server::Forward => echo::Mode::Forward(ring),
                    _ => echo::Mode::Pooled(ring),
                };
                ringloop::spawn(echo::serve_with(listener, stats.clone(), mode))
            }
        };

        let gate = Gate::new(connections);
        let clients: Vec<_> = (0..connections)
            .map(|id| ringloop::spawn(client(id, addr, pool.clone(), per_connection, gate.clone())))
            .collect();
        let results = util::within(120, "all connections echoed", async {
            let mut results = Vec::with_capacity(connections);
            for client in clients {
                results.push(client.await);
            }
            results
        })
        .await;
        for (id, result) in results.into_iter().enumerate() {
            match result {
                Ok(received) => assert_eq!(received, per_connection, "connection {id}"),
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(err) => panic!("connection {id}: {err}"),
            }
        }

        // Every server-side connection ends at EOF without error.
        util::within(30, "server connections end", async {
            while stats.active.get() > 0 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert_eq!(stats.connections.get(), connections as u64);
        assert_eq!(stats.errors.get(), 0, "no connection ended with an error");
        assert_eq!(stats.fd_exhaustion.get(), 0);
        assert_eq!(
            stats.bytes.get(),
            (connections * per_connection) as u64,
            "the server echoed every byte once"
        );
        assert!(!server.is_finished(), "the accept loop is still serving");
        server.cancel();
    });
    println!(
        "{server_kind:?}: {connections} connections x {per_connection} bytes echoed and checked in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn thousand_connections_one_mebibyte_each() {
    echo_test(Server::Plain, 1000, 1 << 20);
}

/// The same through the example's default (pooled) path, smaller.
#[test]
fn pooled_path_keeps_every_byte() {
    echo_test(Server::Pooled, 200, 256 << 10);
}

#[test]
fn forwarded_path_keeps_every_byte() {
    echo_test(Server::Forward, 200, 256 << 10);
}

/// The example's listener hands out connections with `TCP_NODELAY` set:
/// without it, a large message echoed in buffer-sized pieces waits about
/// 40 ms for the peer's delayed ACK before its last segment.
#[test]
fn the_servers_listener_hands_out_nodelay_connections() {
    ringloop::run(async {
        let listener = echo::listen("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().unwrap();
        let _client = ringloop::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY not inherited");
        let taken = echo::listen(&addr.to_string()).unwrap_err();
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
    });
}
