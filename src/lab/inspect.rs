//! Reading a lab back from the kernel and comparing it with the topology.
//!
//! `inspect` shows what the kernel holds, not what the journal says, and
//! names every difference; `up` uses the same comparison to repair drift.

use super::handles::{read_view, NodeView};
use super::plan::Drift;
use super::Result;
use crate::kernel::netns;
use crate::services::supervisor::api as supervisor;
use crate::topo::{IpNet, NodeKind, Topology};
use serde::Serialize;
use std::collections::BTreeMap;

/// One interface as found in the kernel.
#[derive(Debug, Clone, Serialize)]
pub struct IfaceView {
    pub name: String,
    pub index: u32,
    pub kind: Option<String>,
    pub mac: Option<String>,
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// Operational state (`up`, `down`, `lowerlayerdown`, …).
    pub oper: String,
    pub addrs: Vec<IpNet>,
    /// Bridge this interface is a port of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// The other end of a veth, as `node:iface`, found from the kernel's
    /// peer indexes (not from the topology).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub kind: NodeKind,
    pub namespace: String,
    /// False when the namespace is gone.
    pub present: bool,
    pub interfaces: Vec<IfaceView>,
}

/// The whole lab as the kernel holds it.
#[derive(Debug, Clone, Serialize)]
pub struct LabView {
    pub lab: String,
    pub nodes: Vec<NodeInfo>,
    /// Differences between the topology and the kernel, one sentence each.
    pub drift: Vec<String>,
}

/// Reads every node of `t` from the kernel and compares.
pub fn inspect(t: &Topology) -> Result<(LabView, Drift)> {
    let lab = &t.name;
    let mut views: BTreeMap<String, NodeView> = BTreeMap::new();
    let mut drift = Drift::default();
    for name in t.nodes.keys() {
        let ns = netns::ns_name(lab, name);
        match read_view(&ns)? {
            Some(v) => {
                views.insert(name.clone(), v);
            }
            None => {
                drift.nodes.insert(name.clone());
                drift
                    .notes
                    .push(format!("node {name}: namespace {ns} is missing"));
            }
        }
    }

    // Switches: the bridge must be there.
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

    // Resolve veth peers from the kernel's own indexes: A's peer index is
    // B's index and B's peer index is A's.
    let find = |node: &str, iface: &str| {
        views
            .get(node)
            .and_then(|v| v.links.iter().find(|l| l.name == iface))
    };
    let mut peer_of: BTreeMap<(String, String), String> = BTreeMap::new();
    // A link the supervisor drives (set down, or down by its schedule) is
    // meant to differ from the file: not drift, and `up` must not "repair"
    // it by recreating the link.
    let driven = supervisor::driven_links(lab).unwrap_or_default();
    for l in &t.links {
        let [a, b] = &l.endpoints;
        let key = l.key();
        if drift.nodes.contains(&a.node) || drift.nodes.contains(&b.node) {
            drift.links.insert(key);
            continue;
        }
        let (la, lb) = (find(&a.node, &a.iface), find(&b.node, &b.iface));
        let mut problems = Vec::new();
        match (la, lb) {
            (Some(x), Some(y)) => {
                let emulated = super::emulated::needs_emulator(l);
                let is_tap = |s: &crate::kernel::link::LinkState| s.kind.as_deref() == Some("tun");
                if emulated {
                    // Two TAPs the supervisor's emulator joins: peers by
                    // the topology, not by a kernel index.
                    if is_tap(x) && is_tap(y) {
                        peer_of.insert((a.node.clone(), a.iface.clone()), b.id());
                        peer_of.insert((b.node.clone(), b.iface.clone()), a.id());
                    } else {
                        problems.push(format!(
                            "{} and {} should be TAP ends of an emulated link",
                            a.id(),
                            b.id()
                        ));
                    }
                } else if x.peer_index == Some(y.index) && y.peer_index == Some(x.index) {
                    peer_of.insert((a.node.clone(), a.iface.clone()), b.id());
                    peer_of.insert((b.node.clone(), b.iface.clone()), a.id());
                } else {
                    problems.push(format!(
                        "{} and {} are not peers of one veth",
                        a.id(),
                        b.id()
                    ));
                }
                let want_up = driven.get(&key).map_or(l.up, |d| d.up);
                for (e, s) in [(a, x), (b, y)] {
                    if s.up != want_up {
                        problems.push(format!(
                            "{} is administratively {} (want {})",
                            e.id(),
                            if s.up { "up" } else { "down" },
                            if want_up { "up" } else { "down" }
                        ));
                    }
                    if let Some(v) = views.get(&e.node) {
                        for want in &e.addrs {
                            // The kernel drops an interface's IPv6
                            // addresses when it goes down; bringing the
                            // link up puts them back.
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
                                problems.push(format!(
                                    "{} is not a port of bridge {}",
                                    e.id(),
                                    e.node
                                ));
                            }
                        }
                    }
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

    route_drift(t, &views, &driven, &mut drift);
    emulator_notes(t, &driven, &mut drift.notes);

    // Veths the topology does not know of (added by hand, left over):
    // pair them up from the kernel's indexes alone. An ambiguous match
    // (same index pair in two namespaces) is left unnamed.
    let mut by_pair: BTreeMap<(u32, u32), Vec<String>> = BTreeMap::new();
    for (node, v) in &views {
        for l in &v.links {
            if let Some(p) = l.peer_index {
                by_pair
                    .entry((l.index, p))
                    .or_default()
                    .push(format!("{node}:{}", l.name));
            }
        }
    }

    let mut nodes = Vec::new();
    let mut ordered: Vec<_> = t.nodes.values().collect();
    ordered.sort_by(|a, b| crate::topo::natural_cmp(&a.name, &b.name));
    for n in ordered {
        let ns = netns::ns_name(lab, &n.name);
        let mut info = NodeInfo {
            name: n.name.clone(),
            kind: n.kind,
            namespace: ns,
            present: views.contains_key(&n.name),
            interfaces: Vec::new(),
        };
        if let Some(v) = views.get(&n.name) {
            let names: BTreeMap<u32, &str> =
                v.links.iter().map(|l| (l.index, l.name.as_str())).collect();
            for l in &v.links {
                if l.name == "lo" {
                    continue;
                }
                let mut addrs: Vec<IpNet> = v
                    .addrs
                    .iter()
                    .filter(|a| a.index == l.index && a.scope_global)
                    .map(|a| a.net)
                    .collect();
                addrs.sort();
                info.interfaces.push(IfaceView {
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
                        .get(&(n.name.clone(), l.name.clone()))
                        .cloned()
                        .or_else(|| {
                            let p = l.peer_index?;
                            let c = by_pair.get(&(p, l.index))?;
                            let me = format!("{}:{}", n.name, l.name);
                            let others: Vec<&String> = c.iter().filter(|x| **x != me).collect();
                            (others.len() == 1).then(|| others[0].clone())
                        }),
                });
            }
        }
        nodes.push(info);
    }
    let view = LabView {
        lab: lab.clone(),
        nodes,
        drift: drift.notes.clone(),
    };
    Ok((view, drift))
}

/// Routes and default gateways the topology gives a node that the kernel
/// lacks. Routes through a link that is meant to be down (set down by the
/// user, by the file, or by a schedule) are absent by design; routes
/// through an interface already reported missing come back with it.
fn route_drift(
    t: &Topology,
    views: &BTreeMap<String, NodeView>,
    driven: &BTreeMap<String, supervisor::LinkState>,
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
fn emulator_notes(
    t: &Topology,
    driven: &BTreeMap<String, supervisor::LinkState>,
    notes: &mut Vec<String>,
) {
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
