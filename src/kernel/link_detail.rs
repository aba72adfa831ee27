//! Links with the details that say how they are wired: what `link::dump`
//! reads plus the mode of a macvlan/macvtap/ipvlan and whether a `tun`
//! device is a TUN or a TAP. And one link of another namespace, looked up
//! through the namespace id this one gives it (`IFLA_TARGET_NETNSID`):
//! how `nlab wiring` learns the name and MAC of a veth's far end without
//! entering every namespace on the host to compare.

use super::link::{parse_link, LinkState};
use super::netlink::Socket;
use super::Result;
use netlink_packet_core::Nla;
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoMacVlan, InfoMacVtap, IpVlanMode, LinkAttribute, LinkInfo,
    LinkMessage, MacVlanMode,
};
use netlink_packet_route::RouteNetlinkMessage;

/// `IFLA_TUN_TYPE` (linux/if_link.h: after UNSPEC, OWNER, GROUP) and its values (`IFF_TUN`, `IFF_TAP`):
/// the crate keeps tun attributes opaque.
const IFLA_TUN_TYPE: u16 = 3;
const IFF_TUN: u8 = 1;
const IFF_TAP: u8 = 2;

/// A link and what its kind adds about its wiring.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkDetail {
    pub link: LinkState,
    /// macvlan/macvtap (`bridge`, `private`, `vepa`, `passthru`, `source`)
    /// or ipvlan (`l2`, `l3`, `l3s`) mode.
    pub mode: Option<&'static str>,
    /// For a `tun` device: `tun` or `tap`.
    pub tun_type: Option<&'static str>,
}

/// Every link of the socket's namespace, with details.
pub fn dump(sock: &mut Socket, what: &str) -> Result<Vec<LinkDetail>> {
    let msgs = sock.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), what)?;
    Ok(msgs
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(parse(l)),
            _ => None,
        })
        .collect())
}

/// The link with `index` in the namespace the socket's namespace calls
/// `nsid` (a veth's `peer_netnsid`), as the kernel reports it to us;
/// `None` when there is no such link (or id) any more.
pub fn in_peer_ns(
    sock: &mut Socket,
    nsid: i32,
    index: u32,
    what: &str,
) -> Result<Option<LinkDetail>> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    // IFLA_IF_NETNSID is IFLA_TARGET_NETNSID under its first name.
    msg.attributes.push(LinkAttribute::IfNetnsId(nsid));
    match sock.get(RouteNetlinkMessage::GetLink(msg), what) {
        Ok(msgs) => Ok(msgs.iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(parse(l)),
            _ => None,
        })),
        Err(e) if e.is_no_device() || e.raw_errno() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(e),
    }
}

fn parse(l: &LinkMessage) -> LinkDetail {
    let mut d = LinkDetail {
        link: parse_link(l),
        mode: None,
        tun_type: None,
    };
    for a in &l.attributes {
        let LinkAttribute::LinkInfo(infos) = a else {
            continue;
        };
        for i in infos {
            match i {
                LinkInfo::Data(InfoData::MacVlan(v)) => {
                    d.mode = v.iter().find_map(|x| match x {
                        InfoMacVlan::Mode(m) => Some(macvlan_mode(*m)),
                        _ => None,
                    })
                }
                LinkInfo::Data(InfoData::MacVtap(v)) => {
                    d.mode = v.iter().find_map(|x| match x {
                        InfoMacVtap::Mode(m) => Some(macvlan_mode(*m)),
                        _ => None,
                    })
                }
                LinkInfo::Data(InfoData::IpVlan(v)) => {
                    d.mode = v.iter().find_map(|x| match x {
                        InfoIpVlan::Mode(m) => Some(ipvlan_mode(*m)),
                        _ => None,
                    })
                }
                LinkInfo::Data(InfoData::Tun(v)) => d.tun_type = v.iter().find_map(tun_type),
                _ => {}
            }
        }
    }
    d
}

fn tun_type(a: &impl Nla) -> Option<&'static str> {
    if a.kind() != IFLA_TUN_TYPE || a.value_len() != 1 {
        return None;
    }
    let mut v = [0u8; 1];
    a.emit_value(&mut v);
    match v[0] {
        IFF_TUN => Some("tun"),
        IFF_TAP => Some("tap"),
        _ => None,
    }
}

fn macvlan_mode(m: MacVlanMode) -> &'static str {
    match m {
        MacVlanMode::Private => "private",
        MacVlanMode::Vepa => "vepa",
        MacVlanMode::Bridge => "bridge",
        MacVlanMode::Passthrough => "passthru",
        MacVlanMode::Source => "source",
        _ => "other",
    }
}

fn ipvlan_mode(m: IpVlanMode) -> &'static str {
    match m {
        IpVlanMode::L2 => "l2",
        IpVlanMode::L3 => "l3",
        IpVlanMode::L3S => "l3s",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::DefaultNla;
    use netlink_packet_route::link::{InfoKind, InfoTun};

    #[test]
    fn modes_and_tun_types_are_read_from_the_info_data() {
        let mut m = LinkMessage::default();
        m.header.index = 5;
        m.attributes = vec![
            LinkAttribute::IfName("mv0".into()),
            LinkAttribute::Link(2),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::MacVlan),
                LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                    MacVlanMode::Private,
                )])),
            ]),
        ];
        let d = parse(&m);
        assert_eq!(d.mode, Some("private"));
        assert_eq!(d.link.peer_index, Some(2));
        assert_eq!(d.link.kind.as_deref(), Some("macvlan"));

        m.attributes = vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Tun),
            LinkInfo::Data(InfoData::Tun(vec![InfoTun::Other(DefaultNla::new(
                IFLA_TUN_TYPE,
                vec![IFF_TAP],
            ))])),
        ])];
        assert_eq!(parse(&m).tun_type, Some("tap"));
    }
}
