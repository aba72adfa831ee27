//! What `up` may delete when a recorded link goes: only what nlab made.
//!
//! The journal says which interfaces a link had, but a journal can be
//! wrong (edited, or stale after someone rewired a node by hand). Deleting
//! a veth end deletes its peer wherever it lives, so an interface named in
//! the journal is deleted only when the kernel shows it is the link nlab
//! made: a veth whose peer is the recorded other end, both inside the
//! lab's own namespaces, or (emulated links) a TAP. Anything else under
//! that name is left alone: if the new topology wants the name, creating
//! it fails with the kernel's "File exists" naming the interface.

use super::emulated::needs_emulator;
use super::handles::NodeHandle;
use super::Result;
use crate::kernel::link::{self, LinkState};
use crate::kernel::netns;
use crate::topo::Link;
use std::collections::BTreeMap;

/// The links of each node's namespace, read once per apply.
#[derive(Default)]
pub struct Seen {
    links: BTreeMap<String, BTreeMap<String, LinkState>>,
}

impl Seen {
    fn state(
        &mut self,
        lab: &str,
        node: &str,
        iface: &str,
        handles: &mut BTreeMap<String, NodeHandle>,
    ) -> Result<Option<LinkState>> {
        if !self.links.contains_key(node) {
            let ns_name = netns::ns_name(lab, node);
            if !netns::exists(&ns_name) {
                return Ok(None);
            }
            if !handles.contains_key(node) {
                handles.insert(node.to_string(), NodeHandle::open(&ns_name)?);
            }
            let mut found = BTreeMap::new();
            if let Some(h) = handles.get_mut(node) {
                for l in link::dump(&mut h.sock, &format!("reading links of {ns_name}"))? {
                    found.insert(l.name.clone(), l);
                }
            }
            self.links.insert(node.to_string(), found);
        }
        Ok(self.links.get(node).and_then(|m| m.get(iface)).cloned())
    }
}

/// Whether the kernel's interfaces for the two ends are the link nlab made.
fn made_by_nlab(l: &Link, a: Option<&LinkState>, b: Option<&LinkState>) -> [bool; 2] {
    let kind_is = |s: Option<&LinkState>, k: &str| s.and_then(|s| s.kind.as_deref()) == Some(k);
    if needs_emulator(l) {
        // Two TAPs joined by the supervisor: each dies alone.
        return [kind_is(a, "tun"), kind_is(b, "tun")];
    }
    let paired = match (a, b) {
        (Some(x), Some(y)) => {
            kind_is(a, "veth")
                && kind_is(b, "veth")
                && x.peer_index == Some(y.index)
                && y.peer_index == Some(x.index)
        }
        _ => false,
    };
    [paired, paired]
}

/// Deletes the interfaces of recorded link `l`, where they are nlab's (see
/// the module docs). Ends in `deleted_nodes` go with their namespace.
pub fn delete_link(
    lab: &str,
    l: &Link,
    deleted_nodes: &[String],
    handles: &mut BTreeMap<String, NodeHandle>,
    seen: &mut Seen,
) -> Result<()> {
    let [ea, eb] = &l.endpoints;
    let a = seen.state(lab, &ea.node, &ea.iface, handles)?;
    let b = seen.state(lab, &eb.node, &eb.iface, handles)?;
    let ours = made_by_nlab(l, a.as_ref(), b.as_ref());
    for (i, e) in l.endpoints.iter().enumerate() {
        if !ours[i] || deleted_nodes.contains(&e.node) {
            continue;
        }
        let Some(h) = handles.get_mut(&e.node) else {
            continue;
        };
        h.index_of.remove(&e.iface);
        let what = format!("deleting {} in {}", e.iface, netns::ns_name(lab, &e.node));
        if let Err(err) = h.sock.request(link::delete_by_name(&e.iface, what)) {
            if err.raw_errno() != Some(libc::ENODEV) {
                return Err(err.into());
            }
        }
        // Deleting one end of a veth removes the other too.
        if !needs_emulator(l) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::generate;

    fn state(name: &str, index: u32, kind: &str, peer: Option<u32>) -> LinkState {
        LinkState {
            index,
            name: name.into(),
            kind: Some(kind.into()),
            mac: None,
            mtu: 1500,
            up: true,
            oper: "up".into(),
            master: None,
            peer_index: peer,
            peer_netnsid: None,
        }
    }

    #[test]
    fn only_a_veth_peered_with_the_recorded_end_is_ours() {
        let t = generate::from_spec("linear,2", "x", false).expect("topology");
        let l = &t.links[0];
        let a = state("h1-eth0", 5, "veth", Some(7));
        let b = state("s1-eth1", 7, "veth", Some(5));
        assert_eq!(made_by_nlab(l, Some(&a), Some(&b)), [true, true]);
        // The recorded end's peer is elsewhere (a foreign namespace).
        let foreign = state("h1-eth0", 5, "veth", Some(40));
        assert_eq!(made_by_nlab(l, Some(&foreign), Some(&b)), [false, false]);
        // The other end's namespace or interface is gone: nothing to prove.
        assert_eq!(made_by_nlab(l, Some(&a), None), [false, false]);
        // Not a veth at all.
        let dummy = state("h1-eth0", 5, "dummy", None);
        assert_eq!(made_by_nlab(l, Some(&dummy), Some(&b)), [false, false]);
    }
}
