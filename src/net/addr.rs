//! Addresses for `connect`: like `std::net::ToSocketAddrs`, but a host
//! name is resolved on the blocking pool instead of blocking the loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What `connect` accepts: a socket address, `(ip, port)`, `(host, port)`,
/// `"host:port"`, or a slice of socket addresses. Literal addresses are
/// parsed at once; host names are resolved (`getaddrinfo`) on the blocking
/// pool, so the loop never blocks on DNS.
///
/// Sealed: implemented for the same types as `std::net::ToSocketAddrs`.
pub trait ToSocketAddrs: sealed::Lookup {}

pub(crate) mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// How an address is turned into socket addresses.
    #[derive(Debug)]
    pub enum Resolution {
        /// Already known.
        Ready(io::Result<Vec<SocketAddr>>),
        /// A `host:port` to resolve off the loop.
        Host(String),
    }

    /// The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Lookup {
        /// Parses literals; names hosts to resolve.
        fn lookup(self) -> Resolution;
    }
}

use sealed::{Lookup, Resolution};

macro_rules! ready_addr {
    ($($ty:ty),*) => {$(
        impl Lookup for $ty {
            fn lookup(self) -> Resolution {
                Resolution::Ready(Ok(vec![SocketAddr::from(self)]))
            }
        }
        impl ToSocketAddrs for $ty {}
    )*};
}

ready_addr!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl Lookup for &[SocketAddr] {
    fn lookup(self) -> Resolution {
        Resolution::Ready(Ok(self.to_vec()))
    }
}
impl ToSocketAddrs for &[SocketAddr] {}

impl Lookup for &str {
    fn lookup(self) -> Resolution {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Resolution::Ready(Ok(vec![addr])),
            Err(_) => Resolution::Host(self.to_owned()),
        }
    }
}
impl ToSocketAddrs for &str {}

impl Lookup for String {
    fn lookup(self) -> Resolution {
        self.as_str().lookup()
    }
}
impl ToSocketAddrs for String {}

impl Lookup for &String {
    fn lookup(self) -> Resolution {
        self.as_str().lookup()
    }
}
impl ToSocketAddrs for &String {}

impl Lookup for (&str, u16) {
    fn lookup(self) -> Resolution {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Resolution::Ready(Ok(vec![SocketAddr::new(ip, self.1)])),
            Err(_) => Resolution::Host(format!("{}:{}", self.0, self.1)),
        }
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl Lookup for (String, u16) {
    fn lookup(self) -> Resolution {
        (self.0.as_str(), self.1).lookup()
    }
}
impl ToSocketAddrs for (String, u16) {}

/// Resolves `addr`, host names on the blocking pool.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.lookup() {
        Resolution::Ready(addrs) => addrs?,
        Resolution::Host(host) => {
            let lookup = host.clone();
            crate::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&lookup).map(Iterator::collect::<Vec<_>>)
            })
            .await
            .map_err(io::Error::from)?
            .map_err(|err| {
                io::Error::new(err.kind(), format!("could not resolve {host:?}: {err}"))
            })?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address; pass an IP:port or a resolvable host:port",
        ));
    }
    Ok(addrs)
}
