//! Linked timeouts: a receive bounded by a kernel timeout linked to it.

mod util;

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ringloop::net::{TcpListener, TcpStream};

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = ringloop::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap(), server)
}

#[test]
fn a_silent_peer_times_out_with_one_sqe_pair_and_no_timer() {
    ringloop::run(async {
        let (_client, server) = pair().await;
        let baseline = util::in_flight();
        let before = ringloop::runtime::metrics().unwrap();
        let start = Instant::now();
        let (res, buf) = server
            .read_timeout(vec![7u8; 4], Duration::from_millis(30))
            .await;
        let elapsed = start.elapsed();
        let err = res.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(elapsed >= Duration::from_millis(30), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5));
        assert_eq!(buf, vec![7u8; 4], "the buffer comes back");
        let after = ringloop::runtime::metrics().unwrap();
        assert_eq!(
            after.sqes_submitted - before.sqes_submitted,
            2,
            "one SQE pair"
        );
        assert_eq!(after.timers, before.timers, "no userspace timer");
        util::within(5, "slots freed", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}

#[test]
fn data_before_the_deadline_wins() {
    ringloop::run(async {
        let (client, server) = pair().await;
        let baseline = util::in_flight();
        let writer = ringloop::spawn(async move {
            ringloop::time::sleep(Duration::from_millis(5)).await;
            let (res, _) = client.write_all(b"in time".to_vec()).await;
            res.unwrap();
            client
        });
        let (res, buf) = server
            .read_timeout(Vec::with_capacity(32), Duration::from_secs(10))
            .await;
        // The data (or, with short writes, its first part) came in time.
        let n = res.unwrap();
        assert!(
            n > 0 && b"in time".starts_with(&buf[..n]),
            "{:?}",
            &buf[..n]
        );
        let (res, rest) = server.read_exact(Vec::with_capacity(7 - n)).await;
        res.unwrap();
        assert_eq!([&buf[..n], &rest[..]].concat(), b"in time");
        let _client = writer.await.unwrap();
        // The linked timeout was cancelled by the kernel and its slot freed.
        util::within(5, "timer slot freed", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}

#[test]
fn linked_pairs_survive_a_tiny_submission_queue() {
    let rt = ringloop::Runtime::builder().entries(2).build().unwrap();
    rt.block_on(async {
        let mut conns = Vec::new();
        for _ in 0..20 {
            conns.push(pair().await);
        }
        // 20 linked pairs pushed in one tick into an SQ of 2: each pair must
        // enter the ring whole, or its timeout would be unlinked (EINVAL).
        let reads = conns
            .iter()
            .map(|(_, server)| server.read_timeout(vec![0u8; 8], Duration::from_millis(20)));
        for (res, _) in join_all(reads).await {
            assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        }
        assert!(ringloop::runtime::metrics().unwrap().sq_full_events > 0);
    });
}

#[test]
fn dropping_a_bounded_read_cancels_both_ops() {
    ringloop::run(async {
        let (_client, server) = pair().await;
        let baseline = util::in_flight();
        let res = ringloop::time::timeout(
            Duration::from_millis(5),
            server.read_timeout(vec![0u8; 8], Duration::from_secs(60)),
        )
        .await;
        assert!(res.is_err(), "the outer timeout dropped the read");
        util::within(5, "both ops returned", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}
