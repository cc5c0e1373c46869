//! `File` on real temporary files: open/create, OpenOptions (and its
//! errors), positional reads and writes (short, exact, vectored, past EOF),
//! sync, metadata, close, std conversions, and zero-length buffers.

mod util;

use std::io::ErrorKind;

use ringloop::buf::IoBuf;
use ringloop::fs::{File, OpenOptions};

#[test]
fn create_write_read_close() {
    let dir = util::TempDir::new("fs-file");
    let path = dir.join("data");
    ringloop::run(async {
        let file = File::create(&path).await.unwrap();
        let (res, buf) = file.write_at(b"hello world".to_vec(), 0).await;
        let n = res.unwrap();
        util::assert_transfer(n, 11);
        assert_eq!(buf, b"hello world", "the buffer comes back");
        let (res, _) = file.write_all_at(buf.slice(n..), n as u64).await;
        res.unwrap();
        let (res, _) = file.write_at(b"W".to_vec(), 6).await;
        assert_eq!(res.unwrap(), 1);
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();
        let meta = file.metadata().await.unwrap();
        assert_eq!(meta.len(), 11);
        assert!(meta.is_file());
        assert!(!meta.is_dir());
        util::within(10, "close", file.close()).await.unwrap();

        assert_eq!(std::fs::read(&path).unwrap(), b"hello World");

        let file = File::open(&path).await.unwrap();
        let (res, buf) = file.read_at(Vec::with_capacity(5), 6).await;
        let n = res.unwrap();
        util::assert_transfer(n, 5);
        assert_eq!(buf, &b"World"[..n]);
        // Short read at the tail, then 0 at and past EOF.
        let (res, buf) = file.read_at(Vec::with_capacity(100), 8).await;
        let n = res.unwrap();
        util::assert_transfer(n, 3);
        assert_eq!(buf, &b"rld"[..n]);
        let (res, buf) = file.read_at(Vec::with_capacity(100), 11).await;
        assert_eq!(res.unwrap(), 0, "read at EOF returns 0");
        assert!(buf.is_empty());
        let (res, _) = file.read_at(Vec::with_capacity(100), 1 << 40).await;
        assert_eq!(res.unwrap(), 0, "read far past EOF returns 0");

        // A file opened for reading only cannot be written.
        let (res, _) = file.write_at(b"nope".to_vec(), 0).await;
        assert!(res.is_err(), "write to a read-only file must fail");
        file.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello World");
    });
}

#[test]
fn write_all_at_and_read_exact_at() {
    let dir = util::TempDir::new("fs-exact");
    let path = dir.join("big");
    ringloop::run(async {
        let data = util::ByteStream::new(41).take(3 << 20);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (res, back) = util::within(30, "write_all_at", file.write_all_at(data, 4096)).await;
        res.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 4096 + (3 << 20));

        let (res, got) = util::within(
            30,
            "read_exact_at",
            file.read_exact_at(Vec::with_capacity(3 << 20), 4096),
        )
        .await;
        res.unwrap();
        assert!(got == back, "read back differs");
        // The hole before 4096 reads as zeros.
        let (res, hole) = file.read_exact_at(vec![0xffu8; 4096], 0).await;
        res.unwrap();
        assert!(hole.iter().all(|&b| b == 0));

        // read_exact_at across EOF: UnexpectedEof, with what was there.
        let end = 4096 + (3u64 << 20);
        let (res, buf) = file.read_exact_at(Vec::with_capacity(100), end - 10).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..], &back[back.len() - 10..]);
        let (res, _) = file.read_exact_at(Vec::with_capacity(1), end).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        file.close().await.unwrap();
    });
}

#[test]
fn vectored_at() {
    let dir = util::TempDir::new("fs-vec");
    let path = dir.join("v");
    ringloop::run(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (res, bufs) = file
            .writev_at(vec![b"abc".to_vec(), Vec::new(), b"defg".to_vec()], 2)
            .await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(bufs.len(), 3);
        let (res, bufs) = file
            .readv_at(
                vec![
                    Vec::with_capacity(2),
                    Vec::with_capacity(4),
                    Vec::with_capacity(10),
                ],
                0,
            )
            .await;
        assert_eq!(res.unwrap(), 9);
        assert_eq!(bufs[0], b"\0\0");
        assert_eq!(bufs[1], b"abcd");
        assert_eq!(bufs[2], b"efg");
        file.close().await.unwrap();
    });
}

#[test]
fn open_options() {
    let dir = util::TempDir::new("fs-options");
    let path = dir.join("f");
    ringloop::run(async {
        // create_new: creates once, then AlreadyExists.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = file.write_all_at(b"0123456789".to_vec(), 0).await;
        res.unwrap();
        file.close().await.unwrap();
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");

        // Without create a missing file is NotFound.
        let missing = dir.join("missing");
        let err = OpenOptions::new()
            .write(true)
            .open(&missing)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

        // append: writes land at the end, whatever the position asked.
        let file = OpenOptions::new().append(true).open(&path).await.unwrap();
        let (res, _) = file.write_all_at(b"AB".to_vec(), 0).await;
        res.unwrap();
        file.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789AB");

        // truncate empties an existing file; create keeps its contents.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 12);
        file.close().await.unwrap();
        let file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 0);
        file.close().await.unwrap();

        // mode applies to created files (before the umask, which never
        // adds permissions).
        let private = dir.join("private");
        let file = File::options()
            .write(true)
            .create(true)
            .mode(0o600)
            .open(&private)
            .await
            .unwrap();
        let mode = file.metadata().await.unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0);
        file.close().await.unwrap();
    });
}

#[test]
fn contradictory_options_are_invalid_input() {
    let dir = util::TempDir::new("fs-contra");
    let path = dir.join("never");
    ringloop::run(async {
        let cases = util::contradictory_open_options();
        for (what, options) in cases {
            let err = options.open(&path).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        }
        assert!(!path.exists(), "no contradictory open created the file");
    });
}

#[test]
fn missing_file_is_not_found_with_the_path() {
    let dir = util::TempDir::new("fs-missing");
    let path = dir.join("no-such-file");
    ringloop::run(async {
        let err = File::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
        assert_eq!(
            util::errno_of(&err),
            Some(libc::ENOENT),
            "the kernel's errno is kept"
        );
        let err = File::create(dir.join("no-dir/file")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("no-dir/file"), "{err}");
    });
}

#[test]
fn nul_byte_in_path_is_invalid_input() {
    ringloop::run(async {
        let err = File::open("bad\0path").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = File::create("bad\0path").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

#[test]
fn zero_length_buffers_and_empty_slices() {
    let dir = util::TempDir::new("fs-zero");
    let path = dir.join("z");
    ringloop::run(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = file.write_at(Vec::new(), 0).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file.write_at(&b""[..], 5).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file.write_all_at(String::new(), 0).await;
        res.unwrap();
        let (res, _) = file.writev_at(Vec::<Vec<u8>>::new(), 0).await;
        assert_eq!(res.unwrap(), 0);
        assert_eq!(file.metadata().await.unwrap().len(), 0, "nothing written");

        let (res, _) = file.write_all_at(b"data".to_vec(), 0).await;
        res.unwrap();
        let (res, buf) = file.read_at(Vec::new(), 0).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty());
        let (res, _) = file.read_at([0u8; 0], 0).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file.read_exact_at(Vec::new(), 100).await;
        res.unwrap();
        let (res, _) = file.readv_at(Vec::<Vec<u8>>::new(), 0).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file.readv_at(vec![Vec::new(), Vec::new()], 0).await;
        assert_eq!(res.unwrap(), 0);
        file.close().await.unwrap();
    });
}

#[test]
fn std_conversions() {
    let dir = util::TempDir::new("fs-std");
    let path = dir.join("s");
    ringloop::run(async {
        use std::io::{Read, Seek, Write};
        let mut std_file = std::fs::File::create(&path).unwrap();
        std_file.write_all(b"from std").unwrap();
        let file = File::from_std(std::fs::File::open(&path).unwrap());
        let (res, buf) = file.read_exact_at(Vec::with_capacity(8), 0).await;
        res.unwrap();
        assert_eq!(buf, b"from std");
        let mut std_back = file.into_std().unwrap();
        std_back.rewind().unwrap();
        let mut s = String::new();
        std_back.read_to_string(&mut s).unwrap();
        assert_eq!(s, "from std");
    });
}

/// `u64::MAX` is io_uring's "use the file position" offset. A positional
/// write there must not silently land at the current position (offset 0):
/// like `pwrite` (`EINVAL`), every offset beyond `i64::MAX` is
/// `InvalidInput`. (Regression: `u64::MAX` used to read and write at 0.)
#[test]
fn position_u64_max_is_not_the_current_position() {
    let dir = util::TempDir::new("fs-max");
    let path = dir.join("m");
    std::fs::write(&path, b"precious").unwrap();
    ringloop::run(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        // Every offset past i64::MAX is invalid; u64::MAX must be too.
        for pos in [1 << 63, u64::MAX - 1, u64::MAX] {
            let (res, _) = file.read_at(Vec::with_capacity(8), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "{pos}");
            let (res, _) = file.write_at(b"CLOBBER!".to_vec(), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "{pos}");
        }
        let (res, buf) = file.read_at(Vec::with_capacity(8), u64::MAX).await;
        assert!(
            !matches!(res, Ok(n) if n > 0),
            "read_at(u64::MAX) returned data from offset 0: {:?}",
            String::from_utf8_lossy(&buf)
        );
        let (res, _) = file.write_at(b"CLOBBER!".to_vec(), u64::MAX).await;
        assert!(!matches!(res, Ok(n) if n > 0), "write_at(u64::MAX) wrote");
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"precious", "file clobbered");
}

/// `read_exact_at`/`write_all_at` near the top of the offset range must
/// return an error, not panic on `pos + done` overflowing ("the library
/// never panics on bad input"). (Regression: they used to panic.)
#[test]
fn exact_ops_at_u64_max_do_not_panic() {
    let dir = util::TempDir::new("fs-max-exact");
    let path = dir.join("m");
    std::fs::write(&path, b"precious data").unwrap();
    ringloop::run(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let task = ringloop::spawn(async move {
            let (res, _) = file.read_exact_at(Vec::with_capacity(20), u64::MAX).await;
            assert!(res.is_err());
            let (res, _) = file.write_all_at(b"x".repeat(20), u64::MAX).await;
            assert!(res.is_err());
        });
        if let Err(err) = task.await {
            assert!(!err.is_panic(), "read_exact_at/write_all_at panicked");
        }
    });
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"precious data",
        "file clobbered"
    );
}
