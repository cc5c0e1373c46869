//! `write_all` of 16 MiB to a peer whose receive buffer is tiny
//! (`SO_RCVBUF` 4096, set before listen/connect) and that reads slowly:
//! sends come back short again and again, `write_all` loops over them, and
//! every byte arrives intact and in order.
//!
//! Once with a plain stream, and once through the echo server's handler
//! (`echo::echo`), whose `write_all` back to a slow client is the path that
//! matters in the server.

mod util;

#[path = "../examples/echo_server/echo.rs"]
#[allow(dead_code)] // only `echo` and `Stats` are driven here
mod echo;

use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::buf::IoBuf;
use ringloop::net::{TcpListener, TcpSocket, TcpStream};

const TOTAL: usize = 16 << 20;
const TINY: usize = 4096;

/// Reads `expected.len()` bytes in small random reads, yielding after each
/// and sleeping a little now and then, and checks them; then expects EOF.
async fn slow_read_and_check(stream: &TcpStream, expected: &[u8]) -> usize {
    let mut sizes = util::Rng::new(99);
    let mut got = 0;
    let mut reads = 0usize;
    let mut buf = Vec::with_capacity(TINY);
    while got < expected.len() {
        let want = sizes.range(1, TINY as u64) as usize;
        let (res, slice) = stream.read(buf.slice(..want)).await;
        buf = slice.into_inner();
        let n = res.unwrap_or_else(|err| panic!("read at {got}: {err}"));
        assert!(n > 0, "EOF after {got} of {} bytes", expected.len());
        assert!(n <= want);
        if buf[..n] != expected[got..got + n] {
            let at = (0..n).find(|&i| buf[i] != expected[got + i]).unwrap_or(0);
            panic!("byte {} differs", got + at);
        }
        got += n;
        reads += 1;
        buf.clear();
        if reads % 128 == 0 {
            ringloop::time::sleep(Duration::from_millis(1)).await;
        } else {
            ringloop::yield_now().await;
        }
    }
    let (res, _) = util::within(10, "EOF", stream.read(Vec::with_capacity(16))).await;
    assert_eq!(res.unwrap(), 0, "nothing after the expected bytes");
    reads
}

#[test]
fn write_all_16_mib_to_a_slow_reader_with_a_tiny_window() {
    let started = Instant::now();
    // The bytes of a premise check (one plain write) and then 16 MiB.
    let data = util::ByteStream::new(16).take(TOTAL + (1 << 20));
    ringloop::run(async move {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(TINY).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(16).unwrap();
        // A small send buffer on the writer too (it turns off send-buffer
        // autotuning, which could otherwise take megabytes in one send).
        let writer = TcpSocket::new_v4().unwrap();
        writer.set_send_buffer_size(TINY).unwrap();
        let writer = writer
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        // The accepted socket inherits the listener's tiny buffer.
        let (reader, _) = listener.accept().await.unwrap();

        // Premise: against this peer a single write of 1 MiB is short.
        let (res, _) = writer.write(data[..1 << 20].to_vec()).await;
        let first = res.unwrap();
        assert!(
            first > 0 && first < 1 << 20,
            "one write of 1 MiB should be short here, sent {first}"
        );

        let data = Rc::new(data);
        let expected = data.clone();
        let read_task = ringloop::spawn(async move {
            slow_read_and_check(&reader, &expected[..first + TOTAL]).await
        });

        // The 16 MiB write_all: loops over many short sends.
        let to_send = data[first..first + TOTAL].to_vec();
        let (res, back) = util::within(60, "write_all", writer.write_all(to_send)).await;
        res.unwrap();
        assert_eq!(back.len(), TOTAL, "the buffer comes back whole");
        writer.shutdown(std::net::Shutdown::Write).await.unwrap();

        let reads = util::within(60, "slow reader", read_task).await.unwrap();
        assert!(reads > 1000, "the reader took it in small pieces: {reads}");
    });
    println!("16 MiB to a slow reader in {:.1?}", started.elapsed());
}

#[test]
fn echo_handler_write_all_to_a_slow_client() {
    let started = Instant::now();
    let data = util::ByteStream::new(17).take(TOTAL);
    ringloop::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Rc::new(echo::Stats::default());
        let server = {
            let stats = stats.clone();
            ringloop::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                echo::echo(&stream, &stats, 16 * 1024).await
            })
        };

        // The client is the slow reader: tiny receive buffer.
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(TINY).unwrap();
        let client = socket.connect(addr).await.unwrap();
        let (read_half, write_half) = client.into_split();

        let data = Rc::new(data);
        let writer = {
            let data = data.clone();
            ringloop::spawn(async move {
                let mut sizes = util::Rng::new(5);
                let mut sent = 0;
                while sent < TOTAL {
                    let n = (sizes.range(1, 256 * 1024) as usize).min(TOTAL - sent);
                    let (res, _) = write_half.write_all(data[sent..sent + n].to_vec()).await;
                    res.unwrap();
                    sent += n;
                }
                // Shut the write side: the handler sees EOF after echoing.
                write_half.shutdown().await.unwrap();
            })
        };

        // Read the echo slowly (same checks as above, on the read half).
        let mut sizes = util::Rng::new(6);
        let mut got = 0;
        let mut buf = Vec::with_capacity(TINY);
        let mut reads = 0usize;
        util::within(60, "slow echo reader", async {
            while got < TOTAL {
                let want = sizes.range(1, TINY as u64) as usize;
                let (res, slice) = read_half.read(buf.slice(..want)).await;
                buf = slice.into_inner();
                let n = res.unwrap();
                assert!(n > 0, "EOF after {got} bytes");
                assert!(buf[..n] == data[got..got + n], "echo differs near {got}");
                got += n;
                reads += 1;
                buf.clear();
                if reads % 128 == 0 {
                    ringloop::time::sleep(Duration::from_millis(1)).await;
                } else {
                    ringloop::yield_now().await;
                }
            }
        })
        .await;
        let (res, _) = util::within(10, "EOF", read_half.read(Vec::with_capacity(8))).await;
        assert_eq!(res.unwrap(), 0);

        util::within(10, "writer", writer).await.unwrap();
        util::within(10, "handler ends at EOF", server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.bytes.get(), TOTAL as u64, "the handler echoed it all");
    });
    println!(
        "16 MiB echoed to a slow client in {:.1?}",
        started.elapsed()
    );
}
