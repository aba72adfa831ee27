//! MACVLAN and MACVTAP interfaces on a host NIC, created directly inside
//! a node's namespace.
//!
//! The request goes out from a socket in the namespace that holds the
//! parent (the kernel resolves `IFLA_LINK` there) with `IFLA_NET_NS_FD`
//! naming the node's namespace, so the new interface never exists in the
//! parent's namespace: nothing to move (≈20 ms each) and nothing left
//! behind there. Deleting the node's namespace deletes it; the parent is
//! only referred to. The interface carries the alias `nlab:<lab>` so a
//! reader of `ip link` can tell whose it is.

use super::netlink::Request;
use crate::topo::macvlan::MacvlanMode;
use crate::topo::MacAddr;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoMacVtap, LinkAttribute, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::RouteNetlinkMessage;
use std::os::fd::RawFd;

/// One interface to create on a parent.
#[derive(Debug, Clone)]
pub struct OnParent<'a> {
    /// Its name inside the node.
    pub name: &'a str,
    /// The parent's index, in the namespace of the socket that sends this.
    pub parent: u32,
    /// The node's namespace (an fd this process holds).
    pub ns_fd: RawFd,
    pub mode: MacvlanMode,
    /// A MACVTAP (its queues are read through `/dev/tapN`) instead of a
    /// MACVLAN.
    pub tap: bool,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
}

fn kernel_mode(m: MacvlanMode) -> MacVlanMode {
    match m {
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
    }
}

/// The request creating `o`, down, inside its node's namespace. The
/// alias cannot go in the same request (the kernel applies `IFLA_IFALIAS`
/// only to an existing link): set it with [`set_alias`] from the node.
pub fn create(o: &OnParent, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::IfName(o.name.to_string()));
    msg.attributes.push(LinkAttribute::Link(o.parent));
    msg.attributes.push(LinkAttribute::NetNsFd(o.ns_fd));
    if let Some(m) = o.mac {
        msg.attributes.push(LinkAttribute::Address(m.0.to_vec()));
    }
    if let Some(m) = o.mtu {
        msg.attributes.push(LinkAttribute::Mtu(m));
    }
    let mode = kernel_mode(o.mode);
    let (kind, data) = if o.tap {
        (
            InfoKind::MacVtap,
            InfoData::MacVtap(vec![InfoMacVtap::Mode(mode)]),
        )
    } else {
        (
            InfoKind::MacVlan,
            InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)]),
        )
    };
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(kind),
        LinkInfo::Data(data),
    ]));
    Request::new(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        what,
    )
}

/// Sets a link's alias (by index, in the socket's namespace): the owner
/// mark nlab leaves on interfaces whose names it does not choose alone.
pub fn set_alias(index: u32, alias: &str, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::IfAlias(alias.to_string()));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_the_kernels() {
        assert_eq!(kernel_mode(MacvlanMode::Passthru), MacVlanMode::Passthrough);
        assert_eq!(u32::from(kernel_mode(MacvlanMode::Bridge)), 4);
        assert_eq!(u32::from(kernel_mode(MacvlanMode::Private)), 1);
        assert_eq!(u32::from(kernel_mode(MacvlanMode::Vepa)), 2);
    }
}
