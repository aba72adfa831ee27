//! `vnet::realize` on the kernel, OpenVNet's walkthrough: two networks
//! with the same 172.16.1.0/24 and the same host addresses stay apart (a
//! capture on the other network sees nothing); two networks joined by a
//! router whose interfaces are .254; applying the same world again
//! changes nothing, a port more creates one node, a port less removes
//! exactly its namespace; `down` leaves nothing.
mod common;
mod vnet_world;
use common::{lab_name, LabGuard};
use nlab::testing::vnet::{apply, Desired, PortStatus, Router, RouterInterface};
use vnet_world::*;

/// Networks a and b, both 172.16.1.0/24; hosts .1 and .2 on each.
fn overlapping() -> Desired {
    Desired {
        networks: vec![net("a0"), net("b0")],
        subnets: vec![
            subnet("a5", "a0", "172.16.1.0/24", None, false),
            subnet("b5", "b0", "172.16.1.0/24", None, false),
        ],
        ports: vec![
            port("a1", "a0", "a5", "172.16.1.1", 0x11),
            port("a2", "a0", "a5", "172.16.1.2", 0x12),
            port("b1", "b0", "b5", "172.16.1.1", 0x21),
            port("b2", "b0", "b5", "172.16.1.2", 0x22),
        ],
        ..Default::default()
    }
}

#[test]
fn overlapping_networks_each_reach_only_their_own_peer() {
    require_root!();
    let lab = lab_name("vo");
    let _g = LabGuard(lab.clone());
    let d = overlapping();
    let r = apply(&d, &lab).expect("apply");
    assert_eq!(r.up.nodes, 6, "two switches, four instances");
    assert!(
        r.ports.values().all(|s| *s == PortStatus::Active),
        "{:?}",
        r.ports
    );
    let (a1, b1) = (ns(&lab, "i-a1000000"), ns(&lab, "i-b1000000"));
    // Each .2 answers its own network: a capture on b's .2 sees nothing
    // of a's pings, and a capture on a's .2 sees them (the witness works).
    let on_b = capture_icmp(&ns(&lab, "i-b2000000"), "eth0", || {
        assert!(ping(&a1, "172.16.1.2"), "a1 reaches a2");
    });
    assert!(on_b.is_empty(), "network b saw a's traffic: {on_b:?}");
    let on_a = capture_icmp(&ns(&lab, "i-a2000000"), "eth0", || {
        assert!(ping(&a1, "172.16.1.2"), "a1 reaches a2");
    });
    assert!(!on_a.is_empty(), "a2's capture saw nothing of a1's ping");
    let on_a = capture_icmp(&ns(&lab, "i-a2000000"), "eth0", || {
        assert!(ping(&b1, "172.16.1.2"), "b1 reaches b2");
    });
    assert!(on_a.is_empty(), "network a saw b's traffic: {on_a:?}");
    // The peers answer with their own MACs: a1 learned a2's, not b2's.
    let neigh = run_in(&a1, &["ip", "neigh", "show", "172.16.1.2"]);
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(neigh.contains("fa:16:3e:00:00:12"), "{neigh}");
}

#[test]
fn a_router_with_254_on_two_networks_joins_them() {
    require_root!();
    let lab = lab_name("vr");
    let _g = LabGuard(lab.clone());
    let d = Desired {
        networks: vec![net("a0"), net("c0")],
        subnets: vec![
            subnet("a5", "a0", "172.16.1.0/24", Some("172.16.1.254"), false),
            subnet("c5", "c0", "172.16.2.0/24", Some("172.16.2.254"), false),
        ],
        ports: vec![
            port("a1", "a0", "a5", "172.16.1.1", 0x11),
            port("c1", "c0", "c5", "172.16.2.1", 0x31),
        ],
        routers: vec![Router {
            id: id("f0"),
            interfaces: vec![
                RouterInterface {
                    port_id: id("f1"),
                    subnet_id: id("a5"),
                    ip: "172.16.1.254".parse().expect("ip"),
                    mac: None,
                },
                RouterInterface {
                    port_id: id("f2"),
                    subnet_id: id("c5"),
                    ip: "172.16.2.254".parse().expect("ip"),
                    mac: None,
                },
            ],
            external_gateway: None,
            routes: Vec::new(),
        }],
        ..Default::default()
    };
    apply(&d, &lab).expect("apply");
    let (a1, c1) = (ns(&lab, "i-a1000000"), ns(&lab, "i-c1000000"));
    assert!(ping(&a1, "172.16.1.254"), "a1 reaches its gateway");
    assert!(ping(&a1, "172.16.2.1"), "a1 reaches c1 through the router");
    assert!(ping(&c1, "172.16.1.1"), "c1 reaches a1 through the router");
    let legs = ipv4_of(&ns(&lab, "qrouter-f0000000"), "qr-f100000000");
    assert_eq!(legs, ["172.16.1.254"]);
}

#[test]
fn applying_again_changes_nothing_and_ports_come_and_go_alone() {
    require_root!();
    let lab = lab_name("vc");
    let guard = LabGuard(lab.clone());
    let mut d = overlapping();
    apply(&d, &lab).expect("apply");
    let again = apply(&d, &lab).expect("apply again");
    assert_eq!(again.up.changes, 0, "{:?}", again.up.plan);
    assert!(again.tables_applied.is_empty());
    // One port more: one node and its link, nothing else.
    d.ports.push(port("a3", "a0", "a5", "172.16.1.3", 0x13));
    let more = apply(&d, &lab).expect("apply with a port more");
    assert_eq!(more.up.plan.create_nodes, ["i-a3000000"]);
    assert!(more.up.plan.delete_nodes.is_empty(), "{:?}", more.up.plan);
    assert_eq!(more.ports[&id("a3")], PortStatus::Active);
    assert!(ping(&ns(&lab, "i-a3000000"), "172.16.1.1"));
    // One port less: exactly its namespace goes, its bridge port with it.
    let before = std::fs::metadata(format!("/run/netns/{}", ns(&lab, "i-a1000000")))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("a1's namespace");
    d.ports.retain(|p| p.id != id("a2"));
    let less = apply(&d, &lab).expect("apply with a port less");
    assert_eq!(less.up.plan.delete_nodes, ["i-a2000000"]);
    assert!(less.up.plan.create_nodes.is_empty(), "{:?}", less.up.plan);
    assert!(!std::path::Path::new(&format!("/run/netns/{}", ns(&lab, "i-a2000000"))).exists());
    let links = run_in(&ns(&lab, "net-a0000000"), &["ip", "-br", "link"]);
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("tapa200000000"), "{links}");
    assert!(links.contains("tapa100000000"), "{links}");
    let after = std::fs::metadata(format!("/run/netns/{}", ns(&lab, "i-a1000000")))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("a1's namespace");
    assert_eq!(before, after, "a1's namespace stayed the same one");
    // An unbound port is DOWN and has nothing in the kernel.
    d.ports[0].binding = nlab::testing::vnet::Binding::Unbound;
    let unbound = apply(&d, &lab).expect("apply with a1 unbound");
    assert_eq!(unbound.ports[&id("a1")], PortStatus::Down);
    assert_eq!(unbound.up.plan.delete_nodes, ["i-a1000000"]);
    // `down` (the guard) leaves nothing of the lab.
    drop(guard);
}
