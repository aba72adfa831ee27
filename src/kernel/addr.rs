//! Address requests and reading addresses back.

use super::netlink::{Request, Socket};
use super::Result;
use crate::topo::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

/// A request adding `net` to link `index` (in the socket's namespace).
/// IPv6 addresses skip duplicate address detection: in a lab the
/// topology already guarantees uniqueness, and DAD would hold the address
/// back for a second or more.
pub fn add(index: u32, net: &IpNet, what: String) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = net.prefix;
    msg.header.scope = AddressScope::Universe;
    match net.addr {
        IpAddr::V4(_) => {
            msg.header.family = AddressFamily::Inet;
            msg.attributes.push(AddressAttribute::Local(net.addr));
            msg.attributes.push(AddressAttribute::Address(net.addr));
        }
        IpAddr::V6(_) => {
            msg.header.family = AddressFamily::Inet6;
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes.push(AddressAttribute::Address(net.addr));
        }
    }
    Request::new(
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        what,
    )
}

/// A request removing IPv4 address `net` from link `index` (a DHCP
/// client whose lease ended or was refused).
pub fn delete(index: u32, net: &IpNet, what: String) -> Request {
    let mut msg = AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = net.prefix;
    msg.header.family = if net.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    msg.attributes.push(AddressAttribute::Local(net.addr));
    Request::new(RouteNetlinkMessage::DelAddress(msg), 0, what)
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrState {
    pub index: u32,
    pub net: IpNet,
    /// Link-local and host-scope addresses are the kernel's, not the user's.
    pub scope_global: bool,
}

/// Reads every address of the socket's namespace.
pub fn dump(sock: &mut Socket, what: &str) -> Result<Vec<AddrState>> {
    let msgs = sock.dump(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        what,
    )?;
    let mut out = Vec::new();
    for m in msgs {
        let RouteNetlinkMessage::NewAddress(a) = m else {
            continue;
        };
        let ip = a
            .attributes
            .iter()
            .find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            })
            .or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
        if let Some(ip) = ip {
            out.push(AddrState {
                index: a.header.index,
                net: IpNet {
                    addr: ip,
                    prefix: a.header.prefix_len,
                },
                scope_global: a.header.scope == AddressScope::Universe,
            });
        }
    }
    Ok(out)
}

/// The IPv6 addresses of link `index` whose duplicate address detection
/// is over (not tentative, not failed): the ones a host can use.
pub fn usable_v6(sock: &mut Socket, index: u32, what: &str) -> Result<Vec<IpNet>> {
    use netlink_packet_route::address::AddressFlags;
    let msgs = sock.dump(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        what,
    )?;
    let mut out = Vec::new();
    for m in msgs {
        let RouteNetlinkMessage::NewAddress(a) = m else {
            continue;
        };
        if a.header.index != index || a.header.family != AddressFamily::Inet6 {
            continue;
        }
        // IFA_FLAGS carries all 32 bits; the header's byte only the low 8.
        let flags = a
            .attributes
            .iter()
            .find_map(|x| match x {
                AddressAttribute::Flags(f) => Some(*f),
                _ => None,
            })
            .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(a.header.flags.bits())));
        if flags.intersects(AddressFlags::Tentative | AddressFlags::Dadfailed) {
            continue;
        }
        let ip = a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        if let Some(ip) = ip {
            out.push(IpNet {
                addr: ip,
                prefix: a.header.prefix_len,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::wire::{net, roundtrip};
    use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};

    fn addr_msg(req: Request) -> AddressMessage {
        let w = roundtrip(&req);
        assert_eq!(w.kind, libc::RTM_NEWADDR);
        assert_eq!(
            w.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        match w.msg {
            RouteNetlinkMessage::NewAddress(m) => m,
            other => panic!("not an address message: {other:?}"),
        }
    }

    #[test]
    fn an_ipv4_address_is_local_and_peer_on_its_link() {
        let n = net("10.0.0.1/24");
        let m = addr_msg(add(4, &n, "v4".into()));
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert_eq!((m.header.index, m.header.prefix_len), (4, 24));
        assert_eq!(m.header.scope, AddressScope::Universe);
        assert_eq!(m.header.flags, AddressHeaderFlags::empty());
        assert_eq!(
            m.attributes,
            vec![
                AddressAttribute::Local(n.addr),
                AddressAttribute::Address(n.addr)
            ]
        );
    }

    #[test]
    fn an_ipv6_address_skips_duplicate_address_detection() {
        let n = net("fd00::1:2/64");
        let m = addr_msg(add(7, &n, "v6".into()));
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert_eq!((m.header.index, m.header.prefix_len), (7, 64));
        assert_eq!(m.header.flags, AddressHeaderFlags::Nodad);
        assert_eq!(m.attributes, vec![AddressAttribute::Address(n.addr)]);
    }
}
