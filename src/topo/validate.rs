//! Whole-topology checks. Everything that would make `nlab up` fail half-way
//! (a name the kernel refuses, a gateway nobody can reach, a bridge with too
//! many ports) is caught here, before a single namespace exists.
//!
//! [`validate`] collects every problem instead of stopping at the first, so a
//! user fixes a file in one round.

mod addrs;
mod capture;
mod dhcp;
mod errors;
mod external;
mod limits;
mod names;
mod nat;
mod ra;
mod stp;
#[cfg(test)]
mod tests;
mod vm;

pub use errors::{TopoError, TopoErrors};
pub use names::{check_iface_name, check_lab_name, check_node_name, MAX_LAB_NAME, MAX_NODE_NAME};
pub use stp::{needs_stp, stp_switches, switches_in_loop};

use super::model::{Endpoint, Loc, NodeKind, Topology};
use super::suggest::closest_name;
use std::collections::HashMap;

/// Ports a Linux bridge accepts (`BR_MAX_PORTS`).
pub const MAX_BRIDGE_PORTS: usize = 1024;

/// Locations of things the model has no `loc` field for; a file parser
/// knows them, generators and API callers leave them unknown.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extra {
    /// Where the lab name was written.
    pub name_loc: Loc,
    /// Where the node list was (or should have been) written.
    pub nodes_loc: Loc,
}

/// Check everything; `Ok` means the lab layer can build it as it is.
pub fn validate(t: &Topology) -> Result<(), TopoErrors> {
    validate_with(t, Extra::default())
}

pub(crate) fn validate_with(t: &Topology, extra: Extra) -> Result<(), TopoErrors> {
    let mut c = Checker::new(t);
    if let Err((msg, hint)) = check_lab_name(&t.name) {
        c.push(extra.name_loc, msg, hint);
    }
    if t.nodes.is_empty() {
        c.push(
            extra.nodes_loc,
            "the topology has no nodes".into(),
            Some("add at least one node under `topology.nodes`".into()),
        );
    }
    c.nodes();
    c.links();
    addrs::check(&mut c);
    ra::check(&mut c);
    dhcp::check(&mut c);
    nat::check(&mut c);
    external::check(&mut c);
    capture::check(&mut c);
    vm::check(&mut c);
    limits::check(&mut c);
    c.finish()
}

/// Collects problems; shared by the check modules.
pub(crate) struct Checker<'t> {
    pub t: &'t Topology,
    errs: Vec<TopoError>,
}

impl<'t> Checker<'t> {
    fn new(t: &'t Topology) -> Self {
        Checker {
            t,
            errs: Vec::new(),
        }
    }

    pub fn push(&mut self, loc: Loc, msg: String, hint: Option<String>) {
        self.errs.push(TopoError {
            file: self.t.source.clone(),
            loc,
            msg,
            hint,
        });
    }

    fn finish(mut self) -> Result<(), TopoErrors> {
        if self.errs.is_empty() {
            return Ok(());
        }
        // File order reads best; errors without a location (whole-topology
        // problems) come first. The sort is stable, so check order breaks ties.
        self.errs.sort_by_key(|e| (e.loc.line, e.loc.column));
        Err(TopoErrors(self.errs))
    }

    fn nodes(&mut self) {
        let t = self.t;
        for (key, node) in &t.nodes {
            if let Err(msg) = check_node_name(key) {
                self.push(node.loc, msg, None);
            }
            if *key != node.name {
                self.push(
                    node.loc,
                    format!("node `{key}` calls itself `{}`", node.name),
                    Some("the map key and `Node::name` must agree".into()),
                );
            }
            if node.stp.is_some() && node.kind != NodeKind::Switch {
                self.push(
                    node.loc,
                    format!(
                        "`stp` is set on {} `{key}`, but only switches run STP",
                        node.kind
                    ),
                    None,
                );
            }
        }
    }

    fn links(&mut self) {
        let t = self.t;
        // node:iface → where it was first used, to report the second use.
        let mut used: HashMap<(&str, &str), Loc> = HashMap::new();
        let mut ports: HashMap<&str, usize> = HashMap::new();
        for link in &t.links {
            let [a, b] = &link.endpoints;
            let self_loop = a.node == b.node && a.iface == b.iface;
            if self_loop {
                self.push(
                    link.loc,
                    format!("link connects `{}` to itself", a.id()),
                    Some("a link joins two different interfaces".into()),
                );
            }
            if let Some(m) = link.mtu {
                if let Err(msg) = check_mtu(m) {
                    self.push(link.loc, format!("link {}: {msg}", link.key()), None);
                }
            }
            for (i, ep) in link.endpoints.iter().enumerate() {
                self.endpoint(ep);
                if self_loop && i == 1 {
                    continue;
                }
                match used.get(&(ep.node.as_str(), ep.iface.as_str())) {
                    Some(first) => self.push(
                        ep.loc,
                        format!(
                            "interface `{}` is used by two links{}",
                            ep.id(),
                            first_at(*first)
                        ),
                        Some(
                            "each interface is one end of one link; pick another interface name"
                                .into(),
                        ),
                    ),
                    None => {
                        used.insert((&ep.node, &ep.iface), ep.loc);
                    }
                }
                if t.nodes.get(&ep.node).map(|n| n.kind) == Some(NodeKind::Switch) {
                    *ports.entry(&ep.node).or_default() += 1;
                }
            }
        }
        for (sw, n) in ports {
            if n > MAX_BRIDGE_PORTS {
                let loc = t.nodes.get(sw).map(|n| n.loc).unwrap_or_default();
                self.push(
                    loc,
                    format!("switch `{sw}` has {n} links; a Linux bridge takes at most {MAX_BRIDGE_PORTS} ports"),
                    Some("spread the hosts over several switches, e.g. a tree (`tree,2,32` gives 1,024 hosts)".into()),
                );
            }
        }
    }

    fn endpoint(&mut self, ep: &Endpoint) {
        let t = self.t;
        match t.nodes.get(&ep.node) {
            None => {
                let names = || t.nodes.keys().map(String::as_str);
                let hint = match closest_name(&ep.node, names()) {
                    Some(n) => format!(
                        "did you mean `{n}`? If not, declare `{}` under `topology.nodes`",
                        ep.node
                    ),
                    None if (1..=8).contains(&t.nodes.len()) => {
                        format!("the nodes are {}", names().collect::<Vec<_>>().join(", "))
                    }
                    None => format!("declare `{}` under `topology.nodes`", ep.node),
                };
                self.push(
                    ep.loc,
                    format!(
                        "link endpoint `{}` names node `{}`, which does not exist",
                        ep.id(),
                        ep.node
                    ),
                    Some(hint),
                );
            }
            Some(n) if n.kind == NodeKind::Switch && !ep.addrs.is_empty() => {
                self.push(
                    ep.loc,
                    format!(
                        "switch port `{}` has an address; switch ports carry none",
                        ep.id()
                    ),
                    Some(
                        "put the address on the host or router at the other end of the link".into(),
                    ),
                );
            }
            Some(_) => {}
        }
        if let Err(msg) = check_iface_name(&ep.iface) {
            self.push(ep.loc, format!("interface `{}`: {msg}", ep.id()), None);
        }
        if let Some(m) = ep.mtu {
            if let Err(msg) = check_mtu(m) {
                self.push(ep.loc, format!("interface `{}`: {msg}", ep.id()), None);
            }
        }
        if let Some(mac) = ep.mac {
            if mac.is_multicast() {
                let mut fixed = mac;
                fixed.0[0] &= !1;
                self.push(
                    ep.loc,
                    format!("MAC {mac} of `{}` is a multicast address; an interface needs a unicast one", ep.id()),
                    Some(format!("clear the lowest bit of the first byte, e.g. {fixed}")),
                );
            } else if mac.0 == [0; 6] {
                self.push(
                    ep.loc,
                    format!(
                        "MAC {mac} of `{}` is all zeros, which the kernel refuses",
                        ep.id()
                    ),
                    Some("use a locally administered address such as 02:00:00:00:00:01".into()),
                );
            }
        }
    }
}

/// MTU range the kernel accepts for a veth (`ETH_MIN_MTU`..=`ETH_MAX_MTU`).
pub fn check_mtu(mtu: u32) -> Result<(), String> {
    if (68..=65535).contains(&mtu) {
        Ok(())
    } else {
        Err(format!("MTU {mtu} is out of range 68..=65535"))
    }
}

/// ` (the first on line 12)` when the earlier place is known.
pub(crate) fn first_at(loc: Loc) -> String {
    if loc.is_known() {
        format!(" (the first on line {})", loc.line)
    } else {
        String::new()
    }
}
