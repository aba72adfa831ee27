//! The prober's kernel plumbing: raw ICMP sockets opened inside the source
//! namespaces, the netlink socket, addresses and neighbours of each
//! namespace (for neighbour cleanup), the packet format, epoll and eventfd.

use crate::kernel::addr::{self, AddrState};
use crate::kernel::netlink;
use crate::kernel::netns::NetNs;
use crate::kernel::{Error, Result};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::RouteNetlinkMessage;
use nix::sched::{setns, CloneFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const MAGIC: [u8; 4] = *b"nlab";
/// ICMP header (8) + magic (4) + nonce (4) + src (4) + dst (4) + sent (8) +
/// pair (4).
pub(super) const PKT_LEN: usize = 36;
const ICMP_ECHO: u8 = 8;
const ICMP_ECHOREPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// `ICMP_FILTER` / `ICMP6_FILTER` option numbers (linux/icmp.h, icmpv6.h).
const ICMP_FILTER: libc::c_int = 1;
const ICMP6_FILTER: libc::c_int = 1;
/// Receive buffer per socket: replies of many pairs can arrive together.
const RCVBUF: usize = 1 << 20;
/// Threads opening sockets in the namespaces.
const OPEN_THREADS: usize = 4;

/// What a run needs in one namespace.
#[derive(Debug, Clone, Default)]
pub(super) struct NsWant {
    pub name: String,
    /// Raw sockets: some source in it pings an IPv4 / IPv6 address.
    pub v4: bool,
    pub v6: bool,
}

/// What was opened in one namespace.
pub(super) struct NsOpen {
    pub v4: Option<Socket>,
    pub v6: Option<Socket>,
    pub nl: Option<netlink::Socket>,
    pub addrs: Vec<AddrState>,
    /// The neighbour entries found at the start.
    pub neigh: Neighbours,
}

/// What a namespace's neighbour table holds.
#[derive(Debug, Default)]
pub(super) struct Neighbours {
    /// Permanent entries (`ifindex`, address): configured by someone, never
    /// deleted by the cleanup.
    pub keep: Vec<(u32, IpAddr)>,
    /// Destinations of the entries the kernel made and may reuse (not
    /// `NOARP` ones).
    pub dynamic: Vec<IpAddr>,
}

/// Opens what `wants` asks for in every namespace, on a few threads that
/// enter the namespaces in turn (and end there, so they never go back).
pub(super) fn open_all(wants: &[NsWant]) -> Result<Vec<NsOpen>> {
    let threads = OPEN_THREADS.min(wants.len()).max(1);
    let chunk = wants.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<NsOpen>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = wants
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(open_in).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::protocol(
                        "opening ICMP sockets",
                        "a worker thread panicked",
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(wants.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Enters the namespace on the calling thread (for good) and opens there.
fn open_in(want: &NsWant) -> Result<NsOpen> {
    let ns = &want.name;
    let netns = NetNs::open(ns)?;
    setns(netns.fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys(format!("entering namespace {ns} to open ICMP sockets"), e))?;
    let v4 = want.v4.then(|| raw_socket(ns, false)).transpose()?;
    let v6 = want.v6.then(|| raw_socket(ns, true)).transpose()?;
    let mut sock = netlink::Socket::new()?;
    let addrs = addr::dump(&mut sock, &format!("reading addresses of {ns}"))?;
    let neigh = neighbours(&mut sock, ns)?;
    Ok(NsOpen {
        v4,
        v6,
        nl: Some(sock),
        addrs,
        neigh,
    })
}

fn neighbours(sock: &mut netlink::Socket, ns: &str) -> Result<Neighbours> {
    let msgs = sock.dump(
        RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
        &format!("reading neighbours of {ns}"),
    )?;
    let mut out = Neighbours::default();
    for m in msgs {
        let RouteNetlinkMessage::NewNeighbour(n) = m else {
            continue;
        };
        let dst = n.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
            _ => None,
        });
        let Some(dst) = dst else {
            continue;
        };
        match n.header.state {
            NeighbourState::Permanent => out.keep.push((n.header.ifindex, dst)),
            NeighbourState::Noarp => {}
            _ => out.dynamic.push(dst),
        }
    }
    Ok(out)
}

fn raw_socket(ns: &str, v6: bool) -> Result<Socket> {
    let (domain, proto, kind) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6, "ICMPv6")
    } else {
        (Domain::IPV4, Protocol::ICMPV4, "ICMP")
    };
    let what = |op: &str| format!("{op} raw {kind} socket in {ns}");
    let sock = Socket::new(domain, Type::RAW.cloexec(), Some(proto))
        .map_err(|e| Error::io(what("opening"), e))?;
    sock.set_nonblocking(true)
        .map_err(|e| Error::io(what("making non-blocking the"), e))?;
    // Root may exceed rmem_max; fall back to the ordinary option.
    let force = RCVBUF as libc::c_int;
    if setsockopt(&sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &force).is_err() {
        let _ = sock.set_recv_buffer_size(RCVBUF);
    }
    if v6 {
        // Block every type but echo reply (a set bit blocks).
        let mut filter = [u32::MAX; 8];
        let t = usize::from(ICMP6_ECHO_REPLY);
        filter[t >> 5] &= !(1u32 << (t & 31));
        setsockopt(&sock, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
            .map_err(|e| Error::io(what("filtering echo replies on the"), e))?;
    } else {
        let filter: u32 = !(1u32 << ICMP_ECHOREPLY);
        setsockopt(&sock, libc::SOL_RAW, ICMP_FILTER, &filter)
            .map_err(|e| Error::io(what("filtering echo replies on the"), e))?;
    }
    Ok(sock)
}

fn setsockopt<T>(sock: &Socket, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes sure this process may hold `need` more descriptors: raises its own
/// soft `RLIMIT_NOFILE` up to the hard limit if needed (a per-process
/// limit, like Go's runtime does at start; nothing host-wide). A run over
/// 1,000 namespaces holds two or three sockets in each.
pub(super) fn reserve_fds(need: usize) -> Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(()); // let the open calls report it
    }
    let want = (need as libc::rlim_t).saturating_add(256);
    if lim.rlim_cur >= want {
        return Ok(());
    }
    if lim.rlim_max < want {
        return Err(Error::protocol(
            format!("probing with {need} sockets"),
            format!(
                "the open files limit is {} (ulimit -Hn); raise it for labs this big",
                lim.rlim_max
            ),
        ));
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: plain setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(Error::io(
            "raising this process's open files limit",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The identity of a probe, carried in its payload and echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Probe {
    pub src: u32,
    pub dst: u32,
    /// When it was sent, ns since the start of the run.
    pub sent_at: u64,
    /// Index of the pair in the run's pair list.
    pub pair: u32,
}

/// Writes the echo request of `probe` into `pkt`.
pub(super) fn build(pkt: &mut [u8; PKT_LEN], v6: bool, nonce: u32, probe: &Probe) {
    pkt[0] = if v6 { ICMP6_ECHO_REQUEST } else { ICMP_ECHO };
    pkt[1] = 0;
    pkt[2..4].copy_from_slice(&[0, 0]);
    pkt[4..6].copy_from_slice(&id_of(nonce, probe.src).to_be_bytes());
    pkt[6..8].copy_from_slice(&(probe.dst as u16).to_be_bytes());
    pkt[8..12].copy_from_slice(&MAGIC);
    pkt[12..16].copy_from_slice(&nonce.to_be_bytes());
    pkt[16..20].copy_from_slice(&probe.src.to_be_bytes());
    pkt[20..24].copy_from_slice(&probe.dst.to_be_bytes());
    pkt[24..32].copy_from_slice(&probe.sent_at.to_be_bytes());
    pkt[32..36].copy_from_slice(&probe.pair.to_be_bytes());
    if !v6 {
        // The kernel computes the ICMPv6 checksum, not the ICMP one.
        let sum = checksum(pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    }
}

fn id_of(nonce: u32, src: u32) -> u16 {
    (nonce as u16).wrapping_add(src as u16)
}

/// The probe a reply received on a raw socket answers, or `None` for
/// anything that is not a reply to this run. `from` is the sender's
/// address (for IPv4 it is read from the IP header the socket delivers).
/// The caller checks that `from` is the probe's destination.
pub(super) fn parse(data: &[u8], v6: bool, from: &SockAddr, nonce: u32) -> Option<(Probe, IpAddr)> {
    let (icmp, from_ip) = if v6 {
        (data, from.as_socket()?.ip())
    } else {
        // Raw IPv4 sockets deliver the IP header too.
        let first = *data.first()?;
        let ihl = usize::from(first & 0x0f) * 4;
        if first >> 4 != 4 || ihl < 20 || data.len() < ihl {
            return None;
        }
        let src: [u8; 4] = data[12..16].try_into().ok()?;
        (&data[ihl..], IpAddr::from(src))
    };
    if icmp.len() < PKT_LEN {
        return None;
    }
    let want = if v6 { ICMP6_ECHO_REPLY } else { ICMP_ECHOREPLY };
    if icmp[0] != want || icmp[1] != 0 || icmp[8..12] != MAGIC {
        return None;
    }
    let be32 = |at: usize| u32::from_be_bytes([icmp[at], icmp[at + 1], icmp[at + 2], icmp[at + 3]]);
    if be32(12) != nonce {
        return None;
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&icmp[24..32]);
    let probe = Probe {
        src: be32(16),
        dst: be32(20),
        sent_at: u64::from_be_bytes(at),
        pair: be32(32),
    };
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    if id != id_of(nonce, probe.src) || seq != probe.dst as u16 {
        return None;
    }
    Some((probe, from_ip))
}

/// The Internet checksum (RFC 1071).
pub(super) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A minimal level-triggered epoll instance.
pub(super) struct Epoll {
    fd: OwnedFd,
    /// Whether the kernel has `epoll_pwait2` (nanosecond timeouts).
    pwait2: bool,
}

impl Epoll {
    pub fn new() -> Result<Epoll> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(
                "creating the epoll instance of the ICMP prober",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            pwait2: true,
        })
    }

    pub fn add(&self, fd: RawFd, data: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: `ev` is a valid epoll_event; both fds are open.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r != 0 {
            return Err(Error::io(
                "adding a descriptor to the prober's epoll",
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Waits at most `timeout_ns` (`epoll_pwait2`, Linux 5.11; rounded up
    /// to milliseconds on older kernels).
    pub fn wait(&mut self, events: &mut [libc::epoll_event], timeout_ns: u64) -> Result<usize> {
        let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        let mut r = -1;
        if self.pwait2 {
            // SAFETY: `events` has room for `max` entries; `ts` is valid.
            r = unsafe {
                libc::epoll_pwait2(
                    self.fd.as_raw_fd(),
                    events.as_mut_ptr(),
                    max,
                    &ts,
                    std::ptr::null(),
                )
            };
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                self.pwait2 = false;
            }
        }
        if !self.pwait2 {
            let ms = timeout_ns.div_ceil(1_000_000).min(i32::MAX as u64) as libc::c_int;
            // SAFETY: `events` has room for `max` entries.
            r = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, ms) };
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(Error::io("waiting for ICMP replies", e));
        }
        Ok(r as usize)
    }
}

/// A non-blocking eventfd: one thread wakes another's epoll with it.
pub(super) struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> Result<EventFd> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(
                "creating an eventfd for the ICMP prober",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Makes the eventfd readable. Cannot fail in a way that matters: a
    /// full counter is readable already.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets it to not readable.
    pub fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn checksum_of_known_packet() {
        // Echo request id 1 seq 1, no payload: checksum 0xf7fd.
        let pkt = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(&pkt), 0xf7fd);
        let mut with = pkt;
        with[2..4].copy_from_slice(&0xf7fdu16.to_be_bytes());
        assert_eq!(checksum(&with), 0);
    }

    #[test]
    fn a_reply_round_trips() {
        let probe = Probe {
            src: 3,
            dst: 70_000,
            sent_at: 123_456_789,
            pair: 41,
        };
        let mut pkt = [0u8; PKT_LEN];
        build(&mut pkt, true, 0xdead_beef, &probe);
        assert_eq!(pkt[0], ICMP6_ECHO_REQUEST);
        // The target answers with the type changed.
        pkt[0] = ICMP6_ECHO_REPLY;
        let from = SockAddr::from("[fd00::2]:0".parse::<SocketAddr>().unwrap());
        let (got, ip) = parse(&pkt, true, &from, 0xdead_beef).unwrap();
        assert_eq!(got, probe);
        assert_eq!(ip, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(parse(&pkt, true, &from, 1), None, "another run's nonce");
        // IPv4: checksum valid, and the socket delivers the IP header.
        build(&mut pkt, false, 7, &probe);
        assert_eq!(checksum(&pkt), 0);
        pkt[0] = ICMP_ECHOREPLY;
        let mut ip4 = vec![
            0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        ip4.extend_from_slice(&pkt);
        let any = SockAddr::from("10.0.0.2:0".parse::<SocketAddr>().unwrap());
        let (got, ip) = parse(&ip4, false, &any, 7).unwrap();
        assert_eq!(got, probe);
        assert_eq!(ip, "10.0.0.2".parse::<IpAddr>().unwrap());
    }
}
