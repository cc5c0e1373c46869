//! tokio `current_thread` (epoll via mio): the baseline.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::ServeArgs;
use crate::common::announce_ready;

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let buf_size = args.buf;
    rt.block_on(async move {
        let listener = TcpListener::bind(args.addr).await?;
        announce_ready("tokio", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(handle(stream, buf_size));
        }
    })
}

async fn handle(mut stream: TcpStream, buf_size: usize) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; buf_size];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
