//! async/await basics: async functions call each other with `.await`, and
//! I/O suspends the task until the kernel completes it.

use std::time::Duration;

async fn add_slowly(a: u32, b: u32) -> u32 {
    ringloop::time::sleep(Duration::from_millis(10)).await;
    a + b
}

async fn pipeline() -> std::io::Result<String> {
    let sum = add_slowly(2, 3).await;
    println!("2 + 3 = {sum} (after an awaited sleep)");

    // I/O through the ring: the buffer goes to the kernel and comes back.
    let (reader, writer) = ringloop::io::pipe()?;
    let (result, _buf) = writer.write_all(format!("sum={sum}").into_bytes()).await;
    result?;
    drop(writer); // the reader will see end of stream after the data
    let (result, buf) = reader.read(Vec::with_capacity(64)).await;
    let n = result?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn main() -> std::io::Result<()> {
    let text = ringloop::run(pipeline())?;
    println!("read back through a pipe: {text:?}");
    Ok(())
}
