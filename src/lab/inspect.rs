//! Reading a lab back from the kernel and comparing it with the topology.
//!
//! `inspect` shows what the kernel holds, not what the journal says, and
//! names every difference; `up` uses the same comparison to repair drift.

use super::handles::{read_view, NodeView};
use super::plan::Drift;
use super::Result;
use crate::kernel::link::LinkState;
use crate::kernel::netns;
use crate::services::supervisor::api as supervisor;
use crate::topo::{IpNet, NodeKind, Topology};
use serde::Serialize;
use std::collections::BTreeMap;

/// One interface as found in the kernel.
#[derive(Debug, Clone, Serialize)]
pub struct IfaceView {
    /// The interface's name inside its node (`eth0`; a switch's bridge
    /// carries the switch's name).
    pub name: String,
    /// The kernel's ifindex, unique within the node's namespace only.
    pub index: u32,
    /// The kernel's link kind (`veth`, `bridge`, `tun`, …); `None` when
    /// the kernel names none.
    pub kind: Option<String>,
    /// The hardware address, `aa:bb:cc:dd:ee:ff`; `None` when it has none.
    pub mac: Option<String>,
    /// In bytes.
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// Operational state (`up`, `down`, `lowerlayerdown`, …).
    pub oper: String,
    /// Global-scope addresses with their prefix length, sorted
    /// (link-local ones are left out).
    pub addrs: Vec<IpNet>,
    /// Bridge this interface is a port of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// The other end of a veth, as `node:iface`, found from the kernel's
    /// peer indexes (not from the topology).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

/// One node as found in the kernel.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    /// The node's name in the topology.
    pub name: String,
    /// Host, switch or router, as the topology says.
    pub kind: NodeKind,
    /// The name of the network namespace that is the node
    /// (`nlab-LAB-NODE`, or `nlab-LAB:NODE` when the lab's name has a
    /// `-`); `ip netns exec` reaches it for a pinned lab.
    pub namespace: String,
    /// False when the namespace is gone.
    pub present: bool,
    /// Every interface in the namespace but `lo` (empty when the
    /// namespace is gone).
    pub interfaces: Vec<IfaceView>,
}

/// The whole lab as the kernel holds it.
#[derive(Debug, Clone, Serialize)]
pub struct LabView {
    /// The lab's name.
    pub lab: String,
    /// Every node of the topology, in natural order (`h2` before `h10`).
    pub nodes: Vec<NodeInfo>,
    /// Differences between the topology and the kernel, one sentence each.
    pub drift: Vec<String>,
}

/// What the supervisor holds links in (set down by the user or by a
/// schedule), by link key.
type Driven = BTreeMap<String, supervisor::LinkState>;

/// `node:iface` of the other end of each interface the topology links.
type PeerOf = BTreeMap<(String, String), String>;

/// Reads every node of `t` from the kernel and compares.
pub fn inspect(t: &Topology) -> Result<(LabView, Drift)> {
    let (views, mut drift) = read_views(t)?;
    // A link the supervisor drives (set down, or down by its schedule) is
    // meant to differ from the file: not drift, and `up` must not "repair"
    // it by recreating the link.
    let driven = supervisor::driven_links(&t.name).unwrap_or_default();
    let peer_of = compare(t, &views, &driven, &mut drift);
    emulator_notes(t, &driven, &mut drift.notes);
    let view = LabView {
        lab: t.name.clone(),
        nodes: node_infos(t, &views, &peer_of),
        drift: drift.notes.clone(),
    };
    Ok((view, drift))
}

/// Threads reading namespaces at once: each read waits on the kernel
/// (entering a namespace, three netlink dumps), so a few overlap well even
/// on two cores.
const READERS: usize = 4;

/// Phase 1: each node's namespace as the kernel holds it; a missing one
/// is drift. Read by up to [`READERS`] threads (1,000 namespaces: about
/// half the time of one).
fn read_views(t: &Topology) -> Result<(BTreeMap<String, NodeView>, Drift)> {
    /// What one reader found: each node's view, `None` when missing.
    type Part = Result<Vec<(String, Option<NodeView>)>>;
    let names: Vec<&String> = t.nodes.keys().collect();
    let chunk = names.len().div_ceil(READERS).max(1);
    let read = |part: &[&String]| -> Part {
        part.iter()
            .map(|n| Ok(((*n).clone(), read_view(&netns::ns_name(&t.name, n))?)))
            .collect()
    };
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| s.spawn(move || read(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(super::Error::Internal("a namespace reader panicked".into()))
                })
            })
            .collect()
    });
    let mut views = BTreeMap::new();
    let mut drift = Drift::default();
    for part in parts {
        for (name, view) in part? {
            match view {
                Some(v) => {
                    views.insert(name, v);
                }
                None => {
                    let ns = netns::ns_name(&t.name, &name);
                    drift.nodes.insert(name.clone());
                    drift
                        .notes
                        .push(format!("node {name}: namespace {ns} is missing"));
                }
            }
        }
    }
    Ok((views, drift))
}

/// Phase 2, no syscalls: the kernel's `views` against the topology.
/// Records what differs in `drift` and returns the peers it resolved.
fn compare(
    t: &Topology,
    views: &BTreeMap<String, NodeView>,
    driven: &Driven,
    drift: &mut Drift,
) -> PeerOf {
    switch_drift(t, views, drift);
    let mut peer_of = link_drift(t, views, driven, drift);
    // `host:` links: the other end is in the root namespace.
    for h in &t.host_links {
        let peer = format!("{}:{}", crate::topo::external::HOST_NODE, h.host_iface);
        peer_of.insert((h.node.clone(), h.iface.clone()), peer);
    }
    route_drift(t, views, driven, drift);
    peer_of
}

/// Switches: the bridge must be there.
fn switch_drift(t: &Topology, views: &BTreeMap<String, NodeView>, drift: &mut Drift) {
    for n in t.nodes.values().filter(|n| n.kind == NodeKind::Switch) {
        if let Some(v) = views.get(&n.name) {
            let ok = v
                .links
                .iter()
                .any(|l| l.name == n.name && l.kind.as_deref() == Some("bridge"));
            if !ok {
                drift.nodes.insert(n.name.clone());
                drift
                    .notes
                    .push(format!("switch {}: bridge {} is missing", n.name, n.name));
            }
        }
    }
}

/// Each link of the topology against its two ends in the kernel. Veth
/// peers are resolved from the kernel's own indexes: A's peer index is B's
/// index and B's peer index is A's.
fn link_drift(
    t: &Topology,
    views: &BTreeMap<String, NodeView>,
    driven: &Driven,
    drift: &mut Drift,
) -> PeerOf {
    let find = |node: &str, iface: &str| {
        views
            .get(node)
            .and_then(|v| v.links.iter().find(|l| l.name == iface))
    };
    let mut peer_of = PeerOf::new();
    for l in &t.links {
        let [a, b] = &l.endpoints;
        let key = l.key();
        if drift.nodes.contains(&a.node) || drift.nodes.contains(&b.node) {
            drift.links.insert(key);
            continue;
        }
        let mut problems = Vec::new();
        match (find(&a.node, &a.iface), find(&b.node, &b.iface)) {
            (Some(x), Some(y)) => {
                if let Some(p) = peer_problem(l, x, y) {
                    problems.push(p);
                } else {
                    peer_of.insert((a.node.clone(), a.iface.clone()), b.id());
                    peer_of.insert((b.node.clone(), b.iface.clone()), a.id());
                }
                let want_up = driven.get(&key).map_or(l.up, |d| d.up);
                for (e, s) in [(a, x), (b, y)] {
                    end_problems(t, views, e, s, want_up, &mut problems);
                }
            }
            (x, y) => {
                for (e, s) in [(a, x), (b, y)] {
                    if s.is_none() {
                        problems.push(format!("{} is missing", e.id()));
                    }
                }
            }
        }
        if !problems.is_empty() {
            drift.links.insert(key.clone());
            for p in problems {
                drift.notes.push(format!("link {key}: {p}"));
            }
        }
    }
    peer_of
}

/// Why the kernel's ends `x` and `y` of `l` are not one link, if they are
/// not.
fn peer_problem(l: &crate::topo::Link, x: &LinkState, y: &LinkState) -> Option<String> {
    let [a, b] = &l.endpoints;
    if super::emulated::needs_emulator(l) {
        // Two TAPs the supervisor's emulator joins: peers by the
        // topology, not by a kernel index.
        let is_tap = |s: &LinkState| s.kind.as_deref() == Some("tun");
        (!(is_tap(x) && is_tap(y))).then(|| {
            format!(
                "{} and {} should be TAP ends of an emulated link",
                a.id(),
                b.id()
            )
        })
    } else {
        let peers = x.peer_index == Some(y.index) && y.peer_index == Some(x.index);
        (!peers).then(|| format!("{} and {} are not peers of one veth", a.id(), b.id()))
    }
}

/// What is wrong with end `e` (kernel state `s`) of a link meant to be
/// `want_up`: its admin state, addresses, bridge.
fn end_problems(
    t: &Topology,
    views: &BTreeMap<String, NodeView>,
    e: &crate::topo::Endpoint,
    s: &LinkState,
    want_up: bool,
    problems: &mut Vec<String>,
) {
    if s.up != want_up {
        problems.push(format!(
            "{} is administratively {} (want {})",
            e.id(),
            if s.up { "up" } else { "down" },
            if want_up { "up" } else { "down" }
        ));
    }
    let Some(v) = views.get(&e.node) else { return };
    // A VM's addresses are its guest's (see `vm`): the namespace's end
    // carries none.
    let guest = super::vm::is_vm(t, &e.node);
    for want in e.addrs.iter().filter(|_| !guest) {
        // The kernel drops an interface's IPv6 addresses when it goes
        // down; bringing the link up puts them back.
        if !want_up && want.addr.is_ipv6() {
            continue;
        }
        if !v.addrs.iter().any(|a| a.index == s.index && a.net == *want) {
            problems.push(format!("{} lacks address {want}", e.id()));
        }
    }
    if t.nodes.get(&e.node).map(|n| n.kind) == Some(NodeKind::Switch) {
        let br = v.links.iter().find(|l| l.name == e.node).map(|l| l.index);
        if br.is_none() || s.master != br {
            problems.push(format!("{} is not a port of bridge {}", e.id(), e.node));
        }
    }
}

/// Phase 3, no syscalls: the nodes as `inspect` shows them, in natural
/// name order.
fn node_infos(t: &Topology, views: &BTreeMap<String, NodeView>, peer_of: &PeerOf) -> Vec<NodeInfo> {
    let by_pair = unknown_pairs(views);
    let mut ordered: Vec<_> = t.nodes.values().collect();
    ordered.sort_by(|a, b| crate::topo::natural_cmp(&a.name, &b.name));
    ordered
        .into_iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            kind: n.kind,
            namespace: netns::ns_name(&t.name, &n.name),
            present: views.contains_key(&n.name),
            interfaces: views
                .get(&n.name)
                .map(|v| ifaces(&n.name, v, peer_of, &by_pair))
                .unwrap_or_default(),
        })
        .collect()
}

/// Veths the topology does not know of (added by hand, left over) are
/// paired up from the kernel's indexes alone: `node:iface` by (index,
/// peer index).
fn unknown_pairs(views: &BTreeMap<String, NodeView>) -> BTreeMap<(u32, u32), Vec<String>> {
    let mut by_pair: BTreeMap<(u32, u32), Vec<String>> = BTreeMap::new();
    for (node, v) in views {
        for l in &v.links {
            if let Some(p) = l.peer_index {
                by_pair
                    .entry((l.index, p))
                    .or_default()
                    .push(format!("{node}:{}", l.name));
            }
        }
    }
    by_pair
}

/// The interfaces of `node` but `lo`. An ambiguous kernel-only match
/// (same index pair in two namespaces) is left unnamed.
fn ifaces(
    node: &str,
    v: &NodeView,
    peer_of: &PeerOf,
    by_pair: &BTreeMap<(u32, u32), Vec<String>>,
) -> Vec<IfaceView> {
    let names: BTreeMap<u32, &str> = v.links.iter().map(|l| (l.index, l.name.as_str())).collect();
    let kernel_peer = |l: &LinkState| {
        let p = l.peer_index?;
        let c = by_pair.get(&(p, l.index))?;
        let me = format!("{node}:{}", l.name);
        let others: Vec<&String> = c.iter().filter(|x| **x != me).collect();
        (others.len() == 1).then(|| others[0].clone())
    };
    let mut out = Vec::new();
    for l in v.links.iter().filter(|l| l.name != "lo") {
        let mut addrs: Vec<IpNet> = v
            .addrs
            .iter()
            .filter(|a| a.index == l.index && a.scope_global)
            .map(|a| a.net)
            .collect();
        addrs.sort();
        out.push(IfaceView {
            name: l.name.clone(),
            index: l.index,
            kind: l.kind.clone(),
            mac: l.mac.map(|m| m.to_string()),
            mtu: l.mtu,
            up: l.up,
            oper: l.oper.clone(),
            addrs,
            master: l.master.and_then(|m| names.get(&m).map(|s| s.to_string())),
            peer: peer_of
                .get(&(node.to_string(), l.name.clone()))
                .cloned()
                .or_else(|| kernel_peer(l)),
        });
    }
    out
}

/// Routes and default gateways the topology gives a node that the kernel
/// lacks. Routes through a link that is meant to be down (set down by the
/// user, by the file, or by a schedule) are absent by design; routes
/// through an interface already reported missing come back with it.
fn route_drift(
    t: &Topology,
    views: &BTreeMap<String, NodeView>,
    driven: &Driven,
    drift: &mut Drift,
) {
    let want_up = |l: &crate::topo::Link| driven.get(&l.key()).map_or(l.up, |d| d.up);
    for (name, v) in views {
        if drift.nodes.contains(name) {
            continue;
        }
        let index = |iface: &str| v.links.iter().find(|l| l.name == iface).map(|l| l.index);
        let mut missing = 0;
        for r in t.live_routes_of(name, want_up) {
            if r.iface.as_deref().is_some_and(|i| index(i).is_none()) {
                continue;
            }
            let oif = r.dev.as_deref().and_then(index);
            if !crate::kernel::route::holds(&v.routes, &r.dst, r.via, oif) {
                missing += 1;
                drift
                    .notes
                    .push(format!("node {name}: {} is missing", r.describe()));
            }
        }
        if missing > 0 {
            drift.routes.insert(name.clone(), missing);
        }
    }
}

/// Emulated links are carried by the lab's supervisor: two TAPs alone pass
/// no frame. Says which emulated links it does not carry, or carries in
/// another state than the one it was asked to hold. Notes only: the
/// kernel objects are right, and `up` restarts and re-syncs the supervisor
/// without recreating the links.
fn emulator_notes(t: &Topology, driven: &Driven, notes: &mut Vec<String>) {
    let emulated: Vec<_> = t
        .links
        .iter()
        .filter(|l| super::emulated::needs_emulator(l))
        .collect();
    if emulated.is_empty() {
        return;
    }
    let status = match supervisor::status(&t.name) {
        Ok(s) => s,
        Err(e) => {
            notes.push(format!(
                "cannot ask the lab's supervisor about its emulated links: {e}"
            ));
            return;
        }
    };
    for l in emulated {
        let key = l.key();
        let Some(st) = &status else {
            notes.push(format!(
                "link {key}: emulated, but the lab's supervisor is not running, so no frame crosses it"
            ));
            continue;
        };
        let Some(ls) = st
            .links
            .iter()
            .find(|x| x.key == key && x.driver == supervisor::EMULATOR)
        else {
            notes.push(format!(
                "link {key}: emulated, but the supervisor's emulator does not carry it"
            ));
            continue;
        };
        if let Some(err) = &ls.last_error {
            notes.push(format!("link {key}: the emulator reports: {err}"));
        }
        if let Some(want) = driven.get(&key) {
            if ls.state.up != want.up {
                notes.push(format!(
                    "link {key}: the emulator holds it {} (want {})",
                    if ls.state.up { "up" } else { "down" },
                    if want.up { "up" } else { "down" }
                ));
            }
            if ls.state.conditions != want.conditions {
                notes.push(format!(
                    "link {key}: the emulator applies other conditions than the lab asked for"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::addr::AddrState;
    use crate::kernel::route::RouteState;
    use crate::topo::generate;

    fn iface(index: u32, name: &str, kind: &str) -> LinkState {
        LinkState {
            index,
            name: name.to_string(),
            kind: Some(kind.to_string()),
            mac: None,
            mtu: 1500,
            up: true,
            oper: "up".into(),
            master: None,
            peer_index: None,
            peer_netnsid: None,
            port_state: None,
            carrier: true,
            alias: None,
        }
    }

    /// What a kernel holding `t` exactly as built would report.
    fn healthy(t: &Topology) -> BTreeMap<String, NodeView> {
        let mut views: BTreeMap<String, NodeView> = BTreeMap::new();
        for n in t.nodes.values() {
            let mut v = NodeView {
                links: vec![iface(1, "lo", "lo")],
                addrs: Vec::new(),
                routes: Vec::new(),
            };
            if n.kind == NodeKind::Switch {
                v.links.push(iface(2, &n.name, "bridge"));
            }
            views.insert(n.name.clone(), v);
        }
        for l in &t.links {
            let idx: Vec<u32> = l
                .endpoints
                .iter()
                .map(|e| 10 + views[&e.node].links.len() as u32)
                .collect();
            for (i, e) in l.endpoints.iter().enumerate() {
                let v = views.get_mut(&e.node).unwrap();
                let mut s = iface(idx[i], &e.iface, "veth");
                s.peer_index = Some(idx[1 - i]);
                if t.nodes[&e.node].kind == NodeKind::Switch {
                    s.master = Some(2);
                }
                v.links.push(s);
                for a in &e.addrs {
                    v.addrs.push(AddrState {
                        index: idx[i],
                        net: *a,
                        scope_global: true,
                    });
                }
            }
        }
        for (name, v) in views.iter_mut() {
            for r in t.live_routes_of(name, |l| l.up) {
                let oif = r
                    .dev
                    .as_deref()
                    .and_then(|d| v.links.iter().find(|l| l.name == d).map(|l| l.index));
                v.routes.push(RouteState {
                    dst: r.dst,
                    via: r.via,
                    oif,
                    protocol: "static".into(),
                });
            }
        }
        views
    }

    fn topo() -> Topology {
        generate::from_spec("linear,2", "t", false).unwrap()
    }

    #[test]
    fn a_kernel_matching_the_topology_is_no_drift_and_peers_come_from_indexes() {
        let t = topo();
        let views = healthy(&t);
        let mut drift = Drift::default();
        let peers = compare(&t, &views, &Driven::new(), &mut drift);
        assert!(drift.is_empty(), "{:?}", drift.notes);
        assert!(drift.notes.is_empty());
        let infos = node_infos(&t, &views, &peers);
        let names: Vec<&str> = infos.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["h1", "h2", "s1", "s2"]);
        let l = &t.links[0];
        let [a, b] = &l.endpoints;
        let node = infos.iter().find(|n| n.name == a.node).unwrap();
        let i = node.interfaces.iter().find(|i| i.name == a.iface).unwrap();
        assert_eq!(i.peer.as_deref(), Some(b.id().as_str()));
        assert!(node.interfaces.iter().all(|i| i.name != "lo"));
    }

    #[test]
    fn missing_ends_wrong_peers_and_missing_bridges_are_named() {
        let t = topo();
        let [a, b] = &t.links[0].endpoints;
        let mut views = healthy(&t);
        views
            .get_mut(&a.node)
            .unwrap()
            .links
            .retain(|l| l.name != a.iface);
        let mut drift = Drift::default();
        compare(&t, &views, &Driven::new(), &mut drift);
        assert!(drift.links.contains(&t.links[0].key()));
        assert!(drift
            .notes
            .iter()
            .any(|n| n.ends_with(&format!("{} is missing", a.id()))));

        let mut views = healthy(&t);
        for l in &mut views.get_mut(&b.node).unwrap().links {
            if l.name == b.iface {
                l.peer_index = Some(999);
            }
        }
        let mut drift = Drift::default();
        compare(&t, &views, &Driven::new(), &mut drift);
        assert!(
            drift
                .notes
                .iter()
                .any(|n| n.contains("are not peers of one veth")),
            "{:?}",
            drift.notes
        );

        let mut views = healthy(&t);
        views
            .get_mut("s1")
            .unwrap()
            .links
            .retain(|l| l.name != "s1");
        let mut drift = Drift::default();
        compare(&t, &views, &Driven::new(), &mut drift);
        assert!(drift.nodes.contains("s1"));
        assert!(drift
            .notes
            .iter()
            .any(|n| n == "switch s1: bridge s1 is missing"));
    }

    #[test]
    fn a_link_the_supervisor_holds_down_is_compared_with_its_driven_state() {
        let t = topo();
        let l = &t.links[0];
        let mut driven = Driven::new();
        driven.insert(
            l.key(),
            supervisor::LinkState {
                conditions: Default::default(),
                up: false,
            },
        );
        let mut views = healthy(&t);
        let mut drift = Drift::default();
        compare(&t, &views, &driven, &mut drift);
        assert!(
            drift
                .notes
                .iter()
                .any(|n| n.contains("is administratively up (want down)")),
            "{:?}",
            drift.notes
        );
        for e in &l.endpoints {
            for s in &mut views.get_mut(&e.node).unwrap().links {
                if s.name == e.iface {
                    s.up = false;
                }
            }
        }
        let mut drift = Drift::default();
        compare(&t, &views, &driven, &mut drift);
        assert!(!drift.links.contains(&l.key()), "{:?}", drift.notes);
    }
}
