//! TCP on loopback: accept/connect over IPv4 and IPv6, addresses, every
//! read/write flavour, socket options, split halves used from two tasks,
//! std conversions, SO_REUSEPORT listeners, half-close and close().

mod util;

use std::future::Future;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::task::Context;

use futures_util::task::noop_waker_ref;
use ringloop::buf::IoBuf;
use ringloop::net::{TcpListener, TcpSocket, TcpStream};

/// A listener on `addr` and a connected pair: (client, server, server's view
/// of the client's address).
async fn connected(addr: &str) -> (TcpListener, TcpStream, TcpStream, SocketAddr) {
    let listener = TcpListener::bind(addr).unwrap();
    let target = listener.local_addr().unwrap();
    let client = util::within(10, "connect", TcpStream::connect(target))
        .await
        .unwrap();
    let (server, peer) = util::within(10, "accept", listener.accept()).await.unwrap();
    (listener, client, server, peer)
}

fn check_addresses(
    listener: &TcpListener,
    client: &TcpStream,
    server: &TcpStream,
    peer: SocketAddr,
) {
    let listen_addr = listener.local_addr().unwrap();
    assert_ne!(
        listen_addr.port(),
        0,
        "binding port 0 reports the real port"
    );
    assert_eq!(client.peer_addr().unwrap(), listen_addr);
    assert_eq!(server.local_addr().unwrap(), listen_addr);
    let client_local = client.local_addr().unwrap();
    assert_eq!(server.peer_addr().unwrap(), client_local);
    assert_eq!(peer, client_local, "accept returns the client's address");
    assert_ne!(client_local.port(), listen_addr.port());
}

/// Reads until EOF, returning everything read.
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (res, b) = stream.read(buf).await;
        let n = res.unwrap();
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&b[..n]);
        buf = b;
        buf.clear();
    }
}

#[test]
fn accept_connect_v4_with_addresses() {
    ringloop::run(async {
        let (listener, client, server, peer) = connected("127.0.0.1:0").await;
        assert!(listener.local_addr().unwrap().is_ipv4());
        check_addresses(&listener, &client, &server, peer);

        let (res, _) = client.write_all(b"ping".to_vec()).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"ping");
    });
}

#[test]
fn accept_connect_v6_with_addresses() {
    if !util::ipv6_loopback("accept_connect_v6_with_addresses") {
        return;
    }
    ringloop::run(async {
        let (listener, client, server, peer) = connected("[::1]:0").await;
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        assert_eq!(addr.ip(), "::1".parse::<std::net::IpAddr>().unwrap());
        check_addresses(&listener, &client, &server, peer);

        let (res, _) = server.write_all(b"pong over v6".to_vec()).await;
        res.unwrap();
        let (res, buf) = client.read_exact(Vec::with_capacity(12)).await;
        res.unwrap();
        assert_eq!(buf, b"pong over v6");
    });
}

#[test]
fn read_write_write_all_read_exact() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;

        // write / read: the count comes back with the buffer.
        let (res, buf) = client.write(b"hello".to_vec()).await;
        let n = res.unwrap();
        util::assert_transfer(n, 5);
        assert_eq!(buf, b"hello", "the written buffer is handed back intact");
        let (res, _) = client.write_all(buf.slice(n..)).await;
        res.unwrap();
        let (res, buf) = util::within(10, "read", server.read(Vec::with_capacity(64))).await;
        let m = res.unwrap();
        util::assert_transfer(m, 5);
        assert_eq!(&buf[..], &b"hello"[..m]);
        assert_eq!(buf.len(), m, "a Vec's len records what the kernel wrote");
        let (res, rest) = server.read_exact(Vec::with_capacity(5 - m)).await;
        res.unwrap();
        assert_eq!(rest, &b"hello"[m..]);

        // write_all / read_exact: 4 MiB, more than the socket buffers hold,
        // so the writer must loop while the reader drains concurrently.
        let data = util::ByteStream::new(1).take(4 << 20);
        let expected = data.clone();
        let server = Rc::new(server);
        let reader = {
            let server = server.clone();
            ringloop::spawn(async move {
                let (res, buf) = server.read_exact(Vec::with_capacity(4 << 20)).await;
                res.unwrap();
                buf
            })
        };
        let (res, back) = util::within(30, "write_all", client.write_all(data)).await;
        res.unwrap();
        assert_eq!(back.len(), 4 << 20);
        let got = util::within(30, "read_exact", reader).await.unwrap();
        assert!(got == expected, "read_exact got different bytes");

        // read_exact at EOF: UnexpectedEof, not a hang or a panic.
        let (res, _) = client.write_all(b"abc".to_vec()).await;
        res.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        let (res, buf) = util::within(
            10,
            "short read_exact",
            server.read_exact(Vec::with_capacity(10)),
        )
        .await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..], b"abc", "the bytes before EOF are kept");
    });
}

#[test]
fn readv_and_writev() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;

        let (res, bufs) = client
            .writev(vec![
                b"abc".to_vec(),
                Vec::new(),
                b"defgh".to_vec(),
                b"ijkl".to_vec(),
            ])
            .await;
        assert_eq!(res.unwrap(), 12);
        assert_eq!(bufs.len(), 4, "every buffer comes back");
        assert_eq!(bufs[2], b"defgh");

        // The 12 bytes are already queued at the server (loopback delivers
        // during the send): one readv fills the buffers in order.
        let bufs = vec![
            Vec::with_capacity(3),
            Vec::with_capacity(5),
            Vec::with_capacity(100),
        ];
        let (res, bufs) = util::within(10, "readv", server.readv(bufs)).await;
        assert_eq!(res.unwrap(), 12);
        assert_eq!(bufs[0], b"abc");
        assert_eq!(bufs[1], b"defgh");
        assert_eq!(bufs[2], b"ijkl");

        // Empty vectors are valid: nothing moves.
        let (res, bufs) = client.writev(Vec::<Vec<u8>>::new()).await;
        assert_eq!(res.unwrap(), 0);
        assert!(bufs.is_empty());
    });
}

#[test]
fn zero_length_buffers_are_valid() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let (res, buf) = client.write(Vec::new()).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty());
        let (res, _) = client.write_all(b"".to_vec()).await;
        res.unwrap();
        let (res, _) = client.write(&b""[..]).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = util::within(10, "empty read_exact", server.read_exact(Vec::new())).await;
        res.unwrap();
        let (res, bufs) =
            util::within(10, "empty readv", server.readv(Vec::<Vec<u8>>::new())).await;
        assert_eq!(res.unwrap(), 0);
        assert!(bufs.is_empty());
        let (res, _) = util::within(
            10,
            "readv of an empty buffer",
            server.readv(vec![Vec::new()]),
        )
        .await;
        assert_eq!(res.unwrap(), 0);
        // The stream still works afterwards.
        let (res, _) = client.write_all(b"x".to_vec()).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(1)).await;
        res.unwrap();
        assert_eq!(buf, b"x");
    });
}

/// A read into a buffer with no room must return 0 at once (the docs: "0
/// means ... `buf` has no room"), like `readv` of empty buffers does.
/// (Regression: a zero-length `IORING_OP_RECV` on a TCP socket waits in the
/// kernel until data arrives, so with an idle peer it never returned.)
#[test]
fn zero_capacity_read_returns_at_once() {
    ringloop::run(async {
        let (_listener, _client, server, _) = connected("127.0.0.1:0").await;
        let (res, _) = util::within(5, "zero-capacity read", server.read(Vec::new())).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = util::within(5, "zero-capacity array read", server.read([0u8; 0])).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn set_nodelay_round_trip() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        assert!(!client.nodelay().unwrap(), "Nagle is on by default");
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        assert!(!server.nodelay().unwrap(), "the option is per socket");
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());

        // Set through TcpSocket before connecting, it sticks to the stream.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_nodelay(true).unwrap();
        let stream = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert!(stream.nodelay().unwrap());
    });
}

#[test]
fn into_split_halves_in_two_tasks() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        const LEN: usize = 2 << 20;

        // The server echoes until EOF, then sends a trailer and closes.
        let server_task = ringloop::spawn(async move {
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut echoed = 0;
            loop {
                let (res, b) = server.read(buf).await;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                let (res, b) = server.write_all(b).await;
                res.unwrap();
                echoed += n;
                buf = b;
                buf.clear();
            }
            // EOF seen while the client's read half is still alive: it
            // must still receive this.
            let (res, _) = server.write_all(b"trailer".to_vec()).await;
            res.unwrap();
            echoed
        });

        let (read_half, write_half) = client.into_split();
        let reader = ringloop::spawn(async move {
            let mut all = Vec::new();
            let mut buf = Vec::with_capacity(32 * 1024);
            loop {
                let (res, b) = read_half.read(buf).await;
                let n = res.unwrap();
                if n == 0 {
                    return all;
                }
                all.extend_from_slice(&b[..n]);
                buf = b;
                buf.clear();
            }
        });
        let writer = ringloop::spawn(async move {
            let mut stream = util::ByteStream::new(7);
            let mut sizes = util::Rng::new(8);
            let mut sent = 0;
            while sent < LEN {
                let n = (sizes.range(1, 64 * 1024) as usize).min(LEN - sent);
                let (res, _) = write_half.write_all(stream.take(n)).await;
                res.unwrap();
                sent += n;
            }
            // Dropping the write half shuts the write side down.
            drop(write_half);
        });

        util::within(30, "writer", writer).await.unwrap();
        let echoed = util::within(30, "server sees EOF", server_task)
            .await
            .unwrap();
        assert_eq!(echoed, LEN);
        let got = util::within(30, "reader", reader).await.unwrap();
        assert_eq!(got.len(), LEN + 7);
        let mut expected = util::ByteStream::new(7).take(LEN);
        expected.extend_from_slice(b"trailer");
        assert!(got == expected, "echoed bytes differ");
    });
}

#[test]
fn split_read_half_alive_after_write_half_dropped() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let (read_half, write_half) = client.into_split();
        // A read pending on the read half while the write half goes away.
        let pending = ringloop::spawn(async move {
            let (res, buf) = read_half.read(Vec::with_capacity(16)).await;
            (res.map(|n| buf[..n].to_vec()), read_half)
        });
        ringloop::yield_now().await;
        drop(write_half);
        let (res, _) = util::within(10, "peer sees EOF", server.read(Vec::with_capacity(8))).await;
        assert_eq!(
            res.unwrap(),
            0,
            "peer reads EOF after the write half is dropped"
        );
        assert!(!pending.is_finished(), "the read half's read is unaffected");
        let (res, _) = server.write_all(b"still here".to_vec()).await;
        res.unwrap();
        let (got, read_half) = util::within(10, "read half", pending).await.unwrap();
        let mut got = got.unwrap();
        // (A short read is legal under fault injection: read the rest.)
        let (res, rest) = read_half
            .read_exact(Vec::with_capacity(10 - got.len()))
            .await;
        res.unwrap();
        got.extend_from_slice(&rest);
        assert_eq!(got, b"still here");
        drop(server);
        let (res, _) = util::within(10, "EOF", read_half.read(Vec::with_capacity(8))).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn split_write_half_shutdown_reports_result() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let (read_half, write_half) = client.into_split();
        let (res, _) = write_half.write_all(b"last words".to_vec()).await;
        res.unwrap();
        write_half.shutdown().await.unwrap();
        assert_eq!(read_to_end(&server).await, b"last words");
        let (res, _) = server.write_all(b"reply".to_vec()).await;
        res.unwrap();
        let (res, buf) = read_half.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"reply");
    });
}

#[test]
fn from_std_and_into_std() {
    ringloop::run(async {
        use std::io::{Read, Write};

        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener);
        assert_eq!(listener.local_addr().unwrap(), addr);

        // A blocking std connect completes in the kernel's backlog.
        let client = TcpStream::from_std(std::net::TcpStream::connect(addr).unwrap());
        let (server, _) = util::within(10, "accept", listener.accept()).await.unwrap();
        let (res, _) = client.write_all(b"from std".to_vec()).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(8)).await;
        res.unwrap();
        assert_eq!(buf, b"from std");

        // into_std with no op in flight: a working std stream.
        let (res, _) = server.write_all(b"to std".to_vec()).await;
        res.unwrap();
        let mut std_server = server.into_std().expect("no op in flight: into_std works");
        let mut std_client = client.into_std().unwrap();
        assert_eq!(std_client.peer_addr().unwrap(), addr);
        let mut got = [0u8; 6];
        std_client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"to std");
        std_client.write_all(b"back").unwrap();
        let mut got = [0u8; 4];
        std_server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"back");
    });
}

#[test]
fn into_std_refused_while_a_cancelled_op_holds_the_fd() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let mut read = Box::pin(server.read(Vec::with_capacity(8)));
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(read.as_mut().poll(&mut cx).is_pending(), "no data yet");
        // Dropped before any turn of the ring: the op still holds the fd.
        drop(read);
        let err = server
            .into_std()
            .expect_err("into_std while an op holds the fd must fail");
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        // Nothing leaks or hangs: the cancel completes.
        util::within(10, "cancel completes", async {
            while util::in_flight() > 0 {
                ringloop::yield_now().await;
            }
        })
        .await;
        // The refused stream was dropped (closed): the peer sees EOF.
        assert_eq!(util::within(10, "EOF", read_to_end(&client)).await, b"");
    });
}

#[test]
fn reuseport_two_listeners_share_a_port() {
    ringloop::run(async {
        let first = TcpSocket::new_v4().unwrap();
        first.set_reuseport(true).unwrap();
        first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let a = first.listen(128).unwrap();
        let addr = a.local_addr().unwrap();

        // Without SO_REUSEPORT the port is taken.
        let plain = TcpSocket::new_v4().unwrap();
        assert_eq!(
            plain.bind(addr).unwrap_err().kind(),
            std::io::ErrorKind::AddrInUse
        );

        let second = TcpSocket::new_v4().unwrap();
        second.set_reuseport(true).unwrap();
        second.bind(addr).unwrap();
        let b = second.listen(128).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);

        // The kernel spreads connections by hash: connect until each
        // listener has accepted one (bounded; 2^-63 odds of failing by
        // chance).
        let (a, b) = (Rc::new(a), Rc::new(b));
        let counts = Rc::new([std::cell::Cell::new(0u32), std::cell::Cell::new(0u32)]);
        let acceptors: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .enumerate()
            .map(|(i, listener)| {
                let counts = counts.clone();
                ringloop::spawn(async move {
                    let mut held = Vec::new();
                    loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        counts[i].set(counts[i].get() + 1);
                        held.push(stream);
                    }
                })
            })
            .collect();
        let mut clients = Vec::new();
        for i in 0..64u32 {
            clients.push(TcpStream::connect(addr).await.unwrap());
            util::within(10, "accepted", async {
                while counts[0].get() + counts[1].get() < i + 1 {
                    ringloop::yield_now().await;
                }
            })
            .await;
            if counts[0].get() > 0 && counts[1].get() > 0 {
                break;
            }
        }
        assert!(
            counts[0].get() > 0 && counts[1].get() > 0,
            "both listeners accept: {} and {}",
            counts[0].get(),
            counts[1].get()
        );
        for task in acceptors {
            task.cancel();
        }
    });
}

#[test]
fn half_close_peer_shutdown_write() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let (res, _) = client.write_all(b"request".to_vec()).await;
        res.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();

        // The server reads the request, then EOF (0), and reads 0 again.
        assert_eq!(
            util::within(10, "request", read_to_end(&server)).await,
            b"request"
        );
        let (res, _) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0, "EOF stays EOF");

        // Its writes still reach the half-closed client.
        let reply = util::ByteStream::new(3).take(1 << 20);
        let (res, _) = util::within(30, "reply", server.write_all(reply.clone())).await;
        res.unwrap();
        drop(server);
        let got = util::within(30, "client reads reply", read_to_end(&client)).await;
        assert!(got == reply, "reply corrupted after half-close");

        // Writing after our own shutdown(Write) fails cleanly.
        let (res, _) = client.write(b"late".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn close_reports_result_and_peer_sees_eof() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let (res, _) = client.write_all(b"bye".to_vec()).await;
        res.unwrap();
        util::within(10, "close", client.close()).await.unwrap();
        assert_eq!(util::within(10, "EOF", read_to_end(&server)).await, b"bye");
        util::within(10, "close", server.close()).await.unwrap();
        assert_eq!(util::in_flight(), 0);
    });
}

#[test]
fn every_buffer_type_on_a_stream() {
    ringloop::run(async {
        let (_listener, client, server, _) = connected("127.0.0.1:0").await;
        let (res, _) = client.write_all(b"vec|".to_vec()).await;
        res.unwrap();
        let (res, _) = client.write_all(Box::<[u8]>::from(&b"box|"[..])).await;
        res.unwrap();
        let (res, _) = client.write_all(&b"bytes|"[..]).await;
        res.unwrap();
        let (res, _) = client.write_all("str|").await;
        res.unwrap();
        let (res, _) = client.write_all(String::from("string|")).await;
        res.unwrap();
        let (res, _) = client.write_all(*b"array").await;
        res.unwrap();

        let (res, v) = server.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(v, b"vec|");
        let (res, b) = server.read_exact(vec![0u8; 4].into_boxed_slice()).await;
        res.unwrap();
        assert_eq!(&*b, b"box|");
        let (res, a) = server.read_exact([0u8; 6]).await;
        res.unwrap();
        assert_eq!(&a, b"bytes|");
        let (res, v) = server.read_exact(Vec::with_capacity(11)).await;
        res.unwrap();
        assert_eq!(v, b"str|string|");
        let (res, a) = server.read_exact([0u8; 5]).await;
        res.unwrap();
        assert_eq!(&a, b"array");
    });
}

#[test]
fn tcp_socket_local_addr_and_listener_close() {
    ringloop::run(async {
        let socket = ringloop::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let listener = socket.listen(16).unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
        listener.close().await.unwrap();
        // Closed now, not later: a connect right after is refused.
        let err = ringloop::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}
