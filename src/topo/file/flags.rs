//! `up FILE`'s generator flags, applied to a file as defaults under what
//! the file says: `--link` gives conditions to links that have none,
//! `--mac` gives sequential MACs to interfaces that have none.

use crate::topo::conditions::{Directed, Impairment};
use crate::topo::model::{natural_cmp, MacAddr, NodeKind, Topology};
use std::collections::HashSet;

/// Gives `imp` (both ways) to every link whose conditions are unset, on
/// the link and in the file's `defaults:`. Returns how many it changed.
pub fn default_conditions(t: &mut Topology, imp: &Impairment) -> usize {
    let mut n = 0;
    for l in t.links.iter_mut().filter(|l| l.conditions.is_none()) {
        l.conditions = Directed::symmetric(imp.clone());
        n += 1;
    }
    n
}

/// Like `mn --mac`: sequential MACs `00:00:00:00:00:01`, `…:02`, … for the
/// interfaces of hosts and routers that the file gives no MAC, numbered in
/// natural order of node and interface name (`h2` before `h10`), so the
/// same file always gets the same MACs. Numbers a MAC of the file already
/// uses are skipped. Switch ports keep the kernel's MACs, as with
/// `--topo`. Returns how many interfaces got one.
pub fn sequential_macs(t: &mut Topology) -> usize {
    let taken: HashSet<[u8; 6]> = t
        .links
        .iter()
        .flat_map(|l| l.endpoints.iter())
        .filter_map(|e| e.mac.map(|m| m.0))
        .collect();
    let mut want: Vec<(String, String, usize, usize)> = Vec::new();
    for (li, l) in t.links.iter().enumerate() {
        for (side, e) in l.endpoints.iter().enumerate() {
            let switch = t
                .nodes
                .get(&e.node)
                .is_none_or(|n| n.kind == NodeKind::Switch);
            if e.mac.is_none() && !switch {
                want.push((e.node.clone(), e.iface.clone(), li, side));
            }
        }
    }
    want.sort_by(|a, b| natural_cmp(&a.0, &b.0).then_with(|| natural_cmp(&a.1, &b.1)));
    let mut next = 1u64;
    for (_, _, li, side) in &want {
        while taken.contains(&MacAddr::sequential(next).0) {
            next += 1;
        }
        t.links[*li].endpoints[*side].mac = Some(MacAddr::sequential(next));
        next += 1;
    }
    want.len()
}
