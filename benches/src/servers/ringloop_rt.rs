//! ringloop (this repository), three ways, so that the report shows what
//! each io_uring feature buys:
//!
//! - `ringloop`: the default fast path of `examples/echo_server`: one
//!   multishot accept, and per connection a multishot receive into buffers
//!   from one shared provided-buffer ring (1 MiB of buffers of the point's
//!   buffer size, incremental consumption where the kernel has it); each
//!   received buffer is written back as is.
//! - `ringloop-plain`: one accept per connection, one read buffer per
//!   connection, a read then a write per message.
//! - `ringloop-direct`: the fast path with connections held as direct
//!   descriptors (IOSQE_FIXED_FILE on every op).
//!
//! TCP_NODELAY is set on the listening socket, which accepted sockets
//! inherit (also the only way for direct descriptors, which have no fd).

use std::io;
use std::net::SocketAddr;

use ringloop::buf::BufRing;
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
    let pool = BufRing::builder().entries(entries).buf_len(buf_len).build()?;
    if pool.is_incremental() {
        return Ok(pool);
    }
    drop(pool);
    BufRing::builder().entries(1024).buf_len(2048).build()
}

/// The default fast path.
pub fn run(args: &ServeArgs) -> io::Result<()> {
    let (addr, buf) = (args.addr, args.buf);
    ringloop::run(async move {
        let listener = listen(addr)?;
        let pool = pool(buf)?;
        announce_ready("ringloop", listener.local_addr()?);
        let mut incoming = listener.incoming();
        loop {
            let stream = incoming.next().await?;
            ringloop::spawn(pooled(stream, pool.clone()));
        }
    })
}

async fn pooled(stream: TcpStream, pool: BufRing) {
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
                while let Some(Ok(buf)) = received.next().await {
                    let (res, _buf) = stream.write_all(buf).await;
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
