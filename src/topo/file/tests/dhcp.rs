//! `kind: dhcp`, `ip: dhcp`, `dhcp_relay`, and every DHCP mistake at its line.

use super::*;
use crate::topo::dhcp::DhcpClient;

const EXAMPLE: &str = include_str!("../../../../examples/topologies/dhcp.yaml");

/// A server and one client on a switch, to break one line at a time.
const LAN: &str = "\
name: lab
topology:
  nodes:
    d1:
      kind: dhcp
      dhcp:
        pool: 10.0.0.100-10.0.0.199
        reservations:
          - {mac: \"02:00:00:00:00:09\", ip: 10.0.0.10}
    h1: {}
    s1: {kind: switch}
  links:
    - endpoints: [{node: d1, iface: eth0, ip: 10.0.0.2/24}, \"s1:p1\"]
    - endpoints: [{node: h1, iface: eth0, ip: dhcp}, \"s1:p2\"]
";

fn lan_with(from: &str, to: &str) -> String {
    assert!(LAN.contains(from), "{from:?} not in LAN");
    LAN.replacen(from, to, 1)
}

#[test]
fn the_example_reads_with_every_option() {
    let t = match parse(EXAMPLE, Some("dhcp.yaml")) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let d = t.nodes["dhcp1"].dhcp.as_ref().expect("server");
    assert_eq!(t.nodes["dhcp1"].kind, NodeKind::Host);
    assert_eq!(d.scopes.len(), 2);
    let s = &d.scopes[0];
    assert_eq!(
        s.pool,
        ("10.0.0.100".parse().unwrap(), "10.0.0.199".parse().unwrap())
    );
    assert_eq!(s.lease_secs, 3600);
    assert_eq!(s.router, "10.0.0.1".parse().ok());
    assert_eq!(
        s.dns,
        vec!["10.0.0.53".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(s.domain.as_deref(), Some("lab.test"));
    assert_eq!(s.mtu, Some(1450));
    assert_eq!(
        s.routes,
        vec![(net("10.9.0.0/16"), "10.0.0.1".parse().unwrap())]
    );
    assert_eq!(
        s.reservations[0].mac,
        "02:00:00:00:00:03".parse::<MacAddr>().unwrap()
    );
    assert_eq!(d.scopes[1].subnet, Some(net("10.0.2.0/24")));
    assert!(t.nodes["r1"].dhcp_relay);
    assert_eq!(t.nodes["h1"].dhcp_client, DhcpClient::Builtin);
    let h4 = t.endpoints_of("h4").next().expect("h4:eth0");
    assert!(h4.dhcp && h4.addrs.is_empty());
    // What the journal stores reads back equal.
    let back: Topology = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}

#[test]
fn a_pool_outside_its_subnet_or_over_a_reservation() {
    let e = expect(
        &lan_with("10.0.0.100-10.0.0.199", "10.0.1.100-10.0.1.199"),
        7,
        "outside its subnet",
    );
    assert_eq!(
        e.msg,
        "pool 10.0.1.100-10.0.1.199 of `d1` is outside its subnet 10.0.0.0/24"
    );
    let e = expect(
        &lan_with("ip: 10.0.0.10}", "ip: 10.0.0.150}"),
        9,
        "overlaps the pool",
    );
    assert!(e
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("outside the pool")));
    expect(
        &lan_with("10.0.0.100-10.0.0.199", "10.0.0.1-10.0.0.9"),
        7,
        "the server's own address",
    );
    expect(
        &lan_with("10.0.0.100-10.0.0.199", "10.0.0.199-10.0.0.100"),
        7,
        "ends before it starts",
    );
    expect(
        &lan_with("10.0.0.100-10.0.0.199", "10.0.0.100"),
        7,
        "not an address range",
    );
}

#[test]
fn a_malformed_mac_in_a_reservation() {
    let e = expect(
        &lan_with("02:00:00:00:00:09", "02:00:00:00:09"),
        9,
        "is not a MAC address",
    );
    assert!(e.msg.starts_with("reservation `mac`"), "{}", e.msg);
}

#[test]
fn two_servers_on_one_segment() {
    let text = lan_with(
        "    h1: {}",
        "    d2: {kind: dhcp, dhcp: {pool: 10.0.0.200-10.0.0.210}}\n    h1: {}",
    )
    .replacen(
        "  links:\n",
        "  links:\n    - endpoints: [{node: d2, iface: eth0, ip: 10.0.0.3/24}, \"s1:p9\"]\n",
        1,
    );
    let e = expect(&text, 10, "two DHCP servers on one segment");
    assert!(e.msg.contains("`d1` and `d2`"), "{}", e.msg);
}

#[test]
fn clients_without_a_server_and_other_mistakes() {
    let text = lan_with("\"s1:p2\"]", "\"s1:p2\"]\n    - endpoints: [{node: h2, iface: eth0, ip: dhcp}, {node: h3, iface: eth0, ip: 10.1.0.1/24}]")
        .replacen("    h1: {}", "    h1: {}\n    h2: {}\n    h3: {}", 1);
    expect(&text, 17, "no DHCP server serves its segment");
    expect(&lan_with("kind: dhcp\n      dhcp:\n        pool: 10.0.0.100-10.0.0.199\n        reservations:\n          - {mac: \"02:00:00:00:00:09\", ip: 10.0.0.10}", "kind: dhcp"), 4, "has no `dhcp:`");
    expect(
        &lan_with("    h1: {}", "    h1: {gateway: 10.0.0.1}"),
        10,
        "takes its address from DHCP and also has `gateway`",
    );
    expect(
        &lan_with("    h1: {}", "    h1: {dhcp_relay: true}"),
        10,
        "only routers relay DHCP",
    );
    expect(
        &lan_with("    h1: {}", "    h1: {dhcp_client: dhcpcd}"),
        10,
        "unknown `dhcp_client`",
    );
    // Named, but not run by this version: refused, not left to time out.
    for other in ["dhclient", "udhcpc"] {
        let e = expect(
            &lan_with("    h1: {}", &format!("    h1: {{dhcp_client: {other}}}")),
            10,
            "runs only its built-in client",
        );
        assert!(e.msg.contains(other), "{}", e.msg);
    }
    expect(
        &lan_with(
            "{node: d1, iface: eth0, ip: 10.0.0.2/24}",
            "{node: d1, iface: eth0, ip: dhcp}",
        ),
        13,
        "needs a static IPv4 address",
    );
    expect(
        &lan_with(
            "        pool: 10.0.0.100-10.0.0.199\n",
            "        pool: 10.0.0.100-10.0.0.199\n        lease: 2s\n",
        ),
        8,
        "shorter than 10 s",
    );
    expect(
        &lan_with(
            "        pool: 10.0.0.100-10.0.0.199\n",
            "        pool: 10.0.0.100-10.0.0.199\n        router: 10.5.0.1\n",
        ),
        7,
        "outside the subnet",
    );
}

#[test]
fn a_default_gateway_does_not_apply_to_dhcp_hosts() {
    let text = lan_with("  nodes:\n", "  defaults: {gateway: 10.0.0.1}\n  nodes:\n");
    let t = match parse(&text, None) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(t.nodes["h1"].gateway, None);
}
