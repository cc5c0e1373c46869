//! Process plumbing shared by the servers, the load generator and the
//! driver: limits, signals, clocks and `/proc` readers.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Raises `RLIMIT_NOFILE` to at least `want` where possible (the hard limit
/// too when running as root) and returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    if lim.rlim_max < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        // SAFETY: `raised` is a valid rlimit; failure (not root) is fine.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return want;
        }
    }
    let soft = libc::rlimit {
        rlim_cur: want.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `soft` is a valid rlimit no larger than the hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
        soft.rlim_cur
    } else {
        lim.rlim_cur
    }
}

extern "C" fn exit_now(_sig: libc::c_int) {
    // SAFETY: `_exit` is async-signal-safe; it ends the process at once
    // with status 0 (the kernel closes every socket).
    unsafe { libc::_exit(0) }
}

/// Makes SIGTERM and SIGINT end the process with status 0, whatever runtime
/// is running. Benchmark servers hold no state worth flushing, and this is
/// the one shutdown path that works identically for every runtime.
pub fn exit_on_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask
        // is valid; `exit_now` only calls the async-signal-safe `_exit`.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = exit_now as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Prints the line the driver waits for: `ready NAME pid=PID addr=ADDR`.
pub fn announce_ready(name: &str, addr: SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "ready {name} pid={} addr={addr}", std::process::id());
    let _ = out.flush();
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets an integer socket option.
pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` lives across the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Turns Nagle off on `fd` (a connected socket or a listener, whose
/// accepted sockets inherit the option on Linux).
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

fn sockaddr_in(addr: SocketAddr) -> io::Result<libc::sockaddr_in> {
    let SocketAddr::V4(v4) = addr else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the benchmark servers listen on IPv4 only",
        ));
    };
    Ok(libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    })
}

/// A listening IPv4 socket made with plain syscalls (for the raw servers):
/// `SO_REUSEADDR`, `TCP_NODELAY` (inherited by accepted sockets), the given
/// backlog, and optionally non-blocking.
pub fn bind_listener(addr: SocketAddr, backlog: i32, nonblocking: bool) -> io::Result<OwnedFd> {
    let sa = sockaddr_in(addr)?;
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain socket(2) call.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, ty, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_nodelay(fd)?;
    // SAFETY: `sa` is a valid sockaddr_in and its size is passed.
    cvt(unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    })?;
    // SAFETY: plain listen(2) on a socket we own.
    cvt(unsafe { libc::listen(fd, backlog) })?;
    Ok(owned)
}

/// Local address of a socket.
pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: a zeroed sockaddr_in is valid; its size is passed in `len`.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa`/`len` are valid for writing.
    cvt(unsafe { libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_in).cast(), &mut len) })?;
    let ip = std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
    Ok(SocketAddr::from((ip, u16::from_be(sa.sin_port))))
}

/// CLOCK_MONOTONIC in nanoseconds.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writing; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// User + system CPU time of this process, in nanoseconds.
pub fn self_cpu_ns() -> u64 {
    // SAFETY: a zeroed rusage is valid for writing.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for writing.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// utime + stime of a whole process (all threads) from `/proc/<pid>/stat`,
/// in clock ticks.
pub fn proc_cpu_ticks(pid: i32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_ticks(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc/<pid>/stat"))
}

fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces and parentheses: fields are
    // counted from the last ')'. Field 3 (state) is the first after it;
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field (`VmHWM`, `VmRSS`, ...) of `/proc/<pid>/status`.
pub fn proc_status_kib(pid: i32, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let n = rest.trim().trim_end_matches("kB").trim();
            return n
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad status field"));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{field} not in /proc/{pid}/status"),
    ))
}

/// Cumulative microseconds in which some runnable task waited for a CPU
/// (`/proc/pressure/cpu`, "some" line). None without PSI.
pub fn cpu_pressure_us() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let line = text.lines().find(|l| l.starts_with("some"))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))
        .and_then(|v| v.parse().ok())
}

/// Pins the calling thread (and the children it spawns later) to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays in bounds
    // for cpu < CPU_SETSIZE, and the size passed matches the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        cvt(libc::sched_setaffinity(
            0,
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        ))
        .map(drop)
    }
}

/// xorshift64*: the deterministic pattern source of the load generator.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed (0 is remapped).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 pseudo-random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_parse_with_odd_comm() {
        let line = "1234 (a b) c) S 1 1 1 0 -1 4194304 100 0 0 0 7 5 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat_ticks(line), Some(12));
    }

    #[test]
    fn own_proc_readable() {
        let pid = std::process::id() as i32;
        assert!(proc_cpu_ticks(pid).is_ok());
        assert!(proc_status_kib(pid, "VmHWM").unwrap() > 0);
    }
}
