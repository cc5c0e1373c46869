//! glommio's LocalExecutor, run on the calling thread.

use std::io;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

use super::ServeArgs;
use crate::common::announce_ready;

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let buf_size = args.buf;
    let addr = args.addr;
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .make()
        .map_err(io::Error::from)?;
    ex.run(async move {
        let listener = TcpListener::bind(addr).map_err(io::Error::from)?;
        announce_ready("glommio", listener.local_addr().map_err(io::Error::from)?);
        loop {
            let stream = listener.accept().await.map_err(io::Error::from)?;
            glommio::spawn_local(handle(stream, buf_size)).detach();
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
