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

use ringloop::buf::{BufRing, IoBuf};
use ringloop::io::{BufReader, BufWriter, copy, pipe};
use ringloop::net::{TcpListener, TcpStream, UnixDatagram, UnixListener, UnixStream};

/// Bytes waiting to be read in a pipe or socket (`FIONREAD`).
fn pending_bytes(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into the live `n`.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &raw mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
    usize::try_from(n).unwrap()
}

/// Everything `stream` receives until end of stream.
async fn read_to_eof(stream: &UnixStream) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        if res.unwrap() == 0 {
            return got;
        }
        got.extend_from_slice(&buf);
    }
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
        // (read_exact: a read may be short under fault injection; each
        // further read goes into a slice of this nested slice.)
        let (res, slice) = b.read_exact(buf.slice(8..).slice(2..5)).await;
        res.unwrap();
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

// ---------------------------------------------------------------------------
// Writes to a peer that went away: EPIPE, never SIGPIPE
// ---------------------------------------------------------------------------

/// Runs `f` with SIGPIPE blocked on this thread and returns its output and
/// whether a SIGPIPE was raised meanwhile (a blocked signal stays pending
/// even when its disposition is "ignore", which is the Rust default, so it
/// can be seen; it is then consumed). A process whose SIGPIPE is not
/// ignored (a C host, `-Zon-broken-pipe=kill`) would have died instead.
fn sigpipe_raised_by<T>(f: impl FnOnce() -> T) -> (T, bool) {
    // SAFETY: plain libc signal-set calls on live, local sigset_t values;
    // the mask change affects only this thread and is undone below.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGPIPE);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old),
            0
        );
        let out = f();
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut pending);
        assert_eq!(libc::sigpending(&raw mut pending), 0);
        let raised = libc::sigismember(&raw const pending, libc::SIGPIPE) == 1;
        if raised {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&raw const set, std::ptr::null_mut(), &raw const zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut());
        (out, raised)
    }
}

/// Every stream write that fails because the peer is gone reports `EPIPE`
/// without raising SIGPIPE: `write`, `write_all`, `write_timeout`,
/// `write_zc`, `write_behind` and `writev` alike (a plain `writev(2)` on a
/// socket raises it; ringloop sends with `MSG_NOSIGNAL`).
#[test]
fn writes_to_a_closed_peer_raise_no_sigpipe() {
    let ((), raised) = sigpipe_raised_by(|| {
        ringloop::run(util::within(10, "EPIPE without SIGPIPE", async {
            let epipe = |res: io::Result<usize>, what: &str| {
                let err = res.expect_err(what);
                assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{what}: {err}");
            };
            let (a, b) = unix_pair();
            b.close().await.unwrap();
            epipe(a.write(b"x".to_vec()).await.0, "write");
            epipe(a.write_all(b"x".to_vec()).await.0.map(|()| 0), "write_all");
            epipe(
                a.write_timeout(b"x".to_vec(), Duration::from_secs(5))
                    .await
                    .0,
                "write_timeout",
            );
            epipe(
                a.writev(vec![b"x".to_vec(), b"y".to_vec()]).await.0,
                "writev",
            );
            let (res, _) = a.write_zc(b"x".to_vec()).await;
            // (Unix sockets have no zero-copy send: EOPNOTSUPP.)
            let errno = res.as_ref().err().and_then(io::Error::raw_os_error);
            if !matches!(errno, Some(libc::EINVAL | libc::EOPNOTSUPP)) {
                epipe(res, "write_zc");
            }
            let mut behind = a.write_behind();
            let _ = behind.write(b"x".to_vec()).await;
            let err = behind
                .flush()
                .await
                .expect_err("write_behind to a closed peer");
            assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "write_behind: {err}");

            // A split write half too.
            let (c, d) = unix_pair();
            let (_r, w) = c.into_split();
            d.close().await.unwrap();
            epipe(w.write(b"x".to_vec()).await.0, "split write");
        }));
    });
    assert!(!raised, "a write to a closed peer raised SIGPIPE");
}

// ---------------------------------------------------------------------------
// Unix sockets and their addresses
// ---------------------------------------------------------------------------

/// An empty path names nothing: bind, connect and send_to refuse it with
/// `InvalidInput`, instead of silently using the abstract name "\0" (a
/// one-NUL name every such socket on the host would share).
#[test]
fn an_empty_unix_path_is_invalid_input() {
    ringloop::run(util::within(10, "empty Unix paths", async {
        let err = UnixListener::bind("").expect_err("bind(\"\") succeeded");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = UnixStream::connect("").await.expect_err("connect(\"\")");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = UnixDatagram::bind("").expect_err("datagram bind(\"\")");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let d = UnixDatagram::unbound().unwrap();
        let err = d.connect("").expect_err("datagram connect(\"\")");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let (res, buf) = d.send_to(b"x".to_vec(), "").await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(buf, b"x");
    }));
}

/// Addresses round-trip: a pathname listener, an unnamed client, and
/// abstract names with NUL bytes inside them (the name is bytes, not a C
/// string), down to a one-byte name.
#[test]
fn unix_addresses_round_trip_with_nul_bytes_in_abstract_names() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = util::TempDir::new("io-adv-unix");
    ringloop::run(util::within(10, "Unix addresses", async {
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(&*path));
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert!(peer.is_unnamed(), "{peer:?}");
        assert!(client.local_addr().unwrap().is_unnamed());
        assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(&*path));
        assert_eq!(server.local_addr().unwrap().as_pathname(), Some(&*path));
        drop((client, server, listener));

        let tag = format!(
            "io-adv-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        for name in [
            [&b"\0"[..], tag.as_bytes(), b"\0with\0nuls\0"].concat(),
            [&b"\0"[..], tag.as_bytes()].concat(),
        ] {
            let path = std::path::PathBuf::from(OsStr::from_bytes(&name));
            let listener = UnixListener::bind(&path).unwrap();
            assert_eq!(
                listener.local_addr().unwrap().as_abstract_name(),
                Some(&name[1..])
            );
            let client = UnixStream::connect(&path).await.unwrap();
            assert_eq!(
                client.peer_addr().unwrap().as_abstract_name(),
                Some(&name[1..])
            );
            // A name that is a prefix of it is another name.
            let prefix = std::path::PathBuf::from(OsStr::from_bytes(&name[..name.len() - 1]));
            let err = UnixStream::connect(&prefix).await.expect_err("prefix");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            drop(client);
            drop(listener);
        }

        // Datagrams: the sender's address comes with each one.
        let a_path = dir.join("a");
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::unbound().unwrap();
        let (res, _) = b.send_to(b"one".to_vec(), &a_path).await;
        assert_eq!(res.unwrap(), 3);
        let (res, buf) = a.recv_from(Vec::with_capacity(16)).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from.is_unnamed()), (&b"one"[..], true));
        // A datagram larger than the buffer is cut at the buffer's size;
        // the next one is whole.
        b.send_to(vec![9u8; 100], &a_path).await.0.unwrap();
        b.send_to(b"two".to_vec(), &a_path).await.0.unwrap();
        let (res, buf) = a.recv_from(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap().0, 10);
        assert_eq!(buf, [9u8; 10]);
        let (res, buf) = a.recv_from(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap().0, 3);
        assert_eq!(buf, b"two");
    }));
}

// ---------------------------------------------------------------------------
// The multishot receive
// ---------------------------------------------------------------------------

/// `RecvStream::next` is cancel-safe: the multishot receive's completions
/// queue in the stream whether or not a `next()` waits, so dropping
/// `next()` after any number of polls loses and reorders nothing, even
/// with a ring so small it keeps running dry (`ENOBUFS`, re-armed).
#[test]
fn recv_stream_next_is_cancel_safe_at_every_poll() {
    ringloop::run(util::within(60, "RecvStream cancellation", async {
        for (seed, entries, buf_len) in [(1u64, 2u16, 16u32), (2, 4, 512), (3, 16, 4096)] {
            let ring = BufRing::builder()
                .entries(entries)
                .buf_len(buf_len)
                .build()
                .unwrap();
            let (a, b) = unix_pair();
            let total = 200_000usize;
            let writer = ringloop::spawn(async move {
                let mut src = util::ByteStream::new(seed);
                let mut rng = util::Rng::new(seed);
                let mut sent = 0;
                while sent < total {
                    let n = (rng.range(1, 3000) as usize).min(total - sent);
                    a.write_all(src.take(n)).await.0.unwrap();
                    sent += n;
                    if rng.range(0, 3) == 0 {
                        ringloop::yield_now().await;
                    }
                }
                a.shutdown(Shutdown::Write).await.unwrap();
                a
            });
            let mut rng = util::Rng::new(seed ^ 0xdead);
            let mut expect = util::ByteStream::new(seed);
            let mut got = 0usize;
            let mut cancelled = 0;
            let mut stream = b.recv_multishot(&ring);
            loop {
                // Drop after 0..3 polls, or await to the end.
                let polls = rng.range(0, 4);
                let item = if polls == 3 {
                    Some(stream.next().await)
                } else {
                    poll_then_drop(stream.next(), polls, || true).await
                };
                match item {
                    None => cancelled += 1,
                    Some(None) => break,
                    Some(Some(res)) => {
                        let chunk = res.unwrap();
                        assert!(!chunk.is_empty());
                        assert_eq!(&chunk[..], &expect.take(chunk.len())[..], "at byte {got}");
                        got += chunk.len();
                    }
                }
            }
            assert_eq!(got, total, "seed {seed}");
            assert!(cancelled > 0);
            drop(stream);
            writer.await.unwrap();
        }
    }));
}

// ---------------------------------------------------------------------------
// Split halves, shutdown and half-close
// ---------------------------------------------------------------------------

/// The write half's end reaches the peer however it ends: dropped, shut
/// down, or shut down by a `shutdown()` future dropped before or after its
/// first poll. The read half keeps reading what the peer sends after.
#[test]
fn every_way_a_write_half_ends_sends_eof_and_the_read_half_lives_on() {
    ringloop::run(util::within(20, "write half endings", async {
        for way in 0..6 {
            let (a, b) = util::tcp_pair().await;
            let (r, w) = a.into_split();
            w.write_all(format!("way {way}").into_bytes())
                .await
                .0
                .unwrap();
            match way {
                0 => drop(w),
                1 => w.shutdown().await.unwrap(),
                2 => drop(w.shutdown()),
                polls => {
                    let polled = poll_then_drop(w.shutdown(), polls - 2, || true).await;
                    if let Some(res) = polled {
                        res.unwrap();
                    }
                }
            }
            // The peer reads the data then end of stream.
            let mut got = Vec::new();
            loop {
                let (res, buf) = b.read(Vec::with_capacity(64)).await;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, format!("way {way}").into_bytes());
            // The other direction still works.
            b.write_all(b"back".to_vec()).await.0.unwrap();
            let (res, buf) = r.read_exact(Vec::with_capacity(4)).await;
            res.unwrap();
            assert_eq!(buf, b"back");
            b.shutdown(Shutdown::Write).await.unwrap();
            let (res, _) = r.read(Vec::with_capacity(4)).await;
            assert_eq!(res.unwrap(), 0);
        }
    }));
}

/// `read_exact` at an end of stream in the middle: `UnexpectedEof`, with
/// the bytes that did come in the returned buffer, on every reader type.
#[test]
fn read_exact_cut_short_returns_what_came() {
    ringloop::run(util::within(10, "short read_exact", async {
        let check = |res: io::Result<()>, buf: &[u8]| {
            let err = res.expect_err("read_exact past the end");
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
            assert!(err.to_string().contains("5 of 8"), "{err}");
            assert_eq!(buf, b"hello");
        };
        let (a, b) = util::tcp_pair().await;
        a.write_all(b"hello".to_vec()).await.0.unwrap();
        a.shutdown(Shutdown::Write).await.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(8)).await;
        check(res, &buf);

        let (a, b) = unix_pair();
        a.write_all(b"hello".to_vec()).await.0.unwrap();
        drop(a);
        let (r, _w) = b.into_split();
        let (res, buf) = r.read_exact(Vec::with_capacity(8)).await;
        check(res, &buf);

        let (r, w) = pipe().unwrap();
        w.write_all(b"he".to_vec()).await.0.unwrap();
        w.write_all(b"llo".to_vec()).await.0.unwrap();
        w.close().await.unwrap();
        let (res, buf) = r.read_exact(Vec::with_capacity(8)).await;
        check(res, &buf);
    }));
}

/// A peer reset in the middle of a line: `read_line` fails with the
/// reset and consumes nothing, so the half line it had is still
/// buffered; the stream then reads as ended.
#[test]
fn a_reset_in_the_middle_of_a_line_keeps_the_half_line_buffered() {
    ringloop::run(util::within(10, "reset mid-line", async {
        let (a, b) = util::tcp_pair().await;
        let (r, _w) = b.into_split();
        let mut reader = BufReader::with_capacity(4, r);
        a.write_all(b"whole\nhalf a l".to_vec()).await.0.unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "whole\n");
        a.set_linger(Some(Duration::ZERO)).unwrap();
        a.close().await.unwrap();
        line.clear();
        let err = reader.read_line(&mut line).await.expect_err("the reset");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        assert!(line.is_empty());
        assert_eq!(reader.buffer(), b"half a l");
        // After the reset the socket reads as ended: the half line comes
        // out as the last one.
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 8);
        assert_eq!(line, "half a l");
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
    }));
}

/// `writev` (now a SENDMSG on sockets) and `readv` keep every byte in
/// order through registered streams and direct descriptors too, with
/// zero-length and partially initialized buffers mixed in, and keep the
/// errno of writev(2) for more iovecs than the kernel takes.
#[test]
fn vectored_io_in_order_on_plain_registered_and_direct_streams() {
    for (kind, builder) in [
        ("plain", ringloop::Runtime::builder()),
        ("registered", {
            let mut b = ringloop::Runtime::builder();
            b.register_streams(4);
            b
        }),
        ("direct", {
            let mut b = ringloop::Runtime::builder();
            b.direct_descriptors(4);
            b
        }),
    ] {
        let rt = builder.build().unwrap();
        rt.block_on(util::within(10, kind, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let mut src = util::ByteStream::new(7);
            let bufs: Vec<Vec<u8>> = [0usize, 1, 4096, 0, 70_000, 3]
                .iter()
                .map(|&n| src.take(n))
                .collect();
            let total: usize = bufs.iter().map(Vec::len).sum();
            let mut expect = util::ByteStream::new(7);
            let want = expect.take(total);
            let send = |bufs: Vec<Vec<u8>>| {
                let (client, want) = (&client, &want);
                async move {
                    // writev may be short (fault injection): the rest goes
                    // with write_all.
                    let (res, back) = client.writev(bufs).await;
                    let sent = res.unwrap();
                    assert_eq!(back.len(), 6, "the buffers come back");
                    if sent < total {
                        client.write_all(want[sent..].to_vec()).await.0.unwrap();
                    }
                }
            };
            let got = if kind == "direct" {
                let mut incoming = listener.incoming_direct().unwrap();
                let writer = send(bufs.clone());
                let (server, ()) =
                    futures_util::join!(async { incoming.next().await.unwrap() }, writer);
                let mut got = Vec::new();
                while got.len() < total {
                    let mut parts =
                        vec![Vec::with_capacity(5), Vec::new(), Vec::with_capacity(8192)];
                    parts[0].extend_from_slice(b"zz");
                    let (res, parts) = server.readv(parts).await;
                    let n = res.unwrap();
                    assert!(n > 0);
                    // The first buffer's old bytes are overwritten from 0.
                    let flat: Vec<u8> = parts.concat();
                    got.extend_from_slice(&flat[..n]);
                }
                let (res, _) = server
                    .writev((0..2_000).map(|_| b"x".to_vec()).collect::<Vec<_>>())
                    .await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
                // A vectored send through the direct descriptor.
                let (res, _) = server
                    .writev(vec![b"ab".to_vec(), Vec::new(), b"cd".to_vec()])
                    .await;
                let n = res.unwrap();
                server.write_all(b"abcd"[n..].to_vec()).await.0.unwrap();
                let (res, back) = client.read_exact(Vec::with_capacity(4)).await;
                res.unwrap();
                assert_eq!(back, b"abcd");
                got
            } else {
                let ((server, _), ()) =
                    futures_util::join!(async { listener.accept().await.unwrap() }, send(bufs));
                let mut got = Vec::new();
                while got.len() < total {
                    let (res, parts) = server
                        .readv(vec![
                            Vec::with_capacity(3),
                            Vec::new(),
                            Vec::with_capacity(10_000),
                        ])
                        .await;
                    let n = res.unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&parts.concat()[..n]);
                }
                let (res, _) = server
                    .writev((0..2_000).map(|_| b"x".to_vec()).collect::<Vec<_>>())
                    .await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
                got
            };
            assert_eq!(got.len(), total, "{kind}");
            assert!(got == want, "{kind}: bytes differ");
        }));
    }
}

// ---------------------------------------------------------------------------
// BufWriter and copy
// ---------------------------------------------------------------------------

/// Random `write`, `write_all` and `flush` calls of every size around the
/// buffer's (0, 1, cap-1, cap, cap+1, many times cap) into a pipe whose
/// reader is slower than the writer, so the pipe fills and writes come
/// back short: the reader sees exactly the bytes written, in order.
#[test]
fn buf_writer_keeps_order_through_short_writes_and_direct_writes() {
    ringloop::run(util::within(60, "BufWriter fuzz", async {
        for seed in 1..=4u64 {
            let (r, w) = pipe().unwrap();
            let mut rng = util::Rng::new(seed);
            let cap = [1usize, 5, 100, 8192][seed as usize - 1];
            let total = 300_000usize;
            let reader = ringloop::spawn(async move {
                let mut got = Vec::with_capacity(total);
                let mut rng = util::Rng::new(seed + 100);
                loop {
                    // A small read now and then lets the pipe fill up.
                    let (res, buf) = r
                        .read(Vec::with_capacity(rng.range(1, 5000) as usize))
                        .await;
                    let n = res.unwrap();
                    if n == 0 {
                        return got;
                    }
                    got.extend_from_slice(&buf);
                    if rng.range(0, 4) == 0 {
                        ringloop::yield_now().await;
                    }
                }
            });
            let mut out = BufWriter::with_capacity(cap, w);
            let mut src = util::ByteStream::new(seed);
            let mut written = 0;
            while written < total {
                let n = match rng.range(0, 6) {
                    0 => 0,
                    1 => 1,
                    2 => cap.saturating_sub(1),
                    3 => cap,
                    4 => cap + 1,
                    _ => rng.range(1, 5 * cap as u64 + 70_000) as usize,
                }
                .min(total - written);
                let data = src.take(n);
                match rng.range(0, 1) {
                    0 => {
                        out.write_all(&data).await.unwrap();
                        written += n;
                    }
                    1 => {
                        let mut at = 0;
                        loop {
                            let took = out.write(&data[at..]).await.unwrap();
                            assert!(took <= cap && (took > 0 || at == n));
                            at += took;
                            if at == n {
                                break;
                            }
                        }
                        written += n;
                    }
                    _ => unreachable!(),
                }
                assert!(out.buffer().len() <= cap);
                if rng.range(0, 5) == 0 {
                    out.flush().await.unwrap();
                    assert!(out.buffer().is_empty());
                }
            }
            let w = out.into_inner().await.unwrap();
            drop(w);
            let got = reader.await.unwrap();
            assert_eq!(got.len(), total, "seed {seed}");
            assert!(
                got == util::ByteStream::new(seed).take(total),
                "seed {seed}"
            );
        }
    }));
}

/// `BufReader` and `BufWriter` asked for no capacity at all work with
/// one byte, and a zero-byte write or read is a no-op, not an end.
#[test]
fn zero_capacity_buffers_work_one_byte_at_a_time() {
    ringloop::run(util::within(10, "zero capacity", async {
        let (r, w) = pipe().unwrap();
        let mut out = BufWriter::with_capacity(0, w);
        assert_eq!(out.capacity(), 1);
        assert_eq!(out.write(b"").await.unwrap(), 0);
        out.write_all(b"").await.unwrap();
        out.write_all(b"ab\ncd").await.unwrap();
        assert_eq!(out.write(b"\nlast").await.unwrap(), 1);
        out.write_all(b"last").await.unwrap();
        out.flush().await.unwrap();
        drop(out);
        let mut reader = BufReader::with_capacity(0, r);
        assert_eq!(reader.capacity(), 1);
        assert_eq!(reader.read(&mut []).await.unwrap(), 0);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "ab\n");
        let mut two = [0u8; 2];
        reader.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"cd");
        reader.read_exact(&mut []).await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).await.unwrap(), 5);
        assert_eq!(rest, b"\nlast");
        assert_eq!(reader.fill_buf().await.unwrap(), b"");
    }));
}

/// `copy` moves a random megabyte from a TCP stream to a Unix stream
/// exactly; into a pipe whose reader went away it stops with `BrokenPipe`
/// instead of spinning; from a peer that resets it reports the reset.
#[test]
fn copy_is_exact_and_stops_on_the_first_error() {
    ringloop::run(util::within(30, "copy", async {
        let (from_peer, from) = util::tcp_pair().await;
        let (to, to_peer) = unix_pair();
        let total = 1 << 20;
        let feeder = ringloop::spawn(async move {
            let mut src = util::ByteStream::new(11);
            let mut rng = util::Rng::new(11);
            let mut sent = 0;
            while sent < total {
                let n = (rng.range(1, 100_000) as usize).min(total - sent);
                from_peer.write_all(src.take(n)).await.0.unwrap();
                sent += n;
            }
            from_peer.shutdown(Shutdown::Write).await.unwrap();
            from_peer
        });
        let drain = ringloop::spawn(async move {
            let mut got = Vec::with_capacity(total);
            loop {
                let (res, buf) = to_peer.read(Vec::with_capacity(32 * 1024)).await;
                if res.unwrap() == 0 {
                    return got;
                }
                got.extend_from_slice(&buf);
            }
        });
        assert_eq!(copy(&from, &to).await.unwrap(), total as u64);
        drop(to);
        let got = drain.await.unwrap();
        assert!(got == util::ByteStream::new(11).take(total), "bytes differ");
        let _ = feeder.await.unwrap();

        // Into a pipe nobody reads any more.
        let (pr, pw) = pipe().unwrap();
        pr.close().await.unwrap();
        let (src_r, src_w) = pipe().unwrap();
        src_w.write_all(vec![1u8; 1000]).await.0.unwrap();
        let err = copy(&src_r, &pw)
            .await
            .expect_err("copy into a closed pipe");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        drop(src_w);

        // From a peer that resets.
        let (peer, from) = util::tcp_pair().await;
        let (sink_r, sink_w) = pipe().unwrap();
        peer.write_all(vec![2u8; 10]).await.0.unwrap();
        let copier = ringloop::spawn(async move { copy(&from, &sink_w).await });
        let (res, buf) = sink_r.read_exact(Vec::with_capacity(10)).await;
        res.unwrap();
        assert_eq!(buf, [2u8; 10]);
        peer.set_linger(Some(Duration::ZERO)).unwrap();
        peer.close().await.unwrap();
        let err = copier.await.unwrap().expect_err("copy from a reset peer");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    }));
}

// ---------------------------------------------------------------------------
// TCP: connect, accept, timeouts, options, std conversions
// ---------------------------------------------------------------------------

/// Dropping `connect` or `accept` after any number of polls leaves the
/// listener fully usable: every later connection is accepted, and no
/// connection a dropped accept raced with is handed out half-made.
#[test]
fn connect_and_accept_dropped_at_every_poll_leave_the_listener_usable() {
    ringloop::run(util::within(30, "connect/accept cancellation", async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for polls in 0..6 {
            // A connect given up on (the kernel may still complete it: the
            // listener then has a connection queued, which we drain).
            let _ = poll_then_drop(TcpStream::connect(addr), polls, || true).await;
            // An accept given up on while nothing is queued, unless the
            // dropped connect got through, in which case it may take it.
            if let Some(res) = poll_then_drop(listener.accept(), polls, || true).await {
                let (stream, _) = res.unwrap();
                // The abandoned client side is gone: end of stream (or a
                // reset, if it was torn down mid-handshake).
                let (res, _) = util::within(5, "read", stream.read(Vec::with_capacity(1))).await;
                assert!(matches!(res, Ok(0)) || res.is_err(), "{res:?}");
            }
            // A real connection gets through, and is the one we accept
            // (skip any left over from the dropped connect).
            let client = TcpStream::connect(addr).await.unwrap();
            let me = client.local_addr().unwrap();
            loop {
                let (server, peer) = util::within(5, "accept", listener.accept()).await.unwrap();
                if peer == me {
                    client.write_all(b"hi".to_vec()).await.0.unwrap();
                    let (res, buf) = server.read_exact(Vec::with_capacity(2)).await;
                    res.unwrap();
                    assert_eq!(buf, b"hi");
                    break;
                }
            }
        }
    }));
}

/// A `write_timeout` that expires on a full socket sent nothing: the
/// peer then reads exactly the bytes the earlier writes reported, and
/// later writes continue the stream without a hole or a duplicate.
#[test]
fn a_write_timeout_on_a_full_socket_sends_nothing() {
    ringloop::run(util::within(30, "write_timeout on a full socket", async {
        let (a, b) = unix_pair();
        let mut src = util::ByteStream::new(21);
        let mut sent = 0usize;
        let mut timeouts = 0;
        // Fill until a write times out (twice, to be sure it stays full).
        while timeouts < 2 {
            let chunk = src.take(16 * 1024);
            let (res, back) = a.write_timeout(chunk, Duration::from_millis(20)).await;
            match res {
                Ok(n) => {
                    assert!(n > 0);
                    sent += n;
                    // Restart the source where the stream is, so what was
                    // not sent goes next.
                    if n < back.len() {
                        src = replay(21, sent);
                    }
                }
                Err(err) => {
                    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
                    timeouts += 1;
                    src = replay(21, sent);
                }
            }
            assert!(sent < 64 << 20, "the socket never filled up");
        }
        // The rest, while the peer reads.
        let extra = 100_000;
        let writer = async {
            a.write_all(src.take(extra)).await.0.unwrap();
            a.shutdown(Shutdown::Write).await.unwrap();
        };
        let reader = read_to_eof(&b);
        let ((), got) = futures_util::join!(writer, reader);
        assert_eq!(got.len(), sent + extra);
        assert!(
            got == util::ByteStream::new(21).take(sent + extra),
            "bytes differ"
        );
    }));
}

/// The byte stream of `seed`, advanced past its first `n` bytes.
fn replay(seed: u64, n: usize) -> util::ByteStream {
    let mut s = util::ByteStream::new(seed);
    s.take(n);
    s
}

/// Socket options reject nonsense with `InvalidInput` (never a panic or a
/// truncated value) and accept the extremes they can clamp.
#[test]
fn socket_options_at_their_extremes() {
    use ringloop::net::TcpSocket;
    ringloop::run(util::within(10, "options", async {
        let s = TcpSocket::new_v4().unwrap();
        for size in [usize::MAX, i32::MAX as usize + 1] {
            let err = s.set_recv_buffer_size(size).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            let err = s.set_send_buffer_size(size).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        s.set_recv_buffer_size(0).unwrap();
        s.set_send_buffer_size(i32::MAX as usize).unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = s.listen(u32::MAX).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        client.set_linger(Some(Duration::MAX)).unwrap();
        client.set_linger(None).unwrap();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        assert!(client.take_error().unwrap().is_none());
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"ok".to_vec()).await.0.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        assert_eq!(buf, b"ok");
        // Connecting to an address of another family than the socket's.
        let v6 = TcpSocket::new_v6();
        if let Ok(v6) = v6 {
            let err = v6
                .connect(listener.local_addr().unwrap())
                .await
                .expect_err("a v6 socket to a v4 address");
            assert!(err.raw_os_error().is_some(), "{err}");
        }
    }));
}

/// `from_std` takes a stream in non-blocking mode too (as tokio users
/// hand it): a read with nothing to read waits for the data instead of
/// failing with `WouldBlock`, and a write larger than the socket buffer
/// completes. `into_std` then hands back a stream std can use, with the
/// unread bytes still in it.
#[test]
fn from_std_accepts_a_nonblocking_stream_and_into_std_keeps_unread_data() {
    ringloop::run(util::within(20, "std conversions", async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let std_client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (std_server, _) = listener.accept().unwrap();
        std_client.set_nonblocking(true).unwrap();
        std_server.set_nonblocking(true).unwrap();
        let client = TcpStream::from_std(std_client);
        let server = TcpStream::from_std(std_server);
        let reader = ringloop::spawn(async move {
            let (res, buf) = server.read_exact(Vec::with_capacity(4 << 20)).await;
            res.unwrap();
            (server, buf)
        });
        ringloop::yield_now().await;
        let big = util::ByteStream::new(31).take(4 << 20);
        client.write_all(big.clone()).await.0.unwrap();
        let (server, got) = reader.await.unwrap();
        assert!(got == big);
        client.write_all(b"left for std".to_vec()).await.0.unwrap();
        let mut std_server = server.into_std().unwrap();
        std_server.set_nonblocking(false).unwrap();
        std_server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut left = [0u8; 12];
        std::io::Read::read_exact(&mut std_server, &mut left).unwrap();
        assert_eq!(&left, b"left for std");
    }));
}

/// Shutting down the read side wakes a read already waiting (it ends
/// with 0, not a hang), and `Shutdown::Both` ends both directions: the
/// peer reads end of stream, our writes fail with `EPIPE`.
#[test]
fn shutdown_read_wakes_a_pending_read_and_both_ends_both_ways() {
    ringloop::run(util::within(10, "shutdown directions", async {
        for tcp in [true, false] {
            let (a, b) = if tcp {
                let (a, b) = util::tcp_pair().await;
                (either::Tcp(a), either::Tcp(b))
            } else {
                let (a, b) = unix_pair();
                (either::Unix(a), either::Unix(b))
            };
            let a = std::rc::Rc::new(a);
            let reader = {
                let a = a.clone();
                ringloop::spawn(async move { a.read(Vec::with_capacity(8)).await.0 })
            };
            // Let the read reach the kernel and wait there.
            for _ in 0..5 {
                ringloop::yield_now().await;
            }
            assert!(!reader.is_finished());
            a.shutdown(Shutdown::Read).await.unwrap();
            let res = util::within(5, "the pending read", reader).await.unwrap();
            assert_eq!(res.unwrap(), 0, "tcp={tcp}");
            // Writing still works after a read shutdown.
            a.write_all(b"still".to_vec()).await.unwrap();
            assert_eq!(b.read_exact(5).await, b"still");
            // Both.
            b.shutdown(Shutdown::Both).await.unwrap();
            assert_eq!(a.read(Vec::with_capacity(8)).await.0.unwrap(), 0);
            let err = b
                .write_all(b"x".to_vec())
                .await
                .expect_err("write after Both");
            assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "tcp={tcp}: {err}");
        }
    }));
}

/// The two stream types behind one face, for tests that run on both.
mod either {
    use std::io;

    pub enum Stream {
        Tcp(ringloop::net::TcpStream),
        Unix(ringloop::net::UnixStream),
    }
    pub use Stream::{Tcp, Unix};

    impl Stream {
        pub async fn read(&self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
            match self {
                Tcp(s) => s.read(buf).await,
                Unix(s) => s.read(buf).await,
            }
        }
        pub async fn read_exact(&self, n: usize) -> Vec<u8> {
            let (res, buf) = match self {
                Tcp(s) => s.read_exact(Vec::with_capacity(n)).await,
                Unix(s) => s.read_exact(Vec::with_capacity(n)).await,
            };
            res.unwrap();
            buf
        }
        pub async fn write_all(&self, buf: Vec<u8>) -> io::Result<()> {
            match self {
                Tcp(s) => s.write_all(buf).await.0,
                Unix(s) => s.write_all(buf).await.0,
            }
        }
        pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
            match self {
                Tcp(s) => s.shutdown(how).await,
                Unix(s) => s.shutdown(how).await,
            }
        }
        pub async fn read_timeout(
            &self,
            buf: Vec<u8>,
            limit: std::time::Duration,
        ) -> (io::Result<usize>, Vec<u8>) {
            match self {
                Tcp(s) => s.read_timeout(buf, limit).await,
                Unix(s) => s.read_timeout(buf, limit).await,
            }
        }
    }
}

/// Addresses that are not addresses fail `connect` and `bind` with an
/// error that names the problem, without a DNS lookup or a panic.
#[test]
fn malformed_addresses_are_errors() {
    ringloop::run(util::within(20, "malformed addresses", async {
        for addr in [
            "",
            ":",
            "127.0.0.1",
            "127.0.0.1:99999",
            "127.0.0.1:-1",
            "[::1",
        ] {
            let err = TcpStream::connect(addr).await.expect_err(addr);
            assert!(!err.to_string().is_empty(), "{addr}");
            assert!(TcpListener::bind(addr).is_err(), "bind {addr:?}");
        }
        let none: &[std::net::SocketAddr] = &[];
        let err = TcpStream::connect(none).await.expect_err("no addresses");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        // Port 0 is no destination.
        let err = TcpStream::connect("127.0.0.1:0").await.expect_err("port 0");
        assert!(err.raw_os_error().is_some(), "{err}");
    }));
}

/// `SO_LINGER` as the kernel holds it: `(l_onoff, l_linger)`.
fn linger_of(fd: RawFd) -> (i32, i32) {
    let mut value = libc::linger {
        l_onoff: -1,
        l_linger: -1,
    };
    let mut len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
    (value.l_onoff, value.l_linger)
}

/// `set_linger(Some(d))` with a `d` under a second lingers (the kernel
/// counts whole seconds, so it is rounded up): only `Duration::ZERO`
/// means "reset on close", as documented. Truncated to 0 it would turn a
/// graceful close into a reset that throws away unsent data.
#[test]
fn a_sub_second_linger_is_a_linger_not_a_reset() {
    ringloop::run(util::within(10, "linger", async {
        let (a, _b) = util::tcp_pair().await;
        let fd = a.as_raw_fd();
        a.set_linger(Some(Duration::from_millis(500))).unwrap();
        assert_eq!(linger_of(fd), (1, 1), "500 ms lingers for a second");
        a.set_linger(Some(Duration::from_nanos(1))).unwrap();
        assert_eq!(linger_of(fd), (1, 1));
        a.set_linger(Some(Duration::from_millis(2500))).unwrap();
        assert_eq!(linger_of(fd), (1, 3));
        a.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(linger_of(fd), (1, 0), "zero: reset on close");
        a.set_linger(Some(Duration::MAX)).unwrap();
        assert_eq!(linger_of(fd), (1, i32::MAX));
        a.set_linger(None).unwrap();
        assert_eq!(linger_of(fd).0, 0);
    }));
}

/// `read_timeout` with deadlines from zero to a few milliseconds, racing
/// a writer that sends at random moments: a read either returns data or
/// `TimedOut`, and a timed-out read took nothing, so every byte arrives
/// exactly once, in order.
#[test]
fn read_timeouts_racing_data_lose_nothing() {
    ringloop::run(util::within(60, "read_timeout races", async {
        for (seed, tcp) in [(41u64, false), (42, true)] {
            let (a, b) = if tcp {
                let (a, b) = util::tcp_pair().await;
                (either::Tcp(a), either::Tcp(b))
            } else {
                let (a, b) = unix_pair();
                (either::Unix(a), either::Unix(b))
            };
            let total = 300_000usize;
            let writer = ringloop::spawn(async move {
                let mut src = util::ByteStream::new(seed);
                let mut rng = util::Rng::new(seed);
                let mut sent = 0;
                while sent < total {
                    let n = (rng.range(1, 4000) as usize).min(total - sent);
                    a.write_all(src.take(n)).await.unwrap();
                    sent += n;
                    match rng.range(0, 3) {
                        0 => ringloop::time::sleep(Duration::from_micros(rng.range(0, 1500))).await,
                        1 => ringloop::yield_now().await,
                        _ => {}
                    }
                }
                a.shutdown(Shutdown::Write).await.unwrap();
                a
            });
            let mut rng = util::Rng::new(seed ^ 7);
            let mut expect = util::ByteStream::new(seed);
            let (mut got, mut timeouts) = (0usize, 0u32);
            loop {
                let limit = Duration::from_micros(rng.range(0, 3000) * rng.range(0, 1));
                let cap = rng.range(1, 8192) as usize;
                let (res, buf) = b.read_timeout(Vec::with_capacity(cap), limit).await;
                match res {
                    Ok(0) => break,
                    Ok(n) => {
                        assert_eq!(&buf[..n], &expect.take(n)[..], "at byte {got}");
                        got += n;
                    }
                    Err(err) => {
                        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
                        assert!(buf.is_empty(), "a timed-out read carries no data");
                        timeouts += 1;
                    }
                }
            }
            assert_eq!(got, total, "tcp={tcp}");
            assert!(timeouts > 0, "tcp={tcp}: no read timed out");
            let _ = writer.await.unwrap();
        }
    }));
}

/// A `BufWriter` call cancelled while its bytes were going to a full
/// socket (the flush of a full buffer in `write`, the flush before a
/// `write_all`, a `write_all` large enough to go straight through) is
/// reported by the next call, once, with a message saying so; the writer
/// then goes on, and what it writes after arrives intact and in order.
#[test]
fn a_cancelled_buf_writer_call_is_reported_once_then_the_writer_goes_on() {
    ringloop::run(util::within(30, "BufWriter cancellation", async {
        for (case, polls) in [(0, 1), (0, 3), (1, 1), (1, 2), (2, 1), (2, 4)] {
            let (a, b) = unix_pair();
            let fill = vec![0u8; 64 * 1024];
            // Fill the socket so that the next write waits in the kernel.
            loop {
                let (res, _) = a
                    .write_timeout(fill.clone(), Duration::from_millis(10))
                    .await;
                if res.is_err() {
                    break;
                }
            }
            let mut out = BufWriter::with_capacity(16, a);
            let cancelled = match case {
                0 => {
                    assert_eq!(out.write(&[1u8; 16]).await.unwrap(), 16); // buffer full
                    poll_then_drop(out.write(b"x"), polls, || true)
                        .await
                        .map(|r| r.map(drop))
                }
                1 => {
                    out.write_all(&[1u8; 10]).await.unwrap();
                    poll_then_drop(out.write_all(&[2u8; 10]), polls, || true).await
                }
                _ => poll_then_drop(out.write_all(&[3u8; 100_000]), polls, || true).await,
            };
            assert!(
                cancelled.is_none(),
                "case {case}: finished on a full socket"
            );
            let err = out
                .flush()
                .await
                .expect_err("the cancelled call is reported");
            assert!(err.to_string().contains("cancelled"), "{err}");
            // Reported once: the calls after it succeed. Everything is
            // read on the peer; the marker written after the hole must
            // come through intact, last.
            let marker = b"-- after the hole --";
            let drain = read_to_eof(&b);
            let finish = async {
                out.write_all(marker).await.unwrap();
                let a = out.into_inner().await.unwrap();
                a.shutdown(Shutdown::Write).await.unwrap();
            };
            let (got, ()) = futures_util::join!(drain, finish);
            assert!(
                got.ends_with(marker),
                "case {case}: the marker is last, intact"
            );
        }
    }));
}
