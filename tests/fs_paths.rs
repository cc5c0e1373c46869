//! The path functions of `ringloop::fs` on a real temporary directory:
//! read, write, remove_file, rename, create_dir, create_dir_all,
//! remove_dir, metadata, symlink_metadata — their results, and their
//! errors (`NotFound` naming the path, `InvalidInput` for a NUL byte).

mod util;

use std::io::ErrorKind;
use std::path::Path;

use ringloop::fs;

/// Asserts `err` is `kind` and its message names `path`.
fn assert_err(err: &std::io::Error, kind: ErrorKind, path: &Path) {
    assert_eq!(err.kind(), kind, "{err}");
    let path = path.to_str().unwrap();
    assert!(
        err.to_string().contains(path),
        "the message names the path {path:?}: {err}"
    );
}

#[test]
fn write_then_read() {
    let dir = util::TempDir::new("fs-rw");
    let path = dir.join("file.txt");
    ringloop::run(async {
        fs::write(&path, "a str").await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"a str");
        fs::write(&path, String::from("a String")).await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"a String");
        fs::write(&path, vec![1u8, 2, 3].into_boxed_slice())
            .await
            .unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), [1, 2, 3]);

        // A write truncates what was there.
        fs::write(&path, b"x".to_vec()).await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"x");

        // Empty contents: an empty file.
        fs::write(&path, Vec::new()).await.unwrap();
        assert_eq!(fs::metadata(&path).await.unwrap().len(), 0);
        assert!(fs::read(&path).await.unwrap().is_empty());

        // Larger than any single read: 5 MiB plus a tail, read whole.
        let big = util::ByteStream::new(51).take((5 << 20) + 12_345);
        fs::write(&path, big.clone()).await.unwrap();
        let got = util::within(30, "read", fs::read(&path)).await.unwrap();
        assert!(got == big, "fs::read returned different bytes");
        assert_eq!(std::fs::read(&path).unwrap().len(), big.len());
    });
}

#[test]
fn missing_paths_are_not_found_naming_the_path() {
    let dir = util::TempDir::new("fs-missing");
    let missing = dir.join("missing");
    let in_missing = dir.join("missing-dir").join("file");
    ringloop::run(async {
        assert_err(
            &fs::read(&missing).await.unwrap_err(),
            ErrorKind::NotFound,
            &missing,
        );
        assert_err(
            &fs::metadata(&missing).await.unwrap_err(),
            ErrorKind::NotFound,
            &missing,
        );
        assert_err(
            &fs::symlink_metadata(&missing).await.unwrap_err(),
            ErrorKind::NotFound,
            &missing,
        );
        assert_err(
            &fs::remove_file(&missing).await.unwrap_err(),
            ErrorKind::NotFound,
            &missing,
        );
        assert_err(
            &fs::remove_dir(&missing).await.unwrap_err(),
            ErrorKind::NotFound,
            &missing,
        );
        assert_err(
            &fs::rename(&missing, dir.join("to")).await.unwrap_err(),
            ErrorKind::NotFound,
            &missing,
        );
        assert_err(
            &fs::write(&in_missing, "x").await.unwrap_err(),
            ErrorKind::NotFound,
            &in_missing,
        );
        assert_err(
            &fs::create_dir(&in_missing).await.unwrap_err(),
            ErrorKind::NotFound,
            &in_missing,
        );
    });
}

#[test]
fn nul_byte_is_invalid_input() {
    let dir = util::TempDir::new("fs-nul");
    let good = dir.join("good");
    std::fs::write(&good, b"keep").unwrap();
    let bad = dir.join("bad\0name");
    ringloop::run(async {
        let errors = [
            ("read", fs::read(&bad).await.unwrap_err()),
            ("write", fs::write(&bad, "x").await.unwrap_err()),
            ("remove_file", fs::remove_file(&bad).await.unwrap_err()),
            ("remove_dir", fs::remove_dir(&bad).await.unwrap_err()),
            ("create_dir", fs::create_dir(&bad).await.unwrap_err()),
            (
                "create_dir_all",
                fs::create_dir_all(&bad).await.unwrap_err(),
            ),
            ("metadata", fs::metadata(&bad).await.unwrap_err()),
            (
                "symlink_metadata",
                fs::symlink_metadata(&bad).await.unwrap_err(),
            ),
            ("rename from", fs::rename(&bad, &good).await.unwrap_err()),
            ("rename to", fs::rename(&good, &bad).await.unwrap_err()),
        ];
        for (what, err) in errors {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{what}: {err}");
        }
        assert_eq!(fs::read(&good).await.unwrap(), b"keep", "untouched");
    });
}

#[test]
fn remove_file() {
    let dir = util::TempDir::new("fs-rm");
    let path = dir.join("f");
    ringloop::run(async {
        fs::write(&path, "x").await.unwrap();
        fs::remove_file(&path).await.unwrap();
        assert!(!path.exists());
        assert_err(
            &fs::remove_file(&path).await.unwrap_err(),
            ErrorKind::NotFound,
            &path,
        );
        // Not for directories.
        let sub = dir.join("sub");
        fs::create_dir(&sub).await.unwrap();
        let err = fs::remove_file(&sub).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
        assert!(sub.is_dir());
    });
}

#[test]
fn rename() {
    let dir = util::TempDir::new("fs-rename");
    let (a, b) = (dir.join("a"), dir.join("b"));
    ringloop::run(async {
        fs::write(&a, "contents of a").await.unwrap();
        fs::rename(&a, &b).await.unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&b).await.unwrap(), b"contents of a");

        // Replaces an existing target.
        fs::write(&a, "new a").await.unwrap();
        fs::rename(&a, &b).await.unwrap();
        assert_eq!(fs::read(&b).await.unwrap(), b"new a");

        // Directories too.
        let (d1, d2) = (dir.join("d1"), dir.join("d2"));
        fs::create_dir(&d1).await.unwrap();
        fs::write(d1.join("inner"), "i").await.unwrap();
        fs::rename(&d1, &d2).await.unwrap();
        assert_eq!(fs::read(d2.join("inner")).await.unwrap(), b"i");
    });
}

#[test]
fn create_dir_and_remove_dir() {
    let dir = util::TempDir::new("fs-dirs");
    let sub = dir.join("sub");
    ringloop::run(async {
        fs::create_dir(&sub).await.unwrap();
        assert!(fs::metadata(&sub).await.unwrap().is_dir());
        assert_err(
            &fs::create_dir(&sub).await.unwrap_err(),
            ErrorKind::AlreadyExists,
            &sub,
        );

        fs::write(sub.join("f"), "x").await.unwrap();
        let err = fs::remove_dir(&sub).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty, "{err}");
        let err = fs::remove_dir(sub.join("f")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotADirectory, "{err}");

        fs::remove_file(sub.join("f")).await.unwrap();
        fs::remove_dir(&sub).await.unwrap();
        assert!(!sub.exists());
    });
}

#[test]
fn create_dir_all() {
    let dir = util::TempDir::new("fs-dir-all");
    let deep = dir.join("a").join("b").join("c");
    ringloop::run(async {
        fs::create_dir_all(&deep).await.unwrap();
        assert!(fs::metadata(&deep).await.unwrap().is_dir());
        assert!(dir.join("a/b").is_dir());
        // Again: nothing to do, no error.
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(dir.path()).await.unwrap();

        // A file in the way is an error, not a panic.
        let file = dir.join("a/file");
        fs::write(&file, "x").await.unwrap();
        let err = fs::create_dir_all(file.join("below")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotADirectory, "{err}");
    });
}

/// `create_dir_all` promises a directory at `path` ("the first error other
/// than `AlreadyExists` for a directory"). When a regular file is already
/// there, `mkdir` fails with `EEXIST`; that must come back as
/// `AlreadyExists`, like std. (Regression: it used to be swallowed, and
/// `Ok` returned though no directory exists.)
#[test]
fn create_dir_all_on_an_existing_file_fails() {
    let dir = util::TempDir::new("fs-dir-all-file");
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    ringloop::run(async {
        let res = fs::create_dir_all(&file).await;
        assert!(
            fs::metadata(&file).await.unwrap().is_file(),
            "still a file, not a directory"
        );
        let err = res.expect_err("no directory was created, so this must fail");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    });
}

#[test]
fn metadata_of_files_dirs_and_links() {
    let dir = util::TempDir::new("fs-meta");
    let file = dir.join("file");
    let link = dir.join("link");
    ringloop::run(async {
        fs::write(&file, vec![0u8; 12_345]).await.unwrap();
        let meta = fs::metadata(&file).await.unwrap();
        assert!(meta.is_file());
        assert!(!meta.is_dir());
        assert_eq!(meta.len(), 12_345);
        assert!(!meta.is_empty());
        let std_meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.ino(), std::os::unix::fs::MetadataExt::ino(&std_meta));
        assert_eq!(meta.modified().unwrap(), std_meta.modified().unwrap());

        let meta = fs::metadata(dir.path()).await.unwrap();
        assert!(meta.is_dir());
        assert!(!meta.is_file());

        std::os::unix::fs::symlink(&file, &link).unwrap();
        let followed = fs::metadata(&link).await.unwrap();
        assert!(followed.is_file());
        assert_eq!(followed.len(), 12_345);
        let own = fs::symlink_metadata(&link).await.unwrap();
        assert!(own.is_symlink());
        assert!(!own.is_file());
    });
}
