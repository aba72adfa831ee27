//! Interfaces nlab makes outside its own namespaces carry an alias (the
//! owner tag, `nlab:<lab>`): set it, find interfaces by it, move a tagged
//! end into another namespace, delete one by index.

use super::link::LinkState;
use super::netlink::{Request, Socket};
use super::Result;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use std::os::fd::RawFd;

/// Sets interface `index`'s alias (`IFLA_IFALIAS`). The kernel ignores
/// an alias in the request that creates a link, so it is set after.
pub fn set_alias(index: u32, alias: &str, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::IfAlias(alias.to_string()));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// Moves interface `index` into the namespace `ns_fd`, renamed `name`
/// there (one request: it never shows up there under another name).
pub fn move_to(index: u32, ns_fd: RawFd, name: &str, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::NetNsFd(ns_fd));
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, what)
}

/// Deletes interface `index` (a veth takes its peer along).
pub fn delete_index(index: u32, what: String) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    Request::new(RouteNetlinkMessage::DelLink(msg), 0, what)
}

/// A link of the socket's namespace with its alias.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub link: LinkState,
    pub alias: Option<String>,
}

/// Every link of the socket's namespace with its alias.
pub fn dump(sock: &mut Socket, what: &str) -> Result<Vec<Tagged>> {
    let msgs = sock.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), what)?;
    let mut out = Vec::new();
    for m in msgs {
        if let RouteNetlinkMessage::NewLink(l) = m {
            let alias = l.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfAlias(s) => Some(s.clone()),
                _ => None,
            });
            out.push(Tagged {
                link: super::link::parse_link(&l),
                alias,
            });
        }
    }
    Ok(out)
}
