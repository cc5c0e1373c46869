//! ringloop (this repository). Compiled only with the `ringloop` feature;
//! see benches/README.md, "Adding the ringloop server".

use std::io;

use ringloop::net::{TcpListener, TcpStream};

use super::ServeArgs;
use crate::common::announce_ready;

pub fn run(args: &ServeArgs) -> io::Result<()> {
    let buf_size = args.buf;
    let addr = args.addr;
    ringloop::run(async move {
        let listener = TcpListener::bind(addr)?;
        announce_ready("ringloop", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            ringloop::spawn(handle(stream, buf_size));
        }
    })
}

async fn handle(stream: TcpStream, buf_size: usize) {
    let _ = stream.set_nodelay(true);
    // ringloop reads from the start of the Vec's capacity.
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
