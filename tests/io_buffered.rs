//! BufReader / BufWriter over pipes and over readers that return short
//! pieces and EINTR: lines, records, exact reads, cancel safety, flush
//! semantics (gathering, errors keep data, a cancelled flush is reported).

mod util;

use std::cell::Cell;
use std::io;
use std::time::Duration;

use ringloop::buf::{IoBuf, IoBufMut};
use ringloop::io::{
    AsyncReadOwned, AsyncWriteOwned, BufReader, BufWriter, PipeReader, PipeWriter, pipe,
};
use ringloop::time::timeout;

/// A reader that returns at most `max` bytes per read and fails every
/// third read with `Interrupted`.
struct Chunky {
    inner: PipeReader,
    max: usize,
    reads: Cell<usize>,
}

impl Chunky {
    fn new(inner: PipeReader, max: usize) -> Chunky {
        Chunky {
            inner,
            max,
            reads: Cell::new(0),
        }
    }
}

impl AsyncReadOwned for Chunky {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.reads.set(self.reads.get() + 1);
        if self.reads.get() % 3 == 0 {
            return (Err(io::ErrorKind::Interrupted.into()), buf);
        }
        let (result, slice) = self.inner.read(buf.slice(..self.max)).await;
        (result, slice.into_inner())
    }
}

/// A writer that counts writes and can fail the next one.
struct Counting {
    inner: PipeWriter,
    writes: Cell<usize>,
    fail_next: Cell<bool>,
}

impl AsyncWriteOwned for Counting {
    async fn write<B: IoBuf>(&self, buf: B) -> (io::Result<usize>, B) {
        if self.fail_next.replace(false) {
            return (Err(io::ErrorKind::BrokenPipe.into()), buf);
        }
        self.writes.set(self.writes.get() + 1);
        self.inner.write(buf).await
    }
}

async fn pipe_with(data: &'static [u8]) -> PipeReader {
    let (r, w) = pipe().unwrap();
    w.write_all(data).await.0.unwrap();
    drop(w);
    r
}

async fn read_all(r: &PipeReader) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (n, buf) = r.read(Vec::with_capacity(4096)).await;
        let n = n.unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn lines_across_tiny_buffers_short_reads_and_eintr() {
    ringloop::run(util::within(10, "lines", async {
        let r = pipe_with(b"first\r\n\nthird line is longer than the buffer\nlast").await;
        let mut lines = BufReader::with_capacity(3, Chunky::new(r, 2)).lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(
            got,
            ["first", "", "third line is longer than the buffer", "last"]
        );
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert!(lines.into_inner().get_ref().reads.get() > 20);
    }));
}

#[test]
fn read_until_read_line_and_read_to_end() {
    ringloop::run(util::within(10, "records", async {
        let r = pipe_with(b"k1=v1;k2=v2;tail\nline two\nrest of it").await;
        let mut reader = BufReader::with_capacity(4, Chunky::new(r, 3));
        let mut rec = Vec::new();
        assert_eq!(reader.read_until(b';', &mut rec).await.unwrap(), 6);
        assert_eq!(rec, b"k1=v1;");
        rec.clear();
        reader.read_until(b';', &mut rec).await.unwrap();
        assert_eq!(rec, b"k2=v2;");
        let mut line = String::from(">");
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 5);
        assert_eq!(line, ">tail\n");
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "line two\n");
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).await.unwrap(), 10);
        assert_eq!(rest, b"rest of it");
        line.clear();
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
        assert_eq!(reader.read_until(b';', &mut rec).await.unwrap(), 0);
    }));
}

#[test]
fn invalid_utf8_is_an_error_and_the_line_is_skipped() {
    ringloop::run(util::within(10, "utf8", async {
        let r = pipe_with(b"ok\n\xff\xfe\nafter\n").await;
        let mut reader = BufReader::new(r);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let err = reader.read_line(&mut line).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(line, "ok\n"); // nothing appended
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "ok\nafter\n");
    }));
}

#[test]
fn fill_buf_consume_read_and_read_exact() {
    // Reads may be short (the kernel's, or fault injection's): every step
    // checks the bytes it got against where the stream is, not a fixed
    // split.
    const DATA: &[u8] = b"0123456789abc";
    ringloop::run(util::within(10, "exact", async {
        let r = pipe_with(DATA).await;
        let mut reader = BufReader::with_capacity(4, Chunky::new(r, 4));
        let first = reader.fill_buf().await.unwrap().to_vec();
        assert!((1..=4).contains(&first.len()), "{first:?}");
        assert!(DATA.starts_with(&first), "{first:?}");
        let mut pos = first.len();
        reader.consume(1);
        reader.consume(100); // clamped to what is buffered
        assert!(reader.buffer().is_empty());
        let mut two = [0u8; 2];
        let n = reader.read(&mut two).await.unwrap();
        assert!((1..=2).contains(&n), "{n}");
        assert_eq!(&two[..n], &DATA[pos..pos + n]);
        pos += n;
        // Larger than the buffer: gathered whole.
        let mut five = [0u8; 5];
        reader.read_exact(&mut five).await.unwrap();
        assert_eq!(&five, &DATA[pos..pos + 5]);
        pos += 5;
        // Not enough left: an error, and the bytes stay buffered.
        let mut more = vec![0u8; DATA.len() - pos + 1];
        let err = reader.read_exact(&mut more).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(reader.buffer(), &DATA[pos..]);
        let (_inner, rest) = reader.into_parts();
        assert_eq!(rest, &DATA[pos..]);
    }));
}

#[test]
fn a_cancelled_read_line_loses_nothing() {
    ringloop::run(util::within(10, "cancel-safe lines", async {
        let (r, w) = pipe().unwrap();
        let mut reader = BufReader::with_capacity(4, r);
        w.write_all(b"hel".to_vec()).await.0.unwrap();
        let mut line = String::new();
        // Half a line arrives, then the caller gives up.
        assert!(
            timeout(Duration::from_millis(5), reader.read_line(&mut line))
                .await
                .is_err()
        );
        assert!(line.is_empty());
        assert_eq!(reader.buffer(), b"hel");
        w.write_all(b"lo wor".to_vec()).await.0.unwrap();
        assert!(
            timeout(Duration::from_millis(5), reader.read_line(&mut line))
                .await
                .is_err()
        );
        w.write_all(b"ld\nnext\n".to_vec()).await.0.unwrap();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "hello world\n");

        let mut lines = reader.lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("next"));
        w.write_all(b"par".to_vec()).await.0.unwrap();
        assert!(
            timeout(Duration::from_millis(5), lines.next_line())
                .await
                .is_err()
        );
        w.write_all(b"tial\n".to_vec()).await.0.unwrap();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("partial"));

        // read_exact too.
        let mut reader = lines.into_inner();
        w.write_all(b"ab".to_vec()).await.0.unwrap();
        let mut four = [0u8; 4];
        assert!(
            timeout(Duration::from_millis(5), reader.read_exact(&mut four))
                .await
                .is_err()
        );
        w.write_all(b"cd".to_vec()).await.0.unwrap();
        reader.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"abcd");
    }));
}

#[test]
fn buf_writer_gathers_small_writes_into_one() {
    ringloop::run(util::within(10, "gather", async {
        let (r, w) = pipe().unwrap();
        let mut out = BufWriter::with_capacity(
            64,
            Counting {
                inner: w,
                writes: Cell::new(0),
                fail_next: Cell::new(false),
            },
        );
        for i in 0..10 {
            out.write_all(format!("{i},").as_bytes()).await.unwrap();
        }
        assert_eq!(out.get_ref().writes.get(), 0);
        assert_eq!(out.buffer(), b"0,1,2,3,4,5,6,7,8,9,");
        out.flush().await.unwrap();
        // One write for all ten (fault injection may split it).
        let first = out.get_ref().writes.get();
        assert!(
            first == 1 || (util::faults() && first > 1),
            "{first} writes"
        );
        // write() takes what fits, flushing a full buffer first.
        let big = [b'x'; 100];
        assert_eq!(out.write(&big).await.unwrap(), 64);
        assert_eq!(out.write(&big[64..]).await.unwrap(), 36);
        let second = out.get_ref().writes.get() - first;
        assert!(
            second == 1 || (util::faults() && second > 1),
            "{second} writes"
        );
        // write_all of a large piece goes straight through.
        out.write_all(&[b'y'; 200]).await.unwrap();
        assert!(out.buffer().is_empty());
        let inner = out.into_inner().await.unwrap();
        drop(inner);
        let data = read_all(&r).await;
        let mut expected = b"0,1,2,3,4,5,6,7,8,9,".to_vec();
        expected.extend_from_slice(&[b'x'; 100]);
        expected.extend_from_slice(&[b'y'; 200]);
        assert_eq!(data, expected);
    }));
}

#[test]
fn a_failed_flush_keeps_the_data_for_the_next() {
    ringloop::run(util::within(10, "flush error", async {
        let (r, w) = pipe().unwrap();
        let mut out = BufWriter::new(Counting {
            inner: w,
            writes: Cell::new(0),
            fail_next: Cell::new(false),
        });
        out.write_all(b"keep me").await.unwrap();
        out.get_ref().fail_next.set(true);
        assert_eq!(
            out.flush().await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        assert_eq!(out.buffer(), b"keep me");
        out.flush().await.unwrap();
        drop(out.into_inner().await.unwrap());
        assert_eq!(read_all(&r).await, b"keep me");
    }));
}

#[test]
fn a_cancelled_flush_is_reported_once() {
    ringloop::run(util::within(10, "cancelled flush", async {
        let (r, w) = pipe().unwrap();
        // More than a pipe holds (64 KiB): the flush blocks with nobody
        // reading.
        let mut out = BufWriter::with_capacity(256 * 1024, w);
        out.write_all(&vec![7u8; 200 * 1024]).await.unwrap();
        assert!(
            timeout(Duration::from_millis(20), out.flush())
                .await
                .is_err()
        );
        let err = out.write_all(b"more").await.unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
        // Reported once; the writer is usable again.
        out.write_all(b"more").await.unwrap();
        let drain = ringloop::spawn(async move { read_all(&r).await.len() });
        out.flush().await.unwrap();
        drop(out.into_inner().await.unwrap());
        let n = drain.await.unwrap();
        assert!((4..=200 * 1024 + 4).contains(&n), "{n}");
    }));
}

#[test]
fn dropping_a_buf_writer_does_not_flush_but_into_parts_keeps_the_data() {
    ringloop::run(util::within(10, "drop", async {
        let (r, w) = pipe().unwrap();
        let mut out = BufWriter::new(w);
        out.write_all(b"lost").await.unwrap();
        drop(out);
        assert!(read_all(&r).await.is_empty());

        let (r, w) = pipe().unwrap();
        let mut out = BufWriter::with_capacity(0, w); // raised to 1
        assert_eq!(out.capacity(), 1);
        assert_eq!(out.write(b"ab").await.unwrap(), 1);
        let (w, unwritten) = out.into_parts();
        assert_eq!(unwritten, b"a");
        w.write_all(unwritten).await.0.unwrap();
        drop(w);
        assert_eq!(read_all(&r).await, b"a");
    }));
}
