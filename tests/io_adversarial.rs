//! Adversarial tests of the I/O helper layer and the stream plumbing:
//! `BufReader`/`BufWriter`, `copy`, pipes, split halves, the multishot
//! `RecvStream`, Unix sockets and addresses, TCP connect/shutdown/options
//! and std conversions, and the owned-buffer traits (`IoBuf`, `Slice`).
//!
//! Each test drives one edge — cancellation at every await point, peer
//! resets, half-close, EOF in the middle of a record, short reads and
//! writes, zero and huge sizes, bad input — and asserts the exact bytes,
//! errno or error kind a careful user would expect. Everything is loopback,
//! seeded (`util::Rng`, `util::ByteStream`) and bounded by `util::within`.
//! Cancellation is deterministic: a future is dropped only when the kernel
//! holds no data it could have handed to it (see `poll_then_drop`).

mod util;

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use ringloop::buf::{BufRing, IoBuf, IoBufMut};
use ringloop::io::{BufReader, BufWriter, PipeWriter, copy, pipe};
use ringloop::net::{TcpListener, TcpStream, UnixDatagram, UnixListener, UnixStream};

/// Bytes waiting to be read in a pipe or socket (`FIONREAD`).
fn pending_bytes(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into the live `n`.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &raw mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
    usize::try_from(n).unwrap()
}

/// Polls `fut` at least `polls` times (letting the loop turn between
/// polls) and returns its output if it finishes; otherwise drops it, but
/// only once a poll has returned `Pending` while `quiet()` holds, i.e. when
/// no data waits in the kernel that an op of `fut` could have taken. So the
/// drop cancels only ops that have nothing: whatever they took before, the
/// poll that returned `Pending` consumed.
async fn poll_then_drop<F: Future>(
    fut: F,
    polls: u64,
    quiet: impl Fn() -> bool,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut n = 0;
    loop {
        let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = polled {
            return Some(out);
        }
        n += 1;
        if n >= polls && quiet() {
            return None;
        }
        assert!(n < 10_000, "the future neither finished nor went quiet");
        ringloop::yield_now().await;
    }
}

/// A connected Unix stream pair registered on the current runtime.
fn unix_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().unwrap()
}

// ---------------------------------------------------------------------------
// Owned buffers
// ---------------------------------------------------------------------------

/// A `Slice` made of a `Vec` whose capacity was later shrunk through
/// `get_mut` must not claim the old range: `bytes_total` is what a read
/// hands the kernel to fill, so a stale one is a heap overflow from safe
/// code. The stream stays usable and the read is simply empty.
#[test]
fn a_slice_of_a_vec_shrunk_through_get_mut_claims_no_memory_it_lost() {
    let mut slice = Vec::<u8>::with_capacity(4096).slice(16..1024);
    slice.get_mut().shrink_to_fit();
    let cap = slice.get_ref().capacity();
    assert!(
        slice.bytes_total() <= cap.saturating_sub(slice.begin()),
        "the slice claims {} bytes at offset {} of a buffer of {cap}",
        slice.bytes_total(),
        slice.begin()
    );
    assert_eq!(slice.bytes_init(), 0);

    // Shrunk to less than `end` but more than `begin`: only what is left.
    let mut v = Vec::<u8>::with_capacity(4096);
    v.extend_from_slice(&[1; 100]);
    let mut slice = v.slice(10..4000);
    slice.get_mut().shrink_to(200);
    let cap = slice.get_ref().capacity();
    assert!(cap < 4000, "shrink_to took effect");
    assert!(
        slice.bytes_total() <= cap - 10,
        "{} > {}",
        slice.bytes_total(),
        cap - 10
    );
    assert_eq!(slice.bytes_init(), 90);
    assert_eq!(&slice[..], &[1; 90][..]);

    ringloop::run(util::within(10, "read into a shrunk slice", async {
        let (a, b) = unix_pair();
        let mut slice = Vec::<u8>::with_capacity(4096).slice(16..1024);
        slice.get_mut().shrink_to_fit();
        let room = slice.bytes_total();
        a.write_all(vec![7u8; 2048]).await.0.unwrap();
        let (res, slice) = b.read(slice).await;
        let n = res.unwrap();
        assert!(n <= room);
        let v = slice.into_inner();
        assert!(v.len() <= v.capacity());
        // The rest is still there for a proper buffer.
        let (res, buf) = b.read_exact(Vec::with_capacity(2048 - n)).await;
        res.unwrap();
        assert!(buf.iter().all(|&x| x == 7));
    }));
}

/// Slices of slices compose (ranges are relative to the outer slice) and
/// clamp at every level; writes send exactly the initialized part.
#[test]
fn nested_slices_clamp_at_every_level() {
    ringloop::run(util::within(10, "nested slices", async {
        let (a, b) = unix_pair();
        let data: Vec<u8> = (0u8..100).collect();
        // 10..60 of the Vec, then 5..1000 of that: 15..60 of the Vec.
        let inner = data.slice(10..60).slice(5..1000);
        assert_eq!(inner.bytes_total(), 45);
        assert_eq!(inner.bytes_init(), 45);
        let (res, inner) = a.write_all(inner).await;
        res.unwrap();
        let outer = inner.into_inner();
        assert_eq!((outer.begin(), outer.end()), (10, 60));
        let (res, got) = b.read_exact(Vec::with_capacity(45)).await;
        res.unwrap();
        assert_eq!(got, (15u8..60).collect::<Vec<_>>());

        // A read into the middle of a buffer with len < capacity: the gap
        // before the slice is zeroed, never exposed uninitialized.
        let mut buf = Vec::with_capacity(32);
        buf.extend_from_slice(b"ab");
        a.write_all(b"xyz".to_vec()).await.0.unwrap();
        let (res, slice) = b.read(buf.slice(8..).slice(2..5)).await;
        assert_eq!(res.unwrap(), 3);
        let buf = slice.into_inner().into_inner();
        assert_eq!(&buf[..], b"ab\0\0\0\0\0\0\0\0xyz");
    }));
}

// ---------------------------------------------------------------------------
// BufReader
// ---------------------------------------------------------------------------

/// `Lines` strips `\n` and `\r\n`, as documented, and nothing else: a
/// lone `\r` ending the last line (no `\n` after it) is data, as in std
/// and tokio.
#[test]
fn lines_keep_a_trailing_carriage_return_without_a_newline() {
    ringloop::run(util::within(10, "lines and CR", async {
        let (r, w) = pipe().unwrap();
        w.write_all(b"one\r\ntwo\r\r\nthree\r".to_vec())
            .await
            .0
            .unwrap();
        drop(w);
        let mut lines = BufReader::with_capacity(3, r).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("one"));
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("two\r"));
        assert_eq!(
            lines.next_line().await.unwrap().as_deref(),
            Some("three\r"),
            "a CR with no LF after it is part of the line"
        );
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(lines.next_line().await.unwrap(), None, "EOF stays EOF");
    }));
}

/// Random operations of every kind on a `BufReader` over a pipe fed in
/// random pieces, each op dropped after a random number of polls (at a
/// point where the pipe is empty): what the caller gets, in order, is
/// exactly the byte stream, whatever was cancelled.
#[test]
fn buf_reader_loses_nothing_when_any_call_is_cancelled() {
    ringloop::run(util::within(60, "BufReader cancellation fuzz", async {
        for seed in 1..=6u64 {
            let mut rng = util::Rng::new(seed);
            let (r, w) = pipe().unwrap();
            let mut w = Some(w);
            let fd = r.as_raw_fd();
            let cap = [1usize, 3, 7, 64, 4096][rng.range(0, 4) as usize];
            let mut reader = BufReader::with_capacity(cap, r);
            // The stream: records of random bytes ending in b'\n' or b','.
            let mut src = util::ByteStream::new(seed);
            let mut sent = Vec::new();
            let mut got = Vec::new();
            let total = 40_000;
            let mut cancelled = 0;
            while got.len() < total {
                if sent.len() < total && rng.range(0, 2) > 0 {
                    let mut piece = src.take(rng.range(1, 700) as usize);
                    for b in piece.iter_mut() {
                        // Plenty of delimiters, and valid UTF-8 mostly.
                        *b = match *b % 16 {
                            0 => b'\n',
                            1 => b',',
                            _ => b'a' + *b % 26,
                        };
                    }
                    piece.truncate(total - sent.len());
                    let writer = w.as_ref().unwrap();
                    writer.write_all(piece.clone()).await.0.unwrap();
                    sent.extend_from_slice(&piece);
                    if sent.len() == total {
                        drop(w.take()); // end of stream
                    }
                }
                let eof = sent.len() == total;
                let polls = rng.range(1, 4);
                let quiet = || pending_bytes(fd) == 0;
                let before = got.len();
                match rng.range(0, 6) {
                    0 => {
                        let mut out = Vec::new();
                        if let Some(res) =
                            poll_then_drop(reader.read_until(b',', &mut out), polls, quiet).await
                        {
                            assert_eq!(res.unwrap(), out.len());
                            got.extend_from_slice(&out);
                        } else {
                            assert!(out.is_empty(), "a cancelled read_until appended");
                            cancelled += 1;
                        }
                    }
                    1 => {
                        let mut line = String::new();
                        if let Some(res) =
                            poll_then_drop(reader.read_line(&mut line), polls, quiet).await
                        {
                            assert_eq!(res.unwrap(), line.len());
                            got.extend_from_slice(line.as_bytes());
                        } else {
                            cancelled += 1;
                        }
                    }
                    2 => {
                        let mut dst = vec![0u8; rng.range(0, 900) as usize];
                        let want = dst.len();
                        match poll_then_drop(reader.read_exact(&mut dst), polls, quiet).await {
                            Some(Ok(())) => got.extend_from_slice(&dst),
                            Some(Err(err)) => {
                                assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
                                assert!(eof && total - got.len() < want);
                                // The rest stays buffered: take it as it is.
                                got.extend_from_slice(reader.buffer());
                                let n = reader.buffer().len();
                                reader.consume(n);
                            }
                            None => cancelled += 1,
                        }
                    }
                    3 => {
                        let mut dst = vec![0u8; rng.range(1, 900) as usize];
                        if let Some(res) = poll_then_drop(reader.read(&mut dst), polls, quiet).await
                        {
                            let n = res.unwrap();
                            got.extend_from_slice(&dst[..n]);
                        } else {
                            cancelled += 1;
                        }
                    }
                    4 => {
                        let take = rng.range(0, 300) as usize;
                        if let Some(res) = poll_then_drop(reader.fill_buf(), polls, quiet).await {
                            let held = res.unwrap().to_vec();
                            let n = take.min(held.len());
                            got.extend_from_slice(&held[..n]);
                            reader.consume(n);
                        } else {
                            cancelled += 1;
                        }
                    }
                    _ => {
                        // Lines: text up to b'\n' without the delimiter,
                        // so compare on what it consumed instead.
                        let mut lines = reader.lines();
                        let res = poll_then_drop(lines.next_line(), polls, quiet).await;
                        reader = lines.into_inner();
                        match res {
                            Some(Ok(Some(line))) => {
                                got.extend_from_slice(line.as_bytes());
                                // The delimiter, if the stream had one.
                                if sent.get(got.len()) == Some(&b'\n') {
                                    got.push(b'\n');
                                }
                            }
                            Some(Ok(None)) => assert!(eof),
                            Some(Err(err)) => panic!("{err}"),
                            None => cancelled += 1,
                        }
                    }
                }
                assert_eq!(
                    got[..],
                    sent[..got.len()],
                    "seed {seed}, cap {cap}: bytes {before}.. differ"
                );
            }
            assert_eq!(got, sent);
            assert!(cancelled > 0, "seed {seed}: nothing was cancelled");
        }
    }));
}
