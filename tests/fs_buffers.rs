//! Owned buffers on real files: `IoBuf::slice` clamps any range (no
//! panic) and I/O on a slice touches only its range; every buffer type
//! works — Vec, Box<[u8]>, &'static [u8], &'static str, String and [u8; N]
//! for writes, Vec, Box<[u8]> and [u8; N] for reads.

mod util;

use std::ops::Bound;

use ringloop::buf::{IoBuf, IoBufMut};
use ringloop::fs::{File, OpenOptions};

async fn rw_file(path: &std::path::Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .open(path)
        .await
        .unwrap()
}

#[test]
#[allow(clippy::reversed_empty_ranges, reason = "inverted ranges on purpose")]
fn slice_clamps_out_of_range_and_inverted_ranges() {
    let buf = *b"0123456789";
    let s = buf.slice(5..100);
    assert_eq!((s.begin(), s.end()), (5, 10), "end clamped to the capacity");
    assert_eq!(&s[..], b"56789");
    assert_eq!(s.bytes_total(), 5);

    let s = buf.slice(8..3);
    assert_eq!((s.begin(), s.end()), (8, 8), "inverted range is empty");
    assert!(s.is_empty());
    assert_eq!(s.bytes_init(), 0);

    let s = buf.slice(20..);
    assert_eq!((s.begin(), s.end()), (10, 10), "start past the end");
    assert_eq!(s.bytes_total(), 0);

    let s = buf.slice(..=usize::MAX);
    assert_eq!(
        (s.begin(), s.end()),
        (0, 10),
        "inclusive usize::MAX saturates"
    );

    let s = buf.slice((Bound::Excluded(usize::MAX), Bound::Unbounded));
    assert_eq!(
        (s.begin(), s.end()),
        (10, 10),
        "excluded usize::MAX saturates"
    );

    let s = buf.slice((Bound::Excluded(2), Bound::Included(4)));
    assert_eq!(&s[..], b"34");

    let s = buf.slice(..);
    assert_eq!(&s[..], b"0123456789");
    assert_eq!(s.into_inner(), buf, "into_inner gives the whole buffer");

    // A Vec's range is over its capacity; only the initialized part reads.
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(b"abc");
    let cap = v.capacity();
    let s = v.slice(1..);
    assert_eq!((s.begin(), s.end()), (1, cap));
    assert_eq!(s.bytes_init(), 2);
    assert_eq!(&s[..], b"bc");
    let s = s.into_inner().slice(10..usize::MAX);
    assert_eq!(s.bytes_init(), 0);
    assert!(s.is_empty(), "nothing initialized in that range");
}

#[test]
#[allow(clippy::reversed_empty_ranges, reason = "inverted ranges on purpose")]
fn io_on_slices_touches_only_the_range() {
    let dir = util::TempDir::new("buf-slice");
    let path = dir.join("f");
    ringloop::run(async {
        let file = rw_file(&path).await;
        let (res, back) = file.write_at(b"hello world".to_vec().slice(6..), 0).await;
        let n = res.unwrap();
        util::assert_transfer(n, 5);
        assert_eq!((back.begin(), back.end()), (6, 11));
        // The rest (under fault injection), through a slice of the slice.
        let (res, back) = file.write_all_at(back.slice(n..), n as u64).await;
        res.unwrap();
        assert_eq!(back.into_inner().into_inner(), b"hello world");
        let (res, _) = file.write_at(b"abc".to_vec().slice(1..2), 5).await;
        assert_eq!(res.unwrap(), 1);
        // Out-of-range and inverted slices write nothing, without error.
        let (res, _) = file.write_at(b"abc".to_vec().slice(10..20), 0).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file.write_at(b"abc".to_vec().slice(2..1), 0).await;
        assert_eq!(res.unwrap(), 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"worldb");

        // A read into a slice fills that range only.
        let (res, s) = file.read_at(vec![b'.'; 10].slice(3..7), 0).await;
        let n = res.unwrap();
        util::assert_transfer(n, 4);
        assert_eq!(&s[..n], &b"worl"[..n]);
        assert_eq!(&s.into_inner()[7..], b"...", "nothing past the range");
        let (res, s) = file.read_exact_at(vec![b'.'; 10].slice(3..7), 0).await;
        res.unwrap();
        assert_eq!(&s[..], b"worl");
        assert_eq!(s.into_inner(), b"...worl...");
        let (res, s) = file.read_exact_at([0u8; 8].slice(6..100), 0).await;
        res.unwrap();
        assert_eq!(s.into_inner(), *b"\0\0\0\0\0\0wo");
        let (res, s) = file.read_at(vec![1u8; 4].slice(4..), 0).await;
        assert_eq!(res.unwrap(), 0, "an empty slice reads nothing");
        assert_eq!(s.into_inner(), [1, 1, 1, 1]);

        // A Vec read into its spare capacity grows its len with the data.
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"AB");
        let (res, s) = file.read_exact_at(v.slice(2..5), 0).await;
        res.unwrap();
        assert_eq!(s.into_inner(), b"ABwor");
        file.close().await.unwrap();
    });
}

#[test]
fn every_buffer_type_writes() {
    let dir = util::TempDir::new("buf-write");
    let path = dir.join("f");
    ringloop::run(async {
        let file = rw_file(&path).await;
        let mut pos = 0u64;
        let (res, b) = file.write_all_at(b"vec|".to_vec(), pos).await;
        res.unwrap();
        assert_eq!(b, b"vec|");
        pos += 4;
        let (res, b) = file
            .write_all_at(Box::<[u8]>::from(&b"box|"[..]), pos)
            .await;
        res.unwrap();
        assert_eq!(&*b, b"box|");
        pos += 4;
        let (res, _) = file.write_all_at(&b"static-bytes|"[..], pos).await;
        res.unwrap();
        pos += 13;
        let (res, b) = file.write_all_at("static-str|", pos).await;
        res.unwrap();
        assert_eq!(b, "static-str|");
        pos += 11;
        let (res, b) = file.write_all_at(String::from("string|"), pos).await;
        res.unwrap();
        assert_eq!(b, "string|");
        pos += 7;
        let (res, b) = file.write_all_at(*b"array", pos).await;
        res.unwrap();
        assert_eq!(&b, b"array");
        // write_at too (one call each).
        let (res, _) = file.write_at(*b"!", pos + 5).await;
        assert_eq!(res.unwrap(), 1);
        let (res, _) = file.write_at("?", pos + 6).await;
        assert_eq!(res.unwrap(), 1);
        file.sync_data().await.unwrap();
        file.close().await.unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"vec|box|static-bytes|static-str|string|array!?"
        );
    });
}

#[test]
fn every_buffer_type_reads() {
    let dir = util::TempDir::new("buf-read");
    let path = dir.join("f");
    std::fs::write(&path, b"0123456789abcdef").unwrap();
    ringloop::run(async {
        let file = File::open(&path).await.unwrap();

        let (res, v) = file.read_at(Vec::with_capacity(4), 0).await;
        let n = res.unwrap();
        util::assert_transfer(n, 4);
        assert_eq!(v, &b"0123"[..n]);
        let (res, v) = file.read_exact_at(Vec::with_capacity(6), 4).await;
        res.unwrap();
        assert_eq!(v, b"456789");

        let (res, b) = file.read_at(vec![0u8; 3].into_boxed_slice(), 10).await;
        let n = res.unwrap();
        util::assert_transfer(n, 3);
        assert_eq!(&b[..n], &b"abc"[..n]);
        let (res, b) = file
            .read_exact_at(vec![0u8; 16].into_boxed_slice(), 0)
            .await;
        res.unwrap();
        assert_eq!(&*b, b"0123456789abcdef");

        let (res, a) = file.read_at([0u8; 5], 11).await;
        let n = res.unwrap();
        util::assert_transfer(n, 5);
        assert_eq!(&a[..n], &b"bcdef"[..n]);
        let (res, a) = file.read_exact_at([0u8; 2], 14).await;
        res.unwrap();
        assert_eq!(&a, b"ef");

        // A large array moves into the op's state and back intact.
        let (res, a) = file.read_at([0xEEu8; 4096], 0).await;
        let n = res.unwrap();
        util::assert_transfer(n, 16);
        assert_eq!(&a[..n], &b"0123456789abcdef"[..n]);
        assert!(a[n..].iter().all(|&b| b == 0xEE), "the rest untouched");

        // readv with array buffers.
        let (res, bufs) = file.readv_at(vec![[0u8; 3], [0u8; 3]], 1).await;
        assert_eq!(res.unwrap(), 6);
        assert_eq!(bufs, [*b"123", *b"456"]);
        file.close().await.unwrap();
    });
}

/// Reading into `v.slice(8..)` of a `Vec` with `len() == 0` must not make
/// `v.len()` cover bytes 0..8, which nobody initialized: safe code could
/// then read uninitialized memory (UB). (Regression: `Slice::set_init` used
/// to call the Vec's `set_init(begin + n)`, whose contract — "the first
/// `pos` bytes are initialized" — does not hold for `0..begin`; the gap is
/// now zeroed.)
///
/// The test pre-fills the spare capacity with 0xAA (so the test itself
/// reads no uninitialized memory) and checks that those never-written
/// bytes are not exposed as the Vec's contents.
#[test]
fn slice_read_past_len_does_not_expose_uninitialized_bytes() {
    let dir = util::TempDir::new("buf-uninit");
    let path = dir.join("f");
    std::fs::write(&path, b"data").unwrap();
    ringloop::run(async {
        let file = File::open(&path).await.unwrap();
        let mut v: Vec<u8> = Vec::with_capacity(16);
        for b in v.spare_capacity_mut() {
            b.write(0xAA);
        }
        assert!(v.is_empty());
        let (res, s) = file.read_at(v.slice(8..), 0).await;
        assert!(res.unwrap() > 0);
        let v = s.into_inner();
        assert!(
            v.is_empty() || v[..8].iter().all(|&b| b == 0),
            "len {} covers bytes nobody wrote: {:x?}",
            v.len(),
            &v[..]
        );
        file.close().await.unwrap();
    });
}

/// A custom buffer type: the traits are public and usable by users.
struct Counted {
    data: Vec<u8>,
}

// SAFETY: delegates to the Vec (stable heap pointer, `len` initialized of
// `capacity`).
unsafe impl IoBuf for Counted {
    fn stable_ptr(&self) -> *const u8 {
        self.data.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.len()
    }
    fn bytes_total(&self) -> usize {
        self.data.capacity()
    }
}

// SAFETY: as above; the kernel's count is forwarded to the Vec.
unsafe impl IoBufMut for Counted {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller guarantees `pos` bytes were written.
        unsafe { self.data.set_init(pos) }
    }
}

#[test]
fn custom_buffer_types() {
    let dir = util::TempDir::new("buf-custom");
    let path = dir.join("f");
    ringloop::run(async {
        let file = rw_file(&path).await;
        let (res, _) = file
            .write_all_at(
                Counted {
                    data: b"custom".to_vec(),
                },
                0,
            )
            .await;
        res.unwrap();
        let (res, c) = file
            .read_at(
                Counted {
                    data: Vec::with_capacity(10),
                },
                0,
            )
            .await;
        let n = res.unwrap();
        util::assert_transfer(n, 6);
        assert_eq!(c.data, &b"custom"[..n]);
        file.close().await.unwrap();
    });
}
