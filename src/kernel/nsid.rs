//! Namespace ids: the small numbers a namespace gives the other
//! namespaces its interfaces reach (a veth's `IFLA_LINK_NETNSID`). They
//! are local to the namespace that assigned them, so an id alone names
//! nothing; `RTM_GETNSID` with a namespace's fd says which id the
//! socket's namespace gives that namespace, and ties a veth's peer id to
//! one namespace when indexes alone cannot.

use super::netlink::Socket;
use super::Result;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::RouteNetlinkMessage;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The id the socket's namespace gives the namespace `ns`, or `None`
/// when it has given it none (then no interface here reaches it). Asking
/// assigns nothing.
pub fn id_of(sock: &mut Socket, ns: BorrowedFd<'_>, what: &str) -> Result<Option<i32>> {
    let mut msg = NsidMessage::default();
    msg.attributes
        .push(NsidAttribute::Fd(ns.as_raw_fd() as u32));
    let answer = sock.get(RouteNetlinkMessage::GetNsId(msg), what)?;
    Ok(answer
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewNsId(n) => n.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) => Some(*id),
                _ => None,
            }),
            _ => None,
        })
        .filter(|id| *id >= 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netns::NetNs;

    /// Two scratch namespaces joined by a veth: each names the other by
    /// the id its veth end reports; a namespace it never reached has none.
    #[test]
    fn a_veth_peer_id_is_the_id_of_the_peer_namespace() {
        if !crate::kernel::proc::is_root(std::process::id() as i32) {
            eprintln!("SKIP: nsid test needs root");
            return;
        }
        let scratch = || {
            std::thread::spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                NetNs::current().unwrap()
            })
            .join()
            .unwrap()
        };
        let (a, b, c) = (scratch(), scratch(), scratch());
        let mut sa = a.run(Socket::new).unwrap().unwrap();
        let end = |name, ns: &NetNs| crate::kernel::link::VethEnd {
            name,
            ns_fd: ns.raw_fd(),
            index: 0,
            mac: None,
            mtu: None,
            up: false,
            master: None,
        };
        let req = crate::kernel::link::new_veth(&end("va", &a), &end("vb", &b), "veth".into());
        sa.request(req).unwrap();
        let links = crate::kernel::link::dump(&mut sa, "links of a").unwrap();
        let va = links.iter().find(|l| l.name == "va").unwrap();
        let id = va
            .peer_netnsid
            .expect("a cross-namespace veth has a peer id");
        assert_eq!(id_of(&mut sa, b.fd(), "id of b").unwrap(), Some(id));
        assert_eq!(id_of(&mut sa, c.fd(), "id of c").unwrap(), None);
        let far = crate::kernel::link_detail::in_peer_ns(
            &mut sa,
            id,
            va.peer_index.unwrap(),
            "vb from a",
        )
        .unwrap()
        .expect("the peer is found through its id");
        assert_eq!(far.link.name, "vb");
        assert_eq!(far.link.peer_index, Some(va.index));
    }
}
