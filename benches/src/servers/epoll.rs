//! A hand-written epoll echo loop: level-triggered, one read per readiness
//! event, writes straight back, parks unsent bytes and waits for EPOLLOUT
//! only when the socket buffer is full. No runtime, no allocation per
//! message.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use super::ServeArgs;
use crate::common::{announce_ready, bind_listener, local_addr};

struct Conn {
    buf: Box<[u8]>,
    /// Bytes of `buf` still to write: `buf[off..len]`.
    off: usize,
    len: usize,
    /// Waiting for EPOLLOUT (interest switched from EPOLLIN).
    parked: bool,
}

fn ctl(ep: RawFd, op: i32, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let listener = bind_listener(args.addr, 1024, true)?;
    let lfd = listener.as_raw_fd();
    // SAFETY: plain epoll_create1.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    ctl(ep, libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32)?;
    announce_ready("epoll", local_addr(lfd)?);

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        // SAFETY: `events` has room for `events.len()` entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as RawFd;
            if fd == lfd {
                accept_all(ep, lfd, &mut conns, args.buf)?;
                continue;
            }
            let flags = ev.events;
            let Some(conn) = conns.get_mut(fd as usize).and_then(Option::as_mut) else {
                continue;
            };
            let keep = if conn.parked {
                // Waiting for EPOLLOUT to flush parked bytes.
                flush(ep, fd, conn)
            } else if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                read_echo(ep, fd, conn)
            } else {
                Ok(true)
            };
            if !matches!(keep, Ok(true)) {
                conns[fd as usize] = None;
                // SAFETY: `fd` is an accepted socket we own; closing removes
                // it from the epoll set too.
                unsafe { libc::close(fd) };
            }
        }
    }
}

fn accept_all(ep: RawFd, lfd: RawFd, conns: &mut Vec<Option<Conn>>, buf: usize) -> io::Result<()> {
    loop {
        // SAFETY: null address arguments are allowed.
        let fd = unsafe {
            libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ECONNABORTED) | Some(libc::EINTR) => Ok(()),
                // Out of descriptors: leave the rest queued.
                Some(libc::EMFILE) | Some(libc::ENFILE) => Ok(()),
                _ => Err(e),
            };
        }
        // TCP_NODELAY is inherited from the listener.
        ctl(ep, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32)?;
        let idx = fd as usize;
        if conns.len() <= idx {
            conns.resize_with(idx + 1, || None);
        }
        conns[idx] = Some(Conn {
            buf: vec![0u8; buf].into_boxed_slice(),
            off: 0,
            len: 0,
            parked: false,
        });
    }
}

/// Reads once and echoes. Ok(false): close the connection.
fn read_echo(ep: RawFd, fd: RawFd, c: &mut Conn) -> io::Result<bool> {
    // SAFETY: `c.buf` is valid for writing `c.buf.len()` bytes.
    let n = unsafe { libc::read(fd, c.buf.as_mut_ptr().cast(), c.buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if would_block(&e) || e.kind() == io::ErrorKind::Interrupted {
            Ok(true)
        } else {
            Ok(false)
        };
    }
    if n == 0 {
        return Ok(false);
    }
    c.off = 0;
    c.len = n as usize;
    let keep = flush(ep, fd, c)?;
    if keep && c.off < c.len {
        // Socket buffer full: wait until writable.
        ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT as u32)?;
        c.parked = true;
    }
    Ok(keep)
}

/// Writes parked bytes. Switches back to EPOLLIN once they are out if we
/// had been waiting for EPOLLOUT. Ok(false): close.
fn flush(ep: RawFd, fd: RawFd, c: &mut Conn) -> io::Result<bool> {
    while c.off < c.len {
        // SAFETY: `buf[off..len]` is initialized and in bounds.
        let n = unsafe { libc::write(fd, c.buf.as_ptr().add(c.off).cast(), c.len - c.off) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Ok(would_block(&e));
        }
        c.off += n as usize;
    }
    c.off = 0;
    c.len = 0;
    if c.parked {
        ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32)?;
        c.parked = false;
    }
    Ok(true)
}
