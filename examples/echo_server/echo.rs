//! The echo server's accept loop and connection handler, shared by the
//! example binary and the integration tests (which drive this very code).

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringloop::buf::BufRing;
use ringloop::net::{TcpListener, TcpSocket, TcpStream};

/// How long to pause accepting when out of file descriptors: long enough
/// not to spin, short enough to resume quickly once connections close.
pub const EMFILE_BACKOFF: Duration = Duration::from_millis(20);

/// Listens on `addr` with `TCP_NODELAY`, which accepted connections
/// inherit (direct descriptors too, which have no fd to set it on): an
/// echo that writes a large message back in pieces must not wait for the
/// peer's delayed ACK before its last, small segment (40 ms per message).
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    use std::net::{SocketAddr, ToSocketAddrs};
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        let bound = socket
            .set_reuseaddr(true)
            .and_then(|()| socket.set_nodelay(true))
            .and_then(|()| socket.bind(addr));
        match bound {
            Ok(()) => return socket.listen(1024),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

/// What the server has done so far.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: Cell<u64>,
    /// Connections currently open.
    pub active: Cell<u64>,
    /// Bytes echoed back.
    pub bytes: Cell<u64>,
    /// Connections that ended with an error (reset, broken pipe).
    pub errors: Cell<u64>,
    /// Times accept failed for lack of file descriptors.
    pub fd_exhaustion: Cell<u64>,
}

/// How connections are served.
#[derive(Clone, Debug)]
pub enum Mode {
    /// One accept per connection; each connection reads into its own buffer.
    Plain { buf_size: usize },
    /// One multishot accept for all connections; each connection receives
    /// with a multishot recv into buffers from one shared pool.
    Pooled(BufRing),
    /// As `Pooled`, with connections held as direct descriptors (the runtime
    /// needs a file table: `Builder::direct_descriptors`).
    PooledDirect(BufRing),
    /// As `Pooled`, echoing with `forward_to`: the driver sends each
    /// received buffer back from its completion, and the connection's task
    /// is polled only to start and at the end.
    Forward(BufRing),
}

/// Accepts connections forever, one task each (plain mode).
#[allow(dead_code)] // the tests' entry point; the binary uses `serve_with`
pub async fn serve(listener: TcpListener, stats: Rc<Stats>, buf_size: usize) -> io::Result<()> {
    serve_with(listener, stats, Mode::Plain { buf_size }).await
}

/// Accepts connections forever, one task each.
pub async fn serve_with(listener: TcpListener, stats: Rc<Stats>, mode: Mode) -> io::Result<()> {
    if let Mode::PooledDirect(pool) = &mode {
        return serve_direct(&listener, stats, pool).await;
    }
    let mut incoming = listener.incoming();
    loop {
        let accepted = match &mode {
            Mode::Plain { .. } => listener.accept().await.map(|(stream, _peer)| stream),
            Mode::Pooled(_) | Mode::PooledDirect(_) | Mode::Forward(_) => incoming.next().await,
        };
        match accepted {
            Ok(stream) => {
                stats.connections.set(stats.connections.get() + 1);
                stats.active.set(stats.active.get() + 1);
                let stats = stats.clone();
                let mode = mode.clone();
                // Detached: the task ends with its connection.
                drop(ringloop::spawn(async move {
                    let result = match &mode {
                        Mode::Plain { buf_size } => echo(&stream, &stats, *buf_size).await,
                        Mode::Pooled(pool) | Mode::PooledDirect(pool) => {
                            echo_pooled(&stream, &stats, pool).await
                        }
                        Mode::Forward(pool) => echo_forwarded(&stream, &stats, pool).await,
                    };
                    if result.is_err() {
                        stats.errors.set(stats.errors.get() + 1);
                    }
                    stats.active.set(stats.active.get() - 1);
                }));
            }
            Err(err) if is_fd_exhaustion(&err) => {
                // Out of fds: the pending connection waits in the backlog.
                // Pause instead of retrying at once (which would spin).
                stats.fd_exhaustion.set(stats.fd_exhaustion.get() + 1);
                ringloop::time::sleep(EMFILE_BACKOFF).await;
            }
            // A connection reset while queued, or a transient error: only
            // that connection is lost.
            Err(err) if is_per_connection(&err) => {}
            Err(err) => return Err(err),
        }
    }
}

fn is_fd_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || matches!(
        err.raw_os_error(),
        Some(libc_errno::EPROTO | libc_errno::EPERM)
    )
}

/// The errno values this file needs (the example has no libc dependency).
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const EPROTO: i32 = 71;
    pub const ENOBUFS: i32 = 105;
}

/// Echoes everything until the peer shuts its side down.
pub async fn echo(stream: &TcpStream, stats: &Stats, buf_size: usize) -> io::Result<()> {
    let mut buf = Vec::with_capacity(buf_size);
    loop {
        let (result, read_buf) = stream.read(buf).await;
        let n = result?;
        if n == 0 {
            return Ok(());
        }
        let (result, written) = stream.write_all(read_buf).await;
        result?;
        stats.bytes.set(stats.bytes.get() + n as u64);
        buf = written;
        buf.clear();
    }
}

/// Echoes everything until EOF, receiving into pooled buffers: each
/// received buffer is written back as is, then returns to the pool. The
/// writes are write-behind (`WriteBehind`): the task is not woken when a
/// send completes, only when data comes; a failed send shows at the next
/// write or at the final flush. (Bytes count as echoed once queued.)
pub async fn echo_pooled(stream: &TcpStream, stats: &Stats, pool: &BufRing) -> io::Result<()> {
    let mut received = stream.recv_multishot(pool);
    let mut tx = stream.write_behind();
    while let Some(buf) = received.next().await {
        let buf = buf?;
        let n = buf.len();
        tx.write(buf).await?;
        stats.bytes.set(stats.bytes.get() + n as u64);
    }
    tx.flush().await
}

/// Echoes everything until EOF with `forward_to`: the driver writes each
/// received buffer back as its completion arrives, without waking this
/// task. (Bytes count as echoed when the connection ends.)
pub async fn echo_forwarded(stream: &TcpStream, stats: &Stats, pool: &BufRing) -> io::Result<()> {
    let echoed = stream.forward_to(pool, stream).await?;
    stats.bytes.set(stats.bytes.get() + echoed);
    Ok(())
}

/// The accept loop with direct descriptors.
async fn serve_direct(listener: &TcpListener, stats: Rc<Stats>, pool: &BufRing) -> io::Result<()> {
    let mut incoming = listener.incoming_direct()?;
    loop {
        match incoming.next().await {
            Ok(stream) => {
                stats.connections.set(stats.connections.get() + 1);
                stats.active.set(stats.active.get() + 1);
                let (stats, pool) = (stats.clone(), pool.clone());
                drop(ringloop::spawn(async move {
                    let mut received = stream.recv_multishot(&pool);
                    let mut tx = stream.write_behind();
                    let mut failed = false;
                    while let Some(buf) = received.next().await {
                        let Ok(buf) = buf else {
                            failed = true;
                            break;
                        };
                        let n = buf.len();
                        if tx.write(buf).await.is_err() {
                            failed = true;
                            break;
                        }
                        stats.bytes.set(stats.bytes.get() + n as u64);
                    }
                    if tx.flush().await.is_err() {
                        failed = true;
                    }
                    if failed {
                        stats.errors.set(stats.errors.get() + 1);
                    }
                    stats.active.set(stats.active.get() - 1);
                }));
            }
            Err(err) if is_fd_exhaustion(&err) => {
                stats.fd_exhaustion.set(stats.fd_exhaustion.get() + 1);
                ringloop::time::sleep(EMFILE_BACKOFF).await;
            }
            Err(err) if is_per_connection(&err) => {}
            Err(err) => return Err(err),
        }
    }
}
