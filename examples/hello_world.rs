//! The smallest ringloop program: run a future on the event loop.

fn main() {
    let greeting = ringloop::run(async {
        let task = ringloop::spawn(async { "hello from a task" });
        task.await.expect("the task ran to completion")
    });
    println!("{greeting}");
    println!("hello, world — from ringloop, an io_uring event loop");
}
