//! Eager sends (`Builder::eager_sends`): when the loop is latency-bound, the
//! first socket send of a tick is one nonblocking send(2) instead of an SQE.
//! The caller sees no difference — every byte arrives, in order, errors keep
//! their errno — and under load (or past the first send of a tick) every
//! send still batches through the ring.
//!
//! Under fault injection some sends are sent to the ring on purpose, so the
//! exact counts are checked only without it; the data always is.

mod util;

use std::io::ErrorKind;
use std::time::Duration;

use futures_util::future::join_all;
use ringloop::net::{TcpStream, UdpSocket};
use ringloop::runtime::RuntimeMetrics;

fn metrics() -> RuntimeMetrics {
    ringloop::runtime::metrics().expect("inside a runtime")
}

/// `len` bytes of a pattern that shows any loss, duplication or reordering.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    util::Rng::new(seed).fill(&mut bytes);
    bytes
}

/// Reads from `peer` exactly the bytes of `expected`, and checks them.
async fn expect_received(peer: &TcpStream, expected: &[u8]) {
    let received = util::within(10, "read", util::read_exactly(peer, expected.len())).await;
    assert!(
        received == expected,
        "the bytes arrived altered or out of order"
    );
}

/// A turn of the loop with no I/O of this test in flight, so it reaps at most
/// one completion (here: the dropped listener's close) and leaves no SQE
/// queued: the next send may go eagerly.
async fn quiet_tick() {
    ringloop::yield_now().await;
}

#[test]
fn a_quiet_send_takes_no_sqe_and_delivers_every_byte() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        let data = pattern(1000, 1);
        quiet_tick().await;
        let before = metrics();
        let (res, _) = stream.write_all(data.clone()).await;
        res.unwrap();
        let after = metrics();
        if !util::faults() {
            assert_eq!(after.eager_sends, before.eager_sends + 1);
            assert_eq!(
                after.sqes_submitted, before.sqes_submitted,
                "an eager send queued an SQE"
            );
        }
        expect_received(&peer, &data).await;
    });
}

#[test]
fn with_eager_sends_off_every_send_is_an_sqe() {
    let rt = ringloop::Runtime::builder()
        .eager_sends(false)
        .build()
        .unwrap();
    rt.block_on(async {
        let (peer, stream) = util::tcp_pair().await;
        let data = pattern(1000, 2);
        quiet_tick().await;
        let before = metrics();
        let (res, _) = stream.write_all(data.clone()).await;
        res.unwrap();
        let after = metrics();
        assert_eq!(after.eager_sends, 0);
        assert!(after.sqes_submitted > before.sqes_submitted);
        expect_received(&peer, &data).await;
    });
}

/// The socket takes part of a large write at once; the rest waits in the
/// ring until the peer reads. Nothing is lost or reordered.
#[test]
fn a_send_that_would_block_goes_through_the_ring_in_order() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        // More than loopback's largest send buffer (tcp_wmem max, 4 MiB).
        let data = pattern(8 << 20, 3);
        let reader = ringloop::spawn(async move { util::read_exactly(&peer, 8 << 20).await });
        quiet_tick().await;
        let before = metrics();
        let (res, _) = util::within(30, "write_all", stream.write_all(data.clone())).await;
        res.unwrap();
        let after = metrics();
        if !util::faults() {
            assert_eq!(
                after.eager_sends,
                before.eager_sends + 1,
                "only the first send of the tick goes eagerly"
            );
        }
        assert!(
            after.sqes_submitted > before.sqes_submitted,
            "what the socket could not take went through the ring"
        );
        let received = util::within(30, "reader", reader).await.unwrap();
        assert!(
            received == data,
            "the bytes arrived altered or out of order"
        );
    });
}

/// One tick writing to many sockets sends one eagerly and batches the rest.
#[test]
fn a_fan_out_still_batches_through_the_ring() {
    ringloop::run(async {
        let mut pairs = Vec::new();
        for _ in 0..8 {
            pairs.push(util::tcp_pair().await);
        }
        quiet_tick().await;
        let before = metrics();
        let writes = pairs
            .iter()
            .enumerate()
            .map(|(i, (_, stream))| stream.write_all(pattern(512, 10 + i as u64)));
        for (res, _) in util::within(10, "writes", join_all(writes)).await {
            res.unwrap();
        }
        let after = metrics();
        // Under fault injection shortened and retried writes take more
        // turns, and a later quiet turn may send one of them eagerly.
        if !util::faults() {
            assert!(after.eager_sends - before.eager_sends <= 1);
            assert!(
                after.sqes_submitted - before.sqes_submitted >= 7,
                "the fan-out did not batch: {} SQEs",
                after.sqes_submitted - before.sqes_submitted
            );
        }
        for (i, (peer, _)) in pairs.iter().enumerate() {
            expect_received(peer, &pattern(512, 10 + i as u64)).await;
        }
    });
}

/// An eager send's error is the kernel's, as from the ring, and a reset
/// peer raises no SIGPIPE.
#[test]
fn an_eager_send_to_a_reset_peer_fails_with_its_errno() {
    for eager in [true, false] {
        let rt = ringloop::Runtime::builder()
            .eager_sends(eager)
            .build()
            .unwrap();
        rt.block_on(async {
            let (peer, stream) = util::tcp_pair().await;
            peer.set_linger(Some(Duration::ZERO)).unwrap();
            drop(peer); // closes with a RST
            let (res, _) = util::within(10, "read", stream.read(Vec::with_capacity(64))).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
            quiet_tick().await;
            let before = metrics();
            let (res, buf) = stream.write(vec![7u8; 1024]).await;
            let err = res.expect_err("a reset connection cannot be written to");
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                ),
                "{err}"
            );
            assert!(err.raw_os_error().is_some(), "the errno was lost: {err}");
            assert_eq!(buf.len(), 1024, "the buffer came back whole");
            if eager && !util::faults() {
                assert_eq!(metrics().eager_sends, before.eager_sends + 1);
            }
        });
    }
}

/// A datagram goes whole, eagerly or not.
#[test]
fn an_eager_datagram_is_sent_whole() {
    ringloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        let data = pattern(1400, 4);
        quiet_tick().await;
        let before = metrics();
        let (res, _) = a.send(data.clone()).await;
        assert_eq!(res.unwrap(), data.len());
        if !util::faults() {
            assert_eq!(metrics().eager_sends, before.eager_sends + 1);
        }
        let (res, buf) = util::within(10, "recv", b.recv(Vec::with_capacity(2048))).await;
        assert_eq!(res.unwrap(), data.len());
        assert_eq!(buf, data);
    });
}

/// With SQPOLL the kernel thread submits without syscalls: sends never go
/// eagerly there.
#[test]
fn sqpoll_turns_eager_sends_off() {
    let Some(rt) = util::sqpoll_runtime() else {
        return;
    };
    rt.block_on(async {
        let (peer, stream) = util::tcp_pair().await;
        let data = pattern(1000, 5);
        quiet_tick().await;
        let (res, _) = stream.write_all(data.clone()).await;
        res.unwrap();
        assert_eq!(metrics().eager_sends, 0);
        expect_received(&peer, &data).await;
    });
}

/// A send with a linked kernel timeout always goes through the ring, as the
/// SQE pair it is documented to be, eager sends on or off.
#[test]
fn a_send_with_a_linked_timeout_goes_through_the_ring() {
    ringloop::run(async {
        let (peer, stream) = util::tcp_pair().await;
        let data = pattern(1000, 6);
        quiet_tick().await;
        let before = metrics();
        let (res, _) = stream
            .write_timeout(data.clone(), Duration::from_secs(10))
            .await;
        let sent = res.unwrap();
        util::assert_transfer(sent, data.len());
        let after = metrics();
        assert_eq!(after.eager_sends, before.eager_sends);
        if !util::faults() {
            assert!(
                after.sqes_submitted >= before.sqes_submitted + 2,
                "the send and its timeout were not submitted as a pair"
            );
        }
        expect_received(&peer, &data[..sent]).await;
    });
}
