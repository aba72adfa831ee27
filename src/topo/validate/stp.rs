//! Loops in the switch graph. A looped bridge network floods itself to death
//! unless spanning tree breaks the loop, so the lab layer turns STP on for
//! switches found here (unless the file says otherwise).

use crate::topo::model::{NodeKind, Topology};
use std::collections::{BTreeSet, HashMap};

/// Whether any switch sits on a loop of switch-to-switch links.
pub fn needs_stp(t: &Topology) -> bool {
    !switches_in_loop(t).is_empty()
}

/// Switches that should run STP: those that ask for it, and those on a loop
/// that leave it undecided (`stp: None`).
pub fn stp_switches(t: &Topology) -> BTreeSet<String> {
    let looped = switches_in_loop(t);
    t.nodes
        .values()
        .filter(|n| n.kind == NodeKind::Switch)
        .filter(|n| n.stp.unwrap_or_else(|| looped.contains(&n.name)))
        .map(|n| n.name.clone())
        .collect()
}

/// Switches on a cycle of the switch-to-switch graph. Two parallel links
/// between the same switches are a loop too, and so is a link from a switch
/// to itself.
///
/// A switch is on a cycle exactly when one of its links is not a bridge edge
/// (an edge whose removal disconnects the graph); bridges are found with
/// Tarjan's low-link walk, iterative so a 10,000-switch chain cannot
/// overflow the stack.
pub fn switches_in_loop(t: &Topology) -> BTreeSet<String> {
    let switches: Vec<&str> = t
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Switch)
        .map(|n| n.name.as_str())
        .collect();
    let index: HashMap<&str, usize> = switches.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for l in &t.links {
        let [a, b] = &l.endpoints;
        if let (Some(&x), Some(&y)) = (index.get(a.node.as_str()), index.get(b.node.as_str())) {
            edges.push((x, y));
        }
    }
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); switches.len()];
    for (e, &(x, y)) in edges.iter().enumerate() {
        adj[x].push((y, e));
        if x != y {
            adj[y].push((x, e));
        }
    }
    let bridge = bridges(&adj, edges.len());
    let mut out = BTreeSet::new();
    for (e, &(x, y)) in edges.iter().enumerate() {
        if !bridge[e] {
            out.insert(switches[x].to_string());
            out.insert(switches[y].to_string());
        }
    }
    out
}

/// `bridge[e]` for every edge of the multigraph `adj` (neighbour, edge id).
fn bridges(adj: &[Vec<(usize, usize)>], n_edges: usize) -> Vec<bool> {
    const UNSEEN: usize = usize::MAX;
    let mut disc = vec![UNSEEN; adj.len()];
    let mut low = vec![0; adj.len()];
    let mut bridge = vec![false; n_edges];
    let mut time = 0;
    for root in 0..adj.len() {
        if disc[root] != UNSEEN {
            continue;
        }
        // (vertex, edge we came in by, next neighbour to look at)
        let mut stack: Vec<(usize, Option<usize>, usize)> = vec![(root, None, 0)];
        disc[root] = time;
        low[root] = time;
        time += 1;
        while let Some(top) = stack.last_mut() {
            let (v, via, next) = *top;
            if let Some(&(w, e)) = adj[v].get(next) {
                top.2 += 1;
                // Skip only the very edge we arrived by, so a parallel
                // edge back to the parent counts as a cycle.
                if Some(e) == via {
                    continue;
                }
                if disc[w] == UNSEEN {
                    disc[w] = time;
                    low[w] = time;
                    time += 1;
                    stack.push((w, Some(e), 0));
                } else {
                    low[v] = low[v].min(disc[w]);
                }
            } else {
                stack.pop();
                if let (Some(&(parent, _, _)), Some(e)) = (stack.last(), via) {
                    low[parent] = low[parent].min(low[v]);
                    if low[v] > disc[parent] {
                        bridge[e] = true;
                    }
                }
            }
        }
    }
    bridge
}
