//! `forward_to`: data integrity and order (with chunks queued behind a
//! send in flight and the buffer ring run dry), the byte count, no task
//! poll per chunk, errors on either side, and cancellation and shutdown
//! with buffers in flight.

mod util;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use ringloop::Task;
use ringloop::buf::BufRing;
use ringloop::net::TcpStream;

/// Waits until every buffer is back in `ring` and the kernel owns no op.
async fn settled(ring: &BufRing) {
    util::within(10, "buffers back", async {
        while ring.available() < ring.entries() || util::in_flight() > 0 {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// A forward from one connection to another: the peer that writes into
/// it, the peer that reads what comes out, and the forward's task.
async fn proxied(ring: &BufRing) -> (TcpStream, TcpStream, Task<io::Result<u64>>) {
    let (client_a, server_a) = util::tcp_pair().await;
    let (client_b, server_b) = util::tcp_pair().await;
    let ring = ring.clone();
    let forward = ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await });
    (client_a, client_b, forward)
}

/// An echo by `forward_to` on one connection: its peer, and the forward's
/// task.
async fn echoed(ring: &BufRing) -> (TcpStream, Task<io::Result<u64>>) {
    let (client, server) = util::tcp_pair().await;
    let ring = ring.clone();
    let forward = ringloop::spawn(async move { server.forward_to(&ring, &server).await });
    (client, forward)
}

#[test]
fn echo_returns_every_byte_in_order_and_counts_them() {
    ringloop::run(async {
        // Small buffers and few of them: chunks queue behind the send in
        // flight, and the ring runs dry (ENOBUFS) again and again.
        let ring = BufRing::builder().entries(4).buf_len(512).build().unwrap();
        let (client, forward) = echoed(&ring).await;
        let mut data = vec![0u8; 1 << 20];
        util::Rng::new(11).fill(&mut data);
        let expected = data.clone();
        let client = std::rc::Rc::new(client);
        let writer = {
            let client = client.clone();
            ringloop::spawn(async move {
                for chunk in data.chunks(3000) {
                    let (res, _) = client.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                client.shutdown(Shutdown::Write).await.unwrap();
            })
        };
        let echoed = util::within(20, "echo", util::read_exactly(&client, expected.len())).await;
        assert!(echoed == expected, "the echo differs from what was sent");
        writer.await.unwrap();
        let count = util::within(10, "forward ends at EOF", forward)
            .await
            .unwrap();
        assert_eq!(count.unwrap(), expected.len() as u64);
        let m = ringloop::runtime::metrics().unwrap();
        assert!(m.enobufs_events > 0, "the ring did run dry: {m:?}");
        settled(&ring).await;
    });
}

#[test]
fn forwards_between_two_connections() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(1024).build().unwrap();
        let (client_a, client_b, forward) = proxied(&ring).await;
        let mut data = vec![0u8; 256 * 1024];
        util::Rng::new(12).fill(&mut data);
        let expected = data.clone();
        let writer = ringloop::spawn(async move {
            let (res, _) = client_a.write_all(data).await;
            res.unwrap();
            // End of stream for the forward.
            drop(client_a);
        });
        let got = util::within(20, "proxied", util::read_exactly(&client_b, expected.len())).await;
        assert!(got == expected, "the proxied bytes differ");
        writer.await.unwrap();
        let count = util::within(10, "forward ends", forward).await.unwrap();
        assert_eq!(count.unwrap(), expected.len() as u64);
        settled(&ring).await;
    });
}

const ROUNDS: usize = 2000;

/// What a forward's task and the loop did over `ROUNDS` request/response
/// messages of 64 B echoed by `forward_to`.
struct RequestResponse {
    task_polls: u64,
    eager_sends: u64,
    sqes: u64,
}

/// Echoes `ROUNDS` request/response messages with `forward_to` on a
/// runtime built by `builder`, checking every reply. The client is a plain
/// blocking socket on another thread, so the runtime's only task is the
/// forward.
fn request_response(builder: &mut ringloop::runtime::Builder) -> RequestResponse {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut reply = [0u8; 64];
        for i in 0..ROUNDS {
            let msg = [(i % 251) as u8; 64];
            stream.write_all(&msg).unwrap();
            stream.read_exact(&mut reply).unwrap();
            assert_eq!(reply, msg, "round {i}");
        }
    });
    let rt = builder.build().unwrap();
    let (seen, count) = rt.block_on(async move {
        let ring = BufRing::builder().entries(16).buf_len(256).build().unwrap();
        let (std_stream, _) = listener.accept().unwrap();
        // A send split in two (fault injection's short transfers) must not
        // wait for the peer's delayed ACK.
        std_stream.set_nodelay(true).unwrap();
        let stream = ringloop::net::TcpStream::from_std(std_stream);
        let before = ringloop::runtime::metrics().unwrap();
        // A task of its own, whose polls `task_polls` counts.
        let forward = ringloop::spawn(async move { stream.forward_to(&ring, &stream).await });
        let count = util::within(20, "echo", forward).await.unwrap();
        let after = ringloop::runtime::metrics().unwrap();
        let seen = RequestResponse {
            task_polls: after.task_polls - before.task_polls,
            eager_sends: after.eager_sends - before.eager_sends,
            sqes: after.sqes_submitted - before.sqes_submitted,
        };
        (seen, count)
    });
    client.join().unwrap();
    assert_eq!(count.unwrap(), (ROUNDS * 64) as u64);
    seen
}

#[test]
fn request_response_does_not_poll_the_task_per_message() {
    let seen = request_response(&mut ringloop::runtime::Builder::new());
    // A poll to start, one when the stream ends, and one more if a reply
    // queued behind the previous send: not one per message.
    assert!(
        seen.task_polls < (ROUNDS / 100) as u64,
        "{} task polls for {ROUNDS} messages",
        seen.task_polls
    );
}

#[test]
fn a_latency_bound_forward_sends_by_syscall_not_by_the_ring() {
    // One request in flight: each turn of the loop reaps one receive, so
    // the reply goes by one nonblocking send(2), with no SQE and no CQE.
    let eager = request_response(&mut ringloop::runtime::Builder::new());
    let ring = request_response(ringloop::runtime::Builder::new().eager_sends(false));
    assert_eq!(ring.eager_sends, 0);
    // Every reply an SQE (plus the receive and its re-arms).
    assert!(ring.sqes >= ROUNDS as u64, "{} SQEs", ring.sqes);
    if util::faults() {
        // Fault injection sends some ops to the ring on purpose.
        return;
    }
    assert!(
        eager.eager_sends >= (ROUNDS * 9 / 10) as u64,
        "{} of {ROUNDS} replies sent eagerly",
        eager.eager_sends
    );
    assert!(
        eager.sqes < (ROUNDS / 10) as u64,
        "{} SQEs for {ROUNDS} replies",
        eager.sqes
    );
}

#[test]
fn a_send_error_ends_the_forward_with_the_errno() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(1024).build().unwrap();
        let (client_a, client_b, forward) = proxied(&ring).await;
        // The destination's peer goes away: sends to it fail.
        drop(client_b);
        let result = util::within(10, "a send fails", async {
            loop {
                let (res, _) = client_a.write_all(vec![7u8; 1024]).await;
                // A forward that ended dropped its source: writes into it
                // may fail from then on.
                if res.is_err() || forward.is_finished() {
                    return forward.await.unwrap();
                }
                ringloop::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        let err = result.expect_err("forwarding into a closed connection fails");
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        assert!(
            err.raw_os_error().is_some(),
            "the kernel's errno is kept: {err:?}"
        );
        settled(&ring).await;
    });
}

#[test]
fn a_receive_error_ends_the_forward() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(1024).build().unwrap();
        let (client, forward) = echoed(&ring).await;
        // A reset from the sending side (SO_LINGER 0, then close).
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let result = util::within(10, "forward ends", forward).await.unwrap();
        let err = result.expect_err("a reset is an error, not an end of stream");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err:?}");
        settled(&ring).await;
    });
}

#[test]
fn dropping_the_forward_gives_every_buffer_back() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(1024).build().unwrap();
        let (client_a, client_b, forward) = proxied(&ring).await;
        // client_b never reads: the send blocks, chunks queue behind it and
        // the ring runs dry. Write until that is so.
        let filler = ringloop::spawn(async move {
            loop {
                let (res, _) = client_a.write_all(vec![1u8; 64 * 1024]).await;
                if res.is_err() {
                    return;
                }
            }
        });
        util::within(10, "the ring runs dry", async {
            while ring.available() > 0 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        forward.cancel();
        assert!(
            util::within(10, "cancelled", forward)
                .await
                .unwrap_err()
                .is_cancelled()
        );
        filler.cancel();
        settled(&ring).await;
        drop(client_b);
    });
}

#[test]
fn runtime_drop_with_a_forward_in_flight_returns() {
    let rt = ringloop::Runtime::new().unwrap();
    let ring = rt
        .block_on(async { BufRing::builder().entries(8).buf_len(512).build() })
        .unwrap();
    let (client, server) = rt.block_on(util::tcp_pair());
    {
        let ring = ring.clone();
        rt.spawn(async move {
            let _ = server.forward_to(&ring, &server).await;
        });
    }
    rt.block_on(async {
        let (res, _) = client.write_all(vec![5u8; 8 * 1024]).await;
        res.unwrap();
        let got = util::within(10, "echo", util::read_exactly(&client, 8 * 1024)).await;
        assert!(got.iter().all(|&b| b == 5));
    });
    // The forward is still waiting for more: the drop cancels it and waits
    // for the kernel before freeing anything.
    drop(rt);
    drop(ring);
    drop(client);
}

#[test]
fn forwards_over_unix_streams() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(4).buf_len(256).build().unwrap();
        let (client, server) = ringloop::net::UnixStream::pair().unwrap();
        let forward = {
            let ring = ring.clone();
            ringloop::spawn(async move { server.forward_to(&ring, &server).await })
        };
        let mut data = vec![0u8; 64 * 1024];
        util::Rng::new(13).fill(&mut data);
        let (res, sent) = client.write_all(data).await;
        res.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        let (res, got) = util::within(
            10,
            "echo",
            client.read_exact(Vec::with_capacity(sent.len())),
        )
        .await;
        res.unwrap();
        assert!(got == sent, "the echo differs from what was sent");
        let count = util::within(10, "forward ends", forward).await.unwrap();
        assert_eq!(count.unwrap(), sent.len() as u64);
        settled(&ring).await;
    });
}

#[test]
fn forwards_over_direct_descriptors() {
    let rt = ringloop::Runtime::builder()
        .direct_descriptors(8)
        .build()
        .unwrap();
    rt.block_on(async {
        let ring = BufRing::builder().entries(8).buf_len(512).build().unwrap();
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = {
            let ring = ring.clone();
            ringloop::spawn(async move {
                let mut incoming = listener.incoming_direct().unwrap();
                let stream = util::within(10, "accept", incoming.next()).await.unwrap();
                stream.forward_to(&ring, &stream).await
            })
        };
        let client = TcpStream::connect(addr).await.unwrap();
        let mut data = vec![0u8; 64 * 1024];
        util::Rng::new(14).fill(&mut data);
        let (res, sent) = client.write_all(data).await;
        res.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        let got = util::within(10, "echo", util::read_exactly(&client, sent.len())).await;
        assert!(got == sent, "the echo differs from what was sent");
        let count = util::within(10, "forward ends", server).await.unwrap();
        assert_eq!(count.unwrap(), sent.len() as u64);
        settled(&ring).await;
    });
}
