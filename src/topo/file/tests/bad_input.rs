use super::*;

#[test]
fn unknown_key_suggests_the_right_one() {
    let e = expect(
        &base_with("    - endpoints: [{node: h2", "    - endpoint: [{node: h2"),
        9,
        "unknown key",
    );
    assert_eq!(
        e.msg,
        "unknown key `endpoint` in a link; allowed here: `endpoints`, `mtu`, `up`, `conditions`, `schedule`, `capture`"
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `endpoints`?"));
    assert_eq!(e.to_string().lines().next(), Some("t.yaml:9:7: unknown key `endpoint` in a link; allowed here: `endpoints`, `mtu`, `up`, `conditions`, `schedule`, `capture`"));

    let e = expect(
        &base_with("topology:", "topologies:"),
        2,
        "unknown key `topologies` in the top level",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `topology`?"));
    let e = expect(
        &base_with("    h1: {}", "    h1: {gatway: 10.0.0.9}"),
        4,
        "unknown key `gatway` in node `h1`",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `gateway`?"));
    let text = base_with("\"s1:p2\"]", "\"s1:p2\"]\n      conditions: {dealy: 5ms}");
    let e = expect(
        &text,
        10,
        "unknown key `dealy` in `conditions`; allowed here: `preset`, `delay`, `jitter`, `loss`, `duplicate`, `reorder`, `corrupt`, `rate`, `burst`, `limit`, or an endpoint",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `delay`?"));
    let e = expect(
        &base_with("    h1: {}", "    h1: {colour: red}"),
        4,
        "unknown key `colour`",
    );
    assert_eq!(e.hint, None, "no obvious candidate, no guess");
}

#[test]
fn dangling_endpoint() {
    let e = expect(
        &base_with("\"s1:p2\"", "\"s2:p2\""),
        9,
        "names node `s2`, which does not exist",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `s1`? If not, declare `s2` under `topology.nodes`")
    );
    assert_eq!(e.loc, Loc::new(9, 61));
}

#[test]
fn duplicate_address_in_a_segment() {
    let e = expect(
        &base_with("10.0.0.2/24", "10.0.0.1/24"),
        9,
        "address 10.0.0.1 is on both `h1:eth0` (the first on line 8) and `h2:eth0`",
    );
    assert!(e.to_string().starts_with("t.yaml:9:19: "), "{e}");
}

#[test]
fn long_interface_name() {
    expect(
        &base_with(
            "iface: eth0, ip: 10.0.0.2",
            "iface: a-very-long-ifname, ip: 10.0.0.2",
        ),
        9,
        "interface name `a-very-long-ifname` is 18 bytes; the kernel's limit is 15",
    );
}

#[test]
fn doubly_used_endpoint() {
    expect(
        &base_with("\"s1:p2\"", "\"s1:p1\""),
        9,
        "interface `s1:p1` is used by two links (the first on line 8)",
    );
}

#[test]
fn bad_address() {
    let e = expect(
        &base_with("10.0.0.2/24", "10.0.0.300/24"),
        9,
        "`ip`: `10.0.0.300` is not an IPv4 or IPv6 address",
    );
    assert_eq!(e.loc, Loc::new(9, 47), "points at the value");
    expect(
        &base_with("10.0.0.2/24", "10.0.0.2"),
        9,
        "`10.0.0.2` needs a prefix length, e.g. `10.0.0.2/24`",
    );
    expect(
        &base_with("10.0.0.2/24", "10.0.0.2/33"),
        9,
        "prefix length /33 is longer than /32",
    );
}

#[test]
fn bad_mac() {
    let text = base_with(
        "ip: 10.0.0.2/24}",
        "ip: 10.0.0.2/24, mac: \"02:00:00:00:00\"}",
    );
    expect(
        &text,
        9,
        "`mac`: `02:00:00:00:00` is not a MAC address (want aa:bb:cc:dd:ee:ff)",
    );
    let text = base_with(
        "ip: 10.0.0.2/24}",
        "ip: 10.0.0.2/24, mac: \"01:00:5e:00:00:01\"}",
    );
    let e = expect(&text, 9, "is a multicast address");
    assert!(e.hint.unwrap_or_default().contains("00:00:5e:00:00:01"));
}

#[test]
fn unreachable_gateway() {
    let e = expect(
        &base_with("    h2: {}", "    h2: {gateway: 10.0.1.254}"),
        5,
        "`gateway` 10.0.1.254 of `h2`: not in any subnet of `h2` (10.0.0.2/24)",
    );
    assert!(e.hint.unwrap_or_default().contains("directly reachable"));
    let e = expect(
        &base_with("    h2: {}", "    h2: {gateway: 10.0.0.254/24}"),
        5,
        "`gateway` `10.0.0.254/24` is not an IPv4 or IPv6 address",
    );
    assert!(e
        .hint
        .unwrap_or_default()
        .contains("without prefix length: `10.0.0.254`"));
    expect(
        &base_with("    h2: {}", "    h2: {gateway: \"fd00::1\"}"),
        5,
        "`gateway` takes an IPv4 address, not fd00::1",
    );
    let text = base_with(
        "    h2: {}",
        "    h2:\n      routes:\n        - {dst: 10.9.0.0/16, via: 10.0.9.1}",
    );
    expect(
        &text,
        7,
        "route to 10.9.0.0/16 on `h2` via 10.0.9.1: not in any subnet",
    );
}

#[test]
fn bad_kind() {
    let e = expect(
        &base_with("{kind: switch}", "{kind: swtich}"),
        6,
        "unknown node kind `swtich` (expected host, switch, router, nat, internet, dhcp, vm or external)",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `switch`?"));
    assert_eq!(e.loc, Loc::new(6, 16));
}

#[test]
fn yaml_syntax_errors() {
    let e = expect(
        "name: x\ntopology:\n  nodes:\n    h1: {kind: host\n  links: []\n",
        5,
        "invalid YAML",
    );
    assert!(e.msg.contains("flow mapping"), "{e}");
    assert!(
        !e.msg.contains("at line"),
        "the location is not repeated: {e}"
    );
    expect(
        "name: x\n  topology: y\n",
        2,
        "invalid YAML: mapping values are not allowed",
    );
    expect("name: x\ntopology:\n\tnodes: {}\n", 3, "invalid YAML");
    expect("name: a\n---\nname: b\n", 3, "invalid YAML");
    expect("a: *nowhere\n", 1, "invalid YAML");
}

#[test]
fn address_on_switch_port() {
    let e = expect(
        &base_with("\"s1:p2\"", "{node: s1, iface: p2, ip: 10.0.0.9/24}"),
        9,
        "switch port `s1:p2` has an address",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("put the address on the host or router at the other end of the link")
    );
}

#[test]
fn bad_lab_name() {
    let e = expect(
        &base_with("name: lab", "name: my.lab"),
        1,
        "lab name `my.lab` contains `.`",
    );
    assert_eq!(e.loc, Loc::new(1, 7));
    assert_eq!(e.hint.as_deref(), Some("try `my_lab`"));
    let e = expect(&base_with("name: lab\n", ""), 1, "the lab name is missing");
    let hint = e.hint.unwrap_or_default();
    assert!(
        hint.contains("add `name: <lab>`") && hint.contains("--name"),
        "{hint}"
    );
    expect(
        &base_with("name: lab", "name: [a]"),
        1,
        "`name` should be a single value, found a list",
    );
}

#[test]
fn address_set_twice() {
    let text = base_with(
        "    h1: {}",
        "    h1:\n      interfaces:\n        eth0: {ip: 10.0.0.7/24}",
    );
    expect(
        &text,
        10,
        "the address of `h1:eth0` is set twice: here and under `interfaces` (line 6)",
    );
}

#[test]
fn unused_interface() {
    let text = base_with(
        "    h1: {}",
        "    h1:\n      interfaces:\n        eth1: {mtu: 9000}",
    );
    let e = expect(
        &text,
        6,
        "interface `h1:eth1` is configured under `interfaces` but no link uses it",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `eth0`?"));
}

#[test]
fn structure_errors() {
    expect(
        &base_with("    h2: {}\n", "    h2: {}\n    h1: {}\n"),
        6,
        "duplicate key `h1` in `nodes` (the first on line 4)",
    );
    let e = expect(
        &base_with("\"s1:p2\"", "\"s1\""),
        9,
        "endpoint `s1` names no interface",
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("write it as `node:interface`, e.g. `s1:eth0`")
    );
    expect(
        &base_with("\"s1:p2\"]", "\"s1:p2\", \"s1:p3\"]"),
        9,
        "a link has exactly two endpoints, this one has 3",
    );
    expect(
        &base_with("\"s1:p2\"]", "\"s1:p2\"]\n      mtu: big"),
        10,
        "`mtu` should be a whole number, found `big`",
    );
    expect(
        &base_with("\"s1:p2\"]", "\"s1:p2\"]\n      mtu: 40"),
        10,
        "`mtu` 40 is out of range 68..=65535",
    );
    expect(
        &base_with("\"s1:p2\"]", "\"s1:p2\"]\n      up: maybe"),
        10,
        "`up` should be true or false, found `maybe`",
    );
    expect(
        &base_with("{kind: switch}", "{kind: switch, stp: 1}"),
        6,
        "`stp` should be true or false, found `1`",
    );
    expect(
        "name: x\ntopology:\n  nodes: [h1, h2]\n",
        3,
        "`nodes` should be a mapping (`key: value`), found a list",
    );
    expect(
        "name: x\ntopology:\n  nodes: {h1: {}}\n  links: {a: b}\n",
        4,
        "`links` should be a list, found a mapping",
    );
    expect(
        "name: x\ntopology:\n  nodes: {h1: {}}\n  links:\n    - {mtu: 1500}\n",
        5,
        "a link needs `endpoints`",
    );
    expect(
        "name: x\ntopology:\n  nodes: {h1: {routes: [{via: 10.0.0.1}]}}\n",
        3,
        "a route needs `dst`",
    );
    expect("- a\n- b\n", 1, "the top level should be a mapping");
    expect("name: x\n", 1, "`topology:` is missing");
    expect("name: x\ntopology: {}\n", 2, "the topology has no nodes");
    expect("", 1, "the file is empty");
    expect("# only a comment\n", 1, "the file is empty");
}

#[test]
fn every_problem_in_one_report() {
    let text = "\
name: Bad
topology:
  nodes:
    h1: {kind: hots}
    s1: {kind: switch, gateway: 10.0.0.1/8}
  links:
    - endpoints: [\"h1:eth0\", \"s1:p1\"]
      mut: 1500
";
    let errs = fail(text);
    let lines: Vec<u32> = errs.iter().map(|e| e.loc.line).collect();
    assert_eq!(lines, [1, 4, 5, 8], "{errs}");
    let shown = errs.to_string();
    assert!(shown.ends_with("\n4 errors in t.yaml"), "{shown}");
    assert!(
        shown.contains("t.yaml:8:7: unknown key `mut` in a link"),
        "{shown}"
    );
    assert!(shown.contains("  hint: did you mean `mtu`?"), "{shown}");
}

#[test]
fn endpoint_with_a_space_after_the_colon() {
    let e = expect(
        &base_with("\"s1:p2\"]", "s1: p2]"),
        9,
        "endpoint `s1: p2` reads as a mapping because of the space after `:`",
    );
    assert_eq!(e.hint.as_deref(), Some("write `\"s1:p2\"`"));
}
