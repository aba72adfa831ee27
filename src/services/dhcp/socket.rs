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
/// Receive buffer of every DHCP socket.
const RCVBUF: i32 = 4 << 20;

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
    // A thousand clients' DISCOVERs arrive at once: the default buffer
    // (~200 KiB) would drop most of them and cost seconds of retries.
    if crate::kernel::fd::set_int_option(&sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF)
        .is_err()
    {
        let _ = sock.set_recv_buffer_size(RCVBUF as usize);
    }
    sock.bind(&SockAddr::from(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        port,
    )))?;
    let u: UdpSocket = sock.into();
    u.set_read_timeout(Some(TICK))?;
    Ok(u)
}

/// Lets only replies for `mac` (the DHCP message's `chaddr`) reach the
/// client socket `u`. Servers broadcast to clients without an address, so
/// each client hears every other one's replies: the kernel drops those
/// (classic BPF on the socket, which sees the packet from its UDP header:
/// `chaddr` is at 8 + 28) instead of a thousand sockets queueing a
/// thousand replies each, and its own being lost in the crowd.
pub fn only_for(u: &UdpSocket, mac: &crate::topo::MacAddr) -> std::io::Result<()> {
    use socket2::SockFilter;
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let m = mac.0;
    let hi = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
    let lo = u32::from(u16::from_be_bytes([m[4], m[5]]));
    let prog = [
        SockFilter::new(LD_W_ABS, 0, 0, 8 + 28),
        SockFilter::new(JEQ_K, 0, 3, hi),
        SockFilter::new(LD_H_ABS, 0, 0, 8 + 32),
        SockFilter::new(JEQ_K, 0, 1, lo),
        SockFilter::new(RET_K, 0, 0, 0xffff),
        SockFilter::new(RET_K, 0, 0, 0),
    ];
    socket2::SockRef::from(u).attach_filter(&prog)
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

/// An IPv4 + UDP packet (no IP options; UDP checksum 0, which IPv4
/// allows) carrying `payload`.
pub fn udp_packet(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let ulen = (8 + payload.len()) as u16;
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&ulen.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// The Internet checksum (RFC 1071) of `b`.
fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Opens a send-only packet socket on `iface` of namespace `ns_name`.
pub fn open_packet(
    ns_name: &str,
    iface: &str,
) -> Result<crate::kernel::packet_send::PacketSocket, String> {
    let ns = NetNs::open(ns_name).map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        s.spawn(
            || -> Result<crate::kernel::packet_send::PacketSocket, String> {
                let _in = ns.enter().map_err(|e| e.to_string())?;
                let mut nl = crate::kernel::netlink::Socket::new().map_err(|e| e.to_string())?;
                let index = crate::kernel::link::index_of(&mut nl, iface, ns_name)
                    .map_err(|e| e.to_string())?;
                crate::kernel::packet_send::PacketSocket::new(index)
                    .map_err(|e| format!("opening a packet socket on {iface} in {ns_name}: {e}"))
            },
        )
        .join()
        .unwrap_or_else(|_| Err("thread panicked".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ip_header_checksums_to_zero() {
        let p = udp_packet(
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 67),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
            b"hello",
        );
        assert_eq!(p.len(), 33);
        assert_eq!(checksum(&p[..20]), 0);
        assert_eq!(&p[20..28], &[0, 67, 0, 68, 0, 13, 0, 0]);
        assert_eq!(&p[28..], b"hello");
    }
}
