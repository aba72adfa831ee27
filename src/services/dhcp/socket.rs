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
