//! Creating the ring: probing what the kernel offers, falling back cleanly,
//! and explaining a refusal.

use std::fmt;
use std::io;

use io_uring::{IoUring, Probe};

/// The kernel's largest submission queue (`IORING_MAX_ENTRIES`); bigger
/// requests are clamped to it (`IORING_SETUP_CLAMP`).
const MAX_SQ_ENTRIES: u32 = 32_768;

/// The kernel's largest completion queue (`IORING_MAX_CQ_ENTRIES`).
const MAX_CQ_ENTRIES: u32 = 2 * MAX_SQ_ENTRIES;

/// What the caller asked for.
#[derive(Clone, Debug)]
pub(crate) struct RingConfig {
    pub(crate) entries: u32,
    pub(crate) cq_entries: Option<u32>,
    pub(crate) sqpoll_idle: Option<u32>,
    /// See `Builder::eager_sends`.
    pub(crate) eager_sends: bool,
    /// See `Builder::spin_before_park`.
    pub(crate) spin_before_park: Option<std::time::Duration>,
}

/// What the ring we got supports.
#[derive(Debug)]
// Read by the opt-in fast paths (multishot, SQPOLL) and by `Debug`.
#[allow(dead_code)]
pub(crate) struct Features {
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
    pub(crate) sqpoll: bool,
    pub(crate) skip_cqe_on_success: bool,
    pub(crate) sq_entries: u32,
    pub(crate) cq_entries: u32,
    probe: Option<Box<Probe>>,
}

impl Features {
    #[allow(dead_code)] // for ops that need probing (multishot, SEND_ZC)
    /// Whether the kernel knows `opcode` (unknown when probing failed:
    /// assume yes and let the op report EINVAL).
    pub(crate) fn supports(&self, opcode: u8) -> bool {
        self.probe.as_ref().is_none_or(|p| p.is_supported(opcode))
    }
}

/// The setup flags tried in order; the first set the kernel accepts wins.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    /// Completions run only when we enter the kernel (no IPIs, no
    /// interruptions of our thread), and the kernel may assume one issuer.
    DeferTaskrun,
    /// Completions run at our next kernel entry, without interrupting us.
    CoopTaskrun,
    Plain,
}

pub(crate) fn build_ring(config: &RingConfig) -> io::Result<(IoUring, Features)> {
    if config.entries == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ringloop: the ring needs at least 1 entry (Builder::entries)",
        ));
    }
    if let Some(cq) = config.cq_entries {
        // The kernel refuses a completion queue smaller than the
        // submission queue (after rounding both up to powers of two and
        // clamping them to its maxima) with EINVAL, which the flag
        // fallback below would take for a missing feature and report as
        // "kernel too old". It is a bad setting: say so.
        let sq = config.entries.min(MAX_SQ_ENTRIES).next_power_of_two();
        let rounded = cq.min(MAX_CQ_ENTRIES).next_power_of_two();
        if cq == 0 || rounded < sq {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ringloop: Builder::cq_entries({cq}) is smaller than the submission \
                     queue ({sq} entries, from Builder::entries); the completion queue \
                     needs at least as many"
                ),
            ));
        }
    }
    let flavors: &[Flavor] = if config.sqpoll_idle.is_some() {
        // SQPOLL and DEFER_TASKRUN exclude each other.
        &[Flavor::CoopTaskrun, Flavor::Plain]
    } else {
        &[Flavor::DeferTaskrun, Flavor::CoopTaskrun, Flavor::Plain]
    };
    let mut last_err = None;
    for &flavor in flavors {
        let mut builder = IoUring::builder();
        if let Some(cq) = config.cq_entries {
            builder.setup_cqsize(cq);
        }
        builder.setup_clamp();
        if let Some(idle) = config.sqpoll_idle {
            builder.setup_sqpoll(idle);
        }
        match flavor {
            Flavor::DeferTaskrun => {
                builder
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            Flavor::CoopTaskrun => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            Flavor::Plain => {}
        }
        match builder.build(config.entries) {
            Ok(ring) => return finish(ring, flavor, config),
            // EINVAL: a flag this kernel does not know; try fewer.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => last_err = Some(err),
            Err(err) => return Err(SetupError::from_errno(err.raw_os_error()).into()),
        }
    }
    let errno = last_err.and_then(|e| e.raw_os_error());
    Err(SetupError::new(Cause::KernelTooOld, errno.unwrap_or(libc::EINVAL)).into())
}

fn finish(ring: IoUring, flavor: Flavor, config: &RingConfig) -> io::Result<(IoUring, Features)> {
    let params = ring.params();
    // NODROP (5.5) keeps completions on CQ overflow; EXT_ARG (5.11) lets a
    // park carry its timeout. Both are load-bearing for correctness.
    if !params.is_feature_nodrop() || !params.is_feature_ext_arg() {
        return Err(SetupError::new(Cause::KernelTooOld, libc::EINVAL).into());
    }
    let mut probe = Probe::new();
    let probe = match ring.submitter().register_probe(&mut probe) {
        Ok(()) => Some(Box::new(probe)),
        Err(_) => None,
    };
    let features = Features {
        single_issuer: matches!(flavor, Flavor::DeferTaskrun),
        defer_taskrun: matches!(flavor, Flavor::DeferTaskrun),
        coop_taskrun: matches!(flavor, Flavor::CoopTaskrun),
        sqpoll: config.sqpoll_idle.is_some(),
        skip_cqe_on_success: params.is_feature_skip_cqe_on_success(),
        sq_entries: params.sq_entries(),
        cq_entries: params.cq_entries(),
        probe,
    };
    Ok((ring, features))
}

/// Why io_uring could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// `kernel.io_uring_disabled = 2`: io_uring is off for everyone.
    DisabledBySysctl,
    /// `kernel.io_uring_disabled = 1`: only members of
    /// `kernel.io_uring_group` (and CAP_SYS_ADMIN) may create rings.
    RestrictedToGroup,
    /// EPERM with the sysctl allowing io_uring: a seccomp filter (container
    /// runtimes' default profiles) or an LSM refused `io_uring_setup`.
    Seccomp,
    /// ENOSYS: the kernel has no io_uring, or a seccomp filter hides it.
    Unavailable,
    /// ENOMEM: the rings could not be allocated; before Linux 5.12 they
    /// count against `RLIMIT_MEMLOCK`.
    MemoryLimit,
    /// The kernel lacks a feature ringloop needs (Linux 5.11 or later).
    KernelTooOld,
    /// The process or system is out of file descriptors.
    TooManyFiles,
    /// Any other errno.
    Other,
}

/// The error inside the `io::Error` that `Runtime::new` returns when
/// io_uring is refused. It keeps the kernel's errno and names the cause and
/// the fix.
///
/// ```
/// # fn main() {
/// match ringloop::Runtime::new() {
///     Ok(_rt) => {}
///     Err(err) => {
///         if let Some(setup) = err.get_ref().and_then(|e| e.downcast_ref::<ringloop::runtime::SetupError>()) {
///             eprintln!("errno {}: {:?}", setup.raw_os_error(), setup.cause());
///         }
///     }
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError {
    cause: Cause,
    errno: i32,
}

impl SetupError {
    pub(crate) fn new(cause: Cause, errno: i32) -> SetupError {
        SetupError { cause, errno }
    }

    fn from_errno(errno: Option<i32>) -> SetupError {
        let errno = errno.unwrap_or(0);
        let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok();
        SetupError::explain(errno, sysctl.as_deref())
    }

    /// Maps an errno from `io_uring_setup` and the content of
    /// `/proc/sys/kernel/io_uring_disabled` (if readable) to a cause.
    pub(crate) fn explain(errno: i32, io_uring_disabled: Option<&str>) -> SetupError {
        let sysctl = io_uring_disabled.map(str::trim);
        let cause = match errno {
            libc::EPERM | libc::EACCES => match sysctl {
                Some("2") => Cause::DisabledBySysctl,
                Some("1") => Cause::RestrictedToGroup,
                _ => Cause::Seccomp,
            },
            libc::ENOSYS => Cause::Unavailable,
            libc::ENOMEM => Cause::MemoryLimit,
            libc::EINVAL => Cause::KernelTooOld,
            libc::EMFILE | libc::ENFILE => Cause::TooManyFiles,
            _ => Cause::Other,
        };
        SetupError { cause, errno }
    }

    /// Why setup failed.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The errno `io_uring_setup` returned.
    pub fn raw_os_error(&self) -> i32 {
        self.errno
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errno = io::Error::from_raw_os_error(self.errno);
        write!(f, "ringloop: io_uring could not be set up ({errno}): ")?;
        match self.cause {
            Cause::DisabledBySysctl => f.write_str(
                "io_uring is disabled system-wide (kernel.io_uring_disabled = 2). \
                 Fix: `sysctl -w kernel.io_uring_disabled=0` as root.",
            ),
            Cause::RestrictedToGroup => f.write_str(
                "io_uring is restricted to one group (kernel.io_uring_disabled = 1). \
                 Fix: add this user to the group in kernel.io_uring_group, \
                 or `sysctl -w kernel.io_uring_disabled=0` as root.",
            ),
            Cause::Seccomp => f.write_str(
                "the kernel allows io_uring, so a seccomp filter or security module refused \
                 io_uring_setup (container runtimes' default profiles do). Fix: allow the \
                 io_uring_setup, io_uring_enter and io_uring_register syscalls in the seccomp \
                 profile (e.g. docker --security-opt seccomp=<profile>).",
            ),
            Cause::Unavailable => f.write_str(
                "io_uring_setup does not exist here: the kernel is built without \
                 CONFIG_IO_URING, or a seccomp filter hides it. Fix: use Linux 5.11 or later \
                 with io_uring enabled, or allow the io_uring syscalls in the seccomp profile.",
            ),
            Cause::MemoryLimit => f.write_str(
                "the rings could not be allocated; before Linux 5.12 they count against the \
                 locked-memory limit. Fix: raise RLIMIT_MEMLOCK (`ulimit -l`), or ask for a \
                 smaller ring with Runtime::builder().entries(n).",
            ),
            Cause::KernelTooOld => f.write_str(
                "this kernel lacks io_uring features ringloop needs (IORING_FEAT_NODROP and \
                 IORING_FEAT_EXT_ARG). Fix: run on Linux 5.11 or later.",
            ),
            Cause::TooManyFiles => f.write_str(
                "out of file descriptors. Fix: close some, or raise RLIMIT_NOFILE (`ulimit -n`).",
            ),
            Cause::Other => f.write_str("unexpected error from io_uring_setup."),
        }
    }
}

impl std::error::Error for SetupError {}

impl From<SetupError> for io::Error {
    fn from(err: SetupError) -> io::Error {
        let kind = io::Error::from_raw_os_error(err.errno).kind();
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_is_told_apart_by_the_sysctl() {
        let cases = [
            (Some("2\n"), Cause::DisabledBySysctl, "io_uring_disabled=0"),
            (Some("1"), Cause::RestrictedToGroup, "io_uring_group"),
            (Some("0"), Cause::Seccomp, "seccomp"),
            (None, Cause::Seccomp, "seccomp"),
        ];
        for (sysctl, cause, fix) in cases {
            let err = SetupError::explain(libc::EPERM, sysctl);
            assert_eq!(err.cause(), cause);
            assert_eq!(err.raw_os_error(), libc::EPERM);
            assert!(err.to_string().contains(fix), "{err}");
        }
    }

    #[test]
    fn other_errnos_name_their_cause_and_keep_the_errno() {
        for (errno, cause, hint) in [
            (libc::ENOSYS, Cause::Unavailable, "CONFIG_IO_URING"),
            (libc::ENOMEM, Cause::MemoryLimit, "RLIMIT_MEMLOCK"),
            (libc::EINVAL, Cause::KernelTooOld, "5.11"),
            (libc::EMFILE, Cause::TooManyFiles, "RLIMIT_NOFILE"),
        ] {
            let err = SetupError::explain(errno, Some("0"));
            assert_eq!(err.cause(), cause);
            let io_err = io::Error::from(err);
            assert_eq!(
                io_err.kind(),
                io::Error::from_raw_os_error(errno).kind(),
                "the io::Error keeps the errno's kind"
            );
            assert!(io_err.to_string().contains(hint), "{io_err}");
            let inner = io_err
                .get_ref()
                .and_then(|e| e.downcast_ref::<SetupError>())
                .map(SetupError::raw_os_error);
            assert_eq!(inner, Some(errno));
        }
    }
}
