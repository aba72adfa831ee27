//! What `up` may delete when a recorded link goes: only what nlab made.
//!
//! The journal says which interfaces a link had, but a journal can be
//! wrong (edited, or stale after someone rewired a node by hand). Deleting
//! a veth end deletes its peer wherever it lives, so an interface named in
//! the journal is deleted only when nothing outside the lab dies with it:
//! a veth whose peer is the recorded other end (the kernel's peer indexes
//! agree both ways), whose peer is in its own namespace, or whose peer's
//! namespace is already being freed (the kernel reports its id as -1: a
//! node namespace deleted by hand, whose surviving end would otherwise
//! linger and clash with the link created next); an emulated link's TAPs.
//! Anything else under that name is left alone: if the new topology wants
//! the name, creating it fails with the kernel's "File exists" naming it.

use super::emulated::needs_emulator;
use super::handles::{NodeConn, NodeIndex};
use super::Result;
use crate::kernel::link::{self, LinkState};
use crate::kernel::netns;
use crate::topo::Link;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
        handles: &mut BTreeMap<String, NodeIndex>,
    ) -> Result<Option<LinkState>> {
        if !self.links.contains_key(node) {
            let ns_name = netns::ns_name(lab, node);
            if !netns::exists(&ns_name) {
                return Ok(None);
            }
            // A socket for this read alone: descriptors are per batch.
            let mut conn = NodeConn::open(&ns_name)?;
            if !handles.contains_key(node) {
                handles.insert(node.to_string(), NodeIndex::read(&mut conn)?);
            }
            let mut found = BTreeMap::new();
            for l in link::dump(&mut conn.sock, &format!("reading links of {ns_name}"))? {
                found.insert(l.name.clone(), l);
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
    if let (Some(x), Some(y)) = (a, b) {
        let paired = kind_is(a, "veth")
            && kind_is(b, "veth")
            && x.peer_index == Some(y.index)
            && y.peer_index == Some(x.index);
        if paired {
            return [true, true];
        }
    }
    // No recorded peer to match: only a veth whose peer cannot be alive
    // elsewhere (same namespace: no id; a dying namespace: id -1).
    let alone = |s: Option<&LinkState>| {
        kind_is(s, "veth") && s.is_some_and(|s| matches!(s.peer_netnsid, None | Some(-1)))
    };
    [alone(a), alone(b)]
}

/// Deletes the interfaces of recorded link `l`, where they are nlab's (see
/// the module docs). Ends in `deleted_nodes` go with their namespace.
pub fn delete_link(
    lab: &str,
    l: &Link,
    deleted_nodes: &[String],
    handles: &mut BTreeMap<String, NodeIndex>,
    seen: &mut Seen,
) -> Result<()> {
    let [ea, eb] = &l.endpoints;
    let a = seen.state(lab, &ea.node, &ea.iface, handles)?;
    let b = seen.state(lab, &eb.node, &eb.iface, handles)?;
    let ours = made_by_nlab(l, a.as_ref(), b.as_ref());
    let states = [a, b];
    for (i, e) in l.endpoints.iter().enumerate() {
        if deleted_nodes.contains(&e.node) || states[i].is_none() {
            continue;
        }
        let ns_name = netns::ns_name(lab, &e.node);
        let Some(h) = handles.get_mut(&e.node) else {
            continue;
        };
        if !ours[i] {
            let other = &l.endpoints[1 - i];
            let is_veth = states[i].as_ref().and_then(|s| s.kind.as_deref()) == Some("veth");
            // The other end's namespace was deleted (by hand): the kernel
            // frees this end with it, shortly. Anything that stays is
            // peered with something alive outside the lab.
            if is_veth
                && !needs_emulator(l)
                && !netns::exists(&netns::ns_name(lab, &other.node))
                && vanishes(&ns_name, &e.iface, GONE_WITHIN)?
            {
                h.index_of.remove(&e.iface);
            }
            continue;
        }
        h.index_of.remove(&e.iface);
        let what = format!("deleting {} in {ns_name}", e.iface);
        let mut conn = NodeConn::open(&ns_name)?;
        if let Err(err) = conn.sock.request(link::delete_by_name(&e.iface, what)) {
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

/// How long the kernel may take to free a deleted namespace's veths.
const GONE_WITHIN: Duration = Duration::from_secs(2);

/// Waits (at most `within`) for `iface` to leave namespace `ns_name`.
fn vanishes(ns_name: &str, iface: &str, within: Duration) -> Result<bool> {
    let mut conn = NodeConn::open(ns_name)?;
    let start = Instant::now();
    loop {
        let links = link::dump(&mut conn.sock, &format!("reading links of {ns_name}"))?;
        if !links.iter().any(|l| l.name == iface) {
            return Ok(true);
        }
        if start.elapsed() >= within {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
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
            // Lab links cross namespaces: the peer's has an id.
            peer_netnsid: peer.map(|_| 1),
            port_state: None,
            carrier: true,
            alias: None,
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
        let mut foreign = state("h1-eth0", 5, "veth", Some(40));
        foreign.peer_netnsid = Some(0);
        assert_eq!(made_by_nlab(l, Some(&foreign), Some(&b)), [false, false]);
        // The other end is gone but a's peer lives on in a namespace with an
        // id: not provably nlab's.
        let mut a_elsewhere = a.clone();
        a_elsewhere.peer_netnsid = Some(2);
        assert_eq!(made_by_nlab(l, Some(&a_elsewhere), None), [false, false]);
        // Not a veth at all.
        let dummy = state("h1-eth0", 5, "dummy", None);
        assert_eq!(made_by_nlab(l, Some(&dummy), Some(&b)), [false, false]);
        // The peer's namespace is being freed (deleted by hand), or the
        // peer is in the same namespace: nothing alive dies with it.
        let mut dying = state("s1-eth1", 7, "veth", Some(5));
        dying.peer_netnsid = Some(-1);
        assert_eq!(made_by_nlab(l, None, Some(&dying)), [false, true]);
        let mut same = dying.clone();
        same.peer_netnsid = None;
        assert_eq!(made_by_nlab(l, None, Some(&same)), [false, true]);
        let mut live = dying.clone();
        live.peer_netnsid = Some(3);
        assert_eq!(made_by_nlab(l, None, Some(&live)), [false, false]);
    }
}
