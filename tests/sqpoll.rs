//! SQPOLL: a kernel thread polls the submission queue; everything still
//! works (I/O, timers, cancellation) with fewer io_uring_enter calls.

mod util;

use std::time::Duration;

use ringloop::net::{TcpListener, TcpStream};

#[test]
fn io_timers_and_cancellation_under_sqpoll() {
    let Some(rt) = util::sqpoll_runtime() else {
        return;
    };
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringloop::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = Vec::with_capacity(4096);
            loop {
                buf.clear();
                let (res, b) = stream.read(buf).await;
                let n = res.unwrap();
                if n == 0 {
                    return;
                }
                let (res, b) = stream.write_all(b).await;
                res.unwrap();
                buf = b;
            }
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let before = ringloop::runtime::metrics().unwrap();
        for i in 0..1_000u32 {
            let msg = i.to_le_bytes().to_vec();
            let (res, _) = client.write_all(msg.clone()).await;
            res.unwrap();
            let (res, got) =
                util::within(10, "echo", client.read_exact(Vec::with_capacity(4))).await;
            res.unwrap();
            assert_eq!(got, msg);
        }
        let after = ringloop::runtime::metrics().unwrap();
        let ops = after.sqes_submitted - before.sqes_submitted;
        let enters = after.enter_calls - before.enter_calls;
        assert!(ops >= 4_000);
        assert!(
            enters < ops,
            "SQPOLL submits without a syscall per SQE: {enters} enters for {ops} SQEs"
        );
        ringloop::time::sleep(Duration::from_millis(5)).await;
        let (reader, _writer) = ringloop::io::pipe().unwrap();
        let res =
            ringloop::time::timeout(Duration::from_millis(5), reader.read(vec![0u8; 4])).await;
        assert!(res.is_err());
        drop(client);
        server.await.unwrap();
    });
}
