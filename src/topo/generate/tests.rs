use super::*;
use crate::topo::model::{IpNet, MacAddr, Route};
use crate::topo::validate::{needs_stp, switches_in_loop};
use proptest::prelude::*;

fn gen(spec: &str) -> Topology {
    match from_spec(spec, "test", false) {
        Ok(t) => t,
        Err(e) => panic!("{spec}: {e}"),
    }
}

/// Links as `a-ethN b-ethM` strings, in order.
fn links(t: &Topology) -> Vec<String> {
    t.links
        .iter()
        .map(|l| format!("{} {}", l.endpoints[0].iface, l.endpoints[1].iface))
        .collect()
}

fn count(t: &Topology, kind: NodeKind) -> usize {
    t.nodes.values().filter(|n| n.kind == kind).count()
}

fn addr_of(t: &Topology, host: &str) -> String {
    t.primary_addr(host, false)
        .map(|a| a.to_string())
        .unwrap_or_default()
}

fn err(spec: &str) -> TopoError {
    match from_spec(spec, "test", false) {
        Ok(_) => panic!("{spec} should fail"),
        Err(e) => e.0.into_iter().next().expect("one error"),
    }
}

#[test]
fn minimal() {
    let t = gen("minimal");
    assert_eq!(t.name, "test");
    assert_eq!(t.nodes.len(), 3);
    assert_eq!(links(&t), ["h1-eth0 s1-eth1", "h2-eth0 s1-eth2"]);
    let ep = &t.links[0].endpoints[0];
    assert_eq!(ep.addrs, vec!["10.0.0.1/8".parse::<IpNet>().unwrap()]);
    assert_eq!(ep.mac, None);
    assert!(
        t.links[0].endpoints[1].addrs.is_empty(),
        "switch ports have no address"
    );
    assert_eq!(addr_of(&t, "h2"), "10.0.0.2");
    assert_eq!(gen("single"), t, "single defaults to k=2 like Mininet");
    assert_eq!(t.source, None);
}

#[test]
fn single_sizes_and_spellings() {
    for n in [1, 3, 10, 300] {
        let t = gen(&format!("single,{n}"));
        assert_eq!(count(&t, NodeKind::Host), n);
        assert_eq!(count(&t, NodeKind::Switch), 1);
        assert_eq!(t.links.len(), n);
        assert_eq!(t, gen(&format!("single,k={n}")));
        assert_eq!(t, gen(&format!(" single , k = {n} ")));
    }
    let t = gen("single,300");
    assert_eq!(links(&t)[299], "h300-eth0 s1-eth300");
    assert_eq!(addr_of(&t, "h256"), "10.0.1.0");
    assert_eq!(addr_of(&t, "h300"), "10.0.1.44");
}

#[test]
fn reversed_ports() {
    let t = gen("reversed,3");
    assert_eq!(
        links(&t),
        ["h1-eth0 s1-eth3", "h2-eth0 s1-eth2", "h3-eth0 s1-eth1"]
    );
}

#[test]
fn linear_4_exactly() {
    let t = gen("linear,4");
    assert_eq!(
        links(&t),
        [
            "h1-eth0 s1-eth1",
            "h2-eth0 s2-eth1",
            "s2-eth2 s1-eth2",
            "h3-eth0 s3-eth1",
            "s3-eth2 s2-eth3",
            "h4-eth0 s4-eth1",
            "s4-eth2 s3-eth3",
        ]
    );
    for i in 1..=4 {
        assert_eq!(addr_of(&t, &format!("h{i}")), format!("10.0.0.{i}"));
    }
    assert_eq!(t, gen("linear,k=4"));
    assert_eq!(t, gen("linear,4,1"));
    assert!(!needs_stp(&t));
}

#[test]
fn linear_with_several_hosts_per_switch() {
    let t = gen("linear,k=2,n=2");
    assert_eq!(
        links(&t),
        [
            "h1s1-eth0 s1-eth1",
            "h2s1-eth0 s1-eth2",
            "h1s2-eth0 s2-eth1",
            "h2s2-eth0 s2-eth2",
            "s2-eth3 s1-eth3",
        ]
    );
    // Mininet adds hosts in natural name order, so h1s2 is the second host.
    assert_eq!(addr_of(&t, "h1s1"), "10.0.0.1");
    assert_eq!(addr_of(&t, "h1s2"), "10.0.0.2");
    assert_eq!(addr_of(&t, "h2s1"), "10.0.0.3");
    assert_eq!(addr_of(&t, "h2s2"), "10.0.0.4");
    assert_eq!(t, gen("linear,2,2"));
    let t = gen("linear,3,4");
    assert_eq!(
        (
            count(&t, NodeKind::Host),
            count(&t, NodeKind::Switch),
            t.links.len()
        ),
        (12, 3, 14)
    );
}

#[test]
fn tree_2_2_exactly() {
    let t = gen("tree,2,2");
    assert_eq!(
        links(&t),
        [
            "s2-eth1 h1-eth0",
            "s2-eth2 h2-eth0",
            "s1-eth1 s2-eth3",
            "s3-eth1 h3-eth0",
            "s3-eth2 h4-eth0",
            "s1-eth2 s3-eth3",
        ]
    );
    let names: Vec<&String> = t.nodes.keys().collect();
    assert_eq!(names, ["h1", "h2", "h3", "h4", "s1", "s2", "s3"]);
    assert_eq!(addr_of(&t, "h4"), "10.0.0.4");
    assert_eq!(t, gen("tree,depth=2,fanout=2"));
    assert_eq!(t, gen("tree,2"), "fanout defaults to 2");
    assert!(!needs_stp(&t));
}

#[test]
fn tree_sizes() {
    for (d, f, hosts, switches) in [
        (1, 2, 2, 1),
        (2, 3, 9, 4),
        (3, 3, 27, 13),
        (4, 2, 16, 15),
        (5, 1, 1, 5),
    ] {
        let t = gen(&format!("tree,depth={d},fanout={f}"));
        assert_eq!(count(&t, NodeKind::Host), hosts, "tree,{d},{f}");
        assert_eq!(count(&t, NodeKind::Switch), switches, "tree,{d},{f}");
        assert_eq!(
            t.links.len(),
            hosts + switches - 1,
            "a tree has nodes - 1 links"
        );
    }
    assert_eq!(gen("tree"), gen("tree,1,2"), "Mininet's defaults");
    // The deepest subtree's uplink is the switch's last port.
    let t = gen("tree,3,2");
    assert!(
        links(&t).contains(&"s2-eth2 s4-eth3".to_string()),
        "{:?}",
        links(&t)
    );
}

#[test]
fn torus_3_3() {
    let t = gen("torus,3,3");
    assert_eq!(count(&t, NodeKind::Switch), 9);
    assert_eq!(count(&t, NodeKind::Host), 9);
    assert_eq!(t.links.len(), 9 + 18);
    assert!(t.nodes.contains_key("s3x3") && t.nodes.contains_key("h2x3"));
    let l = links(&t);
    assert_eq!(l[0], "h1x1-eth0 s1x1-eth1");
    assert_eq!(l[9], "s1x1-eth2 s1x2-eth2");
    assert_eq!(l[10], "s1x1-eth3 s2x1-eth2");
    assert_eq!(addr_of(&t, "h1x1"), "10.0.0.1");
    assert_eq!(addr_of(&t, "h2x1"), "10.0.0.4");
    assert!(needs_stp(&t));
    assert_eq!(switches_in_loop(&t).len(), 9);
    assert_eq!(t, gen("torus,x=3,y=3"));

    let t = gen("torus,4,3,n=2");
    assert_eq!((count(&t, NodeKind::Host), t.links.len()), (24, 24 + 24));
    assert!(t.nodes.contains_key("h4x3x2"));
}

#[test]
fn macs_follow_ip_numbers() {
    let t = from_spec("linear,k=2,n=2", "m", true).unwrap();
    let mac = |h: &str| t.endpoints_of(h).next().and_then(|e| e.mac);
    assert_eq!(mac("h1s1"), Some(MacAddr::sequential(1)));
    assert_eq!(mac("h1s2"), Some(MacAddr::sequential(2)));
    assert_eq!(
        mac("h2s2").map(|m| m.to_string()).as_deref(),
        Some("00:00:00:00:00:04")
    );
    assert_eq!(mac("s1"), None, "switch ports keep kernel MACs");
}

#[test]
fn bad_specs() {
    let e = err("lineer,3");
    assert_eq!(e.msg, "unknown topology `lineer`");
    let hint = e.hint.unwrap_or_default();
    assert!(hint.starts_with("did you mean `linear`?"), "{hint}");
    assert!(hint.contains("tree,depth=D,fanout=F"), "{hint}");

    let cases = [
        ("", "no topology given"),
        (
            "tree,2,2,2",
            "too many parameters for `tree` in `tree,2,2,2`",
        ),
        ("minimal,2", "too many parameters for `minimal`"),
        ("linear,k=2,x=3", "`linear` has no parameter `x`"),
        (
            "single,abc",
            "`single` parameter `k` must be a whole number, not `abc`",
        ),
        ("single,-1", "must be a whole number, not `-1`"),
        ("single,2.5", "must be a whole number"),
        (
            "single,0",
            "`single` parameter `k` is 0; it must be at least 1",
        ),
        (
            "torus,2,3",
            "`torus` parameter `x` is 2; it must be at least 3",
        ),
        ("torus,3", "`torus` needs parameter `y`"),
        ("single,k=2,3", "`single` parameter `k` is given twice"),
        ("tree,20,20", "would make"),
        ("linear,,2", "must be a whole number, not ``"),
    ];
    for (spec, needle) in cases {
        let e = err(spec);
        assert!(e.msg.contains(needle), "{spec}: {e}");
        assert!(e.hint.is_some(), "{spec}: no hint");
    }
    let hint = err("tree,depth=2,fanot=3").hint.unwrap_or_default();
    assert!(
        hint.starts_with("did you mean `fanout`? tree takes"),
        "{hint}"
    );
    assert!(err("minimal,1")
        .hint
        .unwrap_or_default()
        .contains("minimal takes no parameters"));
}

#[test]
fn too_big_for_one_bridge() {
    let e = from_spec("single,1025", "big", false).unwrap_err();
    assert!(e.mentions("switch `s1` has 1025 links"), "{e}");
    assert!(from_spec("single,1024", "big", false).is_ok());
}

#[test]
fn lab_names() {
    assert_eq!(default_lab_name("linear,k=4"), "linear");
    assert_eq!(default_lab_name("tree"), "tree");
    assert_eq!(default_lab_name(" Torus ,3,3"), "torus");
    assert_eq!(default_lab_name("???"), "lab");
    for (name, _) in spec::Gen::ALL {
        assert!(crate::topo::validate::check_lab_name(&default_lab_name(name)).is_ok());
        assert!(mininet_spellings().contains(name));
    }
    let e = from_spec("minimal", "Bad-Lab", false).unwrap_err();
    assert!(e.mentions("lab name `Bad-Lab`"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn generated_topologies_validate(
        which in 0..4usize, a in 1u64..40, b in 1u64..5, mac in any::<bool>()
    ) {
        let (spec, hosts, switches) = match which {
            0 => (format!("single,{a}"), a, 1),
            1 => (format!("linear,{a}"), a, a),
            2 => (format!("linear,k={a},n={b}"), a * b, a),
            _ => {
                let (d, f) = (a % 4 + 1, b);
                let hosts = f.pow(d as u32);
                (format!("tree,{d},{f}"), hosts, (0..d).map(|i| f.pow(i as u32)).sum())
            }
        };
        let t = from_spec(&spec, "prop", mac).map_err(|e| TestCaseError::fail(format!("{spec}: {e}")))?;
        prop_assert_eq!(count(&t, NodeKind::Host) as u64, hosts);
        prop_assert_eq!(count(&t, NodeKind::Switch) as u64, switches);
        prop_assert!(!needs_stp(&t));
        prop_assert!(validate(&t).is_ok());
        // Every host got its own address and, with --mac, its own MAC.
        let mut addrs: Vec<_> = t.hosts().iter().filter_map(|h| t.primary_addr(&h.name, false)).collect();
        addrs.dedup();
        prop_assert_eq!(addrs.len() as u64, hosts);
    }

    #[test]
    fn torus_sizes(x in 3u64..7, y in 3u64..7, n in 1u64..3) {
        let t = from_spec(&format!("torus,{x},{y},{n}"), "prop", false)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.nodes.len() as u64, x * y * (n + 1));
        prop_assert_eq!(t.links.len() as u64, x * y * (n + 2));
        prop_assert_eq!(switches_in_loop(&t).len() as u64, x * y);
    }

    /// Validation of a broken topology reports, never panics; a duplicated
    /// address inside one switch's segment is always caught.
    #[test]
    fn mutations_never_panic(
        spec in prop::sample::select(vec!["single,4", "linear,3", "tree,2,2", "torus,3,3", "linear,2,2"]),
        what in 0..9usize,
        i in any::<prop::sample::Index>(),
        j in any::<prop::sample::Index>(),
        text in "\\PC{0,20}",
        num in any::<u32>(),
        bytes in any::<[u8; 6]>(),
    ) {
        let mut t = from_spec(spec, "mut", false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let n = t.links.len();
        let (li, lj) = (i.index(n), j.index(n));
        let side = num as usize % 2;
        match what {
            0 => {
                // Copy one host's address onto another host.
                let hosts: Vec<usize> = (0..n).filter(|&k| !t.links[k].endpoints[0].addrs.is_empty()
                    || !t.links[k].endpoints[1].addrs.is_empty()).collect();
                let (a, b) = (hosts[i.index(hosts.len())], hosts[j.index(hosts.len())]);
                let from = t.links[a].endpoints.iter().find(|e| !e.addrs.is_empty()).map(|e| e.addrs[0]);
                if let (Some(addr), Some(to)) = (from, t.links[b].endpoints.iter_mut().find(|e| !e.addrs.is_empty())) {
                    to.addrs.push(addr);
                }
                prop_assert!(validate(&t).is_err(), "a copied address is always a conflict");
            }
            1 => t.links[li].endpoints[side].iface = text,
            2 => t.links[li].endpoints[side].node = text,
            3 => t.links[li].mtu = Some(num),
            4 => t.links[li].endpoints[side].mac = Some(MacAddr(bytes)),
            5 => {
                let e = t.links[lj].endpoints[side].clone();
                t.links[li].endpoints[1 - side] = e;
            }
            6 => t.name = text,
            7 => {
                let node = t.links[li].endpoints[side].node.clone();
                if let Some(n) = t.nodes.get_mut(&node) {
                    n.routes.push(Route {
                        dst: IpNet { addr: std::net::IpAddr::from(bytes[..4].try_into().unwrap_or([0u8; 4])), prefix: (num % 40) as u8 },
                        via: Some(std::net::IpAddr::from([10, 0, 0, bytes[5]])),
                        dev: if num % 2 == 0 { Some(text) } else { None },
                        loc: Default::default(),
                    });
                }
            }
            _ => {
                t.links.remove(li);
            }
        }
        // Whatever the mutation did, validation answers instead of panicking,
        // and every error explains itself.
        if let Err(e) = validate(&t) {
            prop_assert!(!e.is_empty());
            prop_assert!(e.iter().all(|e| !e.msg.is_empty()));
        }
    }
}

#[test]
fn big_labs_are_quick() {
    // Quadratic checks would take minutes here (debug build).
    let start = std::time::Instant::now();
    let t = gen("tree,4,10");
    assert_eq!(t.nodes.len(), 11_111);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn addresses_follow_mininet_natural_order_past_ten() {
    // Mininet sorts h2s1 before h10s1 (every digit run is a number).
    let t = gen("linear,k=2,n=10");
    assert_eq!(addr_of(&t, "h1s1"), "10.0.0.1");
    assert_eq!(addr_of(&t, "h1s2"), "10.0.0.2");
    assert_eq!(addr_of(&t, "h2s1"), "10.0.0.3");
    assert_eq!(addr_of(&t, "h10s2"), "10.0.0.20");
    let t = gen("torus,10,3");
    assert_eq!(addr_of(&t, "h2x1"), "10.0.0.4");
    assert_eq!(addr_of(&t, "h10x3"), "10.0.0.30");
}
