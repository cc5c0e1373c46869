//! `Builder::register_streams`: each stream the runtime makes is also
//! registered in the ring's file table, and its ring operations name the
//! slot instead of the fd. What must hold: the operations really go
//! through the slot, every byte still arrives in order (plain reads and
//! writes, multishot receive, write-behind), the stream keeps its fd for
//! syscalls (eager sends, `into_std`), a full table leaves later streams
//! unregistered but working, and no slot or fd outlives its stream —
//! whether it is dropped before its registration completed, closed,
//! handed to std, or dropped with the runtime.

mod util;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ringloop::buf::BufRing;
use ringloop::net::{TcpListener, TcpStream, UnixStream};

/// The tests of this file count the process's fds: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A runtime whose file table has `slots` entries, all for streams. Each
/// test picks a different size so that it can find its own ring in
/// `/proc/self/fdinfo` (the tests of this file share a process).
fn runtime(slots: u32) -> ringloop::Runtime {
    ringloop::Runtime::builder()
        .register_streams(slots)
        .build()
        .expect("runtime")
}

/// The files registered in the table of the ring whose table has `slots`
/// entries, as their `/proc` names (`socket:[inode]`), from the kernel's
/// own account of the ring (`/proc/self/fdinfo`, `UserFiles`).
fn table_entries(slots: u32) -> Vec<String> {
    let size = format!("UserFiles:\t{slots}");
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_ring = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().contains("io_uring"));
        if !is_ring {
            continue;
        }
        let path = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(path) else {
            continue;
        };
        if !info.lines().any(|line| line == size) {
            continue;
        }
        return info
            .lines()
            .filter_map(|line| {
                let (index, name) = line.trim_start().split_once(": ")?;
                index.parse::<u32>().ok()?;
                Some(name.to_owned())
            })
            .collect();
    }
    panic!("no io_uring with a table of {slots} files in /proc/self/fdinfo");
}

/// The `/proc` name of the file behind `fd`.
fn file_name(fd: &impl AsRawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn registered() -> u64 {
    ringloop::runtime::metrics()
        .expect("inside a runtime")
        .registered_streams
}

/// Turns of the loop until `registered()` reads `n` (registrations and
/// slot closes are detached operations: they complete a turn or two later).
async fn until_registered(n: u64) {
    util::within(5, "registrations", async {
        while registered() != n {
            ringloop::yield_now().await;
        }
    })
    .await;
}

/// Turns of the loop until the kernel's table of `slots` entries holds no
/// file (the slot closes are detached operations).
async fn until_table_empty(slots: u32) {
    util::within(5, "slots closed", async {
        while !table_entries(slots).is_empty() {
            ringloop::yield_now().await;
        }
    })
    .await;
}

async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[test]
fn streams_are_registered_and_every_byte_arrives() {
    let _serial = serial();
    const SLOTS: u32 = 37;
    runtime(SLOTS).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = pair(&listener).await;
        until_registered(2).await;
        // The kernel's table holds exactly these two sockets.
        let mut entries = table_entries(SLOTS);
        entries.sort();
        let mut expected = vec![file_name(&client), file_name(&server)];
        expected.sort();
        assert_eq!(entries, expected, "the table holds other files");

        // Plain writes and reads of random sizes.
        let mut rng = util::Rng::new(7);
        let mut sent = Vec::new();
        for _ in 0..200 {
            let mut chunk = vec![0; rng.range(1, 9000) as usize];
            rng.fill(&mut chunk);
            sent.extend_from_slice(&chunk);
            let (res, _) = client.write_all(chunk).await;
            res.unwrap();
        }
        let received = util::within(10, "read", util::read_exactly(&server, sent.len())).await;
        assert!(received == sent, "bytes lost or reordered");

        // Multishot receive into a pool, written back write-behind.
        let pool = BufRing::builder()
            .entries(16)
            .buf_len(4096)
            .build()
            .unwrap();
        let echo = ringloop::spawn(async move {
            let mut incoming = server.recv_multishot(&pool);
            let mut tx = server.write_behind();
            while let Some(buf) = incoming.next().await {
                tx.write(buf.unwrap()).await.unwrap();
            }
            tx.flush().await.unwrap();
        });
        let mut payload = vec![0; 256 * 1024];
        rng.fill(&mut payload);
        let (res, _) = client.write_all(payload.clone()).await;
        res.unwrap();
        let echoed = util::within(10, "echo", util::read_exactly(&client, payload.len())).await;
        assert!(echoed == payload, "the echo lost or reordered bytes");
        client.shutdown(std::net::Shutdown::Write).await.unwrap();
        util::within(10, "echo task", echo).await.unwrap();
        drop(client);
        // Both slots are closed with their streams.
        until_registered(0).await;
        until_table_empty(SLOTS).await;
    });
}

#[test]
fn ring_operations_name_the_slot_not_the_fd() {
    let _serial = serial();
    // Once a stream is registered, its fd number is pointed at another
    // socket behind the runtime's back. A write through the ring must still
    // reach the stream's own peer (the file in the slot), not the socket
    // now under the fd number. Eager sends (a syscall on the fd) are off.
    const SLOTS: u32 = 38;
    let rt = ringloop::Runtime::builder()
        .register_streams(SLOTS)
        .eager_sends(false)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = pair(&listener).await;
        until_registered(2).await;
        let decoy_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let decoy = std::net::TcpStream::connect(decoy_listener.local_addr().unwrap()).unwrap();
        let (mut decoy_peer, _) = decoy_listener.accept().unwrap();
        // SAFETY: both fds are open; dup2 makes the client's fd number
        // refer to the decoy socket. The client's own socket stays open
        // through its slot in the ring's file table.
        let moved = unsafe { libc::dup2(decoy.as_raw_fd(), client.as_raw_fd()) };
        assert_eq!(moved, client.as_raw_fd(), "dup2");

        let (res, _) = client.write_all(b"through the slot".to_vec()).await;
        res.unwrap();
        let got = util::within(5, "read", util::read_exactly(&server, 16)).await;
        assert_eq!(got, b"through the slot");
        decoy_peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        assert!(
            decoy_peer.read(&mut buf).is_err(),
            "the write went to the socket under the fd number"
        );
        // The client's fd number is the decoy's duplicate now; closing it
        // with the client is harmless.
    });
}

#[test]
fn a_stream_dropped_before_its_registration_completes_leaks_nothing() {
    let _serial = serial();
    const SLOTS: u32 = 39;
    let before = util::fd_count();
    runtime(SLOTS).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        for _ in 0..20 {
            // Dropped in the same turn they were made: their registrations
            // are still queued.
            let (client, server) = pair(&listener).await;
            drop((client, server));
        }
        until_registered(0).await;
        until_table_empty(SLOTS).await;
        drop(listener);
    });
    assert_eq!(util::fd_count(), before, "an fd outlived its stream");
}

#[test]
fn a_full_table_leaves_later_streams_unregistered_and_working() {
    let _serial = serial();
    const SLOTS: u32 = 1;
    runtime(SLOTS).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut pairs = Vec::new();
        for _ in 0..3 {
            pairs.push(pair(&listener).await);
        }
        for _ in 0..10 {
            ringloop::yield_now().await;
        }
        assert_eq!(registered(), 1, "one slot, one registered stream");
        for (i, (client, server)) in pairs.iter().enumerate() {
            let msg = format!("pair {i}").into_bytes();
            let (res, _) = client.write_all(msg.clone()).await;
            res.unwrap();
            let got = util::within(5, "read", util::read_exactly(server, msg.len())).await;
            assert_eq!(got, msg);
        }
    });
}

#[test]
fn into_std_and_close_free_the_slot() {
    let _serial = serial();
    const SLOTS: u32 = 40;
    runtime(SLOTS).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = pair(&listener).await;
        until_registered(2).await;

        // into_std: the slot goes, the fd works under std.
        let mut std_client = client.into_std().unwrap();
        until_registered(1).await;
        std_client.set_nonblocking(false).unwrap();
        std_client.write_all(b"from std").unwrap();
        let got = util::within(5, "read", util::read_exactly(&server, 8)).await;
        assert_eq!(got, b"from std");

        // close: the slot and the fd go, and the peer sees EOF.
        server.close().await.unwrap();
        until_registered(0).await;
        std_client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(std_client.read(&mut buf).unwrap(), 0, "EOF after close");
        until_table_empty(SLOTS).await;
    });
}

#[test]
fn eager_sends_still_use_the_fd() {
    let _serial = serial();
    const SLOTS: u32 = 41;
    runtime(SLOTS).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, server) = pair(&listener).await;
        until_registered(2).await;
        let before = ringloop::runtime::metrics().unwrap().eager_sends;
        for round in 0..50u32 {
            let msg = round.to_le_bytes().to_vec();
            let (res, _) = client.write_all(msg.clone()).await;
            res.unwrap();
            let got = util::within(5, "read", util::read_exactly(&server, 4)).await;
            assert_eq!(got, msg);
        }
        let eager = ringloop::runtime::metrics().unwrap().eager_sends - before;
        if !util::faults() {
            assert!(
                eager > 0,
                "a latency-bound loop sends eagerly on registered streams too"
            );
        }
    });
}

#[test]
fn unix_streams_are_registered_too() {
    let _serial = serial();
    const SLOTS: u32 = 42;
    runtime(SLOTS).block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        until_registered(2).await;
        let (res, _) = a.write_all(b"unix".to_vec()).await;
        res.unwrap();
        let (res, buf) = util::within(5, "read", b.read(Vec::with_capacity(4))).await;
        util::assert_transfer(res.unwrap(), 4);
        assert!(b"unix".starts_with(&buf));
        drop((a, b));
        until_registered(0).await;
    });
}

#[test]
fn a_runtime_dropped_with_reads_in_flight_on_registered_streams_frees_everything() {
    let _serial = serial();
    const SLOTS: u32 = 43;
    let before = util::fd_count();
    let rt = runtime(SLOTS);
    let peers = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peers = Vec::new();
        for _ in 0..8 {
            let (client, server) = pair(&listener).await;
            // A read that never completes: the client never writes.
            ringloop::spawn(async move {
                let _ = server.read(Vec::with_capacity(64)).await;
            });
            peers.push(client);
        }
        until_registered(16).await;
        // Every read reaches the kernel within a few turns (under fault
        // injection one may first complete with a synthetic error and be
        // resubmitted by its task).
        util::within(5, "8 reads in flight", async {
            while util::in_flight() < 8 {
                ringloop::yield_now().await;
            }
        })
        .await;
        peers
    });
    drop(rt);
    drop(peers);
    assert_eq!(util::fd_count(), before, "an fd outlived the runtime");
}

#[test]
fn a_slot_is_named_only_on_the_ring_that_holds_it() {
    let _serial = serial();
    // Streams registered in runtime A's table, then used from runtime B,
    // whose table holds two other streams at the same slot numbers. B's
    // SQEs must name A's streams by their fds, not by A's slot numbers
    // (which in B are other sockets); and once A is dropped, so must any
    // runtime's.
    const SLOTS_A: u32 = 44;
    const SLOTS_B: u32 = 45;
    let rt_a = runtime(SLOTS_A);
    let (a_client, a_server) = rt_a.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pair = pair(&listener).await;
        until_registered(2).await;
        pair
    });
    runtime(SLOTS_B).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (b_client, b_server) = pair(&listener).await;
        until_registered(2).await;
        let (res, _) = a_client.write_all(b"meant for a".to_vec()).await;
        res.unwrap();
        let got = util::within(5, "read on a", util::read_exactly(&a_server, 11)).await;
        assert_eq!(got, b"meant for a", "A's stream reached another socket");
        // B's own streams still go through B's slots.
        let (res, _) = b_client.write_all(b"meant for b".to_vec()).await;
        res.unwrap();
        let got = util::within(5, "read on b", util::read_exactly(&b_server, 11)).await;
        assert_eq!(got, b"meant for b");
    });
    drop(rt_a);
    // A is gone with its table: its streams still work, on their fds.
    ringloop::run(async {
        let (res, _) = a_server.write_all(b"after a".to_vec()).await;
        res.unwrap();
        let got = util::within(5, "read after a", util::read_exactly(&a_client, 7)).await;
        assert_eq!(got, b"after a");
    });
}
