//! Unix-domain sockets: listener and stream on a path (accept, local and
//! peer addresses), `UnixStream::pair`, datagrams (bind, send_to/recv_from,
//! pair, connect), abstract names, and bad paths as `InvalidInput`.

mod util;

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ringloop::net::{UnixDatagram, UnixListener, UnixStream};

#[test]
fn listener_and_stream_on_a_path() {
    let dir = util::TempDir::new("unix-stream");
    let path = dir.join("sock");
    ringloop::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let client = util::within(10, "connect", UnixStream::connect(&path))
            .await
            .unwrap();
        let (server, peer) = util::within(10, "accept", listener.accept()).await.unwrap();

        // The client never bound a name: it is unnamed on both sides.
        assert!(peer.is_unnamed(), "{peer:?}");
        assert!(client.local_addr().unwrap().is_unnamed());
        assert!(server.peer_addr().unwrap().is_unnamed());
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        assert_eq!(
            server.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );

        let (res, _) = client.write_all(b"over unix".to_vec()).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(9)).await;
        res.unwrap();
        assert_eq!(buf, b"over unix");

        // Large transfer both ways at once, through split halves.
        let data = util::ByteStream::new(31).take(1 << 20);
        let (r, w) = client.into_split();
        let writer = ringloop::spawn(async move {
            let (res, _) = w.write_all(data).await;
            res.unwrap();
        });
        let echo = ringloop::spawn(async move {
            let mut buf = Vec::with_capacity(8192);
            loop {
                let (res, b) = server.read(buf).await;
                let n = res.unwrap();
                if n == 0 {
                    return;
                }
                let (res, b) = server.write_all(b).await;
                res.unwrap();
                buf = b;
                buf.clear();
            }
        });
        let (res, got) =
            util::within(30, "echo back", r.read_exact(Vec::with_capacity(1 << 20))).await;
        res.unwrap();
        assert!(
            got == util::ByteStream::new(31).take(1 << 20),
            "echo differs"
        );
        util::within(10, "writer", writer).await.unwrap();
        util::within(10, "echo ends at EOF", echo).await.unwrap();

        // Binding a path that exists is AddrInUse.
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    });
}

#[test]
fn connect_errors() {
    let dir = util::TempDir::new("unix-connect");
    ringloop::run(async {
        let err = UnixStream::connect(dir.join("nobody-here"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

        // A socket file whose listener is gone: refused.
        let path = dir.join("stale");
        drop(UnixListener::bind(&path).unwrap());
        // The drop closes through the ring: wait until that close is done.
        util::within(10, "close", async {
            while util::in_flight() > 0 {
                ringloop::yield_now().await;
            }
        })
        .await;
        let err = util::within(10, "connect", UnixStream::connect(&path))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn stream_pair() {
    ringloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(a.peer_addr().unwrap().is_unnamed());
        let (res, _) = a.write_all(b"left".to_vec()).await;
        res.unwrap();
        let (res, _) = b.write_all(b"right".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"left");
        let (res, buf) = a.read_exact([0u8; 5]).await;
        res.unwrap();
        assert_eq!(&buf, b"right");

        let (res, _) = a.writev(vec![b"ab".to_vec(), b"cd".to_vec()]).await;
        assert_eq!(res.unwrap(), 4);
        let (res, bufs) = b
            .readv(vec![Vec::with_capacity(1), Vec::with_capacity(8)])
            .await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(bufs[0], b"a");
        assert_eq!(bufs[1], b"bcd");

        a.shutdown(std::net::Shutdown::Write).await.unwrap();
        let (res, _) = util::within(10, "EOF", b.read(Vec::with_capacity(8))).await;
        assert_eq!(res.unwrap(), 0);
        // b's writes still reach a.
        let (res, _) = b.write_all(b"still".to_vec()).await;
        res.unwrap();
        let (res, buf) = a.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"still");
        util::within(10, "close", b.close()).await.unwrap();
        let (res, _) = util::within(10, "EOF", a.read(Vec::with_capacity(8))).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn stream_std_conversions() {
    ringloop::run(async {
        use std::io::{Read, Write};
        let (std_a, std_b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = UnixStream::from_std(std_a);
        let mut std_b = std_b;
        std_b.write_all(b"std to ring").unwrap();
        let (res, buf) = a.read_exact(Vec::with_capacity(11)).await;
        res.unwrap();
        assert_eq!(buf, b"std to ring");
        let (res, _) = a.write_all(b"ring to std".to_vec()).await;
        res.unwrap();
        let mut got = [0u8; 11];
        std_b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ring to std");
        let mut std_a = a.into_std().unwrap();
        std_a.write_all(b"!").unwrap();
        std_b.read_exact(&mut got[..1]).unwrap();
        assert_eq!(got[0], b'!');
    });
}

#[test]
fn datagram_bind_send_to_recv_from() {
    let dir = util::TempDir::new("unix-dgram");
    let (pa, pb) = (dir.join("a"), dir.join("b"));
    ringloop::run(async {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        assert_eq!(a.local_addr().unwrap().as_pathname(), Some(pa.as_path()));

        let (res, _) = a.send_to(b"to b".to_vec(), &pb).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = util::within(10, "recv_from", b.recv_from(Vec::with_capacity(16))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"to b");
        assert_eq!(from.as_pathname(), Some(pa.as_path()), "sender's path");

        // Boundaries and truncation, as for UDP.
        let (res, _) = b.send_to(vec![9u8; 100], &pa).await;
        res.unwrap();
        let (res, _) = b.send_to(b"second".to_vec(), &pa).await;
        res.unwrap();
        let (res, buf) = util::within(10, "recv_from", a.recv_from([0u8; 10])).await;
        let (n, _) = res.unwrap();
        assert_eq!(n, 10);
        assert_eq!(buf, [9u8; 10]);
        let (res, buf) = util::within(10, "recv_from", a.recv_from(Vec::with_capacity(64))).await;
        let (n, _) = res.unwrap();
        assert_eq!(&buf[..n], b"second");

        // An unbound sender is unnamed; connect + send/recv.
        let c = UnixDatagram::unbound().unwrap();
        c.connect(&pa).unwrap();
        let (res, _) = c.send(b"anon".to_vec()).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = util::within(10, "recv_from", a.recv_from(Vec::with_capacity(16))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());

        // Sending to a path nobody bound.
        let (res, _) = a.send_to(b"x".to_vec(), dir.join("nobody")).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotFound);
        let err = UnixDatagram::bind(&pa).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn datagram_pair() {
    ringloop::run(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        for msg in [&b"one"[..], b"", b"three"] {
            let (res, _) = a.send(msg).await;
            assert_eq!(res.unwrap(), msg.len());
        }
        for msg in [&b"one"[..], b"", b"three"] {
            let (res, buf) = util::within(10, "recv", b.recv(Vec::with_capacity(16))).await;
            let n = res.unwrap();
            assert_eq!(&buf[..n], msg, "one datagram per recv");
        }
        let (res, _) = b.send(b"back".to_vec()).await;
        res.unwrap();
        let (res, buf) = util::within(10, "recv_from", a.recv_from(Vec::with_capacity(16))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert!(from.is_unnamed());
    });
}

#[test]
fn abstract_names() {
    ringloop::run(async {
        let mut name = vec![0u8];
        name.extend_from_slice(format!("ringloop-test-{}", std::process::id()).as_bytes());
        let path = PathBuf::from(OsStr::from_bytes(&name));
        let listener = UnixListener::bind(&path).unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(local.as_abstract_name(), Some(&name[1..]));
        assert_eq!(local.as_pathname(), None);
        let client = util::within(10, "connect", UnixStream::connect(&path))
            .await
            .unwrap();
        let (server, _) = util::within(10, "accept", listener.accept()).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_abstract_name(),
            Some(&name[1..])
        );
        let (res, _) = server.write_all(b"abstract".to_vec()).await;
        res.unwrap();
        let (res, buf) = client.read_exact(Vec::with_capacity(8)).await;
        res.unwrap();
        assert_eq!(buf, b"abstract");
    });
}

fn long_path(dir: &Path) -> PathBuf {
    let path = dir.join("x".repeat(200));
    assert!(path.as_os_str().len() > 107);
    path
}

#[test]
fn too_long_or_nul_paths_are_invalid_input() {
    let dir = util::TempDir::new("unix-long");
    ringloop::run(async {
        let long = long_path(dir.path());
        let with_nul = dir.join("a\0b");

        for path in [&long, &with_nul] {
            let err = UnixListener::bind(path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            let err = util::within(10, "connect", UnixStream::connect(path))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            let err = UnixDatagram::bind(path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            let d = UnixDatagram::unbound().unwrap();
            let err = d.connect(path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            let (res, buf) = d.send_to(b"x".to_vec(), path).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert_eq!(buf, b"x", "the buffer comes back");
        }
        // The limit is exact: 107 bytes work, 108 do not.
        let base = dir.path().as_os_str().len() + 1;
        if base < 100 {
            let ok = dir.join("y".repeat(107 - base));
            assert_eq!(ok.as_os_str().len(), 107);
            let listener = UnixListener::bind(&ok).unwrap();
            assert_eq!(
                listener.local_addr().unwrap().as_pathname(),
                Some(ok.as_path())
            );
            let too_long = dir.join("z".repeat(108 - base));
            let err = UnixListener::bind(&too_long).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        // Nothing was created for the rejected paths.
        assert!(!long.exists());
    });
}
