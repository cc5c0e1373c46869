//! monoio with its io_uring driver.

use std::io;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use super::ServeArgs;
use crate::common::announce_ready;

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .build()?;
    let buf_size = args.buf;
    let addr = args.addr;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr)?;
        announce_ready("monoio", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            monoio::spawn(handle(stream, buf_size));
        }
    })
}

async fn handle(mut stream: TcpStream, buf_size: usize) {
    let _ = stream.set_nodelay(true);
    // monoio reads into the whole capacity and sets the length.
    let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
    loop {
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
