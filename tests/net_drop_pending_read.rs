//! Dropping a stream with a read pending — by cancelling the task that owns
//! both — cancels the read in the kernel and closes the socket, so the peer
//! sees EOF promptly (a watchdog bounds "promptly"); nothing stays in
//! flight.

mod util;

use std::time::{Duration, Instant};

use ringloop::net::{TcpListener, TcpStream, UnixStream};

/// The peer must see EOF within this long after the cancel.
const PROMPTLY: u64 = 5;

#[test]
fn cancelled_reader_task_closes_tcp_stream() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();

        let task = ringloop::spawn(async move {
            let (res, buf) = stream.read(Vec::with_capacity(1024)).await;
            (res, buf, stream)
        });
        // Let the read reach the kernel.
        ringloop::yield_now().await;
        ringloop::io::nop().await.unwrap();
        assert!(!task.is_finished(), "the read waits for data");

        let cancelled_at = Instant::now();
        task.cancel();
        let (res, _) = util::within(
            PROMPTLY,
            "peer sees EOF after the reader is cancelled",
            peer.read(Vec::with_capacity(16)),
        )
        .await;
        assert_eq!(res.unwrap(), 0, "EOF, not data or an error");
        println!("EOF after {:?}", cancelled_at.elapsed());
        assert!(task.await.unwrap_err().is_cancelled());

        // The cancelled read and the close are done: nothing in flight.
        util::within(PROMPTLY, "ops drain", async {
            while util::in_flight() > 0 {
                ringloop::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        // Writing to the closed side now fails (after the peer's RST).
        let mut failed = false;
        for _ in 0..100 {
            let (res, _) = peer.write(b"anyone?".to_vec()).await;
            if res.is_err() {
                failed = true;
                break;
            }
            ringloop::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(failed, "the stream was really closed");
    });
}

#[test]
fn cancelled_reader_of_split_halves_closes_when_both_are_gone() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (read_half, write_half) = stream.into_split();
        let task = ringloop::spawn(async move {
            let (res, _) = read_half.read(Vec::with_capacity(1024)).await;
            res
        });
        ringloop::yield_now().await;
        ringloop::io::nop().await.unwrap();
        task.cancel();
        drop(write_half);
        let (res, _) =
            util::within(PROMPTLY, "peer sees EOF", peer.read(Vec::with_capacity(16))).await;
        assert_eq!(res.unwrap(), 0);
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn cancelled_reader_task_closes_unix_stream() {
    ringloop::run(async {
        let (stream, peer) = UnixStream::pair().unwrap();
        let task = ringloop::spawn(async move {
            let (res, _) = stream.read(Vec::with_capacity(1024)).await;
            res
        });
        ringloop::yield_now().await;
        ringloop::io::nop().await.unwrap();
        assert!(!task.is_finished());
        task.cancel();
        let (res, _) =
            util::within(PROMPTLY, "peer sees EOF", peer.read(Vec::with_capacity(16))).await;
        assert_eq!(res.unwrap(), 0);
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn dropped_task_handle_does_not_close_a_running_reader() {
    // The opposite case: dropping the handle detaches the task, which keeps
    // its stream and its read. The peer sees no EOF; its data is read.
    ringloop::run(async {
        let (stream, peer) = UnixStream::pair().unwrap();
        let task = ringloop::spawn(async move {
            let (res, buf) = stream.read_exact(Vec::with_capacity(12)).await;
            res.unwrap();
            let (res, _) = stream.write_all(buf).await;
            res.unwrap();
        });
        drop(task);
        ringloop::yield_now().await;
        let (res, _) = peer.write_all(b"still there?".to_vec()).await;
        res.unwrap();
        let (res, buf) =
            util::within(PROMPTLY, "echo", peer.read_exact(Vec::with_capacity(12))).await;
        res.unwrap();
        assert_eq!(buf, b"still there?");
    });
}
