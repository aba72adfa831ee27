//! The apply's pure phases: the requests it would send, computed without
//! root from a topology and a plan.

use super::*;
use crate::lab::plan::{plan, Drift};
use crate::topo::generate;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo};
use netlink_packet_route::RouteNetlinkMessage;

const BASE: u32 = 2;

fn topo() -> Topology {
    // h1 - s1 - s2 - h2
    generate::from_spec("linear,2", "t", false).unwrap()
}

/// The handles of freshly made namespaces, as phase 2 leaves them.
fn fresh_handles(t: &Topology) -> BTreeMap<String, NodeIndex> {
    let stp = effective_stp(t);
    t.nodes
        .values()
        .map(|n| {
            let ns = netns::ns_name(&t.name, &n.name);
            let stp = stp.get(&n.name).copied().unwrap_or(false);
            let (_, index_of, next_index) = fresh_node_requests(&n.name, &ns, n.kind, stp, BASE);
            let h = NodeIndex {
                index_of,
                next_index,
                made: None,
            };
            (n.name.clone(), h)
        })
        .collect()
}

fn fake_fds(t: &Topology) -> BTreeMap<&str, RawFd> {
    t.nodes
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 100 + i as RawFd))
        .collect()
}

fn whats(reqs: &[Request]) -> Vec<&str> {
    reqs.iter().map(|r| r.what.as_str()).collect()
}

#[test]
fn a_fresh_switch_gets_lo_up_and_its_bridge_at_the_first_free_index() {
    let (reqs, index_of, next) = fresh_node_requests("s1", "nlab-t-s1", NodeKind::Switch, true, 5);
    assert_eq!(
        whats(&reqs),
        [
            "setting lo up in nlab-t-s1",
            "creating bridge s1 in nlab-t-s1"
        ]
    );
    let RouteNetlinkMessage::NewLink(m) = &reqs[1].msg else {
        panic!("not a new link: {:?}", reqs[1].msg);
    };
    assert_eq!(m.header.index, 5);
    assert_eq!(index_of, BTreeMap::from([("s1".to_string(), 5)]));
    assert_eq!(next, 6);

    let (reqs, index_of, next) = fresh_node_requests("h1", "nlab-t-h1", NodeKind::Host, false, 5);
    assert_eq!(whats(&reqs), ["setting lo up in nlab-t-h1"]);
    assert!(index_of.is_empty());
    assert_eq!(next, 5);
}

#[test]
fn a_host_switch_veth_is_made_from_the_switch_end_and_the_host_end_is_set_up_after() {
    let t = topo();
    let l = t
        .links
        .iter()
        .find(|l| l.endpoints.iter().any(|e| e.node == "h1"))
        .unwrap();
    let host = l.endpoints.iter().find(|e| e.node == "h1").unwrap();
    let sw = l.endpoints.iter().find(|e| e.node == "s1").unwrap();
    let v6 = t.ipv6_nodes();
    let fds = fake_fds(&t);
    let mut handles = fresh_handles(&t);
    let mut work = BTreeMap::new();
    let req = veth_request(&t, &v6, l, true, &fds, &mut handles, &mut work).unwrap();

    let RouteNetlinkMessage::NewLink(m) = &req.msg else {
        panic!("not a new link: {:?}", req.msg);
    };
    // The switch end is the main device: only it can be enslaved at
    // creation, and it comes up there.
    let s1_port = handles["s1"].index_of[&sw.iface];
    assert_eq!(m.header.index, s1_port);
    assert!(m
        .attributes
        .contains(&LinkAttribute::IfName(sw.iface.clone())));
    assert!(m.attributes.contains(&LinkAttribute::NetNsFd(fds["s1"])));
    assert!(m.attributes.contains(&LinkAttribute::Controller(BASE)));
    let Some(LinkAttribute::LinkInfo(info)) = m.attributes.last() else {
        panic!("no link info");
    };
    assert_eq!(info[0], LinkInfo::Kind(InfoKind::Veth));
    let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))) = &info[1] else {
        panic!("no peer: {info:?}");
    };
    let h1_if = handles["h1"].index_of[&host.iface];
    assert_eq!(peer.header.index, h1_if);
    assert_eq!(
        h1_if, BASE,
        "the host's first interface takes the first free index"
    );
    assert_eq!(s1_port, BASE + 1, "after the bridge");
    assert!(peer.attributes.contains(&LinkAttribute::NetNsFd(fds["h1"])));

    // The host end: no IPv6 link-local (the lab has no IPv6), then up,
    // then its address; the switch end needs nothing more.
    let ns = "nlab-t-h1";
    let addr = host.addrs[0];
    assert_eq!(
        whats(&work["h1"].reqs),
        [
            format!(
                "turning off the IPv6 link-local address of {} in {ns}",
                host.iface
            ),
            format!("setting {} up in {ns}", host.iface),
            format!("adding {addr} to {} in {ns}", host.iface),
        ]
    );
    assert!(work.get("s1").is_none_or(|w| w.reqs.is_empty()));
}

#[test]
fn egress_qdiscs_go_to_the_sending_end_only_when_the_kernel_carries_them() {
    let mut t = topo();
    let i = t
        .links
        .iter()
        .position(|l| l.endpoints.iter().any(|e| e.node == "h1"))
        .unwrap();
    t.links[i].conditions.a_to_b.delay = std::time::Duration::from_millis(20);
    let l = t.links[i].clone();
    let sender = l.endpoints[0].node.clone();
    let other = l.endpoints[1].node.clone();
    let v6 = t.ipv6_nodes();
    let fds = fake_fds(&t);
    let qdiscs = |kernel: bool| {
        let mut handles = fresh_handles(&t);
        let mut work: BTreeMap<String, NodeWork> = BTreeMap::new();
        veth_request(&t, &v6, &l, kernel, &fds, &mut handles, &mut work).unwrap();
        let count = |n: &str| {
            work.get(n).map_or(0, |w| {
                w.reqs
                    .iter()
                    .filter(|r| r.what.starts_with("setting netem"))
                    .count()
            })
        };
        (count(&sender), count(&other))
    };
    assert_eq!(qdiscs(true), (1, 0));
    assert_eq!(qdiscs(false), (0, 0), "the emulator's links get no qdisc");
}

#[test]
fn the_plan_of_a_fresh_lab_gives_every_node_its_work_with_unique_indexes() {
    let mut t = topo();
    t.nodes.get_mut("h1").unwrap().gateway = Some("10.0.0.2".parse().unwrap());
    let p = plan(&t, None, &Drift::default());
    let links: BTreeMap<String, &Link> = t.links.iter().map(|l| (l.key(), l)).collect();
    let (veths, taps) = partition_links(&p, &links);
    assert_eq!(veths.len(), t.links.len());
    assert!(taps.is_empty());
    let v6 = t.ipv6_nodes();
    let fds = fake_fds(&t);
    let mut handles = fresh_handles(&t);
    let mut work = BTreeMap::new();
    for l in &veths {
        veth_request(&t, &v6, l, true, &fds, &mut handles, &mut work).unwrap();
    }
    queue_routes(&t, &p, &mut handles, &mut work).unwrap();
    for (node, h) in &handles {
        let mut idx: Vec<u32> = h.index_of.values().copied().collect();
        idx.sort_unstable();
        idx.dedup();
        assert_eq!(idx.len(), h.index_of.len(), "{node}: an index taken twice");
        assert!(
            idx.iter().all(|i| *i >= BASE && *i < h.next_index),
            "{node}"
        );
    }
    let jobs = node_jobs(&t.name, work);
    let h1 = jobs.iter().find(|(ns, _)| ns == "nlab-t-h1").unwrap();
    let last = h1.1.last().unwrap();
    assert_eq!(last.what, "adding default route via 10.0.0.2 in nlab-t-h1");
    let RouteNetlinkMessage::NewRoute(r) = &last.msg else {
        panic!("not a route: {:?}", last.msg);
    };
    assert_eq!(r.header.destination_prefix_length, 0);
    // Routes come after the addresses that make their gateway reachable.
    let addr_at =
        h1.1.iter()
            .position(|r| r.what.starts_with("adding 10."))
            .unwrap();
    assert!(addr_at < h1.1.len() - 1);
}
