//! Runtime drop with a read pending on a registered buffer. Alone in its
//! file: it counts the process's fds.

mod util;

use ringloop::buf::FixedBufRegistry;
use ringloop::net::{TcpListener, TcpStream};

#[test]
fn runtime_drop_with_a_pending_fixed_read_is_clean() {
    let baseline = util::fd_count();
    let rt = ringloop::Runtime::new().unwrap();
    let client = rt.block_on(async {
        let registry = FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let buf = registry.check_out(0).unwrap();
        drop(ringloop::spawn(async move {
            let _ = server.read_fixed(buf).await;
        }));
        // Bounded wait (under fault injection the read may be retried first).
        util::within(10, "read in flight", async {
            while util::in_flight() < 1 {
                ringloop::yield_now().await;
            }
        })
        .await;
        client
    });
    drop(rt);
    drop(client);
    assert_eq!(util::fd_count(), baseline);
}
