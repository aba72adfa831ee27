//! The prober's kernel plumbing: raw ICMP sockets opened inside the source
//! namespaces, the netlink socket, addresses and neighbours of each
//! namespace (for neighbour cleanup), the packet format, epoll and eventfd.

use crate::kernel::addr::{self, AddrState};
use crate::kernel::fd;
use crate::kernel::limits;
use crate::kernel::netlink;
use crate::kernel::netns::NetNs;
use crate::kernel::{Error, Result};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::RouteNetlinkMessage;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::IpAddr;

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
///
/// `targets`: when the host's neighbour tables are large, the addresses
/// whose entries to look up one by one in each namespace instead of
/// dumping its table: the kernel walks the whole host-wide table for every
/// namespace's dump, so with static ARP on 1,000 hosts (999,000 permanent
/// entries) 1,000 dumps visited a billion entries.
pub(super) fn open_all(wants: &[NsWant], targets: Option<&[IpAddr]>) -> Result<Vec<NsOpen>> {
    let threads = OPEN_THREADS.min(wants.len()).max(1);
    let chunk = wants.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<NsOpen>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = wants
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|w| open_in(w, targets)).collect()))
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
fn open_in(want: &NsWant, targets: Option<&[IpAddr]>) -> Result<NsOpen> {
    let ns = &want.name;
    NetNs::open(ns)?.enter_for_good("to open ICMP sockets")?;
    let v4 = want.v4.then(|| raw_socket(ns, false)).transpose()?;
    let v6 = want.v6.then(|| raw_socket(ns, true)).transpose()?;
    let mut sock = netlink::Socket::new()?;
    let addrs = addr::dump(&mut sock, &format!("reading addresses of {ns}"))?;
    let neigh = match targets {
        Some(t) => neighbours_of(&mut sock, ns, &addrs, t)?,
        None => neighbours(&mut sock, ns)?,
    };
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

/// [`neighbours`] for `targets` only, each looked up by itself
/// (`RTM_GETNEIGH` of one address on the link that reaches it).
fn neighbours_of(
    sock: &mut netlink::Socket,
    ns: &str,
    addrs: &[AddrState],
    targets: &[IpAddr],
) -> Result<Neighbours> {
    let mut out = Neighbours::default();
    for &dst in targets {
        if addrs.iter().any(|a| a.net.addr == dst) {
            continue;
        }
        let Some(link) = addrs
            .iter()
            .filter(|a| a.net.contains(&dst))
            .max_by_key(|a| a.net.prefix)
        else {
            continue;
        };
        let mut msg = NeighbourMessage::default();
        msg.header.ifindex = link.index;
        let addr = match dst {
            IpAddr::V4(a) => {
                msg.header.family = netlink_packet_route::AddressFamily::Inet;
                NeighbourAddress::Inet(a)
            }
            IpAddr::V6(a) => {
                msg.header.family = netlink_packet_route::AddressFamily::Inet6;
                NeighbourAddress::Inet6(a)
            }
        };
        msg.attributes.push(NeighbourAttribute::Destination(addr));
        let what = format!("reading the neighbour {dst} of {ns}");
        let answer = match sock.get(RouteNetlinkMessage::GetNeighbour(msg), &what) {
            Ok(a) => a,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        for m in answer {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            match n.header.state {
                NeighbourState::Permanent => out.keep.push((n.header.ifindex, dst)),
                NeighbourState::Noarp => {}
                _ => out.dynamic.push(dst),
            }
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
    if fd::set_int_option(&sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF as i32).is_err() {
        let _ = sock.set_recv_buffer_size(RCVBUF);
    }
    if v6 {
        // Block every type but echo reply (a set bit blocks).
        let mut filter = [u32::MAX; 8];
        let t = usize::from(ICMP6_ECHO_REPLY);
        filter[t >> 5] &= !(1u32 << (t & 31));
        fd::set_words_option(&sock, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
            .map_err(|e| Error::io(what("filtering echo replies on the"), e))?;
    } else {
        let filter: u32 = !(1u32 << ICMP_ECHOREPLY);
        fd::set_words_option(&sock, libc::SOL_RAW, ICMP_FILTER, &[filter])
            .map_err(|e| Error::io(what("filtering echo replies on the"), e))?;
    }
    Ok(sock)
}

/// Makes sure this process may hold `need` more descriptors: raises its own
/// soft `RLIMIT_NOFILE` up to the hard limit if needed (a per-process
/// limit, like Go's runtime does at start; nothing host-wide). A run over
/// 1,000 namespaces holds two or three sockets in each.
pub(super) fn reserve_fds(need: usize) -> Result<()> {
    let Some((cur, max)) = limits::open_files() else {
        return Ok(()); // let the open calls report it
    };
    let want = (need as u64).saturating_add(256);
    if cur >= want {
        return Ok(());
    }
    if max < want {
        return Err(Error::protocol(
            format!("probing with {need} sockets"),
            format!("the open files limit is {max} (ulimit -Hn); raise it for labs this big"),
        ));
    }
    limits::set_open_files_soft(want)
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
