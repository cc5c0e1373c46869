//! Direct descriptors: connections accepted into the ring's file table,
//! served with IOSQE_FIXED_FILE, their slots freed on close.

mod util;

use ringloop::buf::BufRing;
use ringloop::net::TcpStream;

#[test]
fn echo_over_direct_descriptors_reuses_slots_and_uses_no_fds() {
    let rt = ringloop::Runtime::builder()
        .direct_descriptors(8)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = BufRing::builder().entries(16).buf_len(512).build().unwrap();
        // 40 connections, one after the other, through a table of 8 slots:
        // works only if closing a connection frees its slot.
        let server = ringloop::spawn(async move {
            let mut incoming = listener.incoming_direct().unwrap();
            for i in 0..40 {
                let stream = util::within(10, "accept", incoming.next()).await.unwrap();
                assert!(stream.slot() < 8, "{stream:?}");
                // Echo until the client shuts its side down (reads may be
                // short, e.g. under fault injection).
                if i % 2 == 0 {
                    // plain reads
                    let mut buf = Vec::with_capacity(64);
                    loop {
                        buf.clear();
                        let (res, b) = stream.read(buf).await;
                        if res.unwrap() == 0 {
                            break;
                        }
                        let (res, b) = stream.write_all(b).await;
                        res.unwrap();
                        buf = b;
                    }
                } else {
                    // multishot receive into the pool
                    let mut rx = stream.recv_multishot(&pool);
                    while let Some(buf) = rx.next().await {
                        let (res, _) = stream.write_all(buf.unwrap()).await;
                        res.unwrap();
                    }
                }
                stream.close().await.unwrap();
            }
        });
        let fds_before = util::fd_count();
        for i in 0..40u32 {
            let client = TcpStream::connect(addr).await.unwrap();
            let msg = format!("direct {i}").into_bytes();
            let (res, _) = client.write_all(msg.clone()).await;
            res.unwrap();
            let (res, got) =
                util::within(10, "echo", client.read_exact(Vec::with_capacity(msg.len()))).await;
            res.unwrap();
            assert_eq!(got, msg);
            // Only the client's fd exists: the server side holds none.
            assert!(util::fd_count() <= fds_before + 1);
        }
        server.await.unwrap();
    });
}
