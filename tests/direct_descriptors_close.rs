//! `close()` of a direct descriptor closes its slot once: a second close
//! of the same slot (from the drop that follows) would close whatever
//! connection the kernel accepted into the freed slot meanwhile. (A file of
//! its own: `tests/direct_descriptors.rs` counts the process's fds.)

mod util;

use ringloop::net::TcpStream;

/// `close()` closes a direct descriptor's slot once. A second close of the
/// same slot (from the drop that follows) would close whatever connection
/// the kernel accepted into the freed slot meanwhile.
#[test]
fn close_frees_the_slot_once_and_the_next_connection_keeps_it() {
    let rt = ringloop::Runtime::builder()
        .direct_descriptors(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = listener.incoming_direct().unwrap();
        let _first_client = TcpStream::connect(addr).await.unwrap();
        let first = util::within(10, "accept", incoming.next()).await.unwrap();
        assert_eq!(first.slot(), 0);
        let before = ringloop::runtime::metrics().unwrap().sqes_submitted;
        first.close().await.unwrap();
        // Turns in which a second, detached close would be submitted.
        for _ in 0..4 {
            ringloop::yield_now().await;
        }
        let closes = ringloop::runtime::metrics().unwrap().sqes_submitted - before;
        if !util::faults() {
            // Fault injection may fail the close once and send it again.
            assert_eq!(closes, 1, "the slot was closed {closes} times");
        }
        // The one slot is free again, and the next connection keeps it.
        let client = TcpStream::connect(addr).await.unwrap();
        let second = util::within(10, "accept", incoming.next()).await.unwrap();
        assert_eq!(second.slot(), 0);
        for _ in 0..4 {
            ringloop::yield_now().await;
        }
        let (res, _) = second.write_all(b"still open".to_vec()).await;
        res.unwrap();
        let got = util::within(10, "read", util::read_exactly(&client, 10)).await;
        assert_eq!(got, b"still open");
    });
}
