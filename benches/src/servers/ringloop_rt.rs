//! ringloop (this repository), several ways, so that the report shows what
//! each io_uring feature buys:
//!
//! - `ringloop`: the default fast path of `examples/echo_server`: one
//!   multishot accept, and per connection a multishot receive into buffers
//!   from one shared provided-buffer ring (1 MiB of buffers of the point's
//!   buffer size, incremental consumption where the kernel has it); each
//!   received buffer is written back as is, write-behind (`WriteBehind`:
//!   the write returns once queued, and the send's completion does not wake
//!   the task); each connection is also registered in the ring's file table
//!   (`Builder::register_streams`), so its sends skip the kernel's file
//!   lookup.
//! - `ringloop-fd`: the fast path with connections on plain fds only (what
//!   registering them buys).
//! - `ringloop-plain`: one accept per connection, one read buffer per
//!   connection, a read then a write per message.
//! - `ringloop-direct`: the fast path with connections held as direct
//!   descriptors (IOSQE_FIXED_FILE on every op).
//! - `ringloop-await`: the fast path with each write awaited (`write_all`)
//!   instead of write-behind.
//!
//! TCP_NODELAY is set on the listening socket, which accepted sockets
//! inherit (also the only way for direct descriptors, which have no fd).

use std::io;
use std::net::SocketAddr;

use ringloop::buf::{BufRing, IoBuf};
use ringloop::net::{TcpListener, TcpSocket, TcpStream};

use super::ServeArgs;
use crate::common::announce_ready;

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The shared receive pool: buffers of the size every server gets for this
/// point (`--buf`), 1 MiB in all and at least 32 buffers. With incremental
/// consumption small messages share buffers; without it each receive takes
/// a whole one, so the pool needs one per connection in flight (2 MiB of
/// 2 KiB buffers).
fn pool(buf: usize) -> io::Result<BufRing> {
    let buf_len = u32::try_from(buf.clamp(512, 1 << 20)).unwrap_or(65_536);
    let entries = ((1usize << 20) / buf_len as usize).clamp(32, 32_768);
    let entries = 1u16 << (usize::BITS - 1 - entries.leading_zeros()).min(15);
    let pool = BufRing::builder()
        .entries(entries)
        .buf_len(buf_len)
        .build()?;
    if pool.is_incremental() {
        return Ok(pool);
    }
    drop(pool);
    BufRing::builder().entries(1024).buf_len(2048).build()
}

/// The default fast path.
pub fn run(args: &ServeArgs) -> io::Result<()> {
    fast_path_on(&fast_path(), "ringloop", args)
}

/// The runtime of the default fast path: streams registered in the ring's
/// file table, as in `examples/echo_server`.
fn fast_path() -> ringloop::Builder {
    let mut builder = ringloop::Runtime::builder();
    builder.register_streams(65_536);
    builder
}

async fn pooled(stream: TcpStream, pool: BufRing) {
    let mut received = stream.recv_multishot(&pool);
    let mut tx = stream.write_behind();
    while let Some(Ok(buf)) = received.next().await {
        if tx.write(buf).await.is_err() {
            return;
        }
    }
    let _ = tx.flush().await;
}

/// The default fast path's runtime and pool, echoing with `forward_to`:
/// the driver sends each received buffer back from its completion, and the
/// connection's task is polled only to start and at the end.
pub fn run_forward(args: &ServeArgs) -> io::Result<()> {
    serve_pooled(&fast_path(), "ringloop-forward", args, forwarded)
}

async fn forwarded(stream: TcpStream, pool: BufRing) {
    let _ = stream.forward_to(&pool, &stream).await;
}

/// The default fast path, but each write awaited (`write_all`) instead of
/// write-behind: the task is woken twice per message (the data, then the
/// send's completion), which is what write-behind saves.
pub fn run_awaited(args: &ServeArgs) -> io::Result<()> {
    serve_pooled(&fast_path(), "ringloop-await", args, awaited)
}

async fn awaited(stream: TcpStream, pool: BufRing) {
    let mut received = stream.recv_multishot(&pool);
    while let Some(Ok(buf)) = received.next().await {
        let (res, _buf) = stream.write_all(buf).await;
        if res.is_err() {
            return;
        }
    }
}

/// The plain path.
pub fn run_plain(args: &ServeArgs) -> io::Result<()> {
    let buf_size = args.buf;
    let addr = args.addr;
    ringloop::run(async move {
        let listener = listen(addr)?;
        announce_ready("ringloop-plain", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            ringloop::spawn(plain(stream, buf_size));
        }
    })
}

async fn plain(stream: TcpStream, buf_size: usize) {
    // Reads fill the Vec from the start of its capacity.
    let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
    }
}

/// The fast path with direct descriptors.
pub fn run_direct(args: &ServeArgs) -> io::Result<()> {
    let (addr, buf) = (args.addr, args.buf);
    let runtime = ringloop::Runtime::builder()
        .direct_descriptors(65_536)
        .build()?;
    runtime.block_on(async move {
        let listener = listen(addr)?;
        let pool = pool(buf)?;
        announce_ready("ringloop-direct", listener.local_addr()?);
        let mut incoming = listener.incoming_direct()?;
        loop {
            let stream = incoming.next().await?;
            let pool = pool.clone();
            ringloop::spawn(async move {
                let mut received = stream.recv_multishot(&pool);
                let mut tx = stream.write_behind();
                while let Some(Ok(buf)) = received.next().await {
                    if tx.write(buf).await.is_err() {
                        return;
                    }
                }
                let _ = tx.flush().await;
            });
        }
    })
}

/// The default fast path with SQPOLL: a kernel thread submits, so the
/// loop needs no syscall to submit (it still parks in `io_uring_enter`).
pub fn run_sqpoll(args: &ServeArgs) -> io::Result<()> {
    let mut builder = fast_path();
    builder.sqpoll(std::time::Duration::from_millis(100));
    fast_path_on(&builder, "ringloop-sqpoll", args)
}

/// The default fast path with eager sends off: every send is an SQE, even
/// with one request in flight.
pub fn run_ring_only(args: &ServeArgs) -> io::Result<()> {
    let mut builder = fast_path();
    builder.eager_sends(false);
    fast_path_on(&builder, "ringloop-ring", args)
}

/// The default fast path, polling the completion ring for 50 us before the
/// loop sleeps: at low load the server then skips the sleep and wake-up
/// per message, for CPU.
pub fn run_spin(args: &ServeArgs) -> io::Result<()> {
    let mut builder = fast_path();
    builder.spin_before_park(std::time::Duration::from_micros(50));
    fast_path_on(&builder, "ringloop-spin", args)
}

/// The default fast path with connections on plain fds only: every send
/// makes the kernel look the file up (`fget`/`fput`).
pub fn run_plain_fds(args: &ServeArgs) -> io::Result<()> {
    fast_path_on(&ringloop::Runtime::builder(), "ringloop-fd", args)
}

/// The default fast path on a runtime built by `builder`.
fn fast_path_on(builder: &ringloop::Builder, name: &str, args: &ServeArgs) -> io::Result<()> {
    serve_pooled(builder, name, args, pooled)
}

/// Multishot accept and a shared buffer pool on a runtime built by
/// `builder`; each connection is served by `handler` in a task of its own.
fn serve_pooled<F, Fut>(
    builder: &ringloop::Builder,
    name: &str,
    args: &ServeArgs,
    handler: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, BufRing) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (addr, buf) = (args.addr, args.buf);
    builder.build()?.block_on(async move {
        let listener = listen(addr)?;
        let pool = pool(buf)?;
        announce_ready(name, listener.local_addr()?);
        let mut incoming = listener.incoming();
        loop {
            let stream = incoming.next().await?;
            ringloop::spawn(handler(stream, pool.clone()));
        }
    })
}

/// The plain path, writing with SEND_ZC (the kernel sends from the buffer
/// and hands it back after its notification).
pub fn run_zerocopy(args: &ServeArgs) -> io::Result<()> {
    let (addr, buf_size) = (args.addr, args.buf);
    ringloop::run(async move {
        let listener = listen(addr)?;
        announce_ready("ringloop-zc", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            ringloop::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
                loop {
                    buf.clear();
                    let (res, b) = stream.read(buf).await;
                    buf = b;
                    let Ok(n) = res else { return };
                    if n == 0 {
                        return;
                    }
                    let mut sent = 0;
                    while sent < n {
                        let (res, slice) = stream.write_zc(buf.slice(sent..n)).await;
                        buf = slice.into_inner();
                        match res {
                            Ok(k) if k > 0 => sent += k,
                            _ => return,
                        }
                    }
                }
            });
        }
    })
}

/// The plain path with registered (fixed) buffers: each connection checks
/// one out of a registry and reads and writes with READ_FIXED/WRITE_FIXED.
pub fn run_fixed(args: &ServeArgs) -> io::Result<()> {
    let (addr, buf_size) = (args.addr, args.buf);
    ringloop::run(async move {
        let listener = listen(addr)?;
        // One registered buffer per connection, for up to 2,048 connections.
        let registry = ringloop::buf::FixedBufRegistry::register(
            (0..2048).map(|_| Vec::with_capacity(buf_size)),
        )?;
        announce_ready("ringloop-fixed", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let Some(buf) = registry.check_out_any() else {
                // Out of registered buffers: refuse the connection.
                continue;
            };
            ringloop::spawn(async move {
                let mut buf = buf;
                loop {
                    buf.clear();
                    let (res, b) = stream.read_fixed(buf).await;
                    buf = b;
                    let Ok(n) = res else { return };
                    if n == 0 {
                        return;
                    }
                    let (res, b) = stream.write_fixed(buf).await;
                    buf = b;
                    match res {
                        Ok(k) if k == n => {}
                        // A short write (rare): send the rest the plain way.
                        Ok(k) if k > 0 => {
                            let (res, _) = stream.write_all(buf[k..n].to_vec()).await;
                            if res.is_err() {
                                return;
                            }
                        }
                        _ => return,
                    }
                }
            });
        }
    })
}

/// The plain path with every read bounded by a 30 s timeout through a
/// kernel timeout linked to the receive (`read_timeout`).
pub fn run_linked_timeout(args: &ServeArgs) -> io::Result<()> {
    serve_with_timeouts(args, "ringloop-linked", true)
}

/// The plain path with every read bounded by a 30 s timeout through the
/// runtime's timer (`time::timeout`).
pub fn run_timer_timeout(args: &ServeArgs) -> io::Result<()> {
    serve_with_timeouts(args, "ringloop-timer", false)
}

fn serve_with_timeouts(args: &ServeArgs, name: &'static str, linked: bool) -> io::Result<()> {
    const IDLE: std::time::Duration = std::time::Duration::from_secs(30);
    let (addr, buf_size) = (args.addr, args.buf);
    ringloop::run(async move {
        let listener = listen(addr)?;
        announce_ready(name, listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            ringloop::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
                loop {
                    buf.clear();
                    let (res, b) = if linked {
                        stream.read_timeout(buf, IDLE).await
                    } else {
                        match ringloop::time::timeout(IDLE, stream.read(buf)).await {
                            Ok(out) => out,
                            Err(_) => return,
                        }
                    };
                    buf = b;
                    match res {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let (res, b) = stream.write_all(buf).await;
                    buf = b;
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
