//! tokio-uring: io_uring ops driven from a tokio current_thread runtime.

use std::io;

use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

use super::ServeArgs;
use crate::common::announce_ready;

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let buf_size = args.buf;
    let addr = args.addr;
    tokio_uring::start(async move {
        let listener = TcpListener::bind(addr)?;
        announce_ready("tokio-uring", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio_uring::spawn(handle(stream, buf_size));
        }
    })
}

async fn handle(stream: TcpStream, buf_size: usize) {
    let _ = stream.set_nodelay(true);
    // tokio-uring reads from the start of the Vec's capacity.
    let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
    loop {
        let (res, b) = stream.read(buf).await;
        buf = b;
        let n = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (res, slice) = stream.write_all(buf.slice(..n)).await;
        buf = slice.into_inner();
        if res.is_err() {
            return;
        }
    }
}
