//! Cancelling a task blocked in I/O: the task's future is dropped, which
//! sends the kernel an ASYNC_CANCEL for its in-flight read; the kernel
//! completes that read with -ECANCELED, and only then is its buffer freed.

use std::time::Duration;

fn main() -> std::io::Result<()> {
    ringloop::run(async {
        let (reader, writer) = ringloop::io::pipe()?;
        let task = ringloop::spawn(async move {
            println!("task: reading from a pipe nobody writes to...");
            let (result, _buf) = reader.read(vec![0u8; 1024]).await;
            println!("task: never printed: {result:?}");
        });
        ringloop::time::sleep(Duration::from_millis(50)).await;
        let before = ringloop::runtime::metrics().expect("in a runtime");
        println!(
            "main: {} op in flight; cancelling the task",
            before.ops_in_flight
        );

        task.cancel();
        let outcome = task.await;
        println!(
            "main: awaiting the task gives {outcome:?} (is_cancelled: {})",
            outcome.as_ref().err().is_some_and(|e| e.is_cancelled())
        );

        // Let the loop reap the cancelled read's completion.
        ringloop::time::sleep(Duration::from_millis(10)).await;
        let after = ringloop::runtime::metrics().expect("in a runtime");
        println!(
            "kernel: {} ASYNC_CANCEL issued, {} op completed with -ECANCELED ({}), {} ops in flight now",
            after.cancels_issued - before.cancels_issued,
            after.ops_cancelled - before.ops_cancelled,
            std::io::Error::from_raw_os_error(125),
            after.ops_in_flight
        );
        drop(writer);
        Ok(())
    })
}
