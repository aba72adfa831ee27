//! UDP sockets for DHCP inside a lab namespace: opened on a thread that
//! entered the namespace (a socket stays in the namespace it was made
//! in), bound to one interface (`SO_BINDTODEVICE`) so a server, relay or
//! client on a multi-homed node hears only its own segment's broadcasts.

use crate::kernel::netns::NetNs;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

/// How long a blocking receive waits, so a loop notices it should stop.
pub const TICK: Duration = Duration::from_millis(200);

/// A UDP socket in namespace `ns_name` on `0.0.0.0:port`, bound to
/// `iface` when given, allowed to broadcast.
pub fn open(ns_name: &str, iface: Option<&str>, port: u16) -> std::io::Result<UdpSocket> {
    let ns = NetNs::open(ns_name).map_err(|e| std::io::Error::other(e.to_string()))?;
    let what = format!(
        "opening UDP port {port}{} in {ns_name}",
        iface.map(|i| format!(" on {i}")).unwrap_or_default()
    );
    std::thread::scope(|s| {
        s.spawn(|| -> std::io::Result<UdpSocket> {
            let _in = ns
                .enter()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            open_here(iface, port)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("thread panicked")))
    })
    .map_err(|e| std::io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// [`open`] in the calling thread's namespace.
pub fn open_here(iface: Option<&str>, port: u16) -> std::io::Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several sockets share the port (a relay's one per interface).
    sock.set_reuse_address(true)?;
    sock.set_broadcast(true)?;
    if let Some(i) = iface {
        sock.bind_device(Some(i.as_bytes()))?;
    }
    sock.bind(&SockAddr::from(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        port,
    )))?;
    let u: UdpSocket = sock.into();
    u.set_read_timeout(Some(TICK))?;
    Ok(u)
}

/// Whether an error of `recv` only means "nothing arrived in time".
pub fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}
