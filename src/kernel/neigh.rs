//! Neighbour (ARP / NDP) entry requests.

use super::netlink::Request;
use crate::topo::MacAddr;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::{IpAddr, Ipv6Addr};

/// A request deleting the neighbour entry for `dst` on link `index` (in the
/// socket's namespace). The kernel answers ENOENT when there is none.
pub fn del(index: u32, dst: IpAddr, what: String) -> Request {
    let mut msg = NeighbourMessage::default();
    msg.header.ifindex = index;
    let addr = match dst {
        IpAddr::V4(a) => {
            msg.header.family = AddressFamily::Inet;
            NeighbourAddress::Inet(a)
        }
        IpAddr::V6(a) => {
            msg.header.family = AddressFamily::Inet6;
            NeighbourAddress::Inet6(a)
        }
    };
    msg.attributes.push(NeighbourAttribute::Destination(addr));
    Request::new(RouteNetlinkMessage::DelNeighbour(msg), 0, what)
}

/// A request adding (or replacing) a permanent neighbour entry: `dst` is
/// at `mac` on link `index`, for good (no ARP/NDP for it, never aged
/// out; Mininet's static ARP, `arp -s`).
pub fn add_permanent(index: u32, dst: IpAddr, mac: MacAddr, what: String) -> Request {
    let mut msg = NeighbourMessage::default();
    msg.header.ifindex = index;
    msg.header.state = NeighbourState::Permanent;
    let addr = match dst {
        IpAddr::V4(a) => {
            msg.header.family = AddressFamily::Inet;
            NeighbourAddress::Inet(a)
        }
        IpAddr::V6(a) => {
            msg.header.family = AddressFamily::Inet6;
            NeighbourAddress::Inet6(a)
        }
    };
    msg.attributes.push(NeighbourAttribute::Destination(addr));
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
    Request::new(
        RouteNetlinkMessage::NewNeighbour(msg),
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
    )
}

/// The solicited-node multicast address of `addr` (`ff02::1:ffXX:XXXX`,
/// RFC 4291): where a neighbour solicitation for `addr` is sent. Sending
/// one leaves a (`NOARP`) neighbour entry for this group behind.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let low = u128::from(addr) & 0x00ff_ffff;
    Ipv6Addr::from(0xff02_0000_0000_0000_0000_0001_ff00_0000u128 | low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_address() {
        let a: Ipv6Addr = "fd00::1:2:abcd:ef12".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ffcd:ef12".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn delete_request_carries_the_destination() {
        let r = del(7, "10.0.0.2".parse().unwrap(), "x".into());
        let RouteNetlinkMessage::DelNeighbour(m) = r.msg else {
            panic!("not a DelNeighbour");
        };
        assert_eq!(m.header.ifindex, 7);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert_eq!(
            m.attributes,
            vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(
                "10.0.0.2".parse().unwrap()
            ))]
        );
    }
}
