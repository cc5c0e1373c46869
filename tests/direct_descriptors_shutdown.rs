//! Runtime drop with direct-descriptor connections in the middle of reads.
//! Alone in its file: it counts the process's fds.

mod util;

use ringloop::buf::BufRing;
use ringloop::net::TcpStream;

#[test]
fn runtime_drop_with_direct_connections_mid_read_is_clean() {
    let baseline = util::fd_count();
    let rt = ringloop::Runtime::builder()
        .direct_descriptors(16)
        .build()
        .unwrap();
    let clients = rt.block_on(async {
        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = BufRing::builder().entries(8).buf_len(256).build().unwrap();
        let mut clients = Vec::new();
        let mut incoming = listener.incoming_direct().unwrap();
        for i in 0..8 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let stream = util::within(10, "accept", incoming.next()).await.unwrap();
            let pool = pool.clone();
            drop(ringloop::spawn(async move {
                if i % 2 == 0 {
                    let _ = stream.read(vec![0u8; 16]).await;
                } else {
                    let mut rx = stream.recv_multishot(&pool);
                    let _ = rx.next().await;
                }
            }));
        }
        ringloop::yield_now().await;
        clients
    });
    drop(rt);
    // The ring (and its file table) is gone; the clients see the server
    // side closed.
    drop(clients);
    assert_eq!(util::fd_count(), baseline);
}
