use super::*;
use crate::topo::model::{Endpoint, IpNet, Link, Loc, MacAddr, Node, NodeKind, Route, Topology};

fn net(s: &str) -> IpNet {
    s.parse().expect("test address")
}

fn ep(node: &str, iface: &str, addrs: &[&str]) -> Endpoint {
    let mut e = Endpoint::new(node, iface);
    e.addrs = addrs.iter().map(|a| net(a)).collect();
    e
}

fn link(a: Endpoint, b: Endpoint) -> Link {
    Link::new(a, b)
}

fn add(t: &mut Topology, name: &str, kind: NodeKind) {
    t.nodes.insert(name.into(), Node::new(name, kind));
}

/// h1 — s1 — h2 in 10.0.0.0/24, r1 on s1 as 10.0.0.254.
fn small() -> Topology {
    let mut t = Topology::new("small");
    add(&mut t, "h1", NodeKind::Host);
    add(&mut t, "h2", NodeKind::Host);
    add(&mut t, "r1", NodeKind::Router);
    add(&mut t, "s1", NodeKind::Switch);
    t.links.push(link(
        ep("h1", "eth0", &["10.0.0.1/24", "fd00::1/64"]),
        ep("s1", "p1", &[]),
    ));
    t.links.push(link(
        ep("h2", "eth0", &["10.0.0.2/24"]),
        ep("s1", "p2", &[]),
    ));
    t.links.push(link(
        ep("r1", "eth0", &["10.0.0.254/24", "fd00::fe/64"]),
        ep("s1", "p3", &[]),
    ));
    t
}

/// The messages of all errors, for `contains` checks.
fn errors(t: &Topology) -> Vec<String> {
    match validate(t) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_error(t: &Topology, needle: &str) {
    let errs = errors(t);
    assert!(
        errs.iter().any(|e| e.contains(needle)),
        "expected an error containing {needle:?}, got {errs:#?}"
    );
}

#[test]
fn small_is_valid() {
    assert_eq!(errors(&small()), Vec::<String>::new());
}

#[test]
fn lab_names() {
    for good in [
        "a",
        "demo",
        "lab_2",
        "x23456789012345678901234",
        "my-lab",
        "srl-ceos01",
        "a--b",
    ] {
        assert!(check_lab_name(good).is_ok(), "{good}");
    }
    for edge in ["-lab", "lab-", "-"] {
        let (msg, _) = check_lab_name(edge).unwrap_err();
        assert!(msg.contains("starts or ends with `-`"), "{edge}: {msg}");
    }
    let (_, hint) = check_lab_name("-my.lab-").unwrap_err();
    assert_eq!(hint.as_deref(), Some("try `my_lab`"));
    let (msg, hint) = check_lab_name("my:lab").unwrap_err();
    assert!(msg.contains("contains `:`"), "{msg}");
    assert_eq!(hint.as_deref(), Some("try `my_lab`"));
    let (msg, _) = check_lab_name("Demo").unwrap_err();
    assert!(msg.contains("contains `D`"), "{msg}");
    let (msg, _) = check_lab_name("x234567890123456789012345").unwrap_err();
    assert!(msg.contains("is 25 characters; the limit is 24"), "{msg}");
    assert!(check_lab_name("").is_err());
    assert!(check_lab_name("a b").unwrap_err().0.contains("' '"));

    let mut t = small();
    t.name = "bad:name".into();
    assert_error(&t, "lab name `bad:name` contains `:`");
}

#[test]
fn node_names() {
    for good in ["h1", "H.1", "a-b_c", "r1.core"] {
        assert!(check_node_name(good).is_ok(), "{good}");
    }
    assert!(check_node_name("-x").unwrap_err().contains("may not start"));
    assert!(check_node_name(".x").unwrap_err().contains("may not start"));
    assert!(check_node_name("a/b").unwrap_err().contains("contains `/`"));
    assert!(check_node_name(&"n".repeat(33))
        .unwrap_err()
        .contains("33 characters; the limit is 32"));
    assert!(check_node_name("").is_err());
}

#[test]
fn iface_names() {
    assert!(check_iface_name("eth0").is_ok());
    assert!(check_iface_name("s1000-eth10000").is_ok());
    let e = check_iface_name("h1-verylongname0").unwrap_err();
    assert!(e.contains("is 16 bytes; the kernel's limit is 15"), "{e}");
    // Bytes, not characters: the kernel counts bytes.
    let e = check_iface_name("éééééééé").unwrap_err();
    assert!(e.contains("16 bytes"), "{e}");
    for bad in ["lo", ".", "..", "a/b", "a:b", "a b", "a\tb", ""] {
        assert!(check_iface_name(bad).is_err(), "{bad:?}");
    }

    let mut t = small();
    t.links[0].endpoints[0].iface = "averyveryverylongname".into();
    assert_error(
        &t,
        "interface `h1:averyveryverylongname`: interface name `averyveryverylongname` is 21 bytes",
    );
}

#[test]
fn no_nodes() {
    let t = Topology::new("empty");
    assert_error(&t, "the topology has no nodes");
}

#[test]
fn dangling_endpoint_suggests_a_node() {
    let mut t = small();
    t.links[1].endpoints[0].node = "H2".into();
    t.links[1].endpoints[0].loc = Loc::new(7, 9);
    let e = validate(&t).unwrap_err();
    let first = &e.0[0];
    assert_eq!(first.loc, Loc::new(7, 9));
    assert!(
        first.msg.contains("names node `H2`, which does not exist"),
        "{first}"
    );
    assert_eq!(
        first.hint.as_deref(),
        Some("did you mean `h2`? If not, declare `H2` under `topology.nodes`")
    );

    // No obvious typo: a short list of what exists helps more.
    t.links[1].endpoints[0].node = "web".into();
    let e = validate(&t).unwrap_err();
    assert_eq!(e.0[0].hint.as_deref(), Some("the nodes are h1, h2, r1, s1"));
}

#[test]
fn doubly_used_interface_and_self_loop() {
    let mut t = small();
    t.links[0].endpoints[1].loc = Loc::new(3, 1);
    let mut again = link(ep("h2", "eth1", &[]), ep("s1", "p1", &[]));
    again.endpoints[1].loc = Loc::new(9, 4);
    t.links.push(again);
    let e = validate(&t).unwrap_err();
    let err = e
        .iter()
        .find(|e| e.msg.contains("used by two links"))
        .expect("double use reported");
    assert_eq!(err.loc, Loc::new(9, 4));
    assert!(
        err.msg
            .contains("`s1:p1` is used by two links (the first on line 3)"),
        "{err}"
    );

    let mut t = small();
    t.links
        .push(link(ep("h1", "eth5", &[]), ep("h1", "eth5", &[])));
    let errs = errors(&t);
    assert!(
        errs.iter()
            .any(|e| e.contains("connects `h1:eth5` to itself")),
        "{errs:#?}"
    );
    assert!(
        !errs.iter().any(|e| e.contains("used by two links")),
        "one report is enough: {errs:#?}"
    );
}

#[test]
fn duplicate_address_in_one_segment() {
    let mut t = small();
    t.links[1].endpoints[0].addrs = vec![net("10.0.0.1/24")];
    t.links[0].endpoints[0].loc = Loc::new(4, 2);
    assert_error(
        &t,
        "address 10.0.0.1 is on both `h1:eth0` (the first on line 4) and `h2:eth0`",
    );
}

#[test]
fn same_address_in_two_segments_is_fine() {
    let mut t = small();
    add(&mut t, "s2", NodeKind::Switch);
    add(&mut t, "h3", NodeKind::Host);
    add(&mut t, "h4", NodeKind::Host);
    t.links.push(link(
        ep("h3", "eth0", &["10.0.0.1/24"]),
        ep("s2", "p1", &[]),
    ));
    t.links.push(link(
        ep("h4", "eth0", &["10.0.0.2/24"]),
        ep("s2", "p2", &[]),
    ));
    assert_eq!(errors(&t), Vec::<String>::new());
    // A router joining the two keeps them apart: it ends both segments.
    t.links.push(link(
        ep("r1", "eth1", &["10.0.9.1/24"]),
        ep("s2", "p3", &[]),
    ));
    assert_eq!(errors(&t), Vec::<String>::new());
    // A switch-to-switch link merges them.
    t.links.push(link(ep("s1", "p9", &[]), ep("s2", "p9", &[])));
    assert_error(&t, "address 10.0.0.1 is on both `h1:eth0` and `h3:eth0`");
}

#[test]
fn same_address_twice_on_one_node() {
    let mut t = small();
    add(&mut t, "s2", NodeKind::Switch);
    t.links.push(link(
        ep("r1", "eth1", &["10.0.0.254/16"]),
        ep("s2", "p1", &[]),
    ));
    assert_error(
        &t,
        "address 10.0.0.254 is set twice on node `r1`: on `r1:eth0` and on `r1:eth1`",
    );
    let mut t = small();
    t.links[1].endpoints[0].addrs.push(net("10.0.0.2/16"));
    assert_error(&t, "address 10.0.0.2 is listed twice on `h2:eth0`");
}

#[test]
fn switch_ports_carry_no_addresses() {
    let mut t = small();
    t.links[0].endpoints[1].addrs = vec![net("10.0.0.9/24")];
    let e = validate(&t).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert!(
        e.0[0].msg.contains("switch port `s1:p1` has an address"),
        "{e}"
    );
    assert!(e.0[0]
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("host or router"));
}

#[test]
fn unusable_addresses() {
    let mut t = small();
    t.links[0].endpoints[0].addrs.push(net("127.0.0.2/8"));
    t.links[1].endpoints[0].addrs.push(net("224.0.0.1/4"));
    assert_error(&t, "127.0.0.2/8 on `h1:eth0` is a loopback address");
    assert_error(&t, "224.0.0.1/4 on `h2:eth0` is a multicast address");
}

#[test]
fn gateways() {
    let mut t = small();
    t.nodes.get_mut("h1").unwrap().gateway = Some("10.0.0.254".parse().unwrap());
    t.nodes.get_mut("h1").unwrap().gateway6 = Some("fd00::fe".parse().unwrap());
    assert_eq!(errors(&t), Vec::<String>::new());

    let mut t = small();
    t.nodes.get_mut("h2").unwrap().gateway = Some("10.0.1.254".parse().unwrap());
    assert_error(
        &t,
        "`gateway` 10.0.1.254 of `h2`: not in any subnet of `h2` (10.0.0.2/24)",
    );
    t.nodes.get_mut("h2").unwrap().gateway6 = Some("fd00::fe".parse().unwrap());
    assert_error(&t, "`h2` has no IPv6 address, so it cannot reach it");
    t.nodes.get_mut("h1").unwrap().gateway = Some("fd00::fe".parse().unwrap());
    assert_error(
        &t,
        "`gateway` of `h1` is fd00::fe, but `gateway` takes an IPv4 address",
    );
    t.nodes.get_mut("r1").unwrap().gateway = Some("10.0.0.254".parse().unwrap());
    assert_error(&t, "10.0.0.254 is an address of `r1` itself");
    t.nodes.get_mut("h1").unwrap().gateway6 = Some("fe80::1".parse().unwrap());
    assert_error(
        &t,
        "fe80::1 is link-local, so the kernel needs the interface too",
    );
}

fn route(dst: &str, via: Option<&str>, dev: Option<&str>) -> Route {
    Route {
        dst: net(dst),
        via: via.map(|v| v.parse().unwrap()),
        dev: dev.map(str::to_string),
        loc: Loc::new(20, 9),
    }
}

#[test]
fn routes() {
    let mut t = small();
    let h1 = t.nodes.get_mut("h1").unwrap();
    h1.routes
        .push(route("10.9.0.0/16", Some("10.0.0.254"), None));
    h1.routes
        .push(route("10.8.0.0/16", Some("10.0.0.254"), Some("eth0")));
    h1.routes.push(route("10.7.0.0/16", None, Some("eth0")));
    h1.routes
        .push(route("fd09::/64", Some("fe80::1"), Some("eth0")));
    h1.routes.push(route("0.0.0.0/0", Some("10.0.0.254"), None));
    assert_eq!(errors(&t), Vec::<String>::new());

    let bad = [
        (
            route("10.9.0.0/16", Some("10.1.0.254"), None),
            "not in any subnet of `h1` (10.0.0.1/24)",
        ),
        (
            route("10.9.0.0/16", Some("10.0.0.254"), Some("eth1")),
            "`h1` has no interface `eth1`",
        ),
        (
            route("10.9.0.0/16", Some("fd00::fe"), None),
            "`via` fd00::fe is IPv6 but the destination is IPv4",
        ),
        (
            route("10.9.0.1/16", Some("10.0.0.254"), None),
            "the destination has host bits set",
        ),
        (
            route("10.9.0.0/16", None, None),
            "has neither `via` nor `dev`",
        ),
        (route("fd09::/64", Some("fe80::1"), None), "link-local"),
    ];
    for (r, needle) in bad {
        let mut t = small();
        t.nodes.get_mut("h1").unwrap().routes.push(r);
        let e = validate(&t).unwrap_err();
        assert!(e.mentions(needle), "{needle:?} not in {e}");
        assert_eq!(e.0[0].loc, Loc::new(20, 9), "{e}");
    }
    let mut t = small();
    t.nodes.get_mut("h1").unwrap().routes.push(route(
        "10.9.0.0/16",
        Some("10.0.0.254"),
        Some("eht0"),
    ));
    let e = validate(&t).unwrap_err();
    assert_eq!(e.0[0].hint.as_deref(), Some("did you mean `eth0`?"));

    let mut t = small();
    let h1 = t.nodes.get_mut("h1").unwrap();
    h1.routes
        .push(route("10.9.0.0/16", Some("10.0.0.254"), None));
    h1.routes.push(route("10.9.0.0/16", Some("10.0.0.2"), None));
    assert_error(
        &t,
        "`h1` has two routes to 10.9.0.0/16 (the first on line 20)",
    );

    let mut t = small();
    let h1 = t.nodes.get_mut("h1").unwrap();
    h1.gateway = Some("10.0.0.254".parse().unwrap());
    h1.routes.push(route("0.0.0.0/0", Some("10.0.0.254"), None));
    assert_error(
        &t,
        "`h1` has both `gateway` and a default route in `routes`",
    );
}

#[test]
fn switches_take_no_routes_and_only_switches_take_stp() {
    let mut t = small();
    let s1 = t.nodes.get_mut("s1").unwrap();
    s1.gateway = Some("10.0.0.254".parse().unwrap());
    s1.routes
        .push(route("10.9.0.0/16", Some("10.0.0.254"), None));
    t.nodes.get_mut("h1").unwrap().stp = Some(true);
    assert_error(&t, "switch `s1` has `gateway`; switches take none");
    assert_error(&t, "switch `s1` has `routes`; switches take none");
    assert_error(&t, "`stp` is set on host `h1`, but only switches run STP");
}

#[test]
fn mtus() {
    let mut t = small();
    t.links[0].mtu = Some(67);
    t.links[1].endpoints[0].mtu = Some(65536);
    assert_error(&t, "link h1:eth0--s1:p1: MTU 67 is out of range 68..=65535");
    assert_error(
        &t,
        "interface `h2:eth0`: MTU 65536 is out of range 68..=65535",
    );

    let mut t = small();
    t.links[0].mtu = Some(1000);
    assert_error(
        &t,
        "`h1:eth0` has an IPv6 address but MTU 1000; IPv6 needs at least 1280",
    );
    t.links[0].endpoints[0].mtu = Some(1500);
    assert_eq!(errors(&t), Vec::<String>::new(), "the endpoint's MTU wins");
}

#[test]
fn macs() {
    let mut t = small();
    t.links[0].endpoints[0].mac = Some(MacAddr([0x03, 0, 0, 0, 0, 1]));
    let e = validate(&t).unwrap_err();
    assert!(
        e.mentions("MAC 03:00:00:00:00:01 of `h1:eth0` is a multicast address"),
        "{e}"
    );
    assert_eq!(
        e.0[0].hint.as_deref(),
        Some("clear the lowest bit of the first byte, e.g. 02:00:00:00:00:01")
    );

    let mut t = small();
    t.links[0].endpoints[0].mac = Some(MacAddr([0; 6]));
    assert_error(&t, "is all zeros");

    let mut t = small();
    t.links[0].endpoints[0].mac = Some(MacAddr::sequential(1));
    t.links[1].endpoints[0].mac = Some(MacAddr::sequential(1));
    assert_error(
        &t,
        "MAC 00:00:00:00:00:01 is on both `h1:eth0` and `h2:eth0`",
    );
}

#[test]
fn bridge_port_limit() {
    let mut t = Topology::new("big");
    add(&mut t, "s1", NodeKind::Switch);
    for i in 1..=MAX_BRIDGE_PORTS + 1 {
        let h = format!("h{i}");
        add(&mut t, &h, NodeKind::Host);
        t.links
            .push(link(ep(&h, "eth0", &[]), ep("s1", &format!("p{i}"), &[])));
    }
    let e = validate(&t).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert!(
        e.mentions("switch `s1` has 1025 links; a Linux bridge takes at most 1024 ports"),
        "{e}"
    );
    assert!(e.0[0].hint.as_deref().unwrap_or("").contains("tree"));
    t.links.pop();
    assert!(validate(&t).is_ok());
}

#[test]
fn all_problems_at_once_in_file_order() {
    let mut t = small();
    t.source = Some("demo.yaml".into());
    t.name = "Bad".into();
    t.links[0].endpoints[0].iface = "lo".into();
    t.links[0].endpoints[0].loc = Loc::new(12, 7);
    t.links[1].endpoints[0].node = "h9".into();
    t.links[1].endpoints[0].loc = Loc::new(5, 3);
    let e = validate(&t).unwrap_err();
    assert_eq!(e.len(), 3, "{e}");
    let lines: Vec<u32> = e.iter().map(|e| e.loc.line).collect();
    assert_eq!(lines, [0, 5, 12]);
    let text = e.to_string();
    assert!(text.starts_with("demo.yaml: lab name `Bad`"), "{text}");
    assert!(
        text.contains("\ndemo.yaml:5:3: link endpoint `h9:eth0` names node `h9`"),
        "{text}"
    );
    assert!(
        text.contains("\ndemo.yaml:12:7: interface `h1:lo`: `lo` is the loopback"),
        "{text}"
    );
    assert!(text.ends_with("\n3 errors in demo.yaml"), "{text}");
}

#[test]
fn error_display() {
    let e = TopoError::at(Loc::new(12, 7), "bad thing").with_hint("do this");
    assert_eq!(e.to_string(), "line 12:7: bad thing\n  hint: do this");
    let e = e.with_file(Some("demo.yaml"));
    assert_eq!(e.to_string(), "demo.yaml:12:7: bad thing\n  hint: do this");
    assert_eq!(TopoError::new("plain").to_string(), "plain");
    assert_eq!(
        TopoError::new("x").with_file(Some("f.yaml")).to_string(),
        "f.yaml: x"
    );
    let one = TopoErrors::from(TopoError::new("only"));
    assert_eq!(one.to_string(), "only\n1 error");
}

fn ring(n: usize) -> Topology {
    let mut t = Topology::new("ring");
    for i in 1..=n {
        add(&mut t, &format!("s{i}"), NodeKind::Switch);
    }
    for i in 1..=n {
        let j = i % n + 1;
        t.links.push(link(
            ep(&format!("s{i}"), "right", &[]),
            ep(&format!("s{j}"), "left", &[]),
        ));
    }
    t
}

#[test]
fn loops() {
    let t = ring(3);
    assert!(needs_stp(&t));
    assert_eq!(switches_in_loop(&t).len(), 3);

    // A tail hanging off the ring is not on the loop.
    let mut t = ring(3);
    add(&mut t, "s4", NodeKind::Switch);
    add(&mut t, "h1", NodeKind::Host);
    t.links
        .push(link(ep("s3", "down", &[]), ep("s4", "up", &[])));
    t.links
        .push(link(ep("h1", "eth0", &[]), ep("s4", "p1", &[])));
    let in_loop: Vec<String> = switches_in_loop(&t).into_iter().collect();
    assert_eq!(in_loop, ["s1", "s2", "s3"]);

    // A chain has no loop; two parallel links do.
    let mut t = ring(3);
    t.links.pop();
    assert!(!needs_stp(&t));
    t.links
        .push(link(ep("s1", "again", &[]), ep("s2", "again", &[])));
    let in_loop: Vec<String> = switches_in_loop(&t).into_iter().collect();
    assert_eq!(in_loop, ["s1", "s2"]);

    // A switch cabled to itself loops.
    let mut t = ring(2);
    t.links.clear();
    t.links.push(link(ep("s1", "a", &[]), ep("s1", "b", &[])));
    assert_eq!(switches_in_loop(&t).into_iter().collect::<Vec<_>>(), ["s1"]);

    // Hosts and routers between switches do not forward frames: no loop.
    assert!(!needs_stp(&small()));
}

#[test]
fn stp_follows_loops_unless_told() {
    let mut t = ring(3);
    add(&mut t, "s9", NodeKind::Switch);
    t.nodes.get_mut("s2").unwrap().stp = Some(false);
    t.nodes.get_mut("s9").unwrap().stp = Some(true);
    let on: Vec<String> = stp_switches(&t).into_iter().collect();
    assert_eq!(on, ["s1", "s3", "s9"]);
}

#[test]
fn long_chain_does_not_overflow() {
    let mut t = ring(20_000);
    t.links.pop();
    assert!(!needs_stp(&t));
}

#[test]
fn network_and_broadcast_addresses_are_not_host_addresses() {
    let mut t = small();
    t.links[0].endpoints[0].addrs = vec![net("10.0.0.0/24")];
    t.links[1].endpoints[0].addrs = vec![net("10.0.0.255/24")];
    assert_error(
        &t,
        "10.0.0.0/24 on `h1:eth0` is the network address of 10.0.0.0/24",
    );
    assert_error(&t, "use a host address such as 10.0.0.1/24");
    assert_error(
        &t,
        "10.0.0.255/24 on `h2:eth0` is the broadcast address of 10.0.0.0/24",
    );
    assert_error(&t, "use a host address such as 10.0.0.254/24");
    // A router's interface is held to the same rule.
    let mut t = small();
    t.links[2].endpoints[0].addrs = vec![net("10.0.0.255/24")];
    assert_error(&t, "`r1:eth0` is the broadcast address");
}

#[test]
fn point_to_point_prefixes_have_no_network_or_broadcast_address() {
    // RFC 3021: both addresses of a /31 are hosts; a /32 is one host.
    let mut t = small();
    t.links[0].endpoints[0].addrs = vec![net("10.0.0.0/31")];
    t.links[1].endpoints[0].addrs = vec![net("10.0.0.1/31")];
    t.links[2].endpoints[0].addrs = vec![net("10.9.9.9/32")];
    let errs = errors(&t);
    assert!(
        !errs
            .iter()
            .any(|e| e.contains("network address") || e.contains("broadcast")),
        "{errs:#?}"
    );
    // Inside a /30 the first and last are not hosts, the middle two are.
    let mut t = small();
    t.links[0].endpoints[0].addrs = vec![net("10.2.0.1/30")];
    t.links[1].endpoints[0].addrs = vec![net("10.2.0.2/30")];
    assert!(errors(&t).iter().all(|e| !e.contains("host address")));
    t.links[1].endpoints[0].addrs = vec![net("10.2.0.3/30")];
    assert_error(
        &t,
        "10.2.0.3/30 on `h2:eth0` is the broadcast address of 10.2.0.0/30",
    );
}
