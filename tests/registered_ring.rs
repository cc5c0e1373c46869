//! The loop enters the kernel through a registered ring fd
//! (`IORING_REGISTER_RING_FDS`): every way it enters works through it, it
//! gives the registration back when the runtime goes (a thread may hold
//! only 16), and a runtime that finds none left uses the plain fd.

mod util;

use std::time::Duration;

use ringloop::Runtime;

/// The three ways a turn enters the kernel: without waiting (a task that
/// yields keeps the loop busy), parked with a timeout (a timer) and parked
/// without one (a read from a peer on another thread that answers 20 ms
/// later, with no timer armed). Returns whether the runtime entered
/// through a registered ring fd.
fn exercise(rt: &Runtime) -> bool {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // The bytes stay readable after this end closes (FIN, not RST:
        // nothing it was sent is left unread).
        std::io::Write::write_all(&mut conn, b"hello").unwrap();
    });
    let registered = rt.block_on(async {
        for _ in 0..3 {
            ringloop::yield_now().await;
        }
        ringloop::time::sleep(Duration::from_millis(1)).await;
        let stream = ringloop::net::TcpStream::connect(addr).await.unwrap();
        let before = ringloop::runtime::metrics().unwrap();
        assert_eq!(before.timers, 0, "a timer would make the park time out");
        assert_eq!(util::read_exactly(&stream, 5).await, b"hello");
        let after = ringloop::runtime::metrics().unwrap();
        assert!(
            after.parks > before.parks,
            "the loop never parked: {after:?}"
        );
        after.registered_ring
    });
    peer.join().unwrap();
    registered
}

/// Whether this kernel lets a ring fd be registered at all (5.18+).
fn kernel_registers_rings() -> bool {
    let rt = Runtime::new().unwrap();
    let registered = rt.metrics().registered_ring;
    if !registered {
        eprintln!("skipped: this kernel does not register ring fds (Linux 5.18+)");
    }
    registered
}

#[test]
fn every_runtime_on_a_thread_gets_the_registration_back() {
    if !kernel_registers_rings() {
        return;
    }
    // Three times the kernel's 16 per thread: had a dropped runtime kept
    // its registration (and with it its ring), the 17th would get none.
    for i in 0..48 {
        let rt = Runtime::new().unwrap();
        assert!(
            exercise(&rt),
            "runtime {i} on this thread is not registered"
        );
    }
}

#[test]
fn runtimes_past_the_kernels_limit_enter_through_the_plain_fd() {
    if !kernel_registers_rings() {
        return;
    }
    let runtimes: Vec<Runtime> = (0..20).map(|_| Runtime::new().unwrap()).collect();
    let registered: Vec<bool> = runtimes.iter().map(exercise).collect();
    let count = registered.iter().filter(|&&r| r).count();
    assert!(
        count > 0 && count < runtimes.len(),
        "expected the kernel's per-thread limit (16) to split 20 live runtimes: {registered:?}"
    );
    // The first ones registered, the later ones found no free index.
    assert!(registered[..count].iter().all(|&r| r), "{registered:?}");
    drop(runtimes);
    // Every index came back with its runtime.
    let again: Vec<Runtime> = (0..count).map(|_| Runtime::new().unwrap()).collect();
    assert!(again.iter().all(|rt| rt.metrics().registered_ring));
}

#[test]
fn sqpoll_runtimes_do_not_register() {
    let Some(rt) = util::sqpoll_runtime() else {
        return;
    };
    assert!(!rt.metrics().registered_ring);
    rt.block_on(ringloop::time::sleep(Duration::from_millis(1)));
}
