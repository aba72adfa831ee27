//! TEMPORARY (replaced by the topo branch): switches on a loop.
use super::{NodeKind, Topology};
use std::collections::{BTreeMap, BTreeSet};

pub fn switches_in_loop(t: &Topology) -> BTreeSet<String> {
    // Union-find over switch-switch links; a link joining two already
    // connected switches closes a loop.
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    fn find(p: &mut BTreeMap<String, String>, x: &str) -> String {
        let mut cur = x.to_string();
        while let Some(n) = p.get(&cur).cloned() {
            if n == cur { break; }
            cur = n;
        }
        cur
    }
    let mut looped = BTreeSet::new();
    for l in &t.links {
        let [a, b] = &l.endpoints;
        let sw = |n: &str| t.nodes.get(n).map(|n| n.kind == NodeKind::Switch).unwrap_or(false);
        if !(sw(&a.node) && sw(&b.node)) { continue; }
        parent.entry(a.node.clone()).or_insert(a.node.clone());
        parent.entry(b.node.clone()).or_insert(b.node.clone());
        let ra = find(&mut parent, &a.node);
        let rb = find(&mut parent, &b.node);
        if ra == rb { looped.insert(a.node.clone()); looped.insert(b.node.clone()); } else { parent.insert(ra, rb); }
    }
    looped
}
