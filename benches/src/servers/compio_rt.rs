//! compio with its io_uring driver.

use std::io;

use compio::BufResult;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};

use super::ServeArgs;
use crate::common::announce_ready;

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let rt = compio::runtime::Runtime::new()?;
    let buf_size = args.buf;
    let addr = args.addr;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        announce_ready("compio", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            // Dropping a compio JoinHandle cancels the task: detach it.
            compio::runtime::spawn(handle(stream, buf_size)).detach();
        }
    })
}

async fn handle(mut stream: TcpStream, buf_size: usize) {
    let _ = stream.set_nodelay(true);
    // compio reads into the spare capacity: clear before each read.
    let mut buf: Vec<u8> = Vec::with_capacity(buf_size);
    loop {
        buf.clear();
        let BufResult(res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let BufResult(res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
    }
}
