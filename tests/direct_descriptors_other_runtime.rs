//! A direct descriptor is a slot of one ring's file table. Two runtimes on
//! one thread each have a table, and the same slot number names a
//! different connection in each: a `DirectTcpStream` used or dropped while
//! the other runtime runs must fail (`EBADF`) or close its slot in its own
//! ring, never reach the other ring's connection in that slot.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::time::Duration;

use ringloop::Runtime;
use ringloop::net::{DirectTcpStream, TcpListener};

fn direct_runtime() -> Runtime {
    Runtime::builder().direct_descriptors(4).build().unwrap()
}

/// Accepts one connection into `rt`'s file table; returns it and its
/// client (a blocking socket with a read timeout).
fn accept_direct(rt: &Runtime) -> (DirectTcpStream, StdStream) {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut incoming = listener.incoming_direct().unwrap();
        let stream = util::within(10, "accept", incoming.next()).await.unwrap();
        (stream, client)
    })
}

#[test]
fn a_direct_stream_used_from_another_runtime_fails_and_touches_nothing_there() {
    let rt_a = direct_runtime();
    let rt_b = direct_runtime();
    let (a, mut client_a) = accept_direct(&rt_a);
    let (b, mut client_b) = accept_direct(&rt_b);
    // The same slot number in both tables: only the ring tells them apart.
    assert_eq!(a.slot(), b.slot());

    rt_b.block_on(async {
        let (res, _) = a.write_all(b"meant for a".to_vec()).await;
        let err = res.expect_err("a's slot named in b's ring");
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        let (res, _) = a.read(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        // Dropped while b's runtime runs: its slot is closed in a's ring.
        drop(a);
        // b's connection, in the same slot of b's ring, is untouched.
        let (res, _) = b.write_all(b"meant for b".to_vec()).await;
        res.unwrap();
    });
    let mut got = [0u8; 11];
    client_b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"meant for b", "b's peer got another stream's data");

    // b still works afterwards: its slot was not closed by a's drop.
    client_b.write_all(b"ping").unwrap();
    let echoed = rt_b.block_on(async {
        let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        buf
    });
    assert_eq!(echoed, b"ping");

    // a's close went to a's ring: once it turns, a's peer sees EOF, and
    // nothing ever arrived from the failed write.
    client_a.set_nonblocking(true).unwrap();
    let rest = rt_a.block_on(util::within(10, "a's peer sees EOF", async {
        let mut rest = Vec::new();
        loop {
            match client_a.read_to_end(&mut rest) {
                Ok(_) => return rest,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    // Turns of a's loop submit the close.
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }));
    assert!(rest.is_empty(), "{rest:?}");
    drop(b);
}

#[test]
fn incoming_direct_from_another_runtime_is_refused() {
    let rt_a = direct_runtime();
    let rt_b = direct_runtime();
    let std_listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = rt_a.block_on(async { TcpListener::from_std(std_listener) });
    let mut incoming = rt_a.block_on(async { listener.incoming_direct().unwrap() });
    let _client = StdStream::connect(addr).unwrap();
    rt_b.block_on(async {
        let err = incoming.next().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("another runtime"), "{err}");
    });
    // In its own runtime it accepts.
    let stream = rt_a.block_on(async { util::within(10, "accept", incoming.next()).await });
    stream.unwrap();
}

#[test]
fn closing_a_direct_stream_from_another_runtime_closes_its_own_slot_only() {
    let rt_a = direct_runtime();
    let rt_b = direct_runtime();
    let (a, mut client_a) = accept_direct(&rt_a);
    let (b, mut client_b) = accept_direct(&rt_b);
    assert_eq!(a.slot(), b.slot());
    rt_b.block_on(async {
        let err = a.close().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("another runtime"), "{err}");
        // b's connection, in the same slot of b's ring, is still open.
        for _ in 0..4 {
            ringloop::yield_now().await;
        }
        let (res, _) = b.write_all(b"b is open".to_vec()).await;
        res.unwrap();
    });
    let mut got = [0u8; 9];
    client_b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"b is open");
    // a's slot is closed in a's ring once it turns: its peer sees EOF.
    client_a.set_nonblocking(true).unwrap();
    rt_a.block_on(util::within(10, "a's peer sees EOF", async {
        let mut rest = Vec::new();
        loop {
            match client_a.read_to_end(&mut rest) {
                Ok(_) => return assert!(rest.is_empty(), "{rest:?}"),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }));
    drop(b);
}
