//! The virtual world on the kernel: [`to_topology`] maps a [`Desired`]
//! onto one lab (pure), [`apply`] brings that lab up or changes it with
//! `Lab::up_valid` (which diffs: an unchanged world changes nothing) and
//! then gives each bound port its security-group tables (`sg`).
//!
//! `realize` never reads the API's store: the caller builds a [`Desired`]
//! from one snapshot of it.

pub mod desired;
pub mod names;
pub mod record;
pub mod sg;
pub mod tap;
pub mod topology;

pub use desired::*;
pub use topology::{to_topology, Names};

use crate::lab::{Lab, UpOptions, UpReport};
use crate::topo::ValidTopology;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What went wrong realizing a world.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The world refers to what it does not have, or asks for what nlab
    /// cannot build; nothing was touched.
    #[error("the virtual network world cannot be built: {0}")]
    Invalid(String),
    /// The generated lab did not validate (a bug in the mapping, or input
    /// the API should have refused); nothing was touched.
    #[error("the lab for the virtual networks does not validate: {0}")]
    Topology(#[from] crate::topo::validate::TopoErrors),
    /// Bringing the lab up, or a port's tables, failed.
    #[error(transparent)]
    Lab(#[from] crate::lab::Error),
}

/// A port's status, as Neutron spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PortStatus {
    /// Bound, and its veth is on its network's bridge.
    #[serde(rename = "ACTIVE")]
    Active,
    /// Unbound, or its veth is not there.
    #[serde(rename = "DOWN")]
    Down,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Kernel-visible changes (nodes and links created and removed).
    pub changes: usize,
    /// Lab nodes it created (new, or remade because they changed).
    pub created: Vec<String>,
    /// Lab nodes it removed.
    pub removed: Vec<String>,
    /// Nodes of the lab now.
    pub nodes: usize,
    /// The lab's own report; `None` when the world was empty and the lab
    /// was taken down (a lab cannot have no nodes).
    pub up: Option<UpReport>,
    /// Ports whose security-group tables were (re)applied.
    pub tables_applied: Vec<String>,
    /// Every port's status, by port id.
    pub ports: BTreeMap<String, PortStatus>,
    /// The `binding:vif_details` of each `ACTIVE` port bound to a TAP.
    pub vifs: BTreeMap<String, tap::Vif>,
    /// Things the world asked for that nlab does not do yet, per port.
    pub warnings: Vec<String>,
    /// Time in `Lab::up_valid`.
    pub lab_time: Duration,
    /// Time deciding, building and applying tables.
    pub tables_time: Duration,
    /// Time reading the ports' statuses back from the kernel.
    pub status_time: Duration,
}

/// Makes the kernel match `d` in lab `lab` (created when missing): the
/// lab's nodes and links first (only what differs from the running lab),
/// then the security-group tables of every bound port whose rules
/// changed, in instance namespaces and in namespaces nlab attaches alike
/// (there owner-marked, and removed when the port is unbound or the lab
/// goes down: `lab::detach`).
pub fn apply(d: &Desired, lab: &str) -> Result<Report, Error> {
    let t = to_topology(d, lab)?;
    if t.nodes.is_empty() {
        return down_empty(lab);
    }
    let valid = ValidTopology::new(t)?;
    let start = Instant::now();
    let opts = UpOptions {
        origin: Some("vnet"),
        no_wait: true,
        ..Default::default()
    };
    let (_lab, up) = Lab::up_valid(&valid, &opts)?;
    let lab_time = start.elapsed();
    let start = Instant::now();
    let names = Names::new(d);
    let mut wanted = BTreeMap::new();
    let mut by_node = HashMap::new();
    for p in &d.ports {
        let Some(node) = names.port_node(p) else {
            continue;
        };
        // What the batch is made from: a port that did not change keeps
        // its tables without its batch being built. Port security off:
        // no tables (removed if it had some).
        let key = p.port_security_enabled.then(|| {
            format!(
                "{}:{}",
                sg::VERSION,
                serde_json::to_string(p).unwrap_or_default()
            )
        });
        wanted.insert(node.clone(), key);
        by_node.insert(node, p);
    }
    let build = |node: &str| match by_node.get(node) {
        Some(p) if p.binding == Binding::Tap => {
            sg::batch(p, sg::At::Tap(&crate::lab::vm::tap_name(0)), lab)
        }
        Some(p) => sg::batch(p, sg::At::Iface(&names.port_iface(p)), lab),
        None => serde_json::json!({"nftables": []}),
    };
    let tables_applied = crate::lab::sg::apply_tables(lab, &wanted, build)?;
    // What `nlab trace` reads: the model the kernel now matches.
    record::save(d, lab)
        .map_err(|e| crate::lab::Error::io(format!("recording the world of lab {lab}"), e))?;
    let tables_time = start.elapsed();
    let start = Instant::now();
    let mut ports = statuses(d, lab, &names)?;
    let vifs = tap::vifs(d, lab, &names, &up.vms, &mut ports)?;
    Ok(Report {
        changes: up.changes,
        created: up.plan.create_nodes.clone(),
        removed: up.plan.delete_nodes.clone(),
        nodes: up.nodes,
        up: Some(up),
        tables_applied,
        ports,
        vifs,
        warnings: Vec::new(),
        lab_time,
        tables_time,
        status_time: start.elapsed(),
    })
}

/// An empty world: its lab goes (if it was up).
fn down_empty(lab: &str) -> Result<Report, Error> {
    let start = Instant::now();
    let (changes, removed) = match Lab::open(lab) {
        Ok(up) => {
            let nodes = up.topology().nodes.keys().cloned().collect();
            (crate::lab::down(lab)?.namespaces, nodes)
        }
        Err(crate::lab::Error::NoSuchLab(_)) => (0, Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(Report {
        changes,
        created: Vec::new(),
        removed,
        nodes: 0,
        up: None,
        tables_applied: Vec::new(),
        ports: BTreeMap::new(),
        vifs: BTreeMap::new(),
        warnings: Vec::new(),
        lab_time: start.elapsed(),
        tables_time: Duration::ZERO,
        status_time: Duration::ZERO,
    })
}

/// `ACTIVE` for each bound port whose `tap` is on its network's bridge:
/// one read of each network's namespace.
fn statuses(d: &Desired, lab: &str, names: &Names) -> Result<BTreeMap<String, PortStatus>, Error> {
    let mut taps: HashMap<&str, Vec<String>> = HashMap::new();
    for n in &d.networks {
        let have = crate::lab::sg::ifaces(lab, &names.network(&n.id))?.unwrap_or_default();
        taps.insert(n.id.as_str(), have);
    }
    Ok(d.ports
        .iter()
        .map(|p| {
            let tap = names.tap(&p.id);
            let up = p.binding != Binding::Unbound
                && taps
                    .get(p.network_id.as_str())
                    .is_some_and(|t| t.contains(&tap));
            let s = if up {
                PortStatus::Active
            } else {
                PortStatus::Down
            };
            (p.id.clone(), s)
        })
        .collect())
}

#[cfg(test)]
mod tests;
