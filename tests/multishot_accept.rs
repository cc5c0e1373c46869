//! Multishot accept: one SQE serves many connections; connections accepted
//! but never taken are closed, not leaked.

mod util;

use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};

#[test]
fn one_sqe_accepts_many_connections() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = ringloop::spawn(async move {
            let mut streams = Vec::new();
            for _ in 0..100 {
                streams.push(TcpStream::connect(addr).await.unwrap());
            }
            streams
        });
        let mut incoming = listener.incoming();
        let before = ringloop::runtime::metrics().unwrap();
        let mut accepted = Vec::new();
        for _ in 0..100 {
            accepted.push(util::within(10, "accept", incoming.next()).await.unwrap());
        }
        let after = ringloop::runtime::metrics().unwrap();
        let clients = clients.await.unwrap();
        // 100 connects, plus at most a few accept SQEs (multishot re-arms).
        let sqes = after.sqes_submitted - before.sqes_submitted;
        assert!(sqes <= 110, "{sqes} SQEs for 100 connects and 100 accepts");
        let kinds = &after.ops_in_flight_by_kind;
        assert!(
            kinds.iter().any(|(k, n)| *k == "AcceptMulti" && *n == 1),
            "one multishot accept stays armed: {kinds:?}"
        );
        // Each accepted stream is connected to a client.
        let (res, _) = accepted[7].write_all(b"x".to_vec()).await;
        res.unwrap();
        let mut got = 0;
        for c in &clients {
            let r = ringloop::time::timeout(Duration::from_millis(1), c.read(vec![0u8; 1])).await;
            if let Ok((Ok(1), _)) = r {
                got += 1;
            }
        }
        assert_eq!(got, 1);
    });
}

#[test]
fn untaken_connections_are_closed_when_incoming_drops() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let baseline_fds = util::fd_count();
        let mut incoming = listener.incoming();
        let first = TcpStream::connect(addr).await.unwrap();
        let _served = util::within(10, "accept", incoming.next()).await.unwrap();
        // More connections arrive; the armed multishot accepts them into its
        // queue, but nobody takes them.
        let mut waiting = Vec::new();
        for _ in 0..5 {
            waiting.push(TcpStream::connect(addr).await.unwrap());
        }
        ringloop::time::sleep(Duration::from_millis(20)).await;
        drop(incoming);
        // Each queued connection was closed: its client reads end of stream.
        for c in &waiting {
            let (res, _) = util::within(10, "EOF", c.read(vec![0u8; 8])).await;
            assert_eq!(res.unwrap(), 0);
        }
        drop(waiting);
        drop(first);
        drop(_served);
        util::within(10, "fds released", async {
            while util::fd_count() > baseline_fds || util::in_flight() > 0 {
                ringloop::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
    });
}
