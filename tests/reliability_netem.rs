//! Reliability: echo integrity over a faulty network.
//!
//! The test builds network namespaces joined by veth pairs (names unique to
//! this run): a client and a server namespace, each linked to a router
//! namespace whose two egress devices carry `tc netem loss 1% reorder 10%
//! delay 1ms`. The faults sit in the middle of the path, where the
//! endpoints cannot see them, and segmentation offload is off, so the
//! qdisc sees every segment rather than a few 64 KiB super-packets.
//!
//! A server thread and a client thread each `setns` into their namespace
//! before they create their runtime and sockets. The server runs the echo
//! server's own handler (`echo::serve`); the client opens 8 connections at
//! once, each sending 256 KiB of seeded pseudo-random data in random chunks
//! (from its write half) while reading the echo (from its read half) and
//! checking every byte, in order. The qdisc's drop counter and the
//! namespaces' TCP retransmission counters must show that packets really
//! were lost.
//!
//! Needs root (namespaces) and `ip`/`tc`/`sysctl`; without them the test
//! prints why and returns. Without `sch_netem` in the kernel it falls back
//! to a `tbf` qdisc with a tiny queue on the router, whose tail drops are
//! real losses for TCP (no reordering then), and says so; set
//! `RINGLOOP_NETEM_REQUIRED=1` to make a missing netem a failure instead.
//! The namespaces are deleted by a drop guard, also when the test fails.

mod util;

#[path = "../examples/echo_server/echo.rs"]
#[allow(dead_code)] // only the plain mode is driven here
mod echo;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringloop::net::TcpStream;

const CONNECTIONS: u64 = 8;
const BYTES_PER_CONNECTION: usize = 256 * 1024;
const MAX_CHUNK: u64 = 16 * 1024;
const SERVER_IP: &str = "10.203.1.1";
const NETEM: &str = "netem loss 1% reorder 10% delay 1ms";
/// The fallback: ~2.5 MB/s with a queue of a few packets: tail drops.
const TBF: &str = "tbf rate 20mbit burst 8kb limit 12kb";

/// Runs a command; `Err` with its output when it fails.
fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|err| format!("{}: {err}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn output(args: &[&str]) -> String {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The namespaces of one run; deleted on drop.
struct Netns {
    server: String,
    client: String,
    router: String,
    /// The fault qdisc in use: netem, or the tbf fallback.
    qdisc: &'static str,
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace destroys its ends of the veth pairs, and so
        // the pairs.
        for ns in [&self.server, &self.client, &self.router] {
            if !ns.is_empty() {
                let _ = sh(&["ip", "netns", "del", ns]);
            }
        }
    }
}

/// Sets the namespaces up, or says why it cannot (`Err`: skip).
///
/// ```text
///  client ns                 router ns                  server ns
///  veth-c 10.203.2.1 <--> r-c 10.203.2.254
///                             r-s 10.203.1.254 <--> veth-s 10.203.1.1
/// ```
///
/// The faults sit on the router's two egress devices, in the middle of the
/// path as on a real network: the endpoints' TCP stacks cannot see a drop
/// (a qdisc on an endpoint's own device reports its drops to the sender,
/// which then resends at once instead of recovering from a loss).
fn set_up() -> Result<Netns, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag = format!("{}-{nanos}", std::process::id());
    let mut ns = Netns {
        server: String::new(),
        client: String::new(),
        router: String::new(),
        qdisc: "",
    };
    // Each name is recorded as soon as it exists, so the guard deletes it.
    for (slot, role) in [
        (&mut ns.server, "srv"),
        (&mut ns.client, "cli"),
        (&mut ns.router, "rtr"),
    ] {
        let name = format!("rl-rel-{tag}-{role}");
        sh(&["ip", "netns", "add", &name])?;
        *slot = name;
    }
    let (srv, cli, rtr) = (ns.server.clone(), ns.client.clone(), ns.router.clone());
    // Created inside the namespaces: the device names need not be unique.
    for (end, dev, peer, net) in [(&srv, "veth-s", "r-s", "1"), (&cli, "veth-c", "r-c", "2")] {
        sh(&[
            "ip", "-n", end, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns",
            &rtr,
        ])?;
        for (name, d, host) in [(end, dev, "1"), (&rtr, peer, "254")] {
            let ip = format!("10.203.{net}.{host}/24");
            sh(&["ip", "-n", name, "addr", "add", &ip, "dev", d])?;
            // No segmentation offload: the qdisc sees (and drops, reorders)
            // MTU-sized segments. Older iproute2 may not know the options.
            let _ = sh(&[
                "ip",
                "-n",
                name,
                "link",
                "set",
                d,
                "gso_max_segs",
                "1",
                "gso_max_size",
                "1500",
            ]);
            sh(&["ip", "-n", name, "link", "set", d, "up"])?;
            sh(&["ip", "-n", name, "link", "set", "lo", "up"])?;
        }
        sh(&[
            "ip",
            "-n",
            end,
            "route",
            "add",
            "default",
            "via",
            &format!("10.203.{net}.254"),
        ])?;
    }
    sh(&[
        "ip",
        "netns",
        "exec",
        &rtr,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ])?;
    let add = |qdisc: &str| -> Result<(), String> {
        for dev in ["r-s", "r-c"] {
            let mut args = vec!["tc", "-n", &rtr, "qdisc", "add", "dev", dev, "root"];
            args.extend(qdisc.split_whitespace());
            sh(&args)?;
        }
        Ok(())
    };
    match add(NETEM) {
        Ok(()) => ns.qdisc = "netem",
        Err(err) if std::env::var_os("RINGLOOP_NETEM_REQUIRED").is_some() => {
            panic!("RINGLOOP_NETEM_REQUIRED is set but netem is unavailable: {err}")
        }
        Err(err) => {
            eprintln!(
                "netem unavailable ({}); falling back to `{TBF}`: tail drops, no reordering",
                err.trim()
            );
            add(TBF)?;
            ns.qdisc = "tbf";
        }
    }
    Ok(ns)
}

/// Moves the calling thread into namespace `name`.
fn enter(name: &str) {
    let file = std::fs::File::open(format!("/run/netns/{name}"))
        .unwrap_or_else(|err| panic!("open /run/netns/{name}: {err}"));
    // SAFETY: setns on an fd we own, for this thread only; the file stays
    // open across the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {name}: {}", std::io::Error::last_os_error());
}

/// Packets the fault qdisc of `dev` in `ns` dropped.
fn qdisc_drops(ns: &str, dev: &str) -> u64 {
    let stats = output(&["tc", "-s", "-n", ns, "qdisc", "show", "dev", dev]);
    stats
        .split("dropped ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// TCP segments retransmitted in namespace `ns` (from /proc/net/snmp).
fn retransmits(ns: &str) -> u64 {
    let snmp = output(&["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"]);
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// The server: echoes until every expected connection has come and gone.
fn server(ns: String, port: mpsc::Sender<u16>) -> (u64, u64, u64) {
    enter(&ns);
    ringloop::run(async move {
        let listener = ringloop::net::TcpListener::bind(format!("{SERVER_IP}:0")).unwrap();
        port.send(listener.local_addr().unwrap().port()).unwrap();
        let stats = Rc::new(echo::Stats::default());
        let serving = ringloop::spawn(echo::serve(listener, stats.clone(), 16 * 1024));
        util::within(120, "server: every connection served", async {
            while stats.connections.get() < CONNECTIONS || stats.active.get() > 0 {
                ringloop::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        serving.cancel();
        (
            stats.connections.get(),
            stats.bytes.get(),
            stats.errors.get(),
        )
    })
}

/// One connection: writes `BYTES_PER_CONNECTION` seeded bytes in random
/// chunks while checking the echo byte for byte.
async fn client_connection(addr: SocketAddr, id: u64) {
    let stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|err| panic!("connection {id}: connect: {err}"));
    let (reader, writer) = stream.into_split();
    let sender = ringloop::spawn(async move {
        let mut data = util::ByteStream::new(id);
        let mut rng = util::Rng::new(1_000 + id);
        let mut sent = 0;
        while sent < BYTES_PER_CONNECTION {
            let n = (rng.range(1, MAX_CHUNK) as usize).min(BYTES_PER_CONNECTION - sent);
            let (res, _) = writer.write_all(data.take(n)).await;
            res.unwrap_or_else(|err| panic!("connection {id}: write at {sent}: {err}"));
            sent += n;
        }
        // Dropping the write half shuts the write side down: the server
        // sees EOF after the last byte, and closes.
        drop(writer);
    });
    let mut expected = util::ByteStream::new(id);
    let mut received = 0;
    let mut buf = Vec::with_capacity(32 * 1024);
    loop {
        let (res, b) = reader.read(buf).await;
        let n = res.unwrap_or_else(|err| panic!("connection {id}: read at {received}: {err}"));
        if n == 0 {
            break;
        }
        let want = expected.take(n);
        if b[..n] != want[..] {
            let at = (0..n).find(|&i| b[i] != want[i]).unwrap();
            panic!(
                "connection {id}: byte {} differs: got {:#04x}, sent {:#04x}",
                received + at,
                b[at],
                want[at]
            );
        }
        received += n;
        assert!(
            received <= BYTES_PER_CONNECTION,
            "connection {id}: more bytes came back than were sent"
        );
        buf = b;
        buf.clear();
    }
    assert_eq!(
        received, BYTES_PER_CONNECTION,
        "connection {id}: the echo ended early"
    );
    sender.await.unwrap();
}

fn client(ns: String, addr: SocketAddr) {
    enter(&ns);
    ringloop::run(util::within(
        120,
        "client: every echo checked",
        async move {
            let connections: Vec<_> = (0..CONNECTIONS)
                .map(|id| ringloop::spawn(client_connection(addr, id)))
                .collect();
            for connection in connections {
                connection.await.unwrap();
            }
        },
    ));
}

#[test]
fn echo_is_intact_over_a_lossy_reordering_link() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("echo_is_intact_over_a_lossy_reordering_link: skipped, needs root");
        return;
    }
    let ns = match set_up() {
        Ok(ns) => ns,
        Err(err) => {
            eprintln!(
                "echo_is_intact_over_a_lossy_reordering_link: skipped, cannot set up \
                 namespaces and a fault qdisc: {err}"
            );
            return;
        }
    };
    let start = Instant::now();
    let (port_tx, port_rx) = mpsc::channel();
    let server_ns = ns.server.clone();
    let server_thread = std::thread::spawn(move || server(server_ns, port_tx));
    let port = port_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server reports its port");
    let addr: SocketAddr = format!("{SERVER_IP}:{port}").parse().unwrap();
    let client_ns = ns.client.clone();
    let client_thread = std::thread::spawn(move || client(client_ns, addr));
    let client_result = client_thread.join();
    let server_result = server_thread.join();
    let took = start.elapsed();
    let drops = qdisc_drops(&ns.router, "r-s") + qdisc_drops(&ns.router, "r-c");
    let retrans = retransmits(&ns.server) + retransmits(&ns.client);
    if let Err(panic) = client_result {
        std::panic::resume_unwind(panic);
    }
    let (connections, bytes, errors) = match server_result {
        Ok(stats) => stats,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    eprintln!(
        "{CONNECTIONS} x {} KiB echoed over veth with {} in {took:?}: \
         {drops} packets dropped by the qdisc, {retrans} TCP segments retransmitted",
        BYTES_PER_CONNECTION / 1024,
        if ns.qdisc == "netem" { NETEM } else { TBF },
    );
    assert_eq!(connections, CONNECTIONS);
    assert_eq!(bytes, CONNECTIONS * BYTES_PER_CONNECTION as u64);
    assert_eq!(errors, 0, "server-side connection errors");
    assert!(
        drops > 0,
        "the qdisc dropped nothing: the faults were not exercised"
    );
    assert!(
        retrans > 0,
        "TCP retransmitted nothing: the faults were not exercised"
    );
}
