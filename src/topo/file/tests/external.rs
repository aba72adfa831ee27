//! `kind: external`, `image:` and `host:` endpoints: what they read as,
//! and each mistake at its line.

use super::*;
use crate::topo::external::{Attach, HOST_NODE};

const LAB: &str = "\
name: lab
topology:
  nodes:
    s1: {kind: switch}
    h1: {}
    p1: {kind: external, pid: 4242}
    n1: {kind: ext-container, netns: blue}
    q1: {kind: external, netns: /proc/77/ns/net}
    c1: {kind: external, container: web}
    b1:
      image: localhost/busybox
      cmd: sleep 1000
      entrypoint: /bin/sh
      env: {MODE: lab}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 10.0.0.1/24}, \"s1:p1\"]
    - endpoints: [\"p1:lab0\", \"s1:p2\"]
    - endpoints: [\"n1:lab0\", \"s1:p3\"]
    - endpoints: [\"q1:lab0\", \"s1:p4\"]
    - endpoints: [\"c1:lab0\", \"s1:p5\"]
    - endpoints: [\"b1:eth1\", \"s1:p6\"]
    - endpoints: [\"s1:up\", \"host:nlab-up0\"]
";

fn with(from: &str, to: &str) -> String {
    assert!(LAB.contains(from), "{from:?} not in LAB");
    LAB.replacen(from, to, 1)
}

fn error_of(text: &str) -> String {
    match parse(text, Some("x.yaml")) {
        Ok(_) => panic!("parsed:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_source_reads_and_host_links_are_kept_apart() {
    let t = parse(LAB, None).unwrap_or_else(|e| panic!("{e}"));
    let a = |n: &str| t.nodes[n].attach.clone();
    assert_eq!(a("p1"), Some(Attach::Pid(4242)));
    assert_eq!(a("n1"), Some(Attach::Netns("blue".into())));
    assert_eq!(a("q1"), Some(Attach::Pid(77)));
    assert_eq!(a("c1"), Some(Attach::Container("web".into())));
    let Some(Attach::Image(i)) = a("b1") else {
        panic!("b1 is no image node")
    };
    assert_eq!(i.cmd, ["sleep", "1000"]);
    assert_eq!(i.entrypoint.as_deref(), Some("/bin/sh"));
    assert_eq!(i.env["MODE"], "lab");
    assert_eq!(t.nodes["p1"].kind, NodeKind::Host);
    assert_eq!(t.links.len(), 6);
    assert_eq!(t.host_links.len(), 1);
    let h = &t.host_links[0];
    assert_eq!((h.node.as_str(), h.iface.as_str()), ("s1", "up"));
    assert_eq!(h.host_iface, "nlab-up0");
    assert!(!t.nodes.contains_key(HOST_NODE));
    // And it writes back to the same topology.
    let back = parse(&to_yaml(&t), None).unwrap_or_else(|e| panic!("{e}\n{}", to_yaml(&t)));
    assert_eq!(back, t);
}

#[test]
fn containerlab_spellings() {
    // ext-container without a source: the container named like the node.
    let text = with(
        "c1: {kind: external, container: web}",
        "c1: {kind: ext-container}",
    );
    let t = parse(&text, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.nodes["c1"].attach, Some(Attach::Container("c1".into())));
    let text = with("netns: blue}", "netns: /run/netns/blue}");
    let t = parse(&text, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.nodes["n1"].attach, Some(Attach::Netns("blue".into())));
}

#[test]
fn a_node_named_host_keeps_host_endpoints_as_links() {
    let text = with("    h1: {}\n", "    h1: {}\n    host: {kind: switch}\n");
    let t = parse(&text, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.host_links.is_empty());
    assert_eq!(t.links.len(), 7);
}

#[test]
fn attachment_mistakes_point_at_their_line() {
    let cases = [
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external}",
            "names no namespace",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, pid: 1, container: x}",
            "has both `pid` and `container`",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, pid: -3}",
            "should be a process id",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, netns: /proc/x/ns/net}",
            "neither a name nor /proc/PID/ns/net",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, netns: a/b}",
            "not a namespace name",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, pid: 4242, cmd: x}",
            "only for nodes with `image:`",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, image: x}",
            "has `image:` but is `kind: external`",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: router, pid: 4242}",
            "is a router with `pid 4242`",
        ),
        (
            "p1: {kind: external, pid: 4242}",
            "p1: {kind: external, pid: 4242, gateway: 10.0.0.9}",
            "cannot have a default gateway",
        ),
        (
            "n1: {kind: ext-container, netns: blue}",
            "n1: {kind: ext-container, pid: 4242}",
            "both attach pid 4242",
        ),
        (
            "\"s1:up\", \"host:nlab-up0\"",
            "\"host:a\", \"host:b\"",
            "`host:` at both ends",
        ),
        (
            "\"s1:up\", \"host:nlab-up0\"",
            "\"s1:up\", \"host:this-name-is-too-long\"",
            "interface `host:this-name-is-too-long`",
        ),
        (
            "\"s1:up\", \"host:nlab-up0\"",
            "{node: h1, iface: eth1, ip: dhcp}, \"host:nlab-up0\"",
            "asks for DHCP",
        ),
        (
            "\"s1:up\", \"host:nlab-up0\"]\n",
            "\"s1:up\", \"host:nlab-up0\"]\n      conditions: {delay: 5ms}\n",
            "a plain veth",
        ),
    ];
    for (from, to, want) in cases {
        let e = error_of(&with(from, to));
        assert!(e.contains(want), "{to}: {e}");
        assert!(e.contains("x.yaml:"), "{to}: no file:line in {e}");
    }
    // The line of the mistake, not of the file's start.
    let e = error_of(&with(
        "p1: {kind: external, pid: 4242}",
        "p1: {kind: external}",
    ));
    assert!(e.contains("x.yaml:6:"), "{e}");
}

#[test]
fn two_host_links_cannot_share_a_name() {
    let text = with(
        "    - endpoints: [\"s1:up\", \"host:nlab-up0\"]\n",
        "    - endpoints: [\"s1:up\", \"host:nlab-up0\"]\n    - endpoints: [\"h1:up\", \"host:nlab-up0\"]\n",
    );
    assert!(error_of(&text).contains("two links use `host:nlab-up0`"));
}
