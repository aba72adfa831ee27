//! `to_topology` and the security-group batches, without root.

use super::*;
use crate::topo::{NodeKind, ValidTopology};
use std::net::IpAddr;

pub(super) fn net(id: &str) -> Network {
    Network {
        id: id.into(),
        name: String::new(),
        mtu: None,
        external: false,
        admin_state_up: true,
    }
}

pub(super) fn subnet(id: &str, network: &str, cidr: &str, dhcp: bool) -> Subnet {
    let cidr: crate::topo::IpNet = cidr.parse().expect("cidr");
    Subnet {
        id: id.into(),
        network_id: network.into(),
        cidr,
        ip_version: 4,
        gateway_ip: None,
        allocation_pools: Vec::new(),
        dns_nameservers: Vec::new(),
        host_routes: Vec::new(),
        enable_dhcp: dhcp,
        ipv6_slaac: false,
        dhcp_ip: None,
    }
}

pub(super) fn port(id: &str, network: &str, subnet: &str, ip: &str, mac: u64) -> Port {
    Port {
        id: id.into(),
        network_id: network.into(),
        mac: crate::topo::MacAddr([0xfa, 0x16, 0x3e, 0, 0, mac as u8]),
        fixed_ips: vec![FixedIp {
            subnet_id: subnet.into(),
            ip_address: ip.parse().expect("ip"),
        }],
        binding: Binding::Instance,
        port_security_enabled: true,
        allowed_address_pairs: Vec::new(),
        security_rules: Vec::new(),
        admin_state_up: true,
    }
}

const N1: &str = "11111111-aaaa-4000-8000-000000000001";
const N2: &str = "22222222-aaaa-4000-8000-000000000002";
const S1: &str = "33333333-aaaa-4000-8000-000000000003";
const S2: &str = "44444444-aaaa-4000-8000-000000000004";

/// OpenVNet's walkthrough: two networks on the same 172.16.1.0/24, the
/// same host addresses on both.
fn overlapping() -> Desired {
    Desired {
        networks: vec![net(N1), net(N2)],
        subnets: vec![
            subnet(S1, N1, "172.16.1.0/24", false),
            subnet(S2, N2, "172.16.1.0/24", false),
        ],
        ports: vec![
            port(
                "a1000000-0000-4000-8000-000000000000",
                N1,
                S1,
                "172.16.1.1",
                1,
            ),
            port(
                "a2000000-0000-4000-8000-000000000000",
                N1,
                S1,
                "172.16.1.2",
                2,
            ),
            port(
                "b1000000-0000-4000-8000-000000000000",
                N2,
                S2,
                "172.16.1.1",
                3,
            ),
            port(
                "b2000000-0000-4000-8000-000000000000",
                N2,
                S2,
                "172.16.1.2",
                4,
            ),
        ],
        ..Default::default()
    }
}

#[test]
fn overlapping_networks_are_two_bridges_that_share_nothing() {
    let t = to_topology(&overlapping(), "vn").expect("maps");
    let t = ValidTopology::new(t).expect("the same subnet on two networks validates");
    assert_eq!(t.nodes["net-11111111"].kind, NodeKind::Switch);
    assert_eq!(t.nodes["net-22222222"].kind, NodeKind::Switch);
    let a1 = t
        .links
        .iter()
        .find(|l| l.endpoints[0].node == "i-a1000000")
        .expect("a1's link");
    assert_eq!(a1.endpoints[0].iface, "eth0");
    assert_eq!(a1.endpoints[0].addrs[0].to_string(), "172.16.1.1/24");
    assert_eq!(a1.endpoints[1].node, "net-11111111");
    assert_eq!(a1.endpoints[1].iface, "tapa100000000");
    let b1 = t
        .links
        .iter()
        .find(|l| l.endpoints[0].node == "i-b1000000")
        .expect("b1's link");
    assert_eq!(b1.endpoints[1].node, "net-22222222");
    assert_eq!(t.nodes.len(), 6);
}

#[test]
fn one_port_more_is_one_node_and_one_link_more() {
    let mut d = overlapping();
    let before = to_topology(&d, "vn").expect("maps");
    d.ports.push(port(
        "c1000000-0000-4000-8000-000000000000",
        N1,
        S1,
        "172.16.1.3",
        5,
    ));
    let after = to_topology(&d, "vn").expect("maps");
    let plan = crate::lab::plan::plan(&after, Some(&before), &Default::default());
    assert_eq!(plan.create_nodes, ["i-c1000000"]);
    assert_eq!(plan.changes(), 2, "{plan:?}");
    assert_eq!(
        to_topology(&d, "vn").expect("maps"),
        after,
        "the same world maps the same"
    );
    // With DHCP, the server's new reservation reaches the running server
    // (the supervisor's sync), not its namespace: still one node and one
    // link.
    d.subnets[0].enable_dhcp = true;
    let before = to_topology(&d, "vn").expect("maps");
    d.ports.push(port(
        "c2000000-0000-4000-8000-000000000000",
        N1,
        S1,
        "172.16.1.4",
        6,
    ));
    let after = to_topology(&d, "vn").expect("maps");
    let plan = crate::lab::plan::plan(&after, Some(&before), &Default::default());
    assert_eq!(plan.create_nodes, ["i-c2000000"]);
    assert!(plan.delete_nodes.is_empty(), "{plan:?}");
    assert_eq!(plan.changes(), 2, "{plan:?}");
}

#[test]
fn a_dhcp_subnet_is_a_server_with_a_reservation_per_bound_port() {
    let mut d = overlapping();
    d.subnets[0].enable_dhcp = true;
    d.subnets[0].gateway_ip = Some("172.16.1.254".parse().expect("ip"));
    d.subnets[0].dns_nameservers = vec!["192.0.2.53".parse().expect("ip")];
    d.subnets[0].allocation_pools = vec![(
        "172.16.1.1".parse().expect("ip"),
        "172.16.1.100".parse().expect("ip"),
    )];
    d.subnets[1].enable_dhcp = true;
    d.networks[0].mtu = Some(1450);
    d.ports[1].binding = Binding::Unbound;
    let t = ValidTopology::new(to_topology(&d, "vn").expect("maps")).expect("valid");
    let server = &t.nodes["qdhcp-33333333"];
    let scope = &server.dhcp.as_ref().expect("a server").scopes[0];
    assert!(scope.reserved_only);
    assert_eq!(scope.router, Some("172.16.1.254".parse().expect("ip")));
    assert_eq!(scope.mtu, Some(1450));
    assert_eq!(scope.dns.len(), 1);
    let res: Vec<String> = scope
        .reservations
        .iter()
        .map(|r| format!("{} {}", r.mac, r.ip))
        .collect();
    assert_eq!(
        res,
        ["fa:16:3e:00:00:01 172.16.1.1"],
        "the unbound port has none"
    );
    // The server takes the highest free address of the pool.
    let own = t.endpoints_of("qdhcp-33333333").next().expect("a link");
    assert_eq!(own.addrs[0].to_string(), "172.16.1.100/24");
    let a1 = t.endpoints_of("i-a1000000").next().expect("a link");
    assert!(a1.dhcp && a1.addrs.is_empty(), "{a1:?}");
    assert!(!t.nodes.contains_key("i-a2000000"));
    // Both overlapping subnets have their own server.
    assert!(t.nodes.contains_key("qdhcp-44444444"));
    // With a `network:dhcp` port (the API always has one), the server
    // takes that port's address instead.
    d.subnets[0].dhcp_ip = Some("172.16.1.2".parse().expect("ip"));
    let t = to_topology(&d, "vn").expect("maps");
    let own = t.endpoints_of("qdhcp-33333333").next().expect("a link");
    assert_eq!(own.addrs[0].to_string(), "172.16.1.2/24");
}

/// The API's world: the subnet's `dhcp_ip` is its DHCP port's address,
/// the first of the pool, which no user port then gets.
#[test]
fn the_world_gives_the_dhcp_server_its_ports_address() {
    use crate::vnet::model::{NetworkCreate, PortCreate, SubnetCreate};
    use crate::vnet::ops::{networks, ports, subnets, Caller};
    use crate::vnet::store::Store;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("vnet.db")).expect("open");
    let admin = Caller::admin("p");
    let user_ip = store
        .write(|tx| {
            let n = networks::create(tx, &admin, NetworkCreate::default())?;
            let b: SubnetCreate = serde_json::from_value(serde_json::json!(
                {"network_id": n.id, "ip_version": 4, "cidr": "10.0.0.0/24"}
            ))
            .map_err(|e| crate::vnet::ops::Fault::internal(e.to_string()))?;
            subnets::create(tx, &admin, b)?;
            let p = PortCreate {
                network_id: n.id,
                ..Default::default()
            };
            Ok(ports::create(tx, &admin, p)?.fixed_ips[0]
                .ip_address
                .clone())
        })
        .expect("writes");
    assert_eq!(user_ip, "10.0.0.3");
    let (d, warn) = crate::vnet::world::from_snapshot(&store.snapshot().expect("snapshot"));
    assert!(warn.is_empty(), "{warn:?}");
    assert_eq!(d.ports.len(), 1, "the DHCP port is no instance's");
    assert_eq!(d.subnets[0].dhcp_ip, Some("10.0.0.2".parse().expect("ip")));
}

const EXT: &str = "eeeeeeee-0000-4000-8000-000000000000";
const EXS: &str = "e5e5e5e5-0000-4000-8000-000000000000";
const R1: &str = "99999999-0000-4000-8000-000000000000";

pub(super) fn routed() -> Desired {
    let mut d = overlapping();
    d.networks.truncate(1);
    d.subnets.truncate(1);
    d.ports.truncate(2);
    d.subnets[0].gateway_ip = Some("172.16.1.254".parse().expect("ip"));
    let mut ext = net(EXT);
    ext.external = true;
    d.networks.push(ext);
    let mut es = subnet(EXS, EXT, "203.0.113.0/24", false);
    es.gateway_ip = Some("203.0.113.1".parse().expect("ip"));
    d.subnets.push(es);
    d.routers.push(Router {
        id: R1.into(),
        interfaces: vec![RouterInterface {
            port_id: "f1000000-0000-4000-8000-000000000000".into(),
            subnet_id: S1.into(),
            ip: "172.16.1.254".parse().expect("ip"),
            mac: None,
        }],
        external_gateway: Some(ExternalGateway {
            port_id: "f2000000-0000-4000-8000-000000000000".into(),
            network_id: EXT.into(),
            subnet_id: EXS.into(),
            ip: "203.0.113.10".parse().expect("ip"),
            enable_snat: true,
            mac: None,
        }),
        routes: Vec::new(),
    });
    d.floating_ips.push(FloatingIp {
        id: "f1f1f1f1-0000-4000-8000-000000000000".into(),
        external_ip: "203.0.113.20".parse().expect("ip"),
        internal_ip: "172.16.1.2".parse().expect("ip"),
        port_id: "a2000000-0000-4000-8000-000000000000".into(),
        router_id: R1.into(),
    });
    d
}

#[test]
fn a_router_with_a_gateway_is_a_nat_with_its_floating_ips() {
    let t = ValidTopology::new(to_topology(&routed(), "vn").expect("maps")).expect("valid");
    let r = &t.nodes["qrouter-99999999"];
    assert_eq!(r.kind, NodeKind::Nat);
    let nat = r.nat.as_ref().expect("nat");
    assert_eq!(
        nat.uplink,
        crate::topo::nat::Uplink::Node("ext-eeeeeeee".into())
    );
    assert_eq!(nat.static_nat.len(), 1);
    assert_eq!(nat.static_nat[0].node, "i-a2000000");
    assert_eq!(
        nat.static_nat[0].ip,
        Some("172.16.1.2".parse().expect("ip"))
    );
    assert_eq!(
        r.gateway,
        Some("203.0.113.1".parse::<IpAddr>().expect("ip"))
    );
    assert_eq!(t.nodes["ext-eeeeeeee"].kind, NodeKind::Internet);
    assert_eq!(
        t.primary_addr("ext-eeeeeeee", false),
        Some("203.0.113.1".parse().expect("ip"))
    );
    let legs: Vec<&str> = t
        .endpoints_of("qrouter-99999999")
        .map(|e| e.iface.as_str())
        .collect();
    assert_eq!(legs, ["qr-f100000000", "qg-f200000000"]);
    // Instances with static addresses take the subnet's gateway.
    assert_eq!(
        t.nodes["i-a1000000"].gateway,
        Some("172.16.1.254".parse().expect("ip"))
    );
    assert!(nat.masquerade);
    // ext-gw-mode without SNAT: the floating IP's NAT and nothing more.
    let mut d = routed();
    if let Some(g) = d.routers[0].external_gateway.as_mut() {
        g.enable_snat = false;
    }
    let t = to_topology(&d, "vn").expect("maps");
    let nat = t.nodes["qrouter-99999999"].nat.as_ref().expect("nat");
    assert!(!nat.masquerade);
    assert_eq!(nat.static_nat.len(), 1);
    // ... and without floating IPs, a plain router.
    d.floating_ips.clear();
    let t = to_topology(&d, "vn").expect("maps");
    assert_eq!(t.nodes["qrouter-99999999"].kind, NodeKind::Router);
}

#[test]
fn a_world_that_names_what_it_lacks_is_refused() {
    let mut d = overlapping();
    d.ports[0].network_id = "nope".into();
    let e = to_topology(&d, "vn").expect_err("refused");
    assert!(e.to_string().contains("network nope"), "{e}");
    let mut d = overlapping();
    d.subnets.push(subnet("55555555", N1, "10.9.0.0/24", true));
    d.subnets[0].enable_dhcp = true;
    let e = to_topology(&d, "vn").expect_err("refused");
    assert!(e.to_string().contains("2 IPv4 subnets with DHCP"), "{e}");
}

#[test]
fn a_security_group_batch_filters_and_stops_spoofing() {
    let mut p = port("a1000000", N1, S1, "172.16.1.1", 1);
    p.security_rules.push(SgRule {
        direction: Direction::Ingress,
        ethertype: "IPv4".into(),
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote: Some(vec!["10.0.0.0/8".parse().expect("cidr")]),
    });
    p.allowed_address_pairs.push(AddressPair {
        ip_address: "172.16.1.50/32".parse().expect("ip"),
        mac_address: None,
    });
    let b = sg::batch(&p, sg::At::Iface("eth0"), "vn");
    let text = b.to_string();
    assert!(
        text.contains(r#""protocol":"th"}},"op":"==","right":22"#),
        "{text}"
    );
    assert!(
        text.contains(r#""prefix":{"addr":"10.0.0.0","len":8}"#),
        "{text}"
    );
    assert!(
        text.contains(r#""hook":"egress""#) && text.contains(r#""dev":"eth0""#),
        "{text}"
    );
    assert!(text.contains(r#""172.16.1.1","172.16.1.50""#), "{text}");
    assert!(text.contains("fa:16:3e:00:00:01"), "{text}");
    // It parses as nft's schema.
    let _: nftables::schema::Nftables = serde_json::from_value(b).expect("valid nft JSON");
    p.port_security_enabled = false;
    let off = sg::batch(&p, sg::At::Iface("eth0"), "vn");
    let items = off["nftables"].as_array().expect("a list");
    assert_eq!(
        items.len(),
        4,
        "port security off only removes the tables: {off}"
    );
    // Both tables carry the lab's owner mark.
    p.port_security_enabled = true;
    let on = sg::batch(&p, sg::At::Iface("eth0"), "vn");
    let marks: Vec<&serde_json::Value> = on["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["add"].get("set"))
        .filter(|s| s["name"] == "nlab-vn")
        .collect();
    assert_eq!(
        marks
            .iter()
            .map(|s| s["family"].as_str())
            .collect::<Vec<_>>(),
        [Some("inet"), Some("netdev")],
        "{on}"
    );
    // A VM's TAP: both chains on the forward hook (the node bridges the
    // guest's packets), told apart by the mark the TAP's ingress gives.
    let tap = sg::batch(&p, sg::At::Tap("vtap0"), "vn");
    let chains: Vec<&serde_json::Value> = tap["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["add"].get("chain"))
        .collect();
    let hooks: Vec<_> = chains
        .iter()
        .map(|c| (c["hook"].as_str(), c.get("dev").and_then(|d| d.as_str())))
        .collect();
    assert_eq!(
        hooks,
        [
            (Some("forward"), None),
            (Some("forward"), None),
            (Some("ingress"), Some("vtap0"))
        ],
        "{tap}"
    );
    let first_spoof = tap["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|i| i["add"].get("rule").filter(|r| r["chain"] == "spoof"))
        .expect("a spoof rule");
    assert!(
        first_spoof["expr"][0].get("mangle").is_some(),
        "{first_spoof}"
    );
    let _: nftables::schema::Nftables = serde_json::from_value(tap).expect("valid nft JSON");
}

#[test]
fn ports_bound_to_namespaces_nlab_does_not_own_are_attached_nodes() {
    use crate::topo::external::Attach;
    let mut d = overlapping();
    d.subnets[1].enable_dhcp = true;
    d.ports[0].binding = Binding::Netns {
        netns: "blue".into(),
    };
    d.ports[1].binding = Binding::Lab {
        lab: "other".into(),
        node: "h1".into(),
    };
    d.ports[2].binding = Binding::Pid { pid: 4242 };
    d.ports[3].binding = Binding::Container {
        container: "web".into(),
    };
    let t = to_topology(&d, "vn").expect("maps");
    assert_eq!(
        t.nodes["p-a1000000"].attach,
        Some(Attach::Netns("blue".into()))
    );
    assert_eq!(
        t.nodes["p-a2000000"].attach,
        Some(Attach::Netns("nlab-other-h1".into()))
    );
    assert_eq!(t.nodes["p-b1000000"].attach, Some(Attach::Pid(4242)));
    assert_eq!(
        t.nodes["p-b2000000"].attach,
        Some(Attach::Container("web".into()))
    );
    let a1 = t.endpoints_of("p-a1000000").next().expect("a link");
    assert_eq!(a1.iface, "ns-a100000000");
    assert_eq!(a1.addrs[0].to_string(), "172.16.1.1/24", "no DHCP: static");
    // On a DHCP subnet the namespace's owner asks: no address, no client.
    let b1 = t.endpoints_of("p-b1000000").next().expect("a link");
    assert!(b1.addrs.is_empty() && !b1.dhcp, "{b1:?}");
    let scope = &t.nodes["qdhcp-44444444"]
        .dhcp
        .as_ref()
        .expect("server")
        .scopes[0];
    assert_eq!(scope.reservations.len(), 2, "one per bound port");
    // The serde form the API writes: `binding` tagged by `nlab`.
    let json = serde_json::to_value(&d.ports[1].binding).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"nlab": "lab", "lab": "other", "node": "h1"})
    );
    let back: Binding =
        serde_json::from_value(serde_json::json!({"nlab": "instance"})).expect("reads");
    assert_eq!(back, Binding::Instance);
}

#[test]
fn an_empty_world_is_an_empty_lab() {
    let t = to_topology(&Desired::default(), "vn").expect("maps");
    assert!(t.nodes.is_empty() && t.links.is_empty());
    // Not a lab: `apply` takes the lab down instead (see its root test).
    assert!(ValidTopology::new(t).is_err());
}
