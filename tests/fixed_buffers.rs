//! Registered buffers: read_fixed/write_fixed on files and sockets, one
//! registry per ring, bad input.

mod util;

use ringloop::buf::FixedBufRegistry;
use ringloop::net::{TcpListener, TcpStream};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ringloop-fixed-{}-{name}", std::process::id()))
}

#[test]
fn file_round_trip_through_registered_buffers() {
    let path = temp_path("file");
    ringloop::run(async {
        let registry =
            FixedBufRegistry::register((0..2).map(|_| Vec::with_capacity(8192))).unwrap();
        let file = ringloop::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let mut out = registry.check_out(0).unwrap();
        let mut data = vec![0u8; 8192];
        util::Rng::new(1).fill(&mut data);
        // Loop over short transfers (legal; frequent under fault injection).
        let mut done = 0;
        while done < data.len() {
            out.put_slice(&data[done..]);
            let (res, back) = file.write_fixed_at(out, 100 + done as u64).await;
            out = back;
            let n = res.unwrap();
            util::assert_transfer(n, data.len() - done);
            done += n;
        }
        drop(out);
        let mut input = registry.check_out(1).unwrap();
        let mut read = Vec::new();
        while read.len() < data.len() {
            let (res, back) = file.read_fixed_at(input, 100 + read.len() as u64).await;
            input = back;
            let n = res.unwrap();
            assert!(n > 0, "end of file after {} bytes", read.len());
            read.extend_from_slice(&input[..n]);
        }
        assert_eq!(read, data);
        file.close().await.unwrap();
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn socket_round_trip_through_registered_buffers() {
    ringloop::run(async {
        let registry =
            FixedBufRegistry::register((0..4).map(|_| Vec::with_capacity(1024))).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let message = b"fixed buffers over TCP";
        let mut out = registry.check_out_any().unwrap();
        let mut sent = 0;
        while sent < message.len() {
            out.put_slice(&message[sent..]);
            let (res, back) = client.write_fixed(out).await;
            out = back;
            let n = res.unwrap();
            util::assert_transfer(n, message.len() - sent);
            sent += n;
        }
        let mut input = registry.check_out_any().unwrap();
        let mut got = Vec::new();
        while got.len() < message.len() {
            let (res, back) = server.read_fixed(input).await;
            input = back;
            let n = res.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&input[..n]);
        }
        assert_eq!(got, message);
    });
}

#[test]
fn one_registry_per_ring_and_bad_input() {
    ringloop::run(async {
        let first = FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap();
        let err = FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap_err();
        assert!(
            err.to_string().contains("already has registered buffers"),
            "{err}"
        );
        let held = first.check_out(0).unwrap();
        drop(first);
        // Still registered while a buffer is out.
        assert!(FixedBufRegistry::register([Vec::with_capacity(64)]).is_err());
        drop(held);
        // Everything gone: unregistered, a new set can be registered.
        let second = FixedBufRegistry::register([Vec::with_capacity(64)]).unwrap();
        assert!(
            second.check_out(5).is_none(),
            "out of range is None, not a panic"
        );
        for bad in [vec![], vec![Vec::new()]] {
            let err = FixedBufRegistry::register(bad).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        }
    });
}

#[test]
fn a_cancelled_fixed_read_keeps_the_registration_until_its_cqe() {
    ringloop::run(async {
        let registry = FixedBufRegistry::register([Vec::with_capacity(256)]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let baseline = util::in_flight();
        let buf = registry.check_out(0).unwrap();
        // The read pends (the client sends nothing); the outer timeout drops
        // it: the kernel cancels it while it still owns the registered buffer.
        let res =
            ringloop::time::timeout(std::time::Duration::from_millis(5), server.read_fixed(buf))
                .await;
        assert!(res.is_err());
        drop(registry);
        // The buffer goes back only after the cancelled read's CQE; until
        // then the set stays registered, so a new set cannot be.
        util::within(10, "cancel returns", async {
            while util::in_flight() > baseline {
                ringloop::yield_now().await;
            }
        })
        .await;
        // Everything released: the ring takes a new set, which works.
        let again = FixedBufRegistry::register([Vec::with_capacity(256)]).unwrap();
        let mut out = again.check_out(0).unwrap();
        out.put_slice(b"after");
        let (res, _) = client.write_fixed(out).await;
        util::assert_transfer(res.unwrap(), 5);
    });
}
