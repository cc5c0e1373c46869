//! `copy`: from a reader to a writer until the end of the stream.

use std::io;

use super::{AsyncReadOwned, AsyncWriteOwned};

/// Size of the buffer [`copy`] moves data through.
const COPY_BUF_SIZE: usize = 64 * 1024;

/// Copies everything from `reader` to `writer` until the reader's end of
/// stream, through one owned 64 KiB buffer; returns how many bytes.
///
/// It does not close or shut down the writer.
///
/// ```
/// use ringloop::io::{copy, pipe};
///
/// ringloop::run(async {
///     let (r1, w1) = pipe().unwrap();
///     let (r2, w2) = pipe().unwrap();
///     w1.write_all(b"through two pipes".to_vec()).await.0.unwrap();
///     drop(w1);
///     assert_eq!(copy(&r1, &w2).await.unwrap(), 17);
///     drop(w2);
///     let (n, buf) = r2.read(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..n.unwrap()], b"through two pipes");
/// });
/// ```
///
/// If the future is dropped part-way, the bytes read but not yet written
/// are lost; the count of those written is not reported.
///
/// # Errors
///
/// The first read or write error (reads interrupted with `EINTR` are
/// retried); [`io::ErrorKind::WriteZero`] if the writer accepts no more.
pub async fn copy<R, W>(reader: &R, writer: &W) -> io::Result<u64>
where
    R: AsyncReadOwned + ?Sized,
    W: AsyncWriteOwned + ?Sized,
{
    let mut buf: Vec<u8> = Vec::with_capacity(COPY_BUF_SIZE);
    let mut total = 0u64;
    loop {
        buf.clear();
        let (result, b) = reader.read(buf).await;
        buf = b;
        let n = match result {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        buf.truncate(n);
        let (result, b) = writer.write_all(buf).await;
        buf = b;
        result?;
        total += n as u64;
    }
}
