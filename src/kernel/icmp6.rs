//! A raw ICMPv6 socket for neighbour discovery as a router: bound to one
//! interface, sending with hop limit 255 (RFC 4861 requires it of every
//! ND message, and receivers drop anything else), receiving only router
//! solicitations, with each packet's hop limit so the caller can check it.
//!
//! Opened on a thread inside the router's namespace: the socket stays
//! bound to that namespace for its whole life.

use super::{fd, Error, Result};
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::IoSliceMut;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// `ICMP6_FILTER` (linux/icmpv6.h): which ICMPv6 types reach the socket.
const ICMP6_FILTER: libc::c_int = 1;
/// All-routers link-local group, where hosts send solicitations.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// All-nodes link-local group, where periodic adverts go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// One received ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Received {
    pub len: usize,
    pub from: Ipv6Addr,
    /// The IPv6 header's hop limit, when the kernel reported it.
    pub hop_limit: Option<i32>,
}

pub struct Icmp6Socket {
    sock: Socket,
    ifindex: u32,
    iface: String,
}

impl Icmp6Socket {
    /// Opens a socket on `iface` of the calling thread's namespace that
    /// receives ICMPv6 messages of type `accept` only.
    pub fn open(iface: &str, accept: u8) -> Result<Icmp6Socket> {
        let what = |step: &str| format!("{step} of the ICMPv6 socket on {iface}");
        let ifindex = nix::net::if_::if_nametoindex(iface)
            .map_err(|e| Error::sys(format!("finding interface {iface}"), e))?;
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(|e| Error::io(what("opening"), e))?;
        sock.bind_device(Some(iface.as_bytes()))
            .map_err(|e| Error::io(what("binding to the interface"), e))?;
        sock.set_multicast_hops_v6(255)
            .and_then(|_| sock.set_unicast_hops_v6(255))
            .map_err(|e| Error::io(what("setting hop limit 255"), e))?;
        sock.set_multicast_if_v6(ifindex)
            .and_then(|_| sock.set_multicast_loop_v6(false))
            .map_err(|e| Error::io(what("choosing the multicast interface"), e))?;
        // Routers join all-routers with forwarding on; joining it here
        // keeps the socket working whatever the sysctl says.
        match sock.join_multicast_v6(&ALL_ROUTERS, ifindex) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
            Err(e) => return Err(Error::io(what("joining ff02::2"), e)),
        }
        let mut filter = [u32::MAX; 8];
        let t = usize::from(accept);
        filter[t >> 5] &= !(1u32 << (t & 31));
        fd::set_words_option(&sock, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
            .map_err(|e| Error::io(what("filtering"), e))?;
        socket::setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true)
            .map_err(|e| Error::sys(what("asking for hop limits"), e))?;
        Ok(Icmp6Socket {
            sock,
            ifindex,
            iface: iface.to_string(),
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one ICMPv6 message (the kernel fills in the checksum) to
    /// `dst` on the socket's interface.
    pub fn send_to(&self, body: &[u8], dst: Ipv6Addr) -> Result<()> {
        let addr = SockAddr::from(SocketAddrV6::new(dst, 0, 0, self.ifindex));
        self.sock
            .send_to(body, &addr)
            .map(|_| ())
            .map_err(|e| Error::io(format!("sending ICMPv6 to {dst} on {}", self.iface), e))
    }

    /// Waits up to `timeout` for one message; `None` when none came.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<Received>> {
        let what = || format!("receiving on the ICMPv6 socket on {}", self.iface);
        // A zero timeout would mean "block forever" to the kernel.
        let t = timeout.max(Duration::from_millis(1));
        self.sock
            .set_read_timeout(Some(t))
            .map_err(|e| Error::io(what(), e))?;
        let mut cmsg = nix::cmsg_space!(libc::c_int);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match socket::recvmsg::<SockaddrIn6>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        ) {
            Ok(m) => m,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(None),
            Err(e) => return Err(Error::sys(what(), e)),
        };
        let mut hop_limit = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::Ipv6HopLimit(h) = c {
                    hop_limit = Some(h);
                }
            }
        }
        let from = msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip());
        Ok(Some(Received {
            len: msg.bytes,
            from,
            hop_limit,
        }))
    }
}
