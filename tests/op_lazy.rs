//! Op futures are lazy, like every Rust future: one that is never polled
//! submits nothing, and the data it holds never reaches the kernel.

mod util;

#[test]
fn an_unpolled_write_sends_nothing() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;

        let submitted = ringloop::runtime::metrics().unwrap().sqes_submitted;
        let unpolled = stream.write(b"never sent".to_vec());
        drop(unpolled);
        let unpolled_all = stream.write_all(b"never sent either".to_vec());
        drop(unpolled_all);
        assert_eq!(
            ringloop::runtime::metrics().unwrap().sqes_submitted,
            submitted,
            "an op future that was never polled reached the ring"
        );

        // The first bytes the peer sees are the first awaited write's.
        let (res, _) = stream.write_all(b"first".to_vec()).await;
        res.unwrap();
        drop(stream);
        let mut received = Vec::new();
        loop {
            let (res, buf) = peer.read(Vec::with_capacity(64)).await;
            if res.unwrap() == 0 {
                break;
            }
            received.extend_from_slice(&buf);
        }
        assert_eq!(received, b"first");
    });
}
