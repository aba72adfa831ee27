//! Mininet's built-in topologies (`mn --topo …`), with Mininet 2.3's names,
//! port numbers and addresses, so `h1 ping h2` and `s1-eth2` mean what
//! Mininet users expect.
//!
//! What Mininet does, and we copy:
//! - nodes are created in the order its `Topo.build` creates them, and each
//!   link takes the next free port on both ends: hosts count from 0, switches
//!   from 1, so the first host link is `h1-eth0` ↔ `s1-eth1`;
//! - host addresses come from `10.0.0.0/8` in host-name order (Mininet sorts
//!   names naturally before adding hosts: `h1s2` comes before `h2s1`); with
//!   `--mac` the MAC carries the same number.

mod nat;
mod spec;
#[cfg(test)]
mod tests;

use super::addr::{mininet_host_ip, mininet_host_mac};
use super::model::{natural_cmp, Endpoint, Link, Node, NodeKind, Topology};
use super::valid::ValidTopology;
use super::validate::{validate, TopoError, TopoErrors};
use spec::{Gen, Spec};
use std::collections::HashMap;

pub use nat::{add_nat, NAT_NODE};
pub use spec::MAX_GENERATED_NODES;

/// Build the topology `spec` names (`linear,4`, `tree,depth=2,fanout=3`, …)
/// as lab `lab`; `mac` gives hosts Mininet's sequential MACs (`--mac`).
/// The result has passed [`validate`]. The spellings are `nlab up
/// --topo`'s ([`mininet_spellings`] lists them); an unknown one is an
/// error that lists them too.
///
/// ```
/// use nlab::topo::generate;
///
/// let t = generate::from_spec("tree,depth=2,fanout=2", "tree", true)?;
/// assert_eq!(t.nodes.len(), 7); // s1 over s2 and s3, four hosts
/// let h1 = t.links.iter().flat_map(|l| &l.endpoints).find(|e| e.node == "h1").unwrap();
/// assert_eq!(h1.iface, "h1-eth0");
/// assert_eq!(h1.addrs[0].to_string(), "10.0.0.1/8");
/// assert_eq!(h1.mac.unwrap().to_string(), "00:00:00:00:00:01");
///
/// assert!(generate::from_spec("ring,3", "x", false).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn from_spec(spec: &str, lab: &str, mac: bool) -> Result<Topology, TopoErrors> {
    let s = Spec::parse(spec).map_err(TopoErrors::from)?;
    let mut b = Builder::new(lab, mac);
    match s.gen {
        Gen::Minimal => single(&mut b, 2, false),
        Gen::Single => single(&mut b, s.get("k"), false),
        Gen::Reversed => single(&mut b, s.get("k"), true),
        Gen::Linear => linear(&mut b, s.get("k"), s.get("n")),
        Gen::Tree => tree(&mut b, s.get("depth"), s.get("fanout")),
        Gen::Torus => torus(&mut b, s.get("x"), s.get("y"), s.get("n")),
    }
    let t = b.finish().map_err(TopoErrors::from)?;
    validate(&t)?;
    Ok(t)
}

/// [`from_spec`], as a [`ValidTopology`] (the checks ran once, in `from_spec`).
pub fn valid_from_spec(spec: &str, lab: &str, mac: bool) -> Result<ValidTopology, TopoErrors> {
    from_spec(spec, lab, mac).map(ValidTopology::checked)
}

/// The lab name to use when the user gives none: the generator's name
/// (`linear` for `linear,k=4`), reduced to what a lab name may contain.
pub fn default_lab_name(spec: &str) -> String {
    let head = spec.split(',').next().unwrap_or_default().trim();
    let name: String = head
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
        .take(super::validate::MAX_LAB_NAME)
        .collect();
    if name.is_empty() {
        "lab".into()
    } else {
        name
    }
}

/// Help text: every spelling `from_spec` accepts, one per line.
pub fn mininet_spellings() -> &'static str {
    spec::SPELLINGS
}

/// SingleSwitchTopo (and its reversed-ports variant): s1 and hosts h1..hk.
fn single(b: &mut Builder, k: u64, reversed: bool) {
    b.switch("s1");
    for h in 1..=k {
        let host = format!("h{h}");
        b.host(&host);
        if reversed {
            // Lowest host on the highest port, as SingleSwitchReversedTopo.
            b.link_ports(&host, "s1", Some(0), Some(k - h + 1));
        } else {
            b.link(&host, "s1");
        }
    }
}

/// LinearTopo: k switches in a chain, n hosts on each.
fn linear(b: &mut Builder, k: u64, n: u64) {
    for i in 1..=k {
        let sw = format!("s{i}");
        b.switch(&sw);
        for j in 1..=n {
            let host = if n == 1 {
                format!("h{i}")
            } else {
                format!("h{j}s{i}")
            };
            b.host(&host);
            b.link(&host, &sw);
        }
        if i > 1 {
            b.link(&sw, &format!("s{}", i - 1));
        }
    }
}

/// TreeTopo: depth-first, a switch, then each child subtree followed by the
/// link to it; hosts at the leaves.
fn tree(b: &mut Builder, depth: u64, fanout: u64) {
    // Mininet recurses; a frame stack does the same without risking the
    // call stack on `tree,50000,1`. Frame: (switch, its depth, children made).
    let (mut hosts, mut switches) = (0u64, 0u64);
    let mut new_switch = |b: &mut Builder| {
        switches += 1;
        let sw = format!("s{switches}");
        b.switch(&sw);
        sw
    };
    let mut stack = vec![(new_switch(b), depth, 0u64)];
    while let Some(top) = stack.last_mut() {
        if top.2 == fanout {
            let (done, _, _) = top.clone();
            stack.pop();
            if let Some((parent, _, _)) = stack.last() {
                b.link(parent, &done);
            }
            continue;
        }
        top.2 += 1;
        let (parent, d) = (top.0.clone(), top.1 - 1);
        if d > 0 {
            let sw = new_switch(b);
            stack.push((sw, d, 0));
        } else {
            hosts += 1;
            let h = format!("h{hosts}");
            b.host(&h);
            b.link(&parent, &h);
        }
    }
}

/// TorusTopo: an x×y grid of switches wrapped at the edges, n hosts each.
fn torus(b: &mut Builder, x: u64, y: u64, n: u64) {
    let sw = |i: u64, j: u64| format!("s{}x{}", i + 1, j + 1);
    for i in 0..x {
        for j in 0..y {
            let s = sw(i, j);
            b.switch(&s);
            for k in 1..=n {
                let host = if n == 1 {
                    format!("h{}x{}", i + 1, j + 1)
                } else {
                    format!("h{}x{}x{k}", i + 1, j + 1)
                };
                b.host(&host);
                b.link(&host, &s);
            }
        }
    }
    for i in 0..x {
        for j in 0..y {
            b.link(&sw(i, j), &sw(i, (j + 1) % y));
            b.link(&sw(i, j), &sw((i + 1) % x, j));
        }
    }
}

/// Mininet's `Topo` bookkeeping: nodes, links, next port per node.
struct Builder {
    t: Topology,
    mac: bool,
    hosts: Vec<String>,
    ports: HashMap<String, u64>,
}

impl Builder {
    fn new(lab: &str, mac: bool) -> Self {
        Builder {
            t: Topology::new(lab),
            mac,
            hosts: Vec::new(),
            ports: HashMap::new(),
        }
    }

    fn host(&mut self, name: &str) {
        self.hosts.push(name.to_string());
        self.t
            .nodes
            .insert(name.into(), Node::new(name, NodeKind::Host));
    }

    fn switch(&mut self, name: &str) {
        self.t
            .nodes
            .insert(name.into(), Node::new(name, NodeKind::Switch));
    }

    fn link(&mut self, a: &str, b: &str) {
        self.link_ports(a, b, None, None);
    }

    fn link_ports(&mut self, a: &str, b: &str, pa: Option<u64>, pb: Option<u64>) {
        let pa = pa.unwrap_or_else(|| self.next_port(a));
        let pb = pb.unwrap_or_else(|| self.next_port(b));
        *self.ports.entry(a.into()).or_default() += 1;
        *self.ports.entry(b.into()).or_default() += 1;
        let end = |node: &str, port| Endpoint::new(node, format!("{node}-eth{port}"));
        self.t.links.push(Link {
            endpoints: [end(a, pa), end(b, pb)],
            mtu: None,
            up: true,
            conditions: Default::default(),
            schedule: Vec::new(),
            capture: None,
            loc: Default::default(),
        });
    }

    /// Mininet's `addPort`: ports in use + 1 for switches, + 0 for hosts.
    fn next_port(&self, node: &str) -> u64 {
        let used = self.ports.get(node).copied().unwrap_or(0);
        let is_switch = self.t.nodes.get(node).map(|n| n.kind) == Some(NodeKind::Switch);
        used + u64::from(is_switch)
    }

    /// Address hosts in Mininet's order and hand the topology over.
    fn finish(mut self) -> Result<Topology, TopoError> {
        self.hosts.sort_by(|a, b| natural_cmp(a, b));
        let number: HashMap<&str, u64> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.as_str(), i as u64 + 1))
            .collect();
        for link in &mut self.t.links {
            for ep in &mut link.endpoints {
                let Some(&n) = number.get(ep.node.as_str()) else {
                    continue;
                };
                // Mininet sets IP and MAC on the host's default interface.
                if ep.iface != format!("{}-eth0", ep.node) {
                    continue;
                }
                ep.addrs = vec![mininet_host_ip(n).map_err(TopoError::new)?];
                if self.mac {
                    ep.mac = Some(mininet_host_mac(n));
                }
            }
        }
        Ok(self.t)
    }
}
