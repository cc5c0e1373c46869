//! Zero-copy send: data arrives intact; the buffer is handed back only after
//! the kernel's notification, also when the send is cancelled.

mod util;

use ringloop::net::{TcpListener, TcpStream};

#[test]
fn zero_copy_sends_arrive_intact() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = ringloop::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (res, buf) = stream.read_exact(Vec::with_capacity(4 << 20)).await;
            res.unwrap();
            buf
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut data = vec![0u8; 4 << 20];
        util::Rng::new(9).fill(&mut data);
        let mut sent = 0;
        let mut chunk = data[..].to_vec();
        while sent < data.len() {
            let (res, back) = stream.write_zc(chunk).await;
            let n = res.unwrap();
            assert!(n > 0);
            sent += n;
            chunk = data[sent..].to_vec();
            drop(back);
        }
        assert_eq!(reader.await.unwrap(), data);
        assert_eq!(
            util::in_flight(),
            ringloop::runtime::metrics().unwrap().ops_in_flight
        );
    });
}

#[test]
fn a_dropped_zero_copy_send_is_cleaned_up() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let baseline = util::in_flight();
        for _ in 0..100 {
            // Poll once, then drop: cancelled, or completed and disposed.
            let send = stream.write_zc(vec![1u8; 256 * 1024]);
            let _ = futures_util::FutureExt::now_or_never(send);
        }
        // On loopback the kernel keeps referencing zero-copy pages until the
        // receiver consumes them: the notifications (and the buffers) come
        // back only once the peer reads. Until then they stay in the table.
        ringloop::yield_now().await;
        assert!(
            util::in_flight() > baseline,
            "sends still own their buffers"
        );
        drop(stream);
        drop(ringloop::spawn(async move {
            let mut buf = Vec::with_capacity(1 << 16);
            loop {
                buf.clear();
                let (res, b) = peer.read(buf).await;
                buf = b;
                if !matches!(res, Ok(n) if n > 0) {
                    return;
                }
            }
        }));
        util::within(10, "all zero-copy sends returned", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}
