//! io::copy: everything from a reader to a writer, byte for byte, through
//! short reads and EINTR; the count is exact.

mod util;

use std::cell::Cell;
use std::io;

use ringloop::buf::IoBufMut;
use ringloop::io::{AsyncReadOwned, PipeReader, copy, pipe};

struct Chunky {
    inner: PipeReader,
    reads: Cell<usize>,
}

impl AsyncReadOwned for Chunky {
    async fn read<B: IoBufMut>(&self, buf: B) -> (io::Result<usize>, B) {
        self.reads.set(self.reads.get() + 1);
        if self.reads.get() % 4 == 0 {
            return (Err(io::ErrorKind::Interrupted.into()), buf);
        }
        let (result, slice) = self.inner.read(buf.slice(..1000)).await;
        (result, slice.into_inner())
    }
}

#[test]
fn copies_a_megabyte_between_pipes_exactly() {
    ringloop::run(util::within(30, "copy", async {
        let mut data = vec![0u8; 1 << 20];
        util::Rng::new(1).fill(&mut data);
        let (r1, w1) = pipe().unwrap();
        let (r2, w2) = pipe().unwrap();
        let expected = data.clone();
        let feeder = ringloop::spawn(async move {
            w1.write_all(data).await.0.unwrap();
        });
        let collector = ringloop::spawn(async move {
            let mut out = Vec::new();
            loop {
                let (n, buf) = r2.read(Vec::with_capacity(65536)).await;
                let n = n.unwrap();
                if n == 0 {
                    return out;
                }
                out.extend_from_slice(&buf[..n]);
            }
        });
        let reader = Chunky {
            inner: r1,
            reads: Cell::new(0),
        };
        let n = copy(&reader, &w2).await.unwrap();
        assert_eq!(n, 1 << 20);
        drop(w2);
        feeder.await.unwrap();
        assert!(collector.await.unwrap() == expected);
        assert!(reader.reads.get() > 1000);
    }));
}

#[test]
fn copy_of_an_empty_stream_is_zero() {
    ringloop::run(util::within(10, "empty", async {
        let (r, w) = pipe().unwrap();
        drop(w);
        let (_r2, w2) = pipe().unwrap();
        assert_eq!(copy(&r, &w2).await.unwrap(), 0);
    }));
}

#[test]
fn a_write_error_stops_the_copy() {
    ringloop::run(util::within(10, "write error", async {
        let (r, w) = pipe().unwrap();
        w.write_all(b"data".to_vec()).await.0.unwrap();
        drop(w);
        let (r2, w2) = pipe().unwrap();
        drop(r2); // EPIPE on write (Rust programs ignore SIGPIPE)
        let err = copy(&r, &w2).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }));
}
