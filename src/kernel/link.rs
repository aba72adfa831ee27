//! Link requests (veth, bridge, state, master) and reading links back.
//!
//! A veth is created with each end directly in its target namespace: moving
//! an interface between namespaces costs ~20 ms in the kernel, creating it
//! in place costs nothing extra. The switch end is the "main" device of the
//! request because the kernel applies `IFLA_MASTER` only to that one.

use super::netlink::{Request, Socket};
use super::{Error, Result};
use crate::topo::MacAddr;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    BridgePortState, BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoPortData,
    InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};
use netlink_packet_route::RouteNetlinkMessage;
use serde::Serialize;
use std::os::fd::RawFd;

/// One end of a veth pair to create.
#[derive(Debug, Clone)]
pub struct VethEnd<'a> {
    pub name: &'a str,
    /// Namespace the end is created in (an fd this process holds).
    pub ns_fd: RawFd,
    /// Interface index to ask for; 0 lets the kernel choose.
    pub index: u32,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub up: bool,
    /// Bridge to enslave to (index in the end's namespace). Only honoured
    /// on the first end of [`new_veth`].
    pub master: Option<u32>,
}

fn up_flags(msg: &mut LinkMessage, up: bool) {
    if up {
        msg.header.flags = LinkFlags::Up;
    }
    msg.header.change_mask = LinkFlags::Up;
}

fn common_attrs(msg: &mut LinkMessage, name: &str, mac: Option<MacAddr>, mtu: Option<u32>) {
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(m) = mac {
        msg.attributes.push(LinkAttribute::Address(m.0.to_vec()));
    }
    if let Some(m) = mtu {
        msg.attributes.push(LinkAttribute::Mtu(m));
    }
}

/// A request creating the veth pair `a`—`b`, both ends in place.
///
/// Only `a` can come up in the same request: the kernel configures the
/// peer before the pair is joined, and opening a veth without its peer
/// fails with ENOTCONN. Set `b` up afterwards with [`set_up`] from a socket
/// in its namespace (`b.up` is ignored here).
pub fn new_veth(a: &VethEnd, b: &VethEnd, what: String) -> Request {
    let mut peer = LinkMessage::default();
    peer.header.index = if a.index != 0 { b.index } else { 0 };
    common_attrs(&mut peer, b.name, b.mac, b.mtu);
    peer.attributes.push(LinkAttribute::NetNsFd(b.ns_fd));

    let mut msg = LinkMessage::default();
    msg.header.index = a.index;
    up_flags(&mut msg, a.up);
    common_attrs(&mut msg, a.name, a.mac, a.mtu);
    msg.attributes.push(LinkAttribute::NetNsFd(a.ns_fd));
    if let Some(m) = a.master {
        msg.attributes.push(LinkAttribute::Controller(m));
    }
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    Request::new(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        what,
    )
}

/// Bridge settings nlab uses for a switch.
#[derive(Debug, Clone, Copy)]
pub struct BridgeOpts {
    pub stp: bool,
}

/// A request creating a bridge named `name`, up, in namespace `ns_fd`
/// (`None`: the socket's namespace).
pub fn new_bridge(
    name: &str,
    ns_fd: Option<RawFd>,
    index: u32,
    opts: BridgeOpts,
    what: String,
) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    up_flags(&mut msg, true);
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(fd) = ns_fd {
        msg.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    let mut data = vec![];
    if opts.stp {
        // The minimum forward delay (2 s) lets a looped lab converge in ~5 s
        // instead of the standard 30 s.
        data.push(InfoBridge::StpState(BridgeStpState::KernelStp));
        data.push(InfoBridge::ForwardDelay(200));
        data.push(InfoBridge::HelloTime(100));
        data.push(InfoBridge::MaxAge(600));
    } else {
        // Without STP there is no listening/learning phase: ports forward
        // as soon as they are up.
        data.push(InfoBridge::StpState(BridgeStpState::Disabled));
        data.push(InfoBridge::ForwardDelay(0));
    }
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bridge),
        LinkInfo::Data(InfoData::Bridge(data)),
    ]));
    Request::new(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        what,
    )
}

/// Sets a link up or down (by index, in the socket's namespace).
pub fn set_up(index: u32, up: bool, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    up_flags(&mut msg, up);
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// Gives a link no IPv6 link-local address (`addr_gen_mode` none) when it
/// comes up. Send it before the link goes up: the mode decides what `up`
/// generates. The per-link netlink setting, instead of the namespace's
/// `default` sysctl: every `/proc/sys/net` lookup walks one dentry per
/// namespace on the host, which made sysctl writes the O(N²) part of
/// creating thousands of namespaces.
pub fn no_link_local(index: u32, what: String) -> Request {
    use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode};
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
            vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
        )]));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// Sets a link's MTU (by index, in the socket's namespace).
pub fn set_mtu(index: u32, mtu: u32, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::Mtu(mtu));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// The index of interface `iface` in the socket's namespace (`ns_name`
/// names it in the error).
pub fn index_of(sock: &mut Socket, iface: &str, ns_name: &str) -> Result<u32> {
    dump(sock, &format!("reading links of {ns_name}"))?
        .into_iter()
        .find(|s| s.name == iface)
        .map(|s| s.index)
        .ok_or_else(|| {
            Error::protocol(format!("finding {iface} in {ns_name}"), "no such interface")
        })
}

/// Sets a link's MAC address (by index, in the socket's namespace).
pub fn set_mac(index: u32, mac: MacAddr, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// Enslaves a link to a bridge (both in the socket's namespace).
pub fn set_master(index: u32, master: u32, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::Controller(master));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// Deletes a link by name (in the socket's namespace). Deleting one veth
/// end takes its peer with it.
pub fn delete_by_name(name: &str, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    Request::new(RouteNetlinkMessage::DelLink(msg), 0, what)
}

/// A request setting the alias of the link at `index` (the owner tag of
/// root-namespace objects, `nlab:<lab>:…`).
pub fn set_alias(index: u32, alias: &str, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::IfAlias(alias.to_string()));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkState {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, … (`None` for lo and physical devices).
    pub kind: Option<String>,
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Operational state as the kernel says it (`up`, `down`,
    /// `lowerlayerdown`, `unknown`).
    pub oper: String,
    /// Bridge this link is a port of.
    pub master: Option<u32>,
    /// For a veth: the peer's index (in the peer's namespace).
    pub peer_index: Option<u32>,
    /// For a veth whose peer is in another namespace: that namespace's id
    /// as seen from this one.
    pub peer_netnsid: Option<i32>,
    /// For a bridge port: its spanning-tree state (`forwarding`,
    /// `listening`, `learning`, `blocking`, `disabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_state: Option<&'static str>,
    /// The device has carrier (for a veth: its peer is up). Set at once,
    /// unlike `oper`, which the kernel updates a little later.
    pub carrier: bool,
    /// The interface alias (`ip link set … alias`): nlab's owner tag on
    /// what it makes in the root namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// Reads every link of the socket's namespace.
pub fn dump(sock: &mut Socket, what: &str) -> Result<Vec<LinkState>> {
    let msgs = sock.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), what)?;
    let mut out = Vec::new();
    for m in msgs {
        if let RouteNetlinkMessage::NewLink(l) = m {
            out.push(parse_link(&l));
        }
    }
    Ok(out)
}

pub(super) fn parse_link(l: &LinkMessage) -> LinkState {
    let mut s = LinkState {
        index: l.header.index,
        name: String::new(),
        kind: None,
        mac: None,
        mtu: 0,
        up: l.header.flags.contains(LinkFlags::Up),
        oper: "unknown".into(),
        master: None,
        peer_index: None,
        peer_netnsid: None,
        port_state: None,
        carrier: false,
        alias: None,
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Address(m) if m.len() == 6 => {
                let mut b = [0u8; 6];
                b.copy_from_slice(m);
                s.mac = Some(MacAddr(b));
            }
            LinkAttribute::Mtu(m) => s.mtu = *m,
            LinkAttribute::IfAlias(a) => s.alias = Some(a.clone()),
            LinkAttribute::Carrier(c) => s.carrier = *c != 0,
            LinkAttribute::Controller(m) => s.master = Some(*m),
            LinkAttribute::Link(p) => s.peer_index = Some(*p),
            LinkAttribute::LinkNetNsId(id) => s.peer_netnsid = Some(*id),
            LinkAttribute::OperState(st) => {
                s.oper = match st {
                    State::Up => "up",
                    State::Down => "down",
                    State::LowerLayerDown => "lowerlayerdown",
                    State::Dormant => "dormant",
                    State::NotPresent => "notpresent",
                    State::Testing => "testing",
                    _ => "unknown",
                }
                .into()
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => s.kind = Some(k.to_string()),
                        LinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                            s.port_state = port.iter().find_map(|p| match p {
                                InfoBridgePort::State(st) => Some(port_state_name(*st)),
                                _ => None,
                            })
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    s
}

fn port_state_name(s: BridgePortState) -> &'static str {
    match s {
        BridgePortState::Disabled => "disabled",
        BridgePortState::Listening => "listening",
        BridgePortState::Learning => "learning",
        BridgePortState::Forwarding => "forwarding",
        BridgePortState::Blocking => "blocking",
        _ => "unknown",
    }
}

/// Bridge ports of the socket's namespace, and those of them spanning tree
/// has not settled yet, as `port (state)`. A port without carrier is left
/// out: it forwards nothing by design. `blocking` is the steady state of
/// a port spanning tree closes to break a loop, so it counts as settled;
/// `disabled` on a port with carrier means the bridge has not taken it
/// in yet.
pub fn unsettled_ports(sock: &mut Socket, what: &str) -> Result<(usize, Vec<String>)> {
    let ports: Vec<LinkState> = dump(sock, what)?
        .into_iter()
        .filter(|l| l.master.is_some() && l.up && l.carrier)
        .collect();
    let unsettled = ports
        .iter()
        .filter_map(|l| match l.port_state {
            Some("forwarding") | Some("blocking") => None,
            st => Some(format!("{} ({})", l.name, st.unwrap_or("no state"))),
        })
        .collect();
    Ok((ports.len(), unsettled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::wire::roundtrip;
    use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};

    const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    const SET: u16 = NLM_F_REQUEST | NLM_F_ACK;

    fn link_msg(w: crate::kernel::wire::Wire) -> LinkMessage {
        match w.msg {
            RouteNetlinkMessage::NewLink(m)
            | RouteNetlinkMessage::SetLink(m)
            | RouteNetlinkMessage::DelLink(m) => m,
            other => panic!("not a link message: {other:?}"),
        }
    }

    #[test]
    fn a_veth_is_created_with_both_ends_in_their_namespaces() {
        let mac = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
        let a = VethEnd {
            name: "s1-eth1",
            ns_fd: 7,
            index: 12,
            mac: Some(mac),
            mtu: Some(9000),
            up: true,
            master: Some(2),
        };
        let b = VethEnd {
            name: "h1-eth0",
            ns_fd: 8,
            index: 13,
            mac: None,
            mtu: None,
            up: true,
            master: Some(99),
        };
        let w = roundtrip(&new_veth(&a, &b, "veth".into()));
        assert_eq!(w.kind, libc::RTM_NEWLINK);
        assert_eq!(w.flags, CREATE);
        let m = link_msg(w);
        assert_eq!(m.header.index, 12);
        assert_eq!(m.header.flags, LinkFlags::Up);
        assert_eq!(m.header.change_mask, LinkFlags::Up);
        let mut peer = LinkMessage::default();
        peer.header.index = 13;
        peer.attributes = vec![
            LinkAttribute::IfName("h1-eth0".into()),
            LinkAttribute::NetNsFd(8),
        ];
        assert_eq!(
            m.attributes,
            vec![
                LinkAttribute::IfName("s1-eth1".into()),
                LinkAttribute::Address(mac.0.to_vec()),
                LinkAttribute::Mtu(9000),
                LinkAttribute::NetNsFd(7),
                LinkAttribute::Controller(2),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Veth),
                    LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
                ]),
            ],
            "the peer's master and up are not sent: the kernel ignores them there"
        );
    }

    #[test]
    fn a_veth_without_chosen_indexes_lets_the_kernel_choose_both() {
        let end = |name| VethEnd {
            name,
            ns_fd: 3,
            index: 0,
            mac: None,
            mtu: None,
            up: false,
            master: None,
        };
        let mut b = end("b");
        b.index = 40;
        let m = link_msg(roundtrip(&new_veth(&end("a"), &b, "veth".into())));
        assert_eq!(m.header.index, 0);
        assert_eq!(m.header.flags, LinkFlags::empty());
        assert_eq!(m.header.change_mask, LinkFlags::Up);
        let Some(LinkAttribute::LinkInfo(info)) = m.attributes.last() else {
            panic!("no link info: {:?}", m.attributes);
        };
        let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))) = &info[1] else {
            panic!("no peer: {info:?}");
        };
        assert_eq!(p.header.index, 0);
    }

    #[test]
    fn a_bridge_is_created_up_with_or_without_spanning_tree() {
        let w = roundtrip(&new_bridge(
            "s1",
            Some(5),
            2,
            BridgeOpts { stp: true },
            "br".into(),
        ));
        assert_eq!((w.kind, w.flags), (libc::RTM_NEWLINK, CREATE));
        let m = link_msg(w);
        assert_eq!((m.header.index, m.header.flags), (2, LinkFlags::Up));
        assert_eq!(m.attributes[0], LinkAttribute::IfName("s1".into()));
        assert_eq!(m.attributes[1], LinkAttribute::NetNsFd(5));
        assert_eq!(
            m.attributes[2],
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![
                    InfoBridge::StpState(BridgeStpState::KernelStp),
                    InfoBridge::ForwardDelay(200),
                    InfoBridge::HelloTime(100),
                    InfoBridge::MaxAge(600),
                ])),
            ])
        );
        let m = link_msg(roundtrip(&new_bridge(
            "s2",
            None,
            2,
            BridgeOpts { stp: false },
            "br".into(),
        )));
        assert_eq!(m.attributes.len(), 2, "no namespace fd: {:?}", m.attributes);
        assert_eq!(
            m.attributes[1],
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![
                    InfoBridge::StpState(BridgeStpState::Disabled),
                    InfoBridge::ForwardDelay(0),
                ])),
            ])
        );
    }

    #[test]
    fn link_settings_change_only_what_they_name() {
        for (up, flags) in [(true, LinkFlags::Up), (false, LinkFlags::empty())] {
            let w = roundtrip(&set_up(5, up, "up".into()));
            assert_eq!((w.kind, w.flags), (libc::RTM_SETLINK, SET));
            let m = link_msg(w);
            assert_eq!((m.header.index, m.header.flags), (5, flags));
            assert_eq!(m.header.change_mask, LinkFlags::Up);
            assert!(m.attributes.is_empty());
        }
        let mac = MacAddr([0x02, 1, 2, 3, 4, 5]);
        let cases = [
            (set_mtu(6, 1400, "mtu".into()), LinkAttribute::Mtu(1400)),
            (
                set_mac(6, mac, "mac".into()),
                LinkAttribute::Address(mac.0.to_vec()),
            ),
            (
                set_master(6, 2, "master".into()),
                LinkAttribute::Controller(2),
            ),
        ];
        for (req, attr) in cases {
            let w = roundtrip(&req);
            assert_eq!((w.kind, w.flags), (libc::RTM_SETLINK, SET), "{}", req.what);
            let m = link_msg(w);
            assert_eq!(m.header.index, 6);
            assert_eq!(m.header.change_mask, LinkFlags::empty(), "{}", req.what);
            assert_eq!(m.attributes, vec![attr]);
        }
    }

    #[test]
    fn no_link_local_sets_the_address_generation_mode_to_none() {
        use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode};
        let w = roundtrip(&no_link_local(9, "no ll".into()));
        assert_eq!((w.kind, w.flags), (libc::RTM_SETLINK, SET));
        let m = link_msg(w);
        assert_eq!(m.header.index, 9);
        assert_eq!(
            m.attributes,
            vec![LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)]
            )])]
        );
    }

    #[test]
    fn a_link_is_deleted_by_name() {
        let w = roundtrip(&delete_by_name("h1-eth0", "del".into()));
        assert_eq!((w.kind, w.flags), (libc::RTM_DELLINK, SET));
        let m = link_msg(w);
        assert_eq!(m.header.index, 0);
        assert_eq!(m.attributes, vec![LinkAttribute::IfName("h1-eth0".into())]);
    }
}
