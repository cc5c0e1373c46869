//! `BufReader` and `BufWriter`: buffering over owned-buffer streams.

use std::fmt;
use std::io;
use std::mem;

use super::{AsyncReadOwned, AsyncWriteOwned};
use crate::buf::IoBuf;

/// Default buffer size of [`BufReader`] and [`BufWriter`].
const DEFAULT_BUF_SIZE: usize = 8 * 1024;

/// Adds a buffer to a reader, for reading lines, delimited records and
/// small pieces without one kernel round trip each.
///
/// ```
/// use ringloop::io::{BufReader, pipe};
///
/// ringloop::run(async {
///     let (r, w) = pipe().unwrap();
///     w.write_all(b"hello\r\nworld\n".to_vec()).await.0.unwrap();
///     drop(w);
///     let mut lines = BufReader::new(r).lines();
///     assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("hello"));
///     assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("world"));
///     assert_eq!(lines.next_line().await.unwrap(), None);
/// });
/// ```
///
/// Its methods take `&mut self` and a byte slice or `String`: the buffer is
/// its own (an owned `Vec` that goes to the kernel and comes back), and
/// what callers get is copied out of it.
///
/// # Cancellation
///
/// [`read_until`](Self::read_until), [`read_line`](Self::read_line),
/// [`Lines::next_line`] and [`read_exact`](Self::read_exact) consume nothing
/// until they return: if one is dropped part-way (a
/// [`timeout`](crate::time::timeout), a cancelled task), the bytes it had
/// gathered stay in the buffer for the next call. A read of the inner
/// stream is only ever issued into a buffer that holds nothing unconsumed,
/// so cancelling it loses no buffered data. What cannot be undone is the
/// kernel's side of a cancelled read: io_uring may already have taken
/// bytes from the stream into the cancelled operation's buffer, and they
/// are freed with it.
///
/// Why not [`AsyncReadOwned`]: that trait reads into a caller's generic
/// owned buffer, and copying buffered bytes into one takes `unsafe` code
/// this type does without; use [`read`](Self::read) into a slice.
pub struct BufReader<R> {
    inner: R,
    /// Buffered bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Where more is read while `buf` holds unconsumed bytes, to be
    /// appended: a buffer with data in it never goes to the kernel.
    spare: Vec<u8>,
    cap: usize,
}

impl<R: AsyncReadOwned> BufReader<R> {
    /// A reader with an 8 KiB buffer.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A reader that reads `capacity` bytes at a time (at least 1). A line
    /// or record longer than that grows the buffer as needed.
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        let cap = capacity.max(1);
        BufReader {
            inner,
            buf: Vec::with_capacity(cap),
            pos: 0,
            spare: Vec::new(),
            cap,
        }
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader. Reading from it directly skips what is buffered.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader; buffered bytes are discarded (see
    /// [`into_parts`](Self::into_parts)).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The inner reader and the bytes buffered but not yet consumed.
    pub fn into_parts(mut self) -> (R, Vec<u8>) {
        self.buf.drain(..self.pos);
        (self.inner, self.buf)
    }

    /// The bytes buffered and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// How many bytes one read of the inner reader asks for.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Returns the buffered bytes, first reading from the inner reader if
    /// there are none. An empty slice means end of stream. Mark what you
    /// use with [`consume`](Self::consume).
    ///
    /// ```
    /// use ringloop::io::{BufReader, pipe};
    /// ringloop::run(async {
    ///     let (r, w) = pipe().unwrap();
    ///     w.write_all(b"abc".to_vec()).await.0.unwrap();
    ///     let mut reader = BufReader::new(r);
    ///     assert_eq!(reader.fill_buf().await.unwrap(), b"abc");
    ///     reader.consume(2);
    ///     assert_eq!(reader.buffer(), b"c");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// The inner reader's error.
    pub async fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.fill_more().await?;
        }
        Ok(self.buffer())
    }

    /// Marks `n` buffered bytes as used (clamped to what is buffered).
    pub fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
    }

    /// Reads more from the inner reader, after the bytes already held;
    /// returns how many (0: end of stream).
    async fn fill_more(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            // Nothing held: read straight into the buffer.
            let mut buf = mem::take(&mut self.buf);
            self.pos = 0;
            buf.clear();
            if buf.capacity() < self.cap || buf.capacity() > self.cap.saturating_mul(4) {
                // Gone with a cancelled read, or grown by a long line.
                buf = Vec::with_capacity(self.cap);
            }
            let (result, mut buf) = self.inner.read(buf).await;
            let n = *result.as_ref().unwrap_or(&0);
            buf.truncate(n);
            self.buf = buf;
            return result;
        }
        let mut spare = mem::take(&mut self.spare);
        spare.clear();
        spare.reserve(self.cap);
        let (result, spare) = self.inner.read(spare).await;
        if let Ok(n) = result {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(&spare[..n.min(spare.len())]);
        }
        self.spare = spare;
        result
    }

    /// Makes sure the buffer holds a whole record ending in `byte` and
    /// returns its length (with the delimiter), or everything left at the
    /// end of the stream. Consumes nothing.
    async fn find(&mut self, byte: u8) -> io::Result<usize> {
        let mut searched = 0;
        loop {
            let held = &self.buf[self.pos..];
            if let Some(i) = held[searched..].iter().position(|&b| b == byte) {
                return Ok(searched + i + 1);
            }
            searched = held.len();
            match self.fill_more().await {
                Ok(0) => return Ok(self.buf.len() - self.pos),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads up to `dst.len()` bytes, from the buffer or, if it is empty,
    /// with one read of the inner reader. Returns the count; 0 means end
    /// of stream (or an empty `dst`).
    ///
    /// # Errors
    ///
    /// The inner reader's error.
    pub async fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        let held = self.fill_buf().await?;
        let n = held.len().min(dst.len());
        dst[..n].copy_from_slice(&held[..n]);
        self.consume(n);
        Ok(n)
    }

    /// Fills `dst` completely. Nothing is consumed unless it succeeds.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::UnexpectedEof`] if the stream ends first (the
    /// bytes read stay buffered); the inner reader's error.
    pub async fn read_exact(&mut self, dst: &mut [u8]) -> io::Result<()> {
        while self.buf.len() - self.pos < dst.len() {
            match self.fill_more().await {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "end of stream after {} of {} bytes",
                            self.buf.len() - self.pos,
                            dst.len()
                        ),
                    ));
                }
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        dst.copy_from_slice(&self.buf[self.pos..self.pos + dst.len()]);
        self.consume(dst.len());
        Ok(())
    }

    /// Appends bytes to `out` up to and including the first `byte`, or to
    /// the end of the stream. Returns how many were appended: 0 means end
    /// of stream.
    ///
    /// ```
    /// use ringloop::io::{BufReader, pipe};
    /// ringloop::run(async {
    ///     let (r, w) = pipe().unwrap();
    ///     w.write_all(b"a,bc,d".to_vec()).await.0.unwrap();
    ///     drop(w);
    ///     let mut reader = BufReader::new(r);
    ///     let mut field = Vec::new();
    ///     assert_eq!(reader.read_until(b',', &mut field).await.unwrap(), 2);
    ///     assert_eq!(field, b"a,");
    ///     field.clear();
    ///     reader.read_until(b',', &mut field).await.unwrap();
    ///     reader.read_until(b',', &mut field).await.unwrap();
    ///     assert_eq!(field, b"bc,d");
    ///     assert_eq!(reader.read_until(b',', &mut field).await.unwrap(), 0);
    /// });
    /// ```
    ///
    /// The record is held in the buffer until it is complete, so the
    /// buffer grows to the longest record; bound it on untrusted input
    /// (e.g. with a [`timeout`](crate::time::timeout) or by reading
    /// fixed-size pieces).
    ///
    /// # Errors
    ///
    /// The inner reader's error (nothing is appended or consumed then).
    pub async fn read_until(&mut self, byte: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.find(byte).await?;
        out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.consume(n);
        Ok(n)
    }

    /// Appends the next line, with its `\n` (if any), to `out`. Returns how
    /// many bytes were appended: 0 means end of stream.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidData`] if the line is not UTF-8 (the line
    /// is consumed and nothing is appended); the inner reader's error
    /// (nothing is consumed).
    pub async fn read_line(&mut self, out: &mut String) -> io::Result<usize> {
        let n = self.find(b'\n').await?;
        let line = self.take_str(n)?;
        out.push_str(line);
        Ok(n)
    }

    /// Consumes `n` bytes and returns them as text.
    fn take_str(&mut self, n: usize) -> io::Result<&str> {
        let start = self.pos;
        self.consume(n);
        std::str::from_utf8(&self.buf[start..start + n]).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("stream did not contain valid UTF-8: {err}"),
            )
        })
    }

    /// Appends everything up to the end of the stream to `out`; returns
    /// how many bytes.
    ///
    /// # Errors
    ///
    /// The inner reader's error; the bytes read until then are in `out`.
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let held = self.buffer();
            out.extend_from_slice(held);
            total += held.len();
            self.pos = self.buf.len();
            match self.fill_more().await {
                Ok(0) => return Ok(total),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// The lines of the stream, without their `\n` or `\r\n`.
    pub fn lines(self) -> Lines<R> {
        Lines { reader: self }
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("capacity", &self.cap)
            .finish()
    }
}

/// The lines of a [`BufReader`], from [`BufReader::lines`].
#[derive(Debug)]
pub struct Lines<R> {
    reader: BufReader<R>,
}

impl<R: AsyncReadOwned> Lines<R> {
    /// The next line without its `\n` or `\r\n`; `None` at the end of the
    /// stream. Cancel-safe: a line is consumed only when returned.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidData`] if the line is not UTF-8 (it is
    /// skipped); the inner reader's error.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        let n = self.reader.find(b'\n').await?;
        if n == 0 {
            return Ok(None);
        }
        let line = self.reader.take_str(n)?;
        // Strip `\n` or `\r\n`, and only those: a `\r` that ends the
        // stream with no `\n` after it is data (as in std and tokio).
        let line = match line.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line),
            None => line,
        };
        Ok(Some(line.to_owned()))
    }

    /// The reader, with what it has buffered.
    pub fn into_inner(self) -> BufReader<R> {
        self.reader
    }
}

/// Adds a buffer to a writer: small writes are gathered and sent in one
/// kernel operation by [`flush`](Self::flush) (or when the buffer fills).
///
/// ```
/// use ringloop::io::{BufReader, BufWriter, pipe};
///
/// ringloop::run(async {
///     let (r, w) = pipe().unwrap();
///     let mut out = BufWriter::new(w);
///     for i in 0..3 {
///         out.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
///     }
///     out.flush().await.unwrap(); // one write for all three
///     let mut reader = BufReader::new(r);
///     let mut line = String::new();
///     reader.read_line(&mut line).await.unwrap();
///     assert_eq!(line, "line 0\n");
/// });
/// ```
///
/// # Flushing
///
/// Call [`flush`](Self::flush) (or [`into_inner`](Self::into_inner)) when
/// done. **Dropping a `BufWriter` does not flush** — a destructor cannot
/// wait for I/O — and what it still buffers is discarded. Check
/// [`buffer`](Self::buffer) or use [`into_parts`](Self::into_parts) to
/// recover it.
///
/// If a flush fails, the bytes not written stay buffered and the next
/// flush tries them again.
///
/// # Cancellation
///
/// A write into the buffer is synchronous. A flush hands the buffer to the
/// kernel; if the future doing it is dropped part-way, how much of it
/// reached the stream is unknown and the rest is gone. The writer then
/// stays usable, but its next call returns an error (once) saying so,
/// rather than silently carrying on with a hole in the stream.
///
/// Why not [`AsyncWriteOwned`]: copying from a caller's generic owned
/// buffer into this one takes `unsafe` code this type does without; its
/// methods take byte slices.
pub struct BufWriter<W> {
    inner: W,
    buf: Vec<u8>,
    cap: usize,
    /// Bytes in a write to the inner writer whose future was dropped.
    lost: Option<usize>,
}

impl<W: AsyncWriteOwned> BufWriter<W> {
    /// A writer with an 8 KiB buffer.
    pub fn new(inner: W) -> BufWriter<W> {
        BufWriter::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A writer that gathers up to `capacity` bytes (at least 1).
    pub fn with_capacity(capacity: usize, inner: W) -> BufWriter<W> {
        let cap = capacity.max(1);
        BufWriter {
            inner,
            buf: Vec::with_capacity(cap),
            cap,
            lost: None,
        }
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer. Writing to it directly goes ahead of what is
    /// buffered.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The bytes buffered, not yet written.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer size.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The inner writer and the bytes not yet written, without flushing.
    pub fn into_parts(self) -> (W, Vec<u8>) {
        (self.inner, self.buf)
    }

    /// Flushes, then returns the inner writer.
    ///
    /// # Errors
    ///
    /// As for [`flush`](Self::flush); the writer and its unwritten bytes
    /// are dropped then (flush first yourself to keep them).
    pub async fn into_inner(mut self) -> io::Result<W> {
        self.flush().await?;
        Ok(self.inner)
    }

    /// Buffers as much of `data` as fits, first flushing a full buffer.
    /// Returns how many bytes were taken (0 only for empty `data`).
    ///
    /// # Errors
    ///
    /// The inner writer's error from the flush; or an earlier flush was
    /// cancelled (see the type's docs).
    pub async fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.len() >= self.cap {
            self.flush_buf().await?;
        }
        let n = self.cap.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// Buffers all of `data`, first flushing if it does not fit; data at
    /// least as large as the buffer is written straight through.
    ///
    /// If this is cancelled during the flush, none of `data` was taken.
    ///
    /// # Errors
    ///
    /// The inner writer's error; or an earlier flush was cancelled.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.check()?;
        if self.buf.len() + data.len() > self.cap {
            self.flush_buf().await?;
        }
        if data.len() >= self.cap {
            self.lost = Some(data.len());
            let (result, _) = self.inner.write_all(data.to_vec()).await;
            self.lost = None;
            return result;
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Writes everything buffered to the inner writer.
    ///
    /// # Errors
    ///
    /// The inner writer's error (the unwritten bytes stay buffered;
    /// [`io::ErrorKind::WriteZero`] if it accepts no more); or an earlier
    /// flush was cancelled (see the type's docs).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        self.flush_buf().await
    }

    /// Reports, once, a write whose future was dropped part-way.
    fn check(&mut self) -> io::Result<()> {
        match self.lost.take() {
            None => Ok(()),
            Some(n) => Err(io::Error::other(format!(
                "a write of {n} bytes through this BufWriter was cancelled part-way; \
                 how much of it reached the stream is unknown"
            ))),
        }
    }

    async fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut buf = mem::take(&mut self.buf);
        let len = buf.len();
        let mut written = 0;
        self.lost = Some(len);
        let result = loop {
            if written >= len {
                break Ok(());
            }
            let (result, slice) = self.inner.write(buf.slice(written..len)).await;
            buf = slice.into_inner();
            match result {
                Ok(0) => {
                    break Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the stream accepted no more bytes; the rest stays buffered",
                    ));
                }
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => break Err(err),
            }
        };
        self.lost = None;
        buf.drain(..written.min(len));
        if buf.capacity() < self.cap {
            buf.reserve(self.cap.saturating_sub(buf.len()));
        }
        self.buf = buf;
        result
    }
}

impl<W: fmt::Debug> fmt::Debug for BufWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufWriter")
            .field("inner", &self.inner)
            .field("buffered", &self.buf.len())
            .field("capacity", &self.cap)
            .finish()
    }
}
