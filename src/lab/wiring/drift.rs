//! A lab's wiring in the kernel against its topology, for `inspect
//! --wiring`. `inspect` already says which ends are missing, which two
//! ends are no longer one veth and which port left its bridge; with the
//! whole host's wiring at hand this adds where a missing end went (the
//! veth peer of the end that stayed names it) and the interfaces someone
//! added to the lab's namespaces. No syscalls.

use super::{IfaceWiring, NsWiring, Wiring};
use crate::kernel::netns::ns_name;
use crate::topo::{Endpoint, NodeKind, Topology};
use std::collections::{HashMap, HashSet};

/// One sentence per difference between `w` and the topology `t`.
pub fn notes(t: &Topology, w: &Wiring) -> Vec<String> {
    let mut by_ns: HashMap<&str, &NsWiring> = HashMap::new();
    for ns in &w.namespaces {
        for n in &ns.netns {
            by_ns.insert(n.as_str(), ns);
        }
    }
    let mut notes = Vec::new();
    let mut named: HashSet<(&str, &str)> = HashSet::new();
    for l in &t.links {
        let [a, b] = &l.endpoints;
        for (e, o) in [(a, b), (b, a)] {
            named.insert((&e.node, &e.iface));
            // Emulated links are two TAPs the supervisor joins: no peer
            // in the kernel to compare (inspect checks their kind).
            if crate::lab::emulated::needs_emulator(l) {
                continue;
            }
            let here = ns_name(&t.name, &e.node);
            let Some(f) = by_ns
                .get(here.as_str())
                .and_then(|ns| ns.interfaces.iter().find(|f| f.name == e.iface))
            else {
                continue;
            };
            let pinned = |label: &str| by_ns.contains_key(label);
            if let Some(n) = peer_note(&t.name, f, e, o, &pinned) {
                notes.push(format!("link {}: {n}", l.key()));
            }
        }
    }
    // `host:` links: the node's end is the topology's too.
    for h in &t.host_links {
        named.insert((&h.node, &h.iface));
    }
    for ns in w
        .namespaces
        .iter()
        .filter(|n| n.lab.as_deref() == Some(&t.name))
    {
        let Some(node) = ns.node.as_deref() else {
            continue;
        };
        // An attached namespace's own interfaces are not the lab's.
        if t.nodes.get(node).is_some_and(|n| n.attach.is_some()) {
            continue;
        }
        let switch = t.nodes.get(node).map(|n| n.kind) == Some(NodeKind::Switch);
        for f in &ns.interfaces {
            let own_bridge = switch && f.kind == "bridge" && f.name == node;
            if f.kind == "loopback" || own_bridge || named.contains(&(node, f.name.as_str())) {
                continue;
            }
            notes.push(format!(
                "node {node}: {} is not in the topology ({})",
                f.name,
                describe(f, &ns.name)
            ));
        }
    }
    notes
}

/// What is wrong with end `e`'s veth peer, which should be `o`;
/// `pinned` says whether a namespace's name is an `ip netns` name (then
/// the remedy can be spelled as `ip -n` commands).
fn peer_note(
    lab: &str,
    f: &IfaceWiring,
    e: &Endpoint,
    o: &Endpoint,
    pinned: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let want_ns = ns_name(lab, &o.node);
    let Some(p) = &f.peer else {
        return Some(format!("{} is a {}, not a veth", e.id(), f.kind));
    };
    let same_name = p.interface.as_deref() == Some(o.iface.as_str());
    if same_name && p.namespace.as_deref() == Some(want_ns.as_str()) {
        return None;
    }
    Some(match (&p.namespace, same_name) {
        (Some(ns), true) => {
            let i = &o.iface;
            let remedy = if pinned(ns) {
                format!(
                    "move it back (`ip -n {ns} link set {i} netns {want_ns}`) or delete it \
                     (`ip -n {ns} link del {i}`), then `nlab up`"
                )
            } else {
                format!("move it back to {want_ns} or delete it, then `nlab up`")
            };
            format!(
                "{} was moved to namespace {ns} (it is still the veth peer of {}): {remedy}",
                o.id(),
                e.id()
            )
        }
        (None, true) => format!(
            "{} was moved to a namespace nlab cannot find (it is still the veth peer of {})",
            o.id(),
            e.id()
        ),
        _ => format!(
            "the veth peer of {} is {}, not {}",
            e.id(),
            p.describe(""),
            o.id()
        ),
    })
}

/// `veth, peer X @ NS, port of s1` for a sentence.
pub fn describe(f: &IfaceWiring, here: &str) -> String {
    let mut parts = vec![f.kind.clone()];
    if let Some(p) = &f.peer {
        parts.push(format!("peer {}", p.describe(here)));
    }
    if let Some(p) = &f.parent {
        parts.push(format!("on {}", p.describe(here)));
    }
    if let Some(m) = &f.master {
        parts.push(format!("port of {m}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::{EndRef, NsKind};
    use super::*;
    use crate::topo::generate;

    fn iface(name: &str, kind: &str, peer: Option<(&str, &str)>) -> IfaceWiring {
        IfaceWiring {
            name: name.into(),
            index: 2,
            kind: kind.into(),
            mac: None,
            mtu: 1500,
            up: true,
            oper: "up".into(),
            master: None,
            peer: peer.map(|(ns, i)| EndRef {
                namespace: Some(ns.into()),
                inode: None,
                interface: Some(i.into()),
                index: 3,
            }),
            parent: None,
            mode: None,
            ports: Vec::new(),
            holders: Vec::new(),
        }
    }

    fn ns(lab: &str, node: &str, interfaces: Vec<IfaceWiring>) -> NsWiring {
        let name = ns_name(lab, node);
        NsWiring {
            name: name.clone(),
            kind: NsKind::Lab,
            inode: 1,
            holder: String::new(),
            netns: vec![name],
            lab: Some(lab.into()),
            node: Some(node.into()),
            container: None,
            pids: Vec::new(),
            interfaces,
        }
    }

    /// The kernel of a `minimal` lab (h1, h2 on s1) as built.
    fn healthy() -> (Topology, Wiring) {
        let t = generate::from_spec("minimal", "w", false).unwrap();
        let mut nss = vec![ns("w", "s1", vec![iface("s1", "bridge", None)])];
        for l in &t.links {
            let [a, b] = &l.endpoints;
            for (e, o) in [(a, b), (b, a)] {
                let peer = (ns_name("w", &o.node), o.iface.clone());
                let f = iface(&e.iface, "veth", Some((&peer.0, &peer.1)));
                match nss.iter_mut().find(|n| n.node.as_deref() == Some(&e.node)) {
                    Some(n) => n.interfaces.push(f),
                    None => nss.push(ns("w", &e.node, vec![f])),
                }
            }
        }
        let w = Wiring {
            namespaces: nss,
            unreadable: Vec::new(),
            elapsed_ms: 0.0,
        };
        (t, w)
    }

    #[test]
    fn a_lab_as_built_has_no_wiring_drift() {
        let (t, w) = healthy();
        assert_eq!(notes(&t, &w), Vec::<String>::new());
    }

    #[test]
    fn a_moved_end_is_found_where_it_went_and_extras_are_named() {
        let (t, mut w) = healthy();
        let [a, b] = &t.links[0].endpoints;
        let a_ns = ns_name("w", &a.node);
        for f in w
            .namespaces
            .iter_mut()
            .flat_map(|n| n.interfaces.iter_mut())
        {
            if f.name == b.iface {
                f.peer = Some(EndRef {
                    namespace: Some("pid 99 (sleep)".into()),
                    inode: None,
                    interface: Some(a.iface.clone()),
                    index: 2,
                });
            }
        }
        w.namespaces.retain(|n| n.name != a_ns);
        w.namespaces.push(ns(
            "w",
            &a.node,
            vec![iface("extra0", "veth", Some(("root", "v1")))],
        ));
        let n = notes(&t, &w);
        let key = t.links[0].key();
        assert!(
            n.contains(&format!(
                "link {key}: {} was moved to namespace pid 99 (sleep) (it is still the veth peer \
                 of {}): move it back to {a_ns} or delete it, then `nlab up`",
                a.id(),
                b.id(),
            )),
            "{n:?}"
        );
        assert!(
            n.contains(&format!(
                "node {}: extra0 is not in the topology (veth, peer v1 @ root)",
                a.node
            )),
            "{n:?}"
        );
    }
}
