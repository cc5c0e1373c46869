//! `TcpStream::connect` resolves host names off the loop.

use ringloop::net::{TcpListener, TcpStream};

#[test]
fn connect_by_host_name_and_literal() {
    ringloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = ringloop::spawn(async move {
            let mut peers = Vec::new();
            for _ in 0..3 {
                peers.push(listener.accept().await.unwrap().1);
            }
            peers
        });
        // "localhost" goes through getaddrinfo on the blocking pool; it may
        // also resolve to ::1 first, where nothing listens: the next address
        // is tried.
        let a = TcpStream::connect(format!("localhost:{port}"))
            .await
            .unwrap();
        let b = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let c = TcpStream::connect(("localhost", port)).await.unwrap();
        assert_eq!(accept.await.unwrap().len(), 3);
        let m = ringloop::runtime::metrics().unwrap();
        assert!(
            m.blocking_threads_peak >= 1,
            "the name was resolved on the pool"
        );
        drop((a, b, c));
    });
}

#[test]
fn unresolvable_names_are_clear_errors() {
    ringloop::run(async {
        let err = TcpStream::connect("no-such-host.invalid:80")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    });
}
