//! Which hosts `pingall` can send from. A VM node's namespace holds no
//! address (its guest does, behind the TAP or macvtap), so nlab cannot
//! send an echo request *from* it: such a host is a destination only,
//! and the report says so on its line. Requests *to* its address go to
//! the guest and count like any other pair.

use super::{PairResult, PingHost};
use std::fmt::Write as _;

/// Why a host is not a source, as the report prints it.
pub const VM_NOTE: &str =
    "(not a source: a VM's address is its guest's; ping from the guest with `nlab console`)";

/// Indices into `hosts` (from [`super::hosts_of`] of `t`) that cannot be
/// a source: VM nodes.
pub fn not_sources(t: &crate::topo::Topology, hosts: &[PingHost]) -> Vec<usize> {
    hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| t.nodes.get(&h.name).is_some_and(|n| n.vm.is_some()))
        .map(|(i, _)| i)
        .collect()
}

/// `pairs` without those whose source is in `skip`.
pub fn without_sources(pairs: &[(usize, usize)], skip: &[usize]) -> Vec<(usize, usize)> {
    pairs
        .iter()
        .copied()
        .filter(|(s, _)| !skip.contains(s))
        .collect()
}

/// [`super::mininet_report`] with the line of each host in `skip` saying
/// why it has no results (byte for byte Mininet's report when `skip` is
/// empty), and a closing line naming them.
pub fn report_skipping(hosts: &[PingHost], results: &[PairResult], skip: &[usize]) -> String {
    let base = super::mininet_report(hosts, results);
    if skip.is_empty() {
        return base;
    }
    let mut out = String::with_capacity(base.len() + 128 * skip.len());
    let mut lines = base.lines();
    if let Some(first) = lines.next() {
        out.push_str(first);
        out.push('\n');
    }
    for (i, line) in lines.by_ref().take(hosts.len()).enumerate() {
        if skip.contains(&i) {
            let _ = writeln!(out, "{} -> {VM_NOTE}", hosts[i].name);
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    let names: Vec<&str> = skip.iter().map(|&i| hosts[i].name.as_str()).collect();
    let _ = writeln!(
        out,
        "*** Not pinged from: {} (VMs; pings to them are counted)",
        names.join(" ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::{Endpoint, Link, Node, NodeKind, Topology};
    use std::time::Duration;

    fn lab() -> Topology {
        let mut t = Topology::new("x");
        for h in ["h1", "h2"] {
            t.nodes.insert(h.into(), Node::new(h, NodeKind::Host));
        }
        let mut v = Node::new("vm1", NodeKind::Host);
        v.vm = Some(Default::default());
        t.nodes.insert("vm1".into(), v);
        t.nodes
            .insert("s1".into(), Node::new("s1", NodeKind::Switch));
        for (i, n) in ["h1", "h2", "vm1"].iter().enumerate() {
            let mut e = Endpoint::new(*n, "eth0");
            e.addrs
                .push(format!("10.0.0.{}/24", i + 1).parse().unwrap());
            t.links
                .push(Link::new(e, Endpoint::new("s1", format!("p{i}"))));
        }
        t
    }

    #[test]
    fn a_vm_is_a_destination_only_and_its_line_says_why() {
        let t = lab();
        let hosts = super::super::hosts_of(&t, false);
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["h1", "h2", "vm1"]);
        let skip = not_sources(&t, &hosts);
        assert_eq!(skip, [2]);
        let pairs = without_sources(&super::super::all_pairs(3), &skip);
        assert_eq!(pairs, [(0, 1), (0, 2), (1, 0), (1, 2)]);
        let results: Vec<PairResult> = pairs
            .iter()
            .map(|&(src, dst)| PairResult {
                src,
                dst,
                rtt: Some(Duration::from_micros(80)),
                sent: 1,
            })
            .collect();
        let want = format!(
            "*** Ping: testing ping reachability\n\
             h1 -> h2 vm1 \n\
             h2 -> h1 vm1 \n\
             vm1 -> {VM_NOTE}\n\
             *** Results: 0% dropped (4/4 received)\n\
             *** Not pinged from: vm1 (VMs; pings to them are counted)\n"
        );
        assert_eq!(report_skipping(&hosts, &results, &skip), want);
        assert_eq!(
            report_skipping(&hosts, &results, &[]),
            super::super::mininet_report(&hosts, &results)
        );
    }
}
