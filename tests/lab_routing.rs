//! Routers forward only along their routes; labs with the same node names
//! and addresses stay apart.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::topo::{IpNet, Node, NodeKind, Route, Topology};

/// h1 — r1 — r2 — h2, plus h3 behind r2 that r1 has no route to.
fn routed(lab: &str) -> Topology {
    let mut t = Topology::new(lab);
    for (n, k) in [
        ("h1", NodeKind::Host),
        ("h2", NodeKind::Host),
        ("h3", NodeKind::Host),
        ("r1", NodeKind::Router),
        ("r2", NodeKind::Router),
    ] {
        t.nodes.insert(n.into(), Node::new(n, k));
    }
    t.links.push(link(
        ("h1", "eth0", Some("10.1.0.1/24")),
        ("r1", "eth0", Some("10.1.0.254/24")),
    ));
    t.links.push(link(
        ("r1", "eth1", Some("10.2.0.1/24")),
        ("r2", "eth1", Some("10.2.0.2/24")),
    ));
    t.links.push(link(
        ("r2", "eth0", Some("10.3.0.254/24")),
        ("h2", "eth0", Some("10.3.0.1/24")),
    ));
    t.links.push(link(
        ("r2", "eth2", Some("10.4.0.254/24")),
        ("h3", "eth0", Some("10.4.0.1/24")),
    ));
    let gw = |t: &mut Topology, n: &str, g: &str| {
        t.nodes.get_mut(n).unwrap().gateway = Some(g.parse().unwrap());
    };
    gw(&mut t, "h1", "10.1.0.254");
    gw(&mut t, "h2", "10.3.0.254");
    gw(&mut t, "h3", "10.4.0.254");
    let route = |dst: &str, via: &str| Route {
        dst: dst.parse::<IpNet>().unwrap(),
        via: Some(via.parse().unwrap()),
        dev: None,
        loc: Default::default(),
    };
    t.nodes
        .get_mut("r1")
        .unwrap()
        .routes
        .push(route("10.3.0.0/24", "10.2.0.2"));
    t.nodes
        .get_mut("r2")
        .unwrap()
        .routes
        .push(route("10.1.0.0/24", "10.2.0.1"));
    t
}

#[test]
fn two_routers_forward_only_along_their_routes() {
    require_root!();
    let name = lab_name("rt");
    let _g = LabGuard(name.clone());
    let t = routed(&name);
    Lab::up(&t, &UpOptions::default()).expect("up");
    let h1 = ns(&name, "h1");
    // Two router hops: the reply arrives with TTL 64 - 2.
    let out = ping_output(&h1, "10.3.0.1").expect("h1 reaches h2 through r1 and r2");
    assert!(out.contains("ttl=62"), "{out}");
    // r1 has no route to 10.4.0.0/24: h3 is unreachable from h1 …
    assert!(
        !ping(&h1, "10.4.0.1"),
        "h1 must not reach h3: r1 has no route"
    );
    // … though r2 itself reaches h3.
    assert!(ping(&ns(&name, "r2"), "10.4.0.1"));
    // Routers forward, hosts do not.
    let fwd = |n: &str| {
        let o = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns(&name, n),
                "cat",
                "/proc/sys/net/ipv4/ip_forward",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(fwd("r1"), "1");
    assert_eq!(fwd("h1"), "0");
    // The static route is in r1's table as `ip` sees it.
    let routes = ip_json(&ns(&name, "r1"), &["route", "show", "10.3.0.0/24"]);
    assert_eq!(routes[0]["gateway"], "10.2.0.2");
}

#[test]
fn labs_with_the_same_names_and_addresses_do_not_see_each_other() {
    require_root!();
    let a = lab_name("ova");
    let b = lab_name("ovb");
    let _ga = LabGuard(a.clone());
    let _gb = LabGuard(b.clone());
    Lab::up(&star(&a, 2), &UpOptions::default()).expect("up a");
    Lab::up(&star(&b, 3), &UpOptions::default()).expect("up b");
    // Same node names, same 10.0.0.0/24 in both labs.
    assert!(ping(&ns(&a, "h1"), "10.0.0.2"));
    assert!(ping(&ns(&b, "h1"), "10.0.0.2"));
    // Lab a has no 10.0.0.3; lab b's h3 must not answer for it.
    assert!(!ping(&ns(&a, "h1"), "10.0.0.3"));
    // Tearing one down leaves the other intact.
    nlab::lab::down(&a).unwrap();
    assert_no_trace(&a);
    assert!(ping(&ns(&b, "h1"), "10.0.0.3"));
}
