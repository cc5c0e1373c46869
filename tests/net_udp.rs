//! UDP on loopback: bind, send_to/recv_from, connect + send/recv, datagram
//! boundaries and truncation, empty datagrams, IPv6, std conversions.

mod util;

use std::io::ErrorKind;

use ringloop::net::UdpSocket;

#[test]
fn send_to_and_recv_from() {
    ringloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(a_addr.port(), 0);
        assert_ne!(a_addr, b_addr);

        let (res, buf) = a.send_to(b"ping".to_vec(), b_addr).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"ping");
        let (res, buf) = util::within(10, "recv_from", b.recv_from(Vec::with_capacity(64))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, a_addr, "the sender's address comes back");

        let (res, _) = b.send_to(b"pong".to_vec(), from).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = util::within(10, "recv_from", a.recv_from(vec![0u8; 64])).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(from, b_addr);
    });
}

#[test]
fn datagram_boundaries_are_kept() {
    ringloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let sizes = [1usize, 1000, 0, 8192, 3];
        let mut stream = util::ByteStream::new(21);
        let mut sent = Vec::new();
        for &n in &sizes {
            let data = stream.take(n);
            let (res, data) = a.send_to(data, to).await;
            assert_eq!(res.unwrap(), n, "a datagram is sent whole");
            sent.push(data);
        }
        for expected in &sent {
            let (res, buf) =
                util::within(10, "recv_from", b.recv_from(Vec::with_capacity(16 * 1024))).await;
            let (n, _) = res.unwrap();
            assert_eq!(n, expected.len(), "one datagram per receive");
            assert_eq!(&buf[..n], &expected[..]);
        }
    });
}

#[test]
fn connect_then_send_and_recv() {
    ringloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

        assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        a.connect(b_addr).unwrap();
        b.connect(a_addr).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);

        // A connected socket only receives from its peer: the stranger's
        // datagram, sent first, is filtered out.
        let (res, _) = stranger.send_to(b"stranger".to_vec(), a_addr).await;
        res.unwrap();
        let (res, _) = b.send(b"friend".to_vec()).await;
        assert_eq!(res.unwrap(), 6);
        let (res, buf) = util::within(10, "recv", a.recv(Vec::with_capacity(64))).await;
        let n = res.unwrap();
        assert_eq!(&buf[..n], b"friend");

        let (res, _) = a.send(b"reply".to_vec()).await;
        assert_eq!(res.unwrap(), 5);
        let (res, buf) = util::within(10, "recv", b.recv(Vec::with_capacity(64))).await;
        let n = res.unwrap();
        assert_eq!(&buf[..n], b"reply");
    });
}

#[test]
fn datagram_truncated_to_a_smaller_buffer() {
    ringloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let long: Vec<u8> = (0..100u8).collect();

        // recv_from: the first 10 bytes, the rest of that datagram is gone.
        let (res, _) = a.send_to(long.clone(), to).await;
        res.unwrap();
        let (res, _) = a.send_to(b"next".to_vec(), to).await;
        res.unwrap();
        let (res, buf) = util::within(10, "recv_from", b.recv_from(Vec::with_capacity(10))).await;
        let (n, _) = res.unwrap();
        assert_eq!(n, 10);
        assert_eq!(&buf[..], &long[..10]);
        let (res, buf) = util::within(10, "recv_from", b.recv_from([0u8; 32])).await;
        let (n, _) = res.unwrap();
        assert_eq!(
            &buf[..n],
            b"next",
            "the truncated datagram's tail is discarded"
        );

        // recv on a connected socket truncates the same way.
        b.connect(a.local_addr().unwrap()).unwrap();
        let (res, _) = a.send_to(long.clone(), to).await;
        res.unwrap();
        let (res, _) = a.send_to(b"after".to_vec(), to).await;
        res.unwrap();
        let (res, buf) = util::within(10, "recv", b.recv(vec![0u8; 7].into_boxed_slice())).await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(&buf[..], &long[..7]);
        let (res, buf) = util::within(10, "recv", b.recv(Vec::with_capacity(64))).await;
        let n = res.unwrap();
        assert_eq!(&buf[..n], b"after");
    });
}

#[test]
fn empty_datagram() {
    ringloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (res, _) = a.send_to(Vec::new(), b.local_addr().unwrap()).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = a.send_to(&b""[..], b.local_addr().unwrap()).await;
        assert_eq!(res.unwrap(), 0);
        for _ in 0..2 {
            let (res, _) = util::within(10, "recv_from", b.recv_from(Vec::with_capacity(8))).await;
            let (n, from) = res.unwrap();
            assert_eq!(n, 0);
            assert_eq!(from, a.local_addr().unwrap());
        }
    });
}

#[test]
fn udp_over_ipv6() {
    if !util::ipv6_loopback("udp_over_ipv6") {
        return;
    }
    ringloop::run(async {
        let a = UdpSocket::bind("[::1]:0").unwrap();
        let b = UdpSocket::bind("[::1]:0").unwrap();
        assert!(a.local_addr().unwrap().is_ipv6());
        let (res, _) = a.send_to(b"six".to_vec(), b.local_addr().unwrap()).await;
        res.unwrap();
        let (res, buf) = util::within(10, "recv_from", b.recv_from(Vec::with_capacity(8))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"six");
        assert_eq!(from, a.local_addr().unwrap());
    });
}

#[test]
fn std_conversions_and_close() {
    ringloop::run(async {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = std_socket.local_addr().unwrap();
        let a = UdpSocket::from_std(std_socket);
        assert_eq!(a.local_addr().unwrap(), addr);
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();

        let (res, _) = b.send_to(b"to adopted".to_vec(), addr).await;
        res.unwrap();
        let (res, buf) = util::within(10, "recv_from", a.recv_from(Vec::with_capacity(16))).await;
        let (n, _) = res.unwrap();
        assert_eq!(&buf[..n], b"to adopted");

        let std_a = a.into_std().unwrap();
        assert_eq!(std_a.local_addr().unwrap(), addr);
        std_a.send_to(b"from std", b.local_addr().unwrap()).unwrap();
        let (res, buf) = util::within(10, "recv_from", b.recv_from(Vec::with_capacity(16))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"from std");
        assert_eq!(from, addr);

        util::within(10, "close", b.close()).await.unwrap();
    });
}

#[test]
fn connected_socket_reports_refused_port() {
    ringloop::run(async {
        // A port nobody listens on: bound by a socket that is then closed.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(closed).unwrap();
        let (res, _) = a.send(b"anyone?".to_vec()).await;
        assert_eq!(res.unwrap(), 7, "the send itself succeeds");
        // The ICMP port-unreachable comes back as an error on the next
        // receive of the connected socket: an error, not a hang.
        let (res, _) = util::within(10, "recv", a.recv(Vec::with_capacity(16))).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        assert!(a.take_error().unwrap().is_none(), "the error was consumed");
    });
}
