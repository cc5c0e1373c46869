//! No fd outlives the stream plumbing, however an operation ends: connects
//! and accepts dropped at every poll, failed binds and connects, `into_std`
//! refused while an op holds the fd, split halves and their shutdown
//! futures dropped, buffered readers and writers dropped mid-operation, a
//! multishot receive dropped mid-stream. One test, because it counts the
//! process's fds (tests of one file run on parallel threads).

mod util;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use ringloop::buf::BufRing;
use ringloop::io::{BufReader, BufWriter, pipe};
use ringloop::net::{TcpListener, TcpStream, UnixDatagram, UnixListener, UnixStream};

/// Polls `fut` `polls` times, turning the loop between polls, then drops
/// it (returning its output if it finished first).
async fn poll_then_drop<F: Future>(fut: F, polls: u64) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = polled {
            return Some(out);
        }
        ringloop::yield_now().await;
    }
    None
}

/// Turns the loop until the kernel holds no op of ours (cancelled ops
/// and detached closes done), bounded.
async fn settle() {
    for _ in 0..10_000 {
        ringloop::io::nop().await.unwrap();
        if util::in_flight() == 0 {
            return;
        }
        ringloop::yield_now().await;
    }
    panic!("ops still in flight: {}", util::in_flight());
}

async fn assert_fds(base: usize, what: &str) {
    settle().await;
    assert_eq!(util::fd_count(), base, "{what}: fds leaked");
}

#[test]
fn no_fd_outlives_any_way_a_stream_operation_ends() {
    let dir = util::TempDir::new("io-adv-fds");
    ringloop::run(util::within(60, "fd accounting", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        settle().await;
        let base = util::fd_count();

        // Connects and accepts dropped at every poll count.
        for polls in 0..8 {
            let _ = poll_then_drop(TcpStream::connect(addr), polls).await;
            let _ = poll_then_drop(listener.accept(), polls).await;
            // Drain whatever a dropped connect left queued.
            while let Some(res) = poll_then_drop(listener.accept(), 3).await {
                drop(res.unwrap());
            }
        }
        assert_fds(base, "dropped connects and accepts").await;

        // Failed binds and connects.
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
        let path = dir.join("sock");
        let unix_listener = UnixListener::bind(&path).unwrap();
        let base_unix = util::fd_count();
        assert!(UnixListener::bind(&path).is_err());
        assert!(UnixListener::bind("").is_err());
        assert!(UnixDatagram::bind(&path).is_err());
        assert!(UnixStream::connect(dir.join("nothing")).await.is_err());
        drop(unix_listener);
        assert_fds(base_unix - 1, "failed Unix binds and connects").await;
        std::fs::remove_file(&path).unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(TcpStream::connect(closed).await.is_err());
        assert_fds(base, "failed binds and connects").await;

        // into_std refused while a cancelled read holds the fd: the stream
        // is dropped with the error, and its fd closed once the read ends.
        {
            let (a, b) = util::tcp_pair().await;
            let _ = poll_then_drop(b.read(Vec::with_capacity(16)), 1).await;
            match b.into_std() {
                Ok(std) => drop(std),
                Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}"),
            }
            drop(a);
        }
        assert_fds(base, "into_std refused").await;

        // Split halves, and shutdown futures dropped at every poll.
        for polls in 0..4 {
            let (a, b) = util::tcp_pair().await;
            let (r, w) = a.into_split();
            let _ = poll_then_drop(w.shutdown(), polls).await;
            let _ = poll_then_drop(r.read(Vec::with_capacity(8)), polls).await;
            drop((r, b));
        }
        assert_fds(base, "split halves").await;

        // Buffered readers and writers dropped mid-operation.
        for polls in 0..4 {
            let (r, w) = pipe().unwrap();
            let mut reader = BufReader::with_capacity(4, r);
            let mut line = String::new();
            let _ = poll_then_drop(reader.read_line(&mut line), polls).await;
            let (ur, uw) = UnixStream::pair().unwrap();
            let mut writer = BufWriter::with_capacity(4, uw);
            let _ = poll_then_drop(writer.write_all(&[1u8; 1 << 20]), polls).await;
            drop((reader, w, writer, ur));
        }
        assert_fds(base, "buffered readers and writers").await;

        // A multishot receive dropped mid-stream, its ring with it.
        {
            let ring = BufRing::builder().entries(4).buf_len(64).build().unwrap();
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(vec![5u8; 1000]).await.0.unwrap();
            let mut rx = b.recv_multishot(&ring);
            let first = rx.next().await.unwrap().unwrap();
            assert!(!first.is_empty());
            drop((rx, first, ring));
            drop((a, b));
        }
        assert_fds(base, "multishot receive").await;
    }));
}
