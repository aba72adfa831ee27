//! The containerlab rewrite, read through the public parser.

use super::shell_words;
use crate::topo::external::Attach;
use crate::topo::file::{parse_with, ClabOptions};
use crate::topo::Topology;

fn parse(yaml: &str) -> Topology {
    parse_with(yaml, Some("t.clab.yml"), None, ClabOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Without the management network, so links keep the file's order.
fn parse_plain(yaml: &str) -> Topology {
    let opts = ClabOptions { no_mgmt: true };
    parse_with(yaml, Some("t.clab.yml"), None, opts).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(yaml: &str) -> String {
    match parse_with(yaml, Some("t.clab.yml"), None, ClabOptions::default()) {
        Ok(_) => panic!("no error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

const LAYERS: &str = r#"
name: layers
topology:
  defaults:
    group: g
    env: {A: defaults, D: "1"}
    binds: ["/etc/hostname:/etc/hostname"]
  kinds:
    linux:
      env: {A: kind, K: "1"}
      labels: {from: kind}
  groups:
    g:
      kind: linux
      env: {A: group, G: "1"}
      exec: ["echo group"]
    other:
      kind: linux
      labels: {from: other}
  nodes:
    n1:
    n2:
      env: {A: node}
      exec: ["echo node"]
    n3:
      group: other
  links:
    - endpoints: ["n1:eth1", "n2:eth1"]
"#;

#[test]
fn node_over_group_over_kind_over_defaults() {
    let t = parse(LAYERS);
    let env = |n: &str, k: &str| t.nodes[n].run.env.get(k).cloned();
    assert_eq!(env("n1", "A").as_deref(), Some("group"));
    assert_eq!(env("n2", "A").as_deref(), Some("node"));
    assert_eq!(env("n3", "A").as_deref(), Some("kind"));
    for k in ["D", "K", "G"] {
        assert_eq!(env("n1", k).as_deref(), Some("1"), "{k}");
    }
    assert_eq!(env("n3", "G"), None);
    assert_eq!(t.nodes["n1"].run.exec, ["echo group"]);
    assert_eq!(t.nodes["n2"].run.exec, ["echo node"]);
    assert!(t.nodes["n3"].run.exec.is_empty());
    assert_eq!(t.nodes["n1"].run.binds.len(), 1);
    let label = |n: &str, k: &str| t.nodes[n].labels.get(k).cloned();
    assert_eq!(label("n1", "from").as_deref(), Some("kind"));
    assert_eq!(label("n3", "from").as_deref(), Some("other"));
    assert_eq!(label("n3", "clab-node-group").as_deref(), Some("other"));
    assert_eq!(label("n2", "clab-node-name").as_deref(), Some("n2"));
    assert_eq!(label("n2", "clab-node-kind").as_deref(), Some("linux"));
}

#[test]
fn the_management_network_gives_each_node_eth0_and_the_host_the_gateway() {
    let yaml = LAYERS.replace(
        "  nodes:\n    n1:\n",
        "  nodes:\n    n1:\n      mgmt-ipv4: 172.20.20.50\n",
    );
    let t = parse(&yaml);
    assert_eq!(
        t.nodes[super::MGMT_NODE].kind,
        crate::topo::NodeKind::Switch
    );
    let eth0 = |n: &str| {
        t.links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .find(|e| e.node == n && e.iface == "eth0")
            .map(|e| e.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(
        eth0("n1").unwrap(),
        ["172.20.20.50/24", "3fff:172:20:20::2/64"]
    );
    assert_eq!(
        eth0("n2").unwrap(),
        ["172.20.20.2/24", "3fff:172:20:20::3/64"]
    );
    assert_eq!(
        eth0("n3").unwrap(),
        ["172.20.20.3/24", "3fff:172:20:20::4/64"]
    );
    let h = &t.host_links[0];
    assert_eq!(h.node, super::MGMT_NODE);
    assert!(h.host_iface.starts_with("nlm-") && h.host_iface.len() == 12);
    let gw: Vec<String> = h.host_addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(gw, ["172.20.20.1/24", "3fff:172:20:20::1/64"]);
    // --no-mgmt: none of it.
    let opts = ClabOptions { no_mgmt: true };
    let t = parse_with(&yaml, Some("t.clab.yml"), None, opts).unwrap();
    assert!(!t.nodes.contains_key(super::MGMT_NODE) && t.host_links.is_empty());
    assert!(t
        .notes
        .iter()
        .any(|n| n.contains("`mgmt-ipv4/6` of node `n1` is not honoured")));
}

#[test]
fn nlab_files_are_left_as_they_are() {
    let yaml = "name: plain\ntopology:\n  defaults: {kind: host}\n  nodes: {a: {}, b: {}}\n  links:\n    - endpoints: [a:eth0, b:eth0]\n";
    let t = parse_with(yaml, Some("plain.yaml"), None, ClabOptions::default()).unwrap();
    assert_eq!(t.nodes.len(), 2, "a management network in an nlab file");
    assert!(t.nodes["a"].labels.is_empty());
}

#[test]
fn the_extended_link_form_and_host_endpoints() {
    let yaml = r#"
name: links
topology:
  nodes:
    a: {kind: linux}
    me: {kind: host}
  links:
    - type: veth
      mtu: 1400
      endpoints:
        - {node: a, interface: e1, mac: "02:00:00:00:00:01"}
        - {node: a, interface: e2}
    - type: host
      host-interface: a-host
      endpoint: {node: a, interface: e3}
    - endpoints: ["a:e4", "me:a-me"]
    - endpoints: ["a:e5", "macvlan:enp1s0"]
"#;
    let t = parse_plain(yaml);
    assert!(!t.nodes.contains_key("me"));
    let l = &t.links[0];
    assert_eq!((l.mtu, l.endpoints[0].iface.as_str()), (Some(1400), "e1"));
    assert_eq!(
        l.endpoints[0].mac.map(|m| m.to_string()).as_deref(),
        Some("02:00:00:00:00:01")
    );
    let hosts: Vec<&str> = t.host_links.iter().map(|h| h.host_iface.as_str()).collect();
    assert!(
        hosts.contains(&"a-host") && hosts.contains(&"a-me"),
        "{hosts:?}"
    );
    let m = &t.nodes["a"].macvlans[0];
    assert_eq!((m.parent.as_str(), m.end.iface.as_str()), ("enp1s0", "e5"));
}

#[test]
fn what_nlab_does_not_honour_says_what_to_do_at_its_line() {
    let yaml = "name: n\ntopology:\n  nodes:\n    a:\n      kind: linux\n      healthcheck: {retries: 1}\n      cmd: sleep 1\n  links: []\n";
    let t = parse(yaml);
    assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
    assert!(t.notes[0].starts_with("t.clab.yml:6: `healthcheck` of node `a` is not honoured: "));
    assert!(
        t.notes[1].contains("run programs in it with `exec:`"),
        "{:?}",
        t.notes
    );
    let e = errors("name: n\ntopology:\n  nodes:\n    a: {group: nope}\n  links: []\n");
    assert!(
        e.contains("t.clab.yml:4:") && e.contains("group `nope`"),
        "{e}"
    );
    assert!(e.contains("add the group under `topology.groups`"), "{e}");
    let e = errors("name: n\ntopology:\n  nodes: {a: {kind: linux}}\n  links:\n    - type: vxlan\n      endpoint: {node: a, interface: e1}\n");
    assert!(
        e.contains("links of `type: vxlan` are not supported"),
        "{e}"
    );
    assert!(e.contains("use a `veth` link"), "{e}");
    let e = errors(
        "name: n\ntopology:\n  nodes: {a: {kind: linux, mgmt-ipv4: 10.0.0.1}}\n  links: []\n",
    );
    assert!(
        e.contains("not in the management subnet 172.20.20.0/24"),
        "{e}"
    );
}

#[test]
fn an_image_nodes_string_cmd_is_split_as_a_shell_splits_it_and_binds_are_its_own() {
    let yaml = "name: n\ntopology:\n  nodes:\n    a:\n      image: busybox\n      cmd: ash -c \"echo $X > /tmp/var && sleep 9\"\n      binds: [\"f.txt:/f.txt\"]\n  links: []\n";
    let t = parse_with(yaml, Some("/labs/t.clab.yml"), None, ClabOptions::default()).unwrap();
    let Some(Attach::Image(spec)) = &t.nodes["a"].attach else {
        panic!("no image")
    };
    assert_eq!(spec.cmd, ["ash", "-c", "echo $X > /tmp/var && sleep 9"]);
    assert_eq!(spec.binds[0].to_string(), "/labs/f.txt:/f.txt");
    assert!(t.nodes["a"].run.binds.is_empty());
    assert_eq!(
        shell_words(r#"a 'b c' "d\"e" f\ g"#).unwrap(),
        ["a", "b c", "d\"e", "f g"]
    );
    assert!(shell_words("a 'b").is_err());
}

#[test]
fn ports_are_forwards_of_a_nat_on_the_management_network() {
    let yaml = "name: p\ntopology:\n  nodes:\n    web:\n      kind: linux\n      ports: [\"8080:80\", \"127.0.0.1:5353:53/udp\"]\n    other: {kind: linux}\n  links: []\n";
    let t = parse(yaml);
    let nat = &t.nodes[super::ports::NAT_NODE];
    let fw: Vec<String> = nat
        .nat
        .as_ref()
        .unwrap()
        .forwards
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(fw, ["8080:web:80/tcp", "5353:web:53/udp"]);
    assert_eq!(
        t.nodes["web"].gateway.map(|g| g.to_string()).as_deref(),
        Some("172.20.20.254")
    );
    assert_eq!(t.nodes["other"].gateway, None);
    assert!(t
        .notes
        .iter()
        .any(|n| n.contains("the address in port `127.0.0.1:5353:53/udp`")));
    let e = errors(
        "name: p\ntopology:\n  nodes:\n    web: {kind: linux, ports: [\"80\"]}\n  links: []\n",
    );
    assert!(
        e.contains("port `80` of node `web`: write it as HOSTPORT:PORT"),
        "{e}"
    );
}

#[test]
fn a_network_os_kind_says_what_to_run_instead() {
    let e = errors("name: n\ntopology:\n  nodes:\n    srl: {kind: nokia_srlinux}\n  links: []\n");
    assert!(
        e.contains("t.clab.yml:4:") && e.contains("a network OS nlab cannot run"),
        "{e}"
    );
    assert!(
        e.contains("use `kind: linux` with the image of a Linux router"),
        "{e}"
    );
    assert_eq!(e.matches("nokia_srlinux").count(), 1, "reported twice: {e}");
}

#[test]
fn link_and_endpoint_addresses_as_containerlab_writes_them() {
    let yaml = r#"
name: ips
topology:
  nodes: {n1: {kind: linux}, n2: {kind: linux}, n3: {kind: linux}}
  links:
    - endpoints: [n1:e1, n2:e1]
      ipv4: [192.168.0.1/24, 192.168.0.2/24]
      ipv6: ["2001:db8::1/64", "2001:db8::2/64"]
    - type: veth
      endpoints:
        - {node: n1, interface: e2, ipv4: 192.168.3.1/24, vars: {foo: bar}}
        - {node: n2, interface: e2, ipv4: 192.168.3.2/24}
    - endpoints: [n1:e3, n3:e1]
      ipv4: ["", 192.168.0.3/24]
      vars: {foo: bar}
"#;
    let t = parse_plain(yaml);
    let addrs = |l: usize, e: usize| -> Vec<String> {
        t.links[l].endpoints[e]
            .addrs
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    assert_eq!(addrs(0, 0), ["192.168.0.1/24", "2001:db8::1/64"]);
    assert_eq!(addrs(0, 1), ["192.168.0.2/24", "2001:db8::2/64"]);
    assert_eq!(addrs(1, 0), ["192.168.3.1/24"]);
    assert!(addrs(2, 0).is_empty());
    assert_eq!(addrs(2, 1), ["192.168.0.3/24"]);
    assert_eq!(
        t.notes.iter().filter(|n| n.contains("`vars`")).count(),
        2,
        "{:?}",
        t.notes
    );
}
