//! When io_uring is refused, `Runtime::new()` returns an error that keeps
//! the errno and names the cause and the fix — never a panic. The refusal
//! is real: a child process (this test binary, re-executed) installs a
//! seccomp filter that makes `io_uring_setup` fail, then builds a runtime.

use std::process::Command;

use ringloop::runtime::{Cause, SetupError};

const CHILD_ENV: &str = "RINGLOOP_SECCOMP_CHILD_ERRNO";

/// Makes every later `io_uring_setup` in this thread fail with `errno`.
#[cfg(target_arch = "x86_64")]
fn refuse_io_uring_setup(errno: u32) {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let ld_arch = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let mut filter = [
        // seccomp_data: nr at offset 0, arch at offset 4.
        stmt(ld_arch, 4),
        jump(jeq, AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld_arch, 0),
        jump(jeq, libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | errno),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; `prog` points to a valid BPF program that
    // outlives the call (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &raw const prog
            ),
            0,
            "installing the seccomp filter failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The child's side: runs only when re-executed with `CHILD_ENV` set.
#[test]
#[cfg(target_arch = "x86_64")]
fn child_builds_runtime_under_seccomp() {
    let Ok(errno) = std::env::var(CHILD_ENV) else {
        return; // not the child
    };
    let errno: u32 = errno.parse().unwrap();
    refuse_io_uring_setup(errno);
    let err = ringloop::Runtime::new().expect_err("io_uring_setup is refused");
    let setup = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<SetupError>())
        .expect("the io::Error carries a SetupError");
    assert_eq!(setup.raw_os_error(), errno as i32);
    println!("CAUSE={:?}", setup.cause());
    println!("MESSAGE={err}");
}

#[cfg(target_arch = "x86_64")]
fn run_child(errno: i32) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_builds_runtime_under_seccomp",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, errno.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
#[cfg(target_arch = "x86_64")]
fn seccomp_eperm_is_explained() {
    let out = run_child(libc::EPERM);
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
    if sysctl.trim() == "0" || sysctl.is_empty() {
        assert!(out.contains("CAUSE=Seccomp"), "{out}");
        assert!(out.contains("seccomp"), "{out}");
        assert!(
            out.contains("io_uring_setup"),
            "the fix names the syscalls: {out}"
        );
    }
    assert!(
        out.contains("Operation not permitted"),
        "the errno is kept: {out}"
    );
}

#[test]
#[cfg(target_arch = "x86_64")]
fn seccomp_enosys_is_explained() {
    let out = run_child(libc::ENOSYS);
    assert!(out.contains("CAUSE=Unavailable"), "{out}");
    assert!(out.contains("CONFIG_IO_URING"), "{out}");
}

#[test]
fn causes_are_public_and_comparable() {
    // The mapping itself (errno + sysctl -> cause) is unit-tested in
    // src/driver/setup.rs; here, that callers can match on causes.
    let all = [
        Cause::DisabledBySysctl,
        Cause::RestrictedToGroup,
        Cause::Seccomp,
        Cause::Unavailable,
        Cause::MemoryLimit,
        Cause::KernelTooOld,
        Cause::TooManyFiles,
    ];
    assert_eq!(all.iter().filter(|c| **c == Cause::Seccomp).count(), 1);
}
