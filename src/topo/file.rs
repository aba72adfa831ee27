//! Topology files: containerlab's shape (`name`, `topology.nodes`,
//! `topology.links[].endpoints`) plus nlab's own keys. A `Topology` that
//! comes out of here has passed [`validate`](super::validate::validate).
//!
//! ```yaml
//! name: demo                    # lab name: 1-24 of [a-z0-9_], required
//! topology:
//!   defaults:                   # optional
//!     kind: host                # nodes without `kind` (else: host)
//!     gateway: 10.0.1.254       # hosts without their own gateway
//!     gateway6: fd00:1::fe
//!     mtu: 1500                 # links without their own mtu
//!   nodes:
//!     h1:
//!       kind: host              # host | switch | router (linux, bridge)
//!       gateway: none           # opt out of the default (or `~`)
//!       routes:
//!         - {dst: 10.9.0.0/16, via: 10.0.1.254}
//!         - {dst: default, via: 10.0.1.254, dev: eth0}   # ::/0 if via is IPv6
//!       interfaces:             # instead of settings on the endpoint
//!         eth0: {ip: [10.0.1.1/24, "fd00:1::1/64"], mac: "02:00:00:00:00:01", mtu: 9000}
//!     s1: {kind: switch, stp: true}
//!     r1: {kind: router}
//!   links:
//!     - endpoints: ["h1:eth0", "s1:p1"]
//!     - endpoints:
//!         - {node: r1, iface: eth0, ip: 10.0.1.254/24}   # ip: one or a list
//!         - s1:p2
//!       mtu: 1400
//!       up: false
//!       conditions: {delay: 10ms, jitter: 1ms, loss: 1%, rate: 10mbit}
//!       schedule: [{at: 10s, loss: 30%}, {at: 20s, down: true}]
//! ```
//!
//! Conditions and schedules are described in [`conditions`]; `defaults:`
//! may carry `conditions:` for every link (a link's own keys override them).
//!
//! Any other key is an error that lists the keys allowed there. An
//! interface's `ip`, `mac` or `mtu` may be set on the endpoint or under
//! `interfaces`, not both; an `interfaces` entry no link uses is an error.

mod build;
mod conditions;
mod emit;
mod reader;
#[cfg(test)]
mod tests;
mod yaml;

pub use emit::to_yaml;

use super::model::Topology;
use super::validate::{validate_with, TopoError, TopoErrors};
use std::path::Path;

/// Read, parse and validate a topology file.
pub fn load(path: &Path) -> Result<Topology, TopoErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        TopoError::new(format!("cannot read the topology file: {e}")).with_file(Some(&name))
    })?;
    parse(&text, Some(&name))
}

/// Parse and validate topology text; `source` names it in messages and
/// becomes `Topology::source`.
pub fn parse(text: &str, source: Option<&str>) -> Result<Topology, TopoErrors> {
    let with_file = |errs: Vec<TopoError>| {
        let mut errs: Vec<TopoError> = errs.into_iter().map(|e| e.with_file(source)).collect();
        errs.sort_by_key(|e| (e.loc.line, e.loc.column));
        TopoErrors(errs)
    };
    let root = yaml::read(text).map_err(|e| with_file(vec![e]))?;
    let mut b = build::Builder::new(text);
    let mut t = b.build(&root);
    t.source = source.map(str::to_string);
    let extra = b.extra;
    let errs = b.into_errors();
    // Validation on a half-read file would mostly echo the same mistakes
    // (a link to a node whose entry failed to read), so it waits for a clean read.
    if !errs.is_empty() {
        return Err(with_file(errs));
    }
    validate_with(&t, extra)?;
    Ok(t)
}
