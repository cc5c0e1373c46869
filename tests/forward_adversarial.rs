//! `forward_to` under adversarial conditions: a send failure with no more
//! input, a ring from another runtime, a two-buffer ring with large
//! transfers (byte-exact), half-close, a destination that the user also
//! writes to, two forwards on one source, dropping the future at each
//! await point and then reusing the stream and the ring, runtime drop with
//! chunks queued, short sends into a small send buffer with a slow reader.

mod util;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use ringloop::buf::BufRing;
use ringloop::net::{TcpStream, UnixStream};

/// Waits until every buffer is back in `ring` and the kernel owns no op.
async fn settled(ring: &BufRing) {
    util::within(10, "buffers back", async {
        while ring.available() < ring.entries() || util::in_flight() > 0 {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// Waits until every buffer is back in `ring` and no receive or
/// write-behind send of a forward is in flight (other tasks' plain reads
/// and writes may be).
async fn forward_settled(ring: &BufRing) {
    util::within(10, "the forward's buffers and ops back", async {
        loop {
            let m = ringloop::runtime::metrics().unwrap();
            let forward_ops = m
                .ops_in_flight_by_kind
                .iter()
                .filter(|(kind, _)| matches!(*kind, "RecvMulti" | "SendBehind"))
                .count();
            if ring.available() == ring.entries() && forward_ops == 0 {
                return;
            }
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// Sets `SO_SNDBUF` (the kernel doubles it and applies a floor).
fn set_sndbuf(fd: &impl AsRawFd, bytes: libc::c_int) {
    // SAFETY: setsockopt reads one c_int from a live local.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_SNDBUF: {}", io::Error::last_os_error());
}

/// Sets `SO_RCVBUF`.
fn set_rcvbuf(fd: &impl AsRawFd, bytes: libc::c_int) {
    // SAFETY: setsockopt reads one c_int from a live local.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF: {}", io::Error::last_os_error());
}

/// Reads from a Unix stream until end of stream (bounded by `limit`).
async fn read_to_end_unix(stream: &UnixStream, limit: usize) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        let n = res.expect("read");
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&buf);
        assert!(got.len() <= limit, "more bytes than were ever sent");
    }
}

/// Reads from a TCP stream until end of stream (bounded by `limit`), in
/// reads of at most `chunk` bytes, yielding between reads (a slow reader).
async fn read_to_end_tcp(stream: &TcpStream, limit: usize, chunk: usize, slow: bool) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(chunk)).await;
        let n = res.expect("read");
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&buf);
        assert!(got.len() <= limit, "more bytes than were ever sent");
        if slow {
            ringloop::yield_now().await;
        }
    }
}

/// The first `len` bytes of the deterministic stream `seed`.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    util::ByteStream::new(seed).take(len)
}

/// Where `got` differs from `want` first, for a readable failure.
fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    got.iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .or((got.len() != want.len()).then(|| got.len().min(want.len())))
}

/// Polls `fut` once, with a no-op waker in the current task's stead: a
/// way to stop at its first await point.
async fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = fut;
    std::future::poll_fn(move |cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

// ---------------------------------------------------------------------
// A send failure must end the forward even if nothing more comes in.
// ---------------------------------------------------------------------

/// The destination cannot be written (its write side is shut down), the
/// source sends one chunk and then waits for an answer: the forward must
/// end with the send's errno, not wait for more input that never comes.
#[test]
fn a_send_failure_ends_the_forward_without_more_input() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(1024).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (_client_b, server_b) = util::tcp_pair().await;
        // Every send on server_b now fails with EPIPE.
        server_b.shutdown(Shutdown::Write).await.unwrap();
        // Kept open past the forward's end: a write into a closed source
        // would fail (and race with the forward's end).
        let server_a = Rc::new(server_a);
        let forward = {
            let (ring, server_a) = (ring.clone(), server_a.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        // One request; the client then waits for the reply (no more data,
        // no end of stream).
        let (res, _) = client_a.write_all(vec![3u8; 100]).await;
        res.unwrap();
        let result = util::within(5, "the send failure ends the forward", forward)
            .await
            .unwrap();
        let err = result.expect_err("the destination is shut down");
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err:?}");
        settled(&ring).await;
        drop(client_a);
    });
}

/// As above, but the failing send is the second one, after the first
/// went out: still reported without more input.
#[test]
fn a_later_send_failure_ends_the_forward_without_more_input() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(1024).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        let (server_a, server_b) = (Rc::new(server_a), Rc::new(server_b));
        let forward = {
            let (ring, server_a, server_b) = (ring.clone(), server_a.clone(), server_b.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        let (res, _) = client_a.write_all(vec![1u8; 100]).await;
        res.unwrap();
        let got = util::within(5, "first chunk", util::read_exactly(&client_b, 100)).await;
        assert_eq!(got, vec![1u8; 100]);
        server_b.shutdown(Shutdown::Write).await.unwrap();
        let (res, _) = client_a.write_all(vec![2u8; 100]).await;
        res.unwrap();
        let result = util::within(5, "the send failure ends the forward", forward)
            .await
            .unwrap();
        let err = result.expect_err("the destination is shut down");
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err:?}");
        settled(&ring).await;
    });
}

// ---------------------------------------------------------------------
// A ring registered with another runtime.
// ---------------------------------------------------------------------

/// A `BufRing` belongs to the ring it was registered with. Used from
/// another runtime (where its group id names another ring's group, or
/// none), the forward must fail cleanly, not read another pool's buffer
/// ids out of this one's memory or spin re-arming on ENOBUFS.
#[test]
fn a_ring_from_another_runtime_is_refused() {
    let rt_a = ringloop::Runtime::new().unwrap();
    // Small buffers in A: a buffer id from B's pool is out of A's bounds.
    let ring_a = rt_a
        .block_on(async { BufRing::builder().entries(2).buf_len(16).build() })
        .unwrap();
    let rt_b = ringloop::Runtime::new().unwrap();
    rt_b.block_on(async {
        // B's own pool, with the same group id as A's (the first one).
        let ring_b = BufRing::builder().entries(8).buf_len(4096).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        // Kept open past the forward's end (see above).
        let server_a = Rc::new(server_a);
        let forward = {
            let (ring_a, server_a) = (ring_a.clone(), server_a.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring_a, &server_b).await })
        };
        let data = pattern(21, 4000);
        let (res, _) = client_a.write_all(data.clone()).await;
        res.unwrap();
        drop(client_a);
        let result = util::within(5, "the forward ends", forward).await.unwrap();
        match result {
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err:?}"),
            Ok(n) => {
                // Accepted: then it must have forwarded exactly the data.
                let got =
                    util::within(5, "forwarded", util::read_exactly(&client_b, n as usize)).await;
                assert_eq!(n, data.len() as u64);
                assert!(got == data, "bytes from another pool's memory were sent");
            }
        }
        settled(&ring_b).await;
    });
    drop(rt_b);
    drop(ring_a);
    drop(rt_a);
}

/// The same for a `RecvStream`, which shares the receive op.
#[test]
fn a_recv_stream_on_a_ring_from_another_runtime_is_refused() {
    let rt_a = ringloop::Runtime::new().unwrap();
    let ring_a = rt_a
        .block_on(async { BufRing::builder().entries(2).buf_len(16).build() })
        .unwrap();
    let rt_b = ringloop::Runtime::new().unwrap();
    rt_b.block_on(async {
        let ring_b = BufRing::builder().entries(8).buf_len(4096).build().unwrap();
        let (client, server) = util::tcp_pair().await;
        let (res, _) = client.write_all(pattern(22, 4000)).await;
        res.unwrap();
        let mut received = server.recv_multishot(&ring_a);
        let first = util::within(5, "first item", received.next()).await;
        let err = first
            .expect("an item")
            .expect_err("a ring from another runtime is refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err:?}");
        drop(received);
        settled(&ring_b).await;
        // The data is still there for a plain read.
        let got = util::within(5, "plain read", util::read_exactly(&server, 4000)).await;
        assert!(got == pattern(22, 4000));
    });
    drop(rt_b);
    drop(ring_a);
    drop(rt_a);
}

// ---------------------------------------------------------------------
// Byte-exact transfers through a two-buffer ring (ENOBUFS all the time).
// ---------------------------------------------------------------------

fn tiny_ring_proxy(incremental: bool, buf_len: u32, seed: u64) {
    ringloop::run(async move {
        let ring = BufRing::builder()
            .entries(2)
            .buf_len(buf_len)
            .incremental(incremental)
            .build()
            .unwrap();
        let enobufs_before = ringloop::runtime::metrics().unwrap().enobufs_events;
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        let forward = {
            let ring = ring.clone();
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        const LEN: usize = 2 << 20;
        let data = pattern(seed, LEN);
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                // Odd-sized writes, so chunk edges never line up with the
                // ring's buffers.
                for chunk in data.chunks(7001) {
                    let (res, _) = client_a.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let got = util::within(60, "forwarded", util::read_exactly(&client_b, LEN)).await;
        if let Some(at) = first_difference(&got, &data) {
            panic!("forwarded bytes differ from byte {at} on (of {LEN})");
        }
        let _client_a = writer.await.unwrap();
        let count = util::within(10, "forward ends at EOF", forward)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(count, LEN as u64);
        // The forward's task dropped server_b: nothing more comes.
        let extra = util::within(5, "EOF", read_to_end_tcp(&client_b, 0, 4096, false)).await;
        assert!(
            extra.is_empty(),
            "{} bytes more than were sent",
            extra.len()
        );
        let m = ringloop::runtime::metrics().unwrap();
        assert!(
            m.enobufs_events > enobufs_before,
            "a two-buffer ring ran dry: {m:?}"
        );
        settled(&ring).await;
    });
}

#[test]
fn a_two_buffer_ring_forwards_every_byte_exactly() {
    tiny_ring_proxy(false, 4096, 31);
}

#[test]
fn a_two_buffer_incremental_ring_forwards_every_byte_exactly() {
    tiny_ring_proxy(true, 4096, 32);
}

#[test]
fn a_two_buffer_ring_of_tiny_buffers_forwards_every_byte_exactly() {
    tiny_ring_proxy(false, 61, 33);
}

/// A Unix pair echoing to itself with a two-buffer ring, the client
/// writing megabyte messages while it reads the echo.
#[test]
fn a_unix_self_forward_echoes_big_messages_exactly() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(2).buf_len(1024).build().unwrap();
        let (client, server) = UnixStream::pair().unwrap();
        let forward = {
            let ring = ring.clone();
            ringloop::spawn(async move { server.forward_to(&ring, &server).await })
        };
        const LEN: usize = 4 << 20;
        let data = pattern(41, LEN);
        let client = Rc::new(client);
        let writer = {
            let (client, data) = (client.clone(), data.clone());
            ringloop::spawn(async move {
                for message in data.chunks(1 << 20) {
                    let (res, _) = client.write_all(message.to_vec()).await;
                    res.unwrap();
                }
                client.shutdown(Shutdown::Write).await.unwrap();
            })
        };
        // Until EOF: the forward's task drops the server when it ends.
        let got = util::within(60, "echo", read_to_end_unix(&client, LEN)).await;
        if let Some(at) = first_difference(&got, &data) {
            panic!(
                "echo differs from byte {at} on ({} of {LEN} bytes)",
                got.len()
            );
        }
        writer.await.unwrap();
        let count = util::within(10, "forward ends", forward).await.unwrap();
        assert_eq!(count.unwrap(), LEN as u64);
        settled(&ring).await;
    });
}

// ---------------------------------------------------------------------
// Half-close: the count comes after every byte was sent.
// ---------------------------------------------------------------------

/// The source's peer shuts its write side. When the forward returns its
/// count, every byte must have been handed to the kernel: shutting the
/// destination's write side right then must lose nothing (a send still in
/// flight would fail with EPIPE and its bytes would be missing).
#[test]
fn the_count_comes_after_every_byte_was_sent() {
    ringloop::run(async {
        let ring = BufRing::builder()
            .entries(8)
            .buf_len(16 * 1024)
            .build()
            .unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        // A small send buffer and a slow reader: the last sends are in
        // flight for a while after the source's end of stream.
        set_sndbuf(&server_b, 4096);
        set_rcvbuf(&client_b, 8192);
        let server_b = Rc::new(server_b);
        // Small: a tiny window makes loopback TCP slow (delayed ACKs).
        const LEN: usize = 256 * 1024;
        let data = pattern(51, LEN);
        let (res, _) = {
            // Written up front as far as the socket takes it; the rest by
            // a task.
            let client_a = Rc::new(client_a);
            let writer = {
                let (client_a, data) = (client_a.clone(), data.clone());
                ringloop::spawn(async move {
                    let (res, _) = client_a.write_all(data).await;
                    res.unwrap();
                    client_a.shutdown(Shutdown::Write).await.unwrap();
                })
            };
            let reader =
                ringloop::spawn(async move { read_to_end_tcp(&client_b, LEN, 512, true).await });
            let count = util::within(60, "forward ends", server_a.forward_to(&ring, &server_b))
                .await
                .unwrap();
            assert_eq!(count, LEN as u64);
            // Right away: a send still in flight would be cut.
            server_b.shutdown(Shutdown::Write).await.unwrap();
            writer.await.unwrap();
            let got = util::within(60, "reader", reader).await.unwrap();
            if let Some(at) = first_difference(&got, &data) {
                panic!("bytes differ from byte {at} on ({} of {LEN})", got.len());
            }
            (Ok::<(), io::Error>(()), ())
        };
        res.unwrap();
        settled(&ring).await;
    });
}

/// Short sends: the destination's send buffer is far smaller than a ring
/// buffer, and its reader slow, so each send is cut and continued.
#[test]
fn short_sends_into_a_small_send_buffer_lose_nothing() {
    ringloop::run(async {
        let ring = BufRing::builder()
            .entries(4)
            .buf_len(64 * 1024)
            .build()
            .unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        set_sndbuf(&server_b, 2048);
        set_rcvbuf(&client_b, 8192);
        // Small: a tiny window makes loopback TCP slow (delayed ACKs).
        const LEN: usize = 256 * 1024;
        let data = pattern(61, LEN);
        let forward = {
            let ring = ring.clone();
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                let (res, _) = client_a.write_all(data).await;
                res.unwrap();
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let got = util::within(
            60,
            "slow reader",
            read_to_end_tcp(&client_b, LEN, 300, true),
        )
        .await;
        if let Some(at) = first_difference(&got, &data) {
            panic!("bytes differ from byte {at} on ({} of {LEN})", got.len());
        }
        let _client_a = writer.await.unwrap();
        let count = util::within(10, "forward ends", forward).await.unwrap();
        assert_eq!(count.unwrap(), LEN as u64);
        settled(&ring).await;
    });
}

// ---------------------------------------------------------------------
// The user writes to the destination too.
// ---------------------------------------------------------------------

/// Forwarded bytes have the high bit clear, the user's own writes to the
/// same destination have it set: the two may interleave (nothing promises
/// otherwise), but each must arrive whole and in its own order.
fn interleaved(write_behind: bool) {
    ringloop::run(async move {
        let ring = BufRing::builder().entries(4).buf_len(2048).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        set_sndbuf(&server_b, 8192);
        let server_b = Rc::new(server_b);
        const LEN: usize = 512 * 1024;
        let forwarded: Vec<u8> = pattern(71, LEN).iter().map(|b| b & 0x7f).collect();
        let own: Vec<u8> = pattern(72, LEN).iter().map(|b| b | 0x80).collect();
        let forward = {
            let (ring, server_b) = (ring.clone(), server_b.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        let source = {
            let forwarded = forwarded.clone();
            ringloop::spawn(async move {
                for chunk in forwarded.chunks(5000) {
                    let (res, _) = client_a.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let user = {
            let (server_b, own) = (server_b.clone(), own.clone());
            ringloop::spawn(async move {
                if write_behind {
                    let mut tx = server_b.write_behind();
                    for chunk in own.chunks(3000) {
                        tx.write(chunk.to_vec()).await.unwrap();
                    }
                    tx.flush().await.unwrap();
                } else {
                    for chunk in own.chunks(3000) {
                        let (res, _) = server_b.write_all(chunk.to_vec()).await;
                        res.unwrap();
                    }
                }
            })
        };
        let reader =
            ringloop::spawn(async move { read_to_end_tcp(&client_b, 2 * LEN, 4096, true).await });
        let count = util::within(60, "forward ends", forward).await.unwrap();
        assert_eq!(count.unwrap(), LEN as u64);
        util::within(60, "user writes", user).await.unwrap();
        let _client_a = source.await.unwrap();
        // Both writers are done: the reader sees EOF.
        drop(server_b);
        let got = util::within(60, "reader", reader).await.unwrap();
        let (mut got_forwarded, mut got_own) = (Vec::new(), Vec::new());
        for b in got {
            if b & 0x80 == 0 {
                got_forwarded.push(b);
            } else {
                got_own.push(b);
            }
        }
        if let Some(at) = first_difference(&got_forwarded, &forwarded) {
            panic!(
                "forwarded bytes differ from byte {at} on ({} of {LEN})",
                got_forwarded.len()
            );
        }
        if let Some(at) = first_difference(&got_own, &own) {
            panic!(
                "the user's bytes differ from byte {at} on ({} of {LEN})",
                got_own.len()
            );
        }
        settled(&ring).await;
    });
}

#[test]
fn user_write_all_on_the_destination_keeps_both_streams_whole() {
    interleaved(false);
}

#[test]
fn user_write_behind_on_the_destination_keeps_both_streams_whole() {
    interleaved(true);
}

// ---------------------------------------------------------------------
// Two forwards on one source.
// ---------------------------------------------------------------------

/// Two forwards of the same source at once (into two destinations): the
/// data is split between them however the kernel hands it out, but none
/// is lost or duplicated, both end at EOF, and every buffer comes back.
#[test]
fn two_forwards_on_one_source_lose_and_duplicate_nothing() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(4).buf_len(1024).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        let (client_c, server_c) = util::tcp_pair().await;
        let server_a = Rc::new(server_a);
        let first = {
            let (ring, server_a) = (ring.clone(), server_a.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        let second = {
            let (ring, server_a) = (ring.clone(), server_a.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_c).await })
        };
        const LEN: usize = 1 << 20;
        let data = pattern(81, LEN);
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                for chunk in data.chunks(4000) {
                    let (res, _) = client_a.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let reader_b =
            ringloop::spawn(async move { read_to_end_tcp(&client_b, LEN, 65536, false).await });
        let reader_c =
            ringloop::spawn(async move { read_to_end_tcp(&client_c, LEN, 65536, false).await });
        let n1 = util::within(30, "first forward", first)
            .await
            .unwrap()
            .unwrap();
        let n2 = util::within(30, "second forward", second)
            .await
            .unwrap()
            .unwrap();
        let _client_a = writer.await.unwrap();
        let got_b = util::within(10, "reader b", reader_b).await.unwrap();
        let got_c = util::within(10, "reader c", reader_c).await.unwrap();
        assert_eq!(n1 + n2, LEN as u64, "counts {n1} + {n2}");
        assert_eq!(got_b.len() as u64, n1);
        assert_eq!(got_c.len() as u64, n2);
        let histogram = |bytes: &[u8]| {
            let mut h = [0u64; 256];
            bytes.iter().for_each(|&b| h[usize::from(b)] += 1);
            h
        };
        let (hb, hc, hd) = (histogram(&got_b), histogram(&got_c), histogram(&data));
        for v in 0..256 {
            assert_eq!(hb[v] + hc[v], hd[v], "byte value {v}");
        }
        settled(&ring).await;
    });
}

// ---------------------------------------------------------------------
// Dropping the future at each await point, then reusing stream and ring.
// ---------------------------------------------------------------------

/// Polled once (the receive armed), then dropped: the stream and the ring
/// work as before for plain reads and for a new forward.
#[test]
fn dropped_after_the_first_poll_the_stream_reads_normally() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(4).buf_len(1024).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        {
            let mut forward = pin!(server_a.forward_to(&ring, &server_b));
            assert!(poll_once(forward.as_mut()).await.is_pending());
            assert!(util::in_flight() > 0, "the receive is armed");
        }
        // The cancel has completed and nothing of the forward is left.
        settled(&ring).await;
        let (res, _) = client_a.write_all(b"after the forward".to_vec()).await;
        res.unwrap();
        let got = util::within(5, "plain read", util::read_exactly(&server_a, 17)).await;
        assert_eq!(got, b"after the forward");
        // A new forward on the same stream and ring.
        let data = pattern(91, 100_000);
        let (res, _) = client_a.write_all(data.clone()).await;
        res.unwrap();
        client_a.shutdown(Shutdown::Write).await.unwrap();
        let count = util::within(10, "second forward", server_a.forward_to(&ring, &server_b))
            .await
            .unwrap();
        assert_eq!(count, data.len() as u64);
        drop(server_b);
        let got = util::within(
            10,
            "reader",
            read_to_end_tcp(&client_b, data.len(), 65536, false),
        )
        .await;
        assert!(got == data, "the second forward's bytes differ");
        settled(&ring).await;
    });
}

/// Where `got` starts in `data` (searching by its first bytes), checking
/// that it is one contiguous run of `data` to its end.
fn contiguous_suffix(got: &[u8], data: &[u8]) -> usize {
    if got.is_empty() {
        return data.len();
    }
    let probe = &got[..got.len().min(64)];
    let start = data
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the bytes after the drop are not from the stream");
    let want = &data[start..];
    if let Some(at) = first_difference(got, want) {
        panic!(
            "after the drop: bytes from offset {start} differ at {at} ({} of {})",
            got.len(),
            want.len()
        );
    }
    start
}

#[derive(Clone, Copy, Debug)]
enum DropAt {
    /// Sends blocked, chunks queued behind the one in flight, the ring
    /// not dry.
    Queued,
    /// The ring ran dry: the receive waits for a buffer (ENOBUFS).
    Starved,
}

/// The destination's reader does not read: the send in flight blocks,
/// chunks queue, (with a small ring) the ring runs dry. The forward is
/// dropped there. Then: every buffer comes back; the destination holds a
/// prefix of the data and takes a plain write after it; and a new
/// forward of the same stream, with the same ring, carries on with a
/// contiguous rest of the data (what the dropped forward had received
/// but not sent is lost, as documented, and nothing else).
fn drop_then_reuse(at: DropAt) {
    ringloop::run(async move {
        let entries = match at {
            DropAt::Queued => 64,
            DropAt::Starved => 4,
        };
        let ring = BufRing::builder()
            .entries(entries)
            .buf_len(1024)
            .build()
            .unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        set_sndbuf(&server_b, 4096);
        set_rcvbuf(&client_b, 4096);
        let (server_a, server_b) = (Rc::new(server_a), Rc::new(server_b));
        const LEN: usize = 2 << 20;
        let data = pattern(101, LEN);
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                for chunk in data.chunks(10_000) {
                    let (res, _) = client_a.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let enobufs_before = ringloop::runtime::metrics().unwrap().enobufs_events;
        let forward = {
            let (ring, server_a, server_b) = (ring.clone(), server_a.clone(), server_b.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        let reached = Rc::new(Cell::new(false));
        util::within(10, "the drop point", {
            let (ring, reached) = (ring.clone(), reached.clone());
            async move {
                loop {
                    let enobufs = ringloop::runtime::metrics().unwrap().enobufs_events;
                    let there = match at {
                        DropAt::Queued => ring.available() + 4 < ring.entries(),
                        DropAt::Starved => ring.available() == 0 && enobufs > enobufs_before,
                    };
                    if there {
                        reached.set(true);
                        return;
                    }
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
        .await;
        assert!(reached.get());
        assert!(!forward.is_finished());
        forward.cancel();
        let joined = util::within(10, "cancelled", forward).await;
        assert!(joined.unwrap_err().is_cancelled());
        settled(&ring).await;
        // The destination: a plain write after the forward's bytes.
        let marker = b"--marker written after the drop--".to_vec();
        let (res, _) = server_b.write_all(marker.clone()).await;
        res.unwrap();
        drop(server_b);
        let got_b = util::within(
            30,
            "destination reader",
            read_to_end_tcp(&client_b, LEN + 64, 65536, false),
        )
        .await;
        assert!(
            got_b.ends_with(&marker),
            "the plain write after the drop is not last"
        );
        let prefix = &got_b[..got_b.len() - marker.len()];
        if let Some(at) = first_difference(prefix, &data[..prefix.len()]) {
            panic!(
                "the forwarded prefix differs at byte {at} of {}",
                prefix.len()
            );
        }
        // A new forward of the same stream, same ring, to a fresh peer.
        let (client_c, server_c) = util::tcp_pair().await;
        // Read while the forward runs: the rest of the 4 MiB need not fit
        // in the kernel's socket buffers (it did not, once, when a slow
        // run forwarded little in the first 30 ms).
        let reader_c =
            ringloop::spawn(async move { read_to_end_tcp(&client_c, LEN, 65536, false).await });
        let count = util::within(30, "a new forward", server_a.forward_to(&ring, &server_c))
            .await
            .unwrap();
        drop(server_c);
        let got_c = util::within(30, "new reader", reader_c).await.unwrap();
        assert_eq!(got_c.len() as u64, count);
        let start = contiguous_suffix(&got_c, &data);
        assert!(
            start >= prefix.len(),
            "bytes already forwarded ({}) came again from offset {start}",
            prefix.len()
        );
        let _client_a = writer.await.unwrap();
        settled(&ring).await;
    });
}

#[test]
fn dropped_with_chunks_queued_behind_a_blocked_send_then_reused() {
    drop_then_reuse(DropAt::Queued);
}

#[test]
fn dropped_while_starved_for_buffers_then_reused() {
    drop_then_reuse(DropAt::Starved);
}

/// Dropped by a timeout at whatever point the transfer is in, while data
/// flows; then the same stream and ring go on with a new forward.
#[test]
fn dropped_by_a_timeout_mid_transfer_then_reused() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(4).buf_len(1024).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        let server_b = Rc::new(server_b);
        const LEN: usize = 4 << 20;
        let data = pattern(111, LEN);
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                for chunk in data.chunks(10_000) {
                    let (res, _) = client_a.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let reader =
            ringloop::spawn(async move { read_to_end_tcp(&client_b, LEN, 4096, true).await });
        let first = ringloop::time::timeout(
            Duration::from_millis(30),
            server_a.forward_to(&ring, &server_b),
        )
        .await;
        assert!(
            first.is_err(),
            "4 MiB through a slow reader take longer: {first:?}"
        );
        forward_settled(&ring).await;
        drop(server_b);
        let got_b = util::within(30, "reader", reader).await.unwrap();
        if let Some(at) = first_difference(&got_b, &data[..got_b.len()]) {
            panic!(
                "the forwarded prefix differs at byte {at} of {}",
                got_b.len()
            );
        }
        let (client_c, server_c) = util::tcp_pair().await;
        // Read while the forward runs: the rest of the 4 MiB need not fit
        // in the kernel's socket buffers (it did not, once, when a slow
        // run forwarded little in the first 30 ms).
        let reader_c =
            ringloop::spawn(async move { read_to_end_tcp(&client_c, LEN, 65536, false).await });
        let count = util::within(30, "a new forward", server_a.forward_to(&ring, &server_c))
            .await
            .unwrap();
        drop(server_c);
        let got_c = util::within(30, "new reader", reader_c).await.unwrap();
        assert_eq!(got_c.len() as u64, count);
        let start = contiguous_suffix(&got_c, &data);
        assert!(start >= got_b.len(), "bytes came twice");
        let _client_a = writer.await.unwrap();
        settled(&ring).await;
    });
}

/// The runtime is dropped while a forward has a send blocked, chunks
/// queued and the ring dry: the drop cancels everything and returns as
/// soon as the kernel is done (well before the 10 s after which it would
/// leak the state), and dropping the ring afterwards is fine.
#[test]
fn runtime_drop_with_chunks_queued_and_the_ring_dry_returns_promptly() {
    let rt = ringloop::Runtime::new().unwrap();
    let ring = rt
        .block_on(async { BufRing::builder().entries(4).buf_len(1024).build() })
        .unwrap();
    let (client_a, server_a) = rt.block_on(util::tcp_pair());
    let (client_b, server_b) = rt.block_on(util::tcp_pair());
    set_sndbuf(&server_b, 4096);
    set_rcvbuf(&client_b, 4096);
    let client_a = Rc::new(client_a);
    {
        let ring = ring.clone();
        rt.spawn(async move {
            let _ = server_a.forward_to(&ring, &server_b).await;
        });
        let client_a = client_a.clone();
        rt.spawn(async move {
            loop {
                let (res, _) = client_a.write_all(vec![9u8; 64 * 1024]).await;
                if res.is_err() {
                    return;
                }
            }
        });
    }
    rt.block_on(util::within(10, "the ring runs dry", async {
        let before = ringloop::runtime::metrics().unwrap().enobufs_events;
        while ring.available() > 0 || ringloop::runtime::metrics().unwrap().enobufs_events == before
        {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
    }));
    let started = std::time::Instant::now();
    drop(rt);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the runtime drop took {took:?}"
    );
    drop(ring);
    drop(client_a);
    drop(client_b);
}

/// A forward future polled in a runtime that is then dropped (the future
/// outlives it): the drop returns promptly, a later poll ends with an
/// error rather than hanging or panicking, and dropping it is fine.
#[test]
fn a_forward_future_outliving_its_runtime_fails_cleanly() {
    let rt = ringloop::Runtime::new().unwrap();
    let ring = rt
        .block_on(async { BufRing::builder().entries(4).buf_len(1024).build() })
        .unwrap();
    let (client, server) = rt.block_on(util::tcp_pair());
    {
        let mut forward = pin!(server.forward_to(&ring, &server));
        rt.block_on(async {
            assert!(poll_once(forward.as_mut()).await.is_pending());
            // Data in flight through the echo when the runtime goes.
            let (res, _) = client.write_all(vec![4u8; 100]).await;
            res.unwrap();
            let got = util::within(5, "echo", util::read_exactly(&client, 100)).await;
            assert_eq!(got, vec![4u8; 100]);
        });
        let started = std::time::Instant::now();
        drop(rt);
        assert!(started.elapsed() < Duration::from_secs(5));
        let rt2 = ringloop::Runtime::new().unwrap();
        let polled = rt2.block_on(poll_once(forward.as_mut()));
        match polled {
            Poll::Ready(Err(_)) => {}
            other => panic!("a forward whose runtime is gone: {other:?}"),
        }
    }
    drop(ring);
    drop(server);
    drop(client);
}

/// A forward on a runtime with SQPOLL (no eager sends; the kernel thread
/// submits): byte-exact through a two-buffer ring.
#[test]
fn forwards_exactly_with_sqpoll() {
    let Some(rt) = util::sqpoll_runtime() else {
        return;
    };
    rt.block_on(async {
        let ring = BufRing::builder().entries(2).buf_len(512).build().unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        let forward = {
            let ring = ring.clone();
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        const LEN: usize = 512 * 1024;
        let data = pattern(121, LEN);
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                let (res, _) = client_a.write_all(data).await;
                res.unwrap();
                client_a.shutdown(Shutdown::Write).await.unwrap();
                client_a
            })
        };
        let got = util::within(
            30,
            "forwarded",
            read_to_end_tcp(&client_b, LEN, 65536, false),
        )
        .await;
        if let Some(at) = first_difference(&got, &data) {
            panic!("bytes differ from byte {at} on ({} of {LEN})", got.len());
        }
        let _client_a = writer.await.unwrap();
        let count = util::within(10, "forward ends", forward).await.unwrap();
        assert_eq!(count.unwrap(), LEN as u64);
        settled(&ring).await;
    });
}

/// Which peer resets while the forward has a send blocked and chunks
/// queued behind it.
#[derive(Clone, Copy, Debug)]
enum Reset {
    /// The destination's peer: the blocked send fails.
    Destination,
    /// The source's peer: the receive fails.
    Source,
}

/// A reset mid-way, with a send blocked and chunks queued: the forward
/// ends with the kernel's errno, and every buffer goes back to the ring.
fn reset_mid_way(which: Reset) {
    ringloop::run(async move {
        // Room for all the data: the receive stays armed (a forward
        // starved for buffers notices a reset of its source only once a
        // buffer comes back, like a loop blocked in its send).
        let ring = BufRing::builder()
            .entries(256)
            .buf_len(1024)
            .build()
            .unwrap();
        let (client_a, server_a) = util::tcp_pair().await;
        let (client_b, server_b) = util::tcp_pair().await;
        set_sndbuf(&server_b, 4096);
        set_rcvbuf(&client_b, 4096);
        let (client_a, server_a) = (Rc::new(client_a), Rc::new(server_a));
        let forward = {
            let (ring, server_a) = (ring.clone(), server_a.clone());
            ringloop::spawn(async move { server_a.forward_to(&ring, &server_b).await })
        };
        let writer = {
            let client_a = client_a.clone();
            ringloop::spawn(async move {
                let (res, _) = client_a.write_all(pattern(131, 128 * 1024)).await;
                res.unwrap();
            })
        };
        // Sends blocked (nobody reads client_b), chunks queued.
        util::within(10, "chunks queue", async {
            while ring.available() + 4 >= ring.entries() {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(!forward.is_finished());
        match which {
            Reset::Destination => {
                client_b.set_linger(Some(Duration::ZERO)).unwrap();
                drop(client_b);
            }
            Reset::Source => {
                util::within(10, "writer", writer).await.unwrap();
                client_a.set_linger(Some(Duration::ZERO)).unwrap();
                drop(client_a);
            }
        }
        let result = util::within(10, "the forward ends", forward).await.unwrap();
        let err = result.expect_err("a reset ends the forward with an error");
        let errno = err.raw_os_error();
        assert!(
            matches!(errno, Some(libc::ECONNRESET | libc::EPIPE)),
            "the kernel's errno: {err:?}"
        );
        forward_settled(&ring).await;
        drop(server_a);
    });
}

#[test]
fn a_destination_reset_with_chunks_queued_ends_with_its_errno() {
    reset_mid_way(Reset::Destination);
}

#[test]
fn a_source_reset_with_chunks_queued_ends_with_its_errno() {
    reset_mid_way(Reset::Source);
}
