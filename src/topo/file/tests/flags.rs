//! `--name`, `--link` and `--mac` given with a file.

use super::{base_with, BASE};
use crate::topo::conditions::mininet::parse_link;
use crate::topo::file::{default_conditions, parse, parse_as, sequential_macs};
use crate::topo::model::MacAddr;
use std::time::Duration;

#[test]
fn the_given_name_wins_over_the_files() {
    let t = parse_as(BASE, None, Some("other-x")).unwrap();
    assert_eq!(t.name, "other-x");
    // Without `name:`, or with one nlab could not use: the given name is
    // all that counts.
    let t = parse_as(&base_with("name: lab\n", ""), None, Some("given")).unwrap();
    assert_eq!(t.name, "given");
    let t = parse_as(&base_with("name: lab", "name: Some Lab!"), None, Some("g")).unwrap();
    assert_eq!(t.name, "g");
    assert_eq!(parse(BASE, None).unwrap().name, "lab");
}

#[test]
fn link_conditions_go_only_where_the_file_sets_none() {
    let text = base_with("\"s1:p2\"]", "\"s1:p2\"]\n      conditions: {delay: 5ms}");
    let mut t = parse(&text, None).unwrap();
    let imp = parse_link("tc,bw=10,delay=1ms").unwrap().unwrap();
    assert_eq!(default_conditions(&mut t, &imp), 1);
    assert_eq!(t.links[0].conditions.a_to_b, imp);
    assert_eq!(t.links[0].conditions.b_to_a, imp);
    assert_eq!(
        t.links[1].conditions.a_to_b.delay,
        Duration::from_millis(5),
        "the file's own conditions stay"
    );
    assert_eq!(t.links[1].conditions.a_to_b.rate, None);

    let text = base_with(
        "  nodes:",
        "  defaults:\n    conditions: {loss: 1%}\n  nodes:",
    );
    let mut t = parse(&text, None).unwrap();
    assert_eq!(
        default_conditions(&mut t, &imp),
        0,
        "defaults: count as set"
    );
}

#[test]
fn macs_are_sequential_where_the_file_sets_none() {
    let text = "\
name: lab
topology:
  nodes:
    h10: {}
    h2: {}
    h1: {}
    s1: {kind: switch}
  links:
    - endpoints: [{node: h10, iface: eth0, ip: 10.0.0.10/24}, \"s1:p1\"]
    - endpoints: [{node: h2, iface: eth0, ip: 10.0.0.2/24}, \"s1:p2\"]
    - endpoints: [{node: h1, iface: eth0, ip: 10.0.0.1/24, mac: \"00:00:00:00:00:02\"}, \"s1:p3\"]
    - endpoints: [{node: h2, iface: eth1, ip: 10.0.1.2/24}, {node: h10, iface: eth1, ip: 10.0.1.10/24}]
";
    let mut t = parse(text, None).unwrap();
    assert_eq!(sequential_macs(&mut t), 4);
    let mac = |node: &str, iface: &str| {
        t.links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .find(|e| e.node == node && e.iface == iface)
            .and_then(|e| e.mac)
    };
    // h2 before h10; the file's own :02 is kept and skipped.
    assert_eq!(mac("h1", "eth0"), Some(MacAddr::sequential(2)));
    assert_eq!(mac("h2", "eth0"), Some(MacAddr::sequential(1)));
    assert_eq!(mac("h2", "eth1"), Some(MacAddr::sequential(3)));
    assert_eq!(mac("h10", "eth0"), Some(MacAddr::sequential(4)));
    assert_eq!(mac("h10", "eth1"), Some(MacAddr::sequential(5)));
    assert_eq!(mac("s1", "p1"), None, "switch ports keep kernel MACs");
    // The same file gets the same MACs every time.
    let mut again = parse(text, None).unwrap();
    sequential_macs(&mut again);
    let json = |t: &crate::topo::Topology| serde_json::to_value(&t.links).unwrap();
    assert_eq!(json(&again), json(&t));
}
