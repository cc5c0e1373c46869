//! Provided buffer rings with multishot receive: data integrity, ENOBUFS
//! re-arming without loss or reordering, buffers given back by dropped
//! streams, and bad input.

mod util;

use std::time::Duration;

use ringloop::buf::BufRing;
use ringloop::net::{TcpListener, TcpStream};

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = ringloop::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap(), server)
}

#[test]
fn multishot_receive_delivers_every_byte_in_order() {
    ringloop::run(async {
        let ring = BufRing::builder()
            .entries(16)
            .buf_len(1024)
            .build()
            .unwrap();
        let (client, server) = pair().await;
        let mut data = vec![0u8; 1 << 20];
        util::Rng::new(5).fill(&mut data);
        let expected = data.clone();
        let writer = ringloop::spawn(async move {
            let (res, _) = client.write_all(data).await;
            res.unwrap();
            client // keep it open until the reader is done
        });
        let mut got = Vec::with_capacity(1 << 20);
        let mut rx = server.recv_multishot(&ring);
        while got.len() < expected.len() {
            let buf = util::within(10, "recv", rx.next()).await.unwrap().unwrap();
            assert!(!buf.is_empty() && buf.len() <= 1024);
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, expected);
        let client = writer.await.unwrap();
        drop(client);
        assert!(
            util::within(10, "eof", rx.next()).await.is_none(),
            "EOF ends the stream"
        );
        drop(rx);
        assert_eq!(ring.available(), ring.entries(), "every buffer went back");
    });
}

#[test]
fn enobufs_waits_for_buffers_and_loses_nothing() {
    ringloop::run(async {
        // Two tiny buffers: the ring runs dry almost at once.
        let ring = BufRing::builder().entries(2).buf_len(16).build().unwrap();
        let (client, server) = pair().await;
        let data: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let (res, _) = client.write_all(data).await;
        res.unwrap();
        let mut rx = server.recv_multishot(&ring);
        let mut got = Vec::new();
        let mut held = Vec::new();
        while got.len() < expected.len() {
            let buf = util::within(10, "recv", rx.next()).await.unwrap().unwrap();
            got.extend_from_slice(&buf);
            // Hold buffers for a while so the kernel finds the ring empty.
            held.push(buf);
            if held.len() == 2 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
                held.clear();
            }
        }
        assert_eq!(got, expected, "nothing lost or reordered across ENOBUFS");
        let m = ringloop::runtime::metrics().unwrap();
        assert!(m.enobufs_events > 0, "the ring did run dry: {m:?}");
    });
}

#[test]
fn a_dropped_stream_gives_its_buffers_back() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(8).buf_len(64).build().unwrap();
        let (client, server) = pair().await;
        let mut rx = server.recv_multishot(&ring);
        // Arm it, then let data land in buffers nobody takes.
        let first = rx.next();
        let (res, _) = client.write_all(vec![1u8; 64]).await;
        res.unwrap();
        let buf = util::within(10, "first", first).await.unwrap().unwrap();
        drop(buf);
        let (res, _) = client.write_all(vec![2u8; 256]).await;
        res.unwrap();
        ringloop::time::sleep(Duration::from_millis(20)).await;
        assert!(
            ring.available() < ring.entries(),
            "the kernel filled buffers"
        );
        drop(rx); // cancels the receive; queued and late buffers go back
        util::within(10, "buffers back", async {
            while ring.available() < ring.entries() || util::in_flight() > 0 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        // Functionally: all 8 buffers can be held at once again.
        let mut rx = server.recv_multishot(&ring);
        let (res, _) = client.write_all(vec![3u8; 512]).await;
        res.unwrap();
        let mut held = Vec::new();
        let mut bytes = 0;
        while bytes < 512 {
            let buf = util::within(10, "all buffers usable", rx.next())
                .await
                .unwrap()
                .unwrap();
            assert!(
                buf.iter().all(|&b| b == 3),
                "old data was discarded with its stream"
            );
            bytes += buf.len();
            held.push(buf);
        }
        assert_eq!(held.len(), 8);
    });
}

#[test]
fn bad_ring_sizes_are_errors_not_panics() {
    ringloop::run(async {
        for entries in [0u16, 3, 100] {
            let err = BufRing::builder().entries(entries).build().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{entries}");
        }
        let err = BufRing::builder().buf_len(0).build().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
    let err = BufRing::builder().build().unwrap_err();
    assert!(err.to_string().contains("no runtime"));
}

#[test]
fn runtime_drop_with_an_armed_receive_is_clean() {
    let baseline = util::fd_count();
    let rt = ringloop::Runtime::new().unwrap();
    let client = rt.block_on(async {
        let ring = BufRing::builder().entries(4).buf_len(64).build().unwrap();
        let (client, server) = pair().await;
        drop(ringloop::spawn(async move {
            let mut rx = server.recv_multishot(&ring);
            while let Some(Ok(_)) = rx.next().await {}
        }));
        ringloop::yield_now().await;
        client // the peer stays open across the runtime drop
    });
    drop(rt);
    assert_eq!(
        util::fd_count(),
        baseline + 1,
        "only the client's fd remains"
    );
    drop(client);
    assert_eq!(util::fd_count(), baseline);
}

#[test]
fn incremental_consumption_packs_small_messages_into_one_buffer() {
    ringloop::run(async {
        let ring = BufRing::builder().entries(2).buf_len(4096).build().unwrap();
        if !ring.is_incremental() {
            eprintln!("skipped: this kernel lacks IOU_PBUF_RING_INC (Linux 6.12)");
            return;
        }
        let (client, server) = pair().await;
        let mut rx = server.recv_multishot(&ring);
        let mut held = Vec::new();
        // 100 separate 10-byte messages, all held at once: only possible if
        // they share buffers (2 buffers in the ring).
        for i in 0..100u8 {
            let (res, _) = client.write_all(vec![i; 10]).await;
            res.unwrap();
            let mut got = 0;
            while got < 10 {
                let buf = util::within(10, "recv", rx.next()).await.unwrap().unwrap();
                assert!(buf.iter().all(|&b| b == i), "message {i}: {:?}", &buf[..]);
                got += buf.len();
                held.push(buf);
            }
        }
        assert!(held.len() >= 100);
        let bids: std::collections::BTreeSet<u16> = held.iter().map(|b| b.bid()).collect();
        assert!(
            bids.len() <= 2,
            "100 messages in at most 2 buffers: {bids:?}"
        );
        // Every byte is still intact while the buffers are shared.
        for (i, chunk) in held.chunks(1).enumerate().take(5) {
            assert!(!chunk[0].is_empty(), "{i}");
        }
        drop(held);
        drop(rx);
        util::within(10, "buffers back", async {
            while ring.available() < ring.entries() || util::in_flight() > 0 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
}

#[test]
fn without_incremental_consumption_each_receive_takes_a_buffer() {
    ringloop::run(async {
        let ring = BufRing::builder()
            .entries(4)
            .buf_len(4096)
            .incremental(false)
            .build()
            .unwrap();
        assert!(!ring.is_incremental());
        let (client, server) = pair().await;
        let mut rx = server.recv_multishot(&ring);
        let mut bids = Vec::new();
        let mut got = Vec::new();
        for i in 0..4u8 {
            let (res, _) = client.write_all(vec![i; 10]).await;
            res.unwrap();
            // A message may arrive in pieces (short writes are legal).
            while got.len() < 10 * (usize::from(i) + 1) {
                let buf = util::within(10, "recv", rx.next()).await.unwrap().unwrap();
                got.extend_from_slice(&buf);
                bids.push(buf.bid());
            }
        }
        let expected: Vec<u8> = (0..4u8).flat_map(|i| [i; 10]).collect();
        assert_eq!(got, expected);
        // Each receive took a whole buffer of its own: the first four come
        // from the four buffers of the ring, in order.
        let distinct: std::collections::BTreeSet<u16> = bids.iter().take(4).copied().collect();
        assert_eq!(distinct.len(), 4, "one buffer per receive: {bids:?}");
    });
}
