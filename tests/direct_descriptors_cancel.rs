//! Direct descriptors: errors, and slots freed when an accept stream with
//! queued connections is dropped. (Apart from the fd-counting tests, which
//! need a process of their own.)

mod util;

use ringloop::net::TcpStream;

#[test]
fn without_a_file_table_direct_accept_reports_an_error() {
    ringloop::run(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = ringloop::spawn(async move { TcpStream::connect(addr).await });
        let mut incoming = listener.incoming_direct().unwrap();
        let err = util::within(10, "accept", incoming.next())
            .await
            .unwrap_err();
        // No table registered: the kernel refuses (ENXIO/EINVAL), no panic.
        assert!(err.raw_os_error().is_some(), "{err}");
    });
}

#[test]
fn dropping_incoming_direct_frees_the_slots_of_queued_connections() {
    let rt = ringloop::Runtime::builder()
        .direct_descriptors(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        {
            let mut incoming = listener.incoming_direct().unwrap();
            let first = TcpStream::connect(addr).await.unwrap();
            let served = util::within(10, "accept", incoming.next()).await.unwrap();
            // Three more land in slots through the armed multishot accept,
            // but nobody takes them.
            let mut waiting = Vec::new();
            for _ in 0..3 {
                waiting.push(TcpStream::connect(addr).await.unwrap());
            }
            ringloop::time::sleep(std::time::Duration::from_millis(20)).await;
            drop(incoming);
            // Their slots are closed: the clients read end of stream.
            for c in &waiting {
                let (res, _) = util::within(10, "EOF", c.read(vec![0u8; 8])).await;
                assert_eq!(res.unwrap(), 0);
            }
            served.close().await.unwrap();
            drop(first);
        }
        // All 4 slots are free again: 4 new connections are accepted and
        // held at once.
        let mut incoming = listener.incoming_direct().unwrap();
        let mut clients = Vec::new();
        let mut held = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            held.push(util::within(10, "accept", incoming.next()).await.unwrap());
        }
        assert_eq!(held.len(), 4);
    });
}
