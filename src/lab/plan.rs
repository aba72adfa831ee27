//! Planning: what must change in the kernel to turn the recorded lab into
//! the desired one. Pure data in, pure data out, so it is tested without
//! root: re-planning an applied topology must give an empty plan.

use crate::topo::conditions::{Directed, StepAction};
use crate::topo::{Link, Node, NodeKind, Topology};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the kernel was found to be missing when compared with the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Nodes whose namespace is gone.
    pub nodes: BTreeSet<String>,
    /// Links (by key) with an end missing, renamed or peered elsewhere.
    pub links: BTreeSet<String>,
    /// Nodes (kept) whose routes or gateways are missing, with how many:
    /// they are re-added in place.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, usize>,
    /// Human-readable findings, one per problem.
    pub notes: Vec<String>,
}

impl Drift {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.links.is_empty() && self.routes.is_empty()
    }
}

/// The ordered work for one apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Namespaces to remove (nodes gone, changed or drifted).
    pub delete_nodes: Vec<String>,
    /// Recorded links to delete explicitly (key), because at least one end
    /// survives in a namespace that stays.
    pub delete_links: Vec<String>,
    /// Nodes to create (new, changed or drifted).
    pub create_nodes: Vec<String>,
    /// Links to create (key), indexes into the desired topology's links.
    pub create_links: Vec<String>,
    /// Links (key) that stay but whose conditions changed: their qdiscs
    /// are replaced in place, so connections through them survive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub condition_links: Vec<String>,
    /// Nodes whose routes must be (re)installed.
    pub route_nodes: Vec<String>,
    /// Routes and gateways found missing in nodes that stay, re-added in
    /// place (the node and its processes stay).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub route_repairs: usize,
    /// Whether name resolution files must be rewritten.
    pub rewrite_hosts: bool,
    /// `host:` ends to delete (their names in the root namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_host_links: Vec<String>,
    /// `host:` links to create (key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_host_links: Vec<String>,
}

impl Plan {
    /// Number of kernel-visible changes (what `up` reports).
    pub fn changes(&self) -> usize {
        self.delete_nodes.len()
            + self.delete_links.len()
            + self.create_nodes.len()
            + self.create_links.len()
            + self.condition_links.len()
            + self.route_repairs
            + self.delete_host_links.len()
            + self.create_host_links.len()
    }

    /// Whether the lab already matches: `up` would change nothing.
    pub fn is_empty(&self) -> bool {
        self.changes() == 0
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A node with its position in the file wiped, so that moving a line in the
/// file is not a change.
fn node_content(n: &Node) -> Node {
    let mut n = n.clone();
    n.loc = Default::default();
    for r in &mut n.routes {
        r.loc = Default::default();
    }
    // Router advertisements are the supervisor's to send: changing them
    // restarts its advertiser, not the router.
    n.ipv6_ra = None;
    // So are a DHCP server's scopes (its reservations change with every
    // port of a virtual network): the running server takes them on the
    // supervisor's next sync, without a restart; the namespace stays.
    if let Some(d) = &mut n.dhcp {
        d.scopes.clear();
    }
    n
}

fn link_content(l: &Link) -> Link {
    let mut l = l.clone();
    l.loc = Default::default();
    for e in &mut l.endpoints {
        e.loc = Default::default();
    }
    // Recording is the supervisor's to do: starting or stopping it
    // leaves the link as it is.
    l.capture = None;
    // The same link written with its ends swapped is the same link.
    // Directions are named by the sending end, so they swap along.
    if l.endpoints[0].id() > l.endpoints[1].id() {
        l.endpoints.swap(0, 1);
        swap_directions(&mut l.conditions);
        for s in &mut l.schedule {
            if let StepAction::Set(d) = &mut s.action {
                swap_directions(d);
            }
        }
    }
    l
}

fn swap_directions(d: &mut Directed) {
    std::mem::swap(&mut d.a_to_b, &mut d.b_to_a);
}

/// The link without its conditions and schedule: what a veth is made of.
/// Links that differ only in conditions keep their veth and get new qdiscs.
fn wiring(l: &Link) -> Link {
    let mut l = l.clone();
    l.conditions = Directed::default();
    l.schedule.clear();
    l
}

/// Whether the link is two TAPs joined by the userspace emulator rather
/// than a veth: changing that recreates the link.
fn emulated(l: &Link) -> bool {
    super::emulated::needs_emulator(l)
}

/// A VM whose links changed (added, removed, rewired) is recreated: its
/// guest gets a NIC per link at start, and its TAPs are numbered in link
/// order.
fn vm_rewired(n: &Node, old: &Topology, new: &Topology) -> bool {
    let of = |t: &Topology| -> Vec<Link> {
        let v: Vec<Link> = t
            .links
            .iter()
            .filter(|l| l.endpoints.iter().any(|e| e.node == n.name))
            .map(|l| wiring(&link_content(l)))
            .collect();
        v
    };
    n.vm.is_some() && of(old) != of(new)
}

/// The spanning-tree setting each switch will get: the file's choice, or on
/// when the switch sits in a loop of the switch graph.
pub fn effective_stp(t: &Topology) -> BTreeMap<String, bool> {
    let on = crate::topo::validate::stp_switches(t);
    t.nodes
        .values()
        .filter(|n| n.kind == NodeKind::Switch)
        .map(|n| (n.name.clone(), on.contains(&n.name)))
        .collect()
}

/// Computes the plan from the desired topology, the recorded one (if the
/// lab exists) and what the kernel was found to lack.
pub fn plan(desired: &Topology, recorded: Option<&Topology>, drift: &Drift) -> Plan {
    let mut p = Plan::default();
    let empty = Topology::new(desired.name.clone());
    let old = recorded.unwrap_or(&empty);
    let stp_new = effective_stp(desired);
    let stp_old = effective_stp(old);

    // Nodes: recreate on any change of their own settings. Routes depend
    // on addresses, and a switch's STP mode on the whole graph, so a node
    // is the unit of change.
    let mut recreate: BTreeSet<String> = BTreeSet::new();
    for (name, n) in &old.nodes {
        match desired.nodes.get(name) {
            None => p.delete_nodes.push(name.clone()),
            Some(d) => {
                let changed = node_content(d) != node_content(n)
                    || stp_new.get(name) != stp_old.get(name)
                    || drift.nodes.contains(name)
                    || vm_rewired(d, old, desired);
                if changed {
                    p.delete_nodes.push(name.clone());
                    recreate.insert(name.clone());
                }
            }
        }
    }
    for name in desired.nodes.keys() {
        if !old.nodes.contains_key(name) || recreate.contains(name) {
            p.create_nodes.push(name.clone());
        }
    }
    let gone: BTreeSet<&String> = p.delete_nodes.iter().collect();

    // Links by key.
    let old_links: BTreeMap<String, Link> = old
        .links
        .iter()
        .map(|l| (l.key(), link_content(l)))
        .collect();
    let new_links: BTreeMap<String, Link> = desired
        .links
        .iter()
        .map(|l| (l.key(), link_content(l)))
        .collect();
    for (key, l) in &old_links {
        let touches_gone = l.endpoints.iter().any(|e| gone.contains(&e.node));
        let survives = l.endpoints.iter().any(|e| !gone.contains(&e.node));
        let rewired = new_links.get(key).map(wiring) != Some(wiring(l))
            || new_links.get(key).map(emulated) != Some(emulated(l));
        let replaced = rewired || drift.links.contains(key) || touches_gone;
        if replaced && survives {
            p.delete_links.push(key.clone());
        }
    }
    for (key, l) in &new_links {
        let touches_new = l.endpoints.iter().any(|e| p.create_nodes.contains(&e.node));
        let old = old_links.get(key);
        let same_wiring = old.map(wiring) == Some(wiring(l))
            && old.map(emulated) == Some(emulated(l))
            && !drift.links.contains(key);
        if touches_new || !same_wiring {
            p.create_links.push(key.clone());
        } else if old.map(|o| (&o.conditions, &o.schedule)) != Some((&l.conditions, &l.schedule)) {
            // A new schedule alone is a change too: the journal must record
            // it for the supervisor, and the qdiscs go back to the start.
            p.condition_links.push(key.clone());
        }
    }

    // Routes: every non-switch node that was created or got a new link
    // (deleting an interface takes the routes through it along).
    let mut route_nodes: BTreeSet<String> = BTreeSet::new();
    for name in &p.create_nodes {
        route_nodes.insert(name.clone());
    }
    for (name, missing) in &drift.routes {
        if desired.nodes.contains_key(name) && route_nodes.insert(name.clone()) {
            p.route_repairs += missing;
        }
    }
    for key in p.create_links.iter().chain(p.delete_links.iter()) {
        let l = new_links.get(key).or_else(|| old_links.get(key));
        if let Some(l) = l {
            for e in &l.endpoints {
                if desired.nodes.contains_key(&e.node) {
                    route_nodes.insert(e.node.clone());
                }
            }
        }
    }
    p.route_nodes = route_nodes
        .into_iter()
        .filter(|n| {
            desired
                .nodes
                .get(n)
                .map(|n| {
                    n.kind != NodeKind::Switch
                        && (n.gateway.is_some() || n.gateway6.is_some() || !n.routes.is_empty())
                })
                .unwrap_or(false)
        })
        .collect();
    (p.delete_host_links, p.create_host_links) = super::host_links::plan(desired, recorded, &p);
    p.rewrite_hosts = p.changes() > p.route_repairs;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::{Endpoint, IpNet};

    fn star(n: usize) -> Topology {
        let mut t = Topology::new("t");
        t.nodes
            .insert("s1".into(), Node::new("s1", NodeKind::Switch));
        for i in 1..=n {
            let h = format!("h{i}");
            t.nodes.insert(h.clone(), Node::new(&h, NodeKind::Host));
            let mut a = Endpoint::new(&h, format!("{h}-eth0"));
            a.addrs
                .push(IpNet::new(format!("10.0.0.{i}").parse().unwrap(), 8).unwrap());
            let b = Endpoint::new("s1", format!("s1-eth{i}"));
            t.links.push(Link {
                endpoints: [a, b],
                mtu: None,
                up: true,
                conditions: Default::default(),
                schedule: Vec::new(),
                capture: None,
                loc: Default::default(),
            });
        }
        t
    }

    #[test]
    fn fresh_lab_creates_everything() {
        let t = star(3);
        let p = plan(&t, None, &Drift::default());
        assert_eq!(p.create_nodes.len(), 4);
        assert_eq!(p.create_links.len(), 3);
        assert!(p.delete_nodes.is_empty() && p.delete_links.is_empty());
    }

    #[test]
    fn replanning_an_applied_topology_is_empty() {
        let t = star(5);
        let p = plan(&t, Some(&t), &Drift::default());
        assert!(p.is_empty(), "{p:?}");
        assert!(!p.rewrite_hosts);
    }

    #[test]
    fn recording_a_link_or_not_changes_nothing_in_the_kernel() {
        let t = star(2);
        let mut u = t.clone();
        u.links[0].capture = Some(Default::default());
        assert!(plan(&u, Some(&t), &Drift::default()).is_empty());
        assert!(plan(&t, Some(&u), &Drift::default()).is_empty());
        // The journal must still learn it: the topologies differ.
        assert_ne!(t, u);
    }

    #[test]
    fn moved_lines_and_swapped_ends_are_not_changes() {
        let t = star(2);
        let mut u = t.clone();
        u.links[0].loc.line = 42;
        u.links[1].endpoints.swap(0, 1);
        u.nodes.get_mut("h1").unwrap().loc.line = 7;
        assert!(plan(&u, Some(&t), &Drift::default()).is_empty());
    }

    #[test]
    fn editing_one_address_recreates_one_link() {
        let t = star(3);
        let mut u = t.clone();
        u.links[1].endpoints[0].addrs[0] = "10.0.0.99/8".parse().unwrap();
        let p = plan(&u, Some(&t), &Drift::default());
        assert_eq!(p.create_links, vec![t.links[1].key()]);
        assert_eq!(p.delete_links, vec![t.links[1].key()]);
        assert!(p.create_nodes.is_empty() && p.delete_nodes.is_empty());
    }

    #[test]
    fn changing_conditions_keeps_the_veth() {
        use crate::topo::conditions::{Impairment, Rate};
        let t = star(3);
        let mut u = t.clone();
        u.links[1].conditions.a_to_b.rate = Some(Rate {
            bits_per_sec: 10_000_000,
            burst_bytes: None,
        });
        let p = plan(&u, Some(&t), &Drift::default());
        assert_eq!(p.condition_links, vec![t.links[1].key()]);
        assert!(p.create_links.is_empty() && p.delete_links.is_empty());
        assert_eq!(p.changes(), 1);
        // Written with the ends swapped (and so the directions): no change.
        let mut w = u.clone();
        w.links[1].endpoints.swap(0, 1);
        let c = &mut w.links[1].conditions;
        std::mem::swap(&mut c.a_to_b, &mut c.b_to_a);
        assert!(plan(&w, Some(&u), &Drift::default()).is_empty());
        // Swapping only the ends moves the rate to the other direction.
        let mut x = u.clone();
        x.links[1].endpoints.swap(0, 1);
        assert_eq!(
            plan(&x, Some(&u), &Drift::default()).condition_links.len(),
            1
        );
        let _ = Impairment::default();
    }

    #[test]
    fn removing_a_host_deletes_its_namespace_and_link_end() {
        let t = star(3);
        let mut u = t.clone();
        u.nodes.remove("h3");
        u.links.pop();
        let p = plan(&u, Some(&t), &Drift::default());
        assert_eq!(p.delete_nodes, vec!["h3".to_string()]);
        assert_eq!(p.delete_links, vec![t.links[2].key()]);
        assert!(p.create_links.is_empty());
    }

    #[test]
    fn drifted_link_is_repaired() {
        let t = star(2);
        let mut d = Drift::default();
        d.links.insert(t.links[0].key());
        let p = plan(&t, Some(&t), &d);
        assert_eq!(p.create_links, vec![t.links[0].key()]);
        assert_eq!(p.delete_links, vec![t.links[0].key()]);
    }

    #[test]
    fn missing_routes_are_repaired_in_place_and_counted() {
        let mut t = star(2);
        t.nodes.get_mut("h1").unwrap().gateway = Some("10.0.0.254".parse().unwrap());
        let mut d = Drift::default();
        d.routes.insert("h1".into(), 1);
        assert!(!d.is_empty());
        let p = plan(&t, Some(&t), &d);
        assert_eq!(p.route_nodes, vec!["h1".to_string()]);
        assert_eq!(p.route_repairs, 1);
        assert_eq!(p.changes(), 1);
        assert!(p.create_nodes.is_empty() && p.create_links.is_empty());
        assert!(
            !p.rewrite_hosts,
            "routes alone do not touch name resolution"
        );
    }

    #[test]
    fn drifted_node_is_recreated_with_its_links() {
        let t = star(2);
        let mut d = Drift::default();
        d.nodes.insert("h1".into());
        let p = plan(&t, Some(&t), &d);
        assert_eq!(p.delete_nodes, vec!["h1".to_string()]);
        assert_eq!(p.create_nodes, vec!["h1".to_string()]);
        assert_eq!(p.create_links, vec![t.links[0].key()]);
    }

    proptest::proptest! {
        #[test]
        fn replanning_any_generated_topology_is_empty(kind in 0usize..4, a in 1usize..12, b in 1usize..4) {
            let spec = match kind {
                0 => format!("single,{a}"),
                1 => format!("linear,{a}"),
                2 => format!("tree,{},{}", 1 + a % 3, b),
                _ => format!("torus,{},{}", 3 + a % 3, 3 + b % 2),
            };
            let t = crate::topo::generate::from_spec(&spec, "p", a % 2 == 0).unwrap();
            let fresh = plan(&t, None, &Drift::default());
            proptest::prop_assert_eq!(fresh.create_nodes.len(), t.nodes.len());
            proptest::prop_assert_eq!(fresh.create_links.len(), t.links.len());
            // What the journal stores is what the next plan compares with.
            let json = serde_json::to_string(&t).unwrap();
            let recorded: Topology = serde_json::from_str(&json).unwrap();
            proptest::prop_assert!(plan(&t, Some(&recorded), &Drift::default()).is_empty());
        }

        #[test]
        fn replanning_with_conditions_is_empty(
            a in 1usize..8,
            delay_ns in 0u64..2_000_000_000,
            loss in 0.0f64..100.0,
            bits in 1u64..10_000_000_000,
            burst in proptest::option::of(1u32..10_000_000),
        ) {
            use crate::topo::conditions::{Directed, Impairment, Loss, Rate, Step, StepAction};
            let mut t = crate::topo::generate::from_spec(&format!("linear,{a}"), "p", false).unwrap();
            for (i, l) in t.links.iter_mut().enumerate() {
                let imp = Impairment {
                    delay: std::time::Duration::from_nanos(delay_ns),
                    loss: Some(Loss::Random { percent: loss }),
                    rate: Some(Rate { bits_per_sec: bits, burst_bytes: burst }),
                    ..Impairment::default()
                };
                l.conditions = if i % 2 == 0 {
                    Directed::symmetric(imp)
                } else {
                    Directed { a_to_b: imp, b_to_a: Impairment::default() }
                };
                l.schedule.push(Step { at: std::time::Duration::from_secs(1), action: StepAction::Down });
            }
            let json = serde_json::to_string(&t).unwrap();
            let recorded: Topology = serde_json::from_str(&json).unwrap();
            proptest::prop_assert!(plan(&t, Some(&recorded), &Drift::default()).is_empty());
        }
    }
}
