//! Network error paths: each comes back as the right `io::ErrorKind`, never
//! as a panic, a hang or a SIGPIPE.

mod util;

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::noop_waker_ref;
use ringloop::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

/// A port on `ip` that is bound (so no one else takes it) but not
/// listening: connecting to it is refused. (`TcpSocket` has no
/// `local_addr`, so the port is picked with a std listener first.)
fn closed_port(ip: &str) -> (TcpSocket, SocketAddr) {
    for _ in 0..100 {
        let addr = std::net::TcpListener::bind(format!("{ip}:0"))
            .unwrap()
            .local_addr()
            .unwrap();
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .unwrap();
        // Another test may have taken the port meanwhile: pick again.
        if socket.bind(addr).is_ok() {
            return (socket, addr);
        }
    }
    panic!("no free port on {ip} after 100 tries");
}

async fn connected() -> (TcpListener, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = util::within(
        10,
        "connect",
        TcpStream::connect(listener.local_addr().unwrap()),
    )
    .await
    .unwrap();
    let (server, _) = util::within(10, "accept", listener.accept()).await.unwrap();
    (listener, client, server)
}

#[test]
fn connect_to_closed_port_is_refused() {
    ringloop::run(async {
        let (_reserved, addr) = closed_port("127.0.0.1");
        let err = util::within(10, "connect", TcpStream::connect(addr))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

        // The same through TcpSocket::connect.
        let err = util::within(10, "connect", TcpSocket::new_v4().unwrap().connect(addr))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        // The failed sockets' closes drain; nothing stays in the kernel.
        util::within(10, "ops drain", async {
            while util::in_flight() > 0 {
                ringloop::yield_now().await;
            }
        })
        .await;
    });
}

#[test]
fn connect_to_closed_v6_port_is_refused() {
    if !util::ipv6_loopback("connect_to_closed_v6_port_is_refused") {
        return;
    }
    ringloop::run(async {
        let (_reserved, addr) = closed_port("[::1]");
        let err = util::within(10, "connect", TcpStream::connect(addr))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn bind_address_in_use() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        let err = socket.bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = UdpSocket::bind(udp.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        // The listener still works after the failed binds.
        let client = TcpStream::connect(addr).await.unwrap();
        let (_server, peer) = util::within(10, "accept", listener.accept()).await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}

#[test]
fn bind_foreign_address_is_not_available() {
    ringloop::run(async {
        // TEST-NET-3: never an address of this host.
        let err = TcpListener::bind("203.0.113.7:0").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{err}");
        let err = UdpSocket::bind("203.0.113.7:0").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{err}");
    });
}

#[test]
fn read_from_reset_peer_is_an_error() {
    ringloop::run(async {
        let (_listener, client, server) = connected().await;
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client); // closes with a RST
        let (res, _) = util::within(10, "read", server.read(Vec::with_capacity(64))).await;
        let err = res.expect_err("a reset connection cannot read");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

        // Writing to it fails too, with an error and no SIGPIPE (which would
        // kill the test process).
        let (res, _) = util::within(10, "write", server.write(vec![1u8; 1024])).await;
        let err = res.expect_err("a reset connection cannot write");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    });
}

#[test]
fn pending_read_sees_reset_as_error() {
    ringloop::run(async {
        let (_listener, client, server) = connected().await;
        let reader = ringloop::spawn(async move {
            let (res, _) = server.read(Vec::with_capacity(64)).await;
            res
        });
        // Let the read reach the kernel before the reset arrives.
        ringloop::yield_now().await;
        ringloop::io::nop().await.unwrap();
        assert!(!reader.is_finished());
        client.set_linger(Some(Duration::ZERO)).unwrap();
        util::within(10, "close", client.close()).await.unwrap();
        let res = util::within(10, "pending read", reader).await.unwrap();
        let err = res.expect_err("the pending read ends with the reset");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    });
}

#[test]
fn writes_to_closed_peer_fail_without_sigpipe() {
    ringloop::run(async {
        let (_listener, client, server) = connected().await;
        util::within(10, "close", server.close()).await.unwrap();
        // The first writes may still be accepted by the kernel; the peer's
        // RST then makes a later one fail. Bounded.
        let mut failed = None;
        for _ in 0..100 {
            let (res, _) = util::within(10, "write", client.write(vec![7u8; 4096])).await;
            if let Err(err) = res {
                failed = Some(err);
                break;
            }
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
        let err = failed.expect("writing to a closed peer fails within 100 writes");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
        let (res, _) = client.write_all(vec![7u8; 4096]).await;
        assert!(res.is_err(), "write_all reports the error too");
    });
}

#[test]
fn operations_outside_a_runtime_are_errors() {
    // No runtime on this thread: each op resolves at once with an error.
    let mut cx = Context::from_waker(noop_waker_ref());

    let connect = pin!(TcpStream::connect("127.0.0.1:9"));
    match connect.poll(&mut cx) {
        Poll::Ready(Err(err)) => assert!(!err.to_string().is_empty()),
        Poll::Ready(Ok(_)) => panic!("connected without a runtime"),
        Poll::Pending => panic!("an op outside a runtime must not wait forever"),
    }

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = udp.local_addr().unwrap();
    let send = pin!(udp.send_to(b"x".to_vec(), addr));
    match send.poll(&mut cx) {
        Poll::Ready((Err(_), buf)) => assert_eq!(buf, b"x", "the buffer comes back"),
        other => panic!("expected an error at once, got {:?}", other.map(|(r, _)| r)),
    }
}
