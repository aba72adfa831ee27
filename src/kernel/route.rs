//! Route requests.

use super::netlink::Request;
use crate::topo::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

/// A request installing (or replacing) a unicast route in the main table
/// of the socket's namespace. `via` and/or `oif` give the next hop.
pub fn replace(dst: &IpNet, via: Option<IpAddr>, oif: Option<u32>, what: String) -> Request {
    let mut msg = RouteMessage::default();
    msg.header.address_family = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    msg.header.destination_prefix_length = dst.prefix;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Static;
    // A route with no gateway is on-link: the destination is reachable
    // directly on the interface.
    msg.header.scope = if via.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    msg.header.kind = RouteType::Unicast;
    if dst.prefix > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                dst.network(),
            )));
    }
    if let Some(gw) = via {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(i) = oif {
        msg.attributes.push(RouteAttribute::Oif(i));
    }
    Request::new(
        RouteNetlinkMessage::NewRoute(msg),
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
    )
}

/// A route of the main table as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteState {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    /// `kernel` (connected routes), `static` (nlab's and `ip route add`'s),
    /// `boot`, … as `ip route` names them.
    pub protocol: String,
}

fn addr_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Reads the unicast routes of the main table (IPv4 and IPv6) of the
/// socket's namespace.
pub fn dump(sock: &mut super::netlink::Socket, what: &str) -> super::Result<Vec<RouteState>> {
    let mut out = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut req = RouteMessage::default();
        req.header.address_family = family;
        for m in sock.dump(RouteNetlinkMessage::GetRoute(req), what)? {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            if let Some(s) = parse_route(&r) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

fn parse_route(r: &RouteMessage) -> Option<RouteState> {
    let mut table = u32::from(r.header.table);
    let (mut dst, mut via, mut oif) = (None, None, None);
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = addr_of(d),
            RouteAttribute::Gateway(g) => via = addr_of(g),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || r.header.kind != RouteType::Unicast {
        return None;
    }
    let v6 = r.header.address_family == AddressFamily::Inet6;
    let addr = dst.unwrap_or(if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    let protocol = match r.header.protocol {
        RouteProtocol::Kernel => "kernel".to_string(),
        RouteProtocol::Static => "static".to_string(),
        RouteProtocol::Boot => "boot".to_string(),
        RouteProtocol::Ra => "ra".to_string(),
        RouteProtocol::Dhcp => "dhcp".to_string(),
        p => format!("{}", u8::from(p)),
    };
    Some(RouteState {
        dst: IpNet {
            addr,
            prefix: r.header.destination_prefix_length,
        },
        via,
        oif,
        protocol,
    })
}

/// Whether the kernel's `have` carries the route `dst` (via `via`, out of
/// interface `oif` when those are given).
pub fn holds(have: &[RouteState], dst: &IpNet, via: Option<IpAddr>, oif: Option<u32>) -> bool {
    have.iter().any(|r| {
        r.dst.prefix == dst.prefix
            && r.dst.network() == dst.network()
            && via.is_none_or(|v| r.via == Some(v))
            && oif.is_none_or(|i| r.oif == Some(i))
    })
}

/// What [`restore`] did in one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Addresses put back (`iface addr`).
    pub addrs: Vec<String>,
    /// Routes put back, described.
    pub routes: Vec<String>,
    /// Routes the kernel refused now (their way out is down), described.
    pub skipped: Vec<String>,
}

/// Puts back, in namespace `ns_name`, the addresses `addrs` (`iface`,
/// address) and routes `routes` it lacks, in place: nothing is removed or
/// recreated, so the node's processes and connections carry on. Bringing
/// an interface down deletes every route through it and its IPv6
/// addresses, and bringing it up restores neither. A route the kernel
/// refuses because its gateway is unreachable now (its interface is down,
/// e.g. by a schedule) is reported as skipped, not as an error.
pub fn restore(
    ns_name: &str,
    addrs: &[(String, IpNet)],
    routes: &[crate::topo::routes::WantedRoute],
) -> super::Result<Restored> {
    let ns = super::netns::NetNs::open(ns_name)?;
    ns.run(|| -> super::Result<Restored> {
        let mut sock = super::netlink::Socket::new()?;
        let links = super::link::dump(&mut sock, &format!("reading links of {ns_name}"))?;
        let index = |name: &str| links.iter().find(|l| l.name == name).map(|l| l.index);
        let mut done = Restored::default();
        let have = super::addr::dump(&mut sock, &format!("reading addresses of {ns_name}"))?;
        for (iface, net) in addrs {
            let Some(i) = index(iface) else { continue };
            if have.iter().any(|a| a.index == i && a.net == *net) {
                continue;
            }
            let what = format!("adding {net} to {iface} in {ns_name}");
            match sock.request(super::addr::add(i, net, what)) {
                Ok(()) => done.addrs.push(format!("{iface} {net}")),
                Err(e) if e.raw_errno() == Some(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
        let have = dump(&mut sock, &format!("reading routes of {ns_name}"))?;
        for r in routes {
            let oif = r.dev.as_deref().and_then(index);
            if holds(&have, &r.dst, r.via, oif) {
                continue;
            }
            let what = format!("adding {} in {ns_name}", r.describe());
            match sock.request(replace(&r.dst, r.via, oif, what)) {
                Ok(()) => done.routes.push(r.describe()),
                Err(e)
                    if matches!(
                        e.raw_errno(),
                        Some(libc::ENETUNREACH | libc::EINVAL | libc::ENODEV | libc::EHOSTUNREACH)
                    ) =>
                {
                    done.skipped.push(format!("{}: {e}", r.describe()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::wire::{net, roundtrip};
    use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};

    fn route_msg(req: Request) -> RouteMessage {
        let w = roundtrip(&req);
        assert_eq!(w.kind, libc::RTM_NEWROUTE);
        assert_eq!(
            w.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        match w.msg {
            RouteNetlinkMessage::NewRoute(m) => m,
            other => panic!("not a route message: {other:?}"),
        }
    }

    #[test]
    fn a_default_route_has_a_gateway_and_no_destination() {
        let gw: IpAddr = "10.0.0.254".parse().unwrap();
        let m = route_msg(replace(&net("0.0.0.0/0"), Some(gw), None, "default".into()));
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(m.header.destination_prefix_length, 0);
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(m.header.protocol, RouteProtocol::Static);
        assert_eq!(m.header.scope, RouteScope::Universe);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert_eq!(
            m.attributes,
            vec![RouteAttribute::Gateway(RouteAddress::from(gw))]
        );
        // What `dump` makes of the same message, had the kernel sent it.
        let back = parse_route(&m).unwrap();
        assert_eq!((back.dst.prefix, back.via, back.oif), (0, Some(gw), None));
        assert_eq!(back.protocol, "static");
    }

    #[test]
    fn a_route_without_a_gateway_is_on_link_out_of_its_interface() {
        // The host bits of the destination are not sent: the network is.
        let m = route_msg(replace(
            &net("fd00:1::5/64"),
            None,
            Some(3),
            "onlink".into(),
        ));
        assert_eq!(m.header.address_family, AddressFamily::Inet6);
        assert_eq!(m.header.destination_prefix_length, 64);
        assert_eq!(m.header.scope, RouteScope::Link);
        let dst: IpAddr = "fd00:1::".parse().unwrap();
        assert_eq!(
            m.attributes,
            vec![
                RouteAttribute::Destination(RouteAddress::from(dst)),
                RouteAttribute::Oif(3)
            ]
        );
        let back = parse_route(&m).unwrap();
        assert!(holds(&[back], &net("fd00:1::/64"), None, Some(3)));
    }
}
