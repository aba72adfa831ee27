use super::*;
use serde_json::json;

const BLUE: &str = "b1000000-0000-4000-8000-000000000001";
const RED: &str = "e2000000-0000-4000-8000-000000000002";
const PUBLIC: &str = "f3000000-0000-4000-8000-000000000003";
const VM1: &str = "a1000000-0000-4000-8000-0000000000a1";
const VM2: &str = "a2000000-0000-4000-8000-0000000000a2";
const WEB: &str = "a3000000-0000-4000-8000-0000000000a3";

fn any(direction: &str) -> serde_json::Value {
    json!({"direction": direction, "ethertype": "IPv4"})
}

/// blue 10.0.1.0/24 (vm1, vm2) and red 10.0.2.0/24 (web: ssh only) joined
/// by router r1 (.1 on both), whose gateway is on public 203.0.113.0/24
/// with SNAT, and a floating IP 203.0.113.50 for web.
fn world() -> Desired {
    let subnet = |id: &str, net: &str, cidr: &str, gw: &str| {
        json!({"id": id, "network_id": net, "cidr": cidr, "ip_version": 4,
               "gateway_ip": gw, "enable_dhcp": false})
    };
    let port = |id: &str, net: &str, sub: &str, ip: &str, rules: serde_json::Value| {
        json!({"id": id, "network_id": net, "mac": "fa:16:3e:00:00:01",
               "fixed_ips": [{"subnet_id": sub, "ip_address": ip}],
               "binding": {"nlab": "instance"}, "security_rules": rules})
    };
    let open = json!([any("egress"), any("ingress")]);
    let ssh_only = json!([any("egress"),
        {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22}]);
    serde_json::from_value(json!({
        "networks": [{"id": BLUE}, {"id": RED}, {"id": PUBLIC, "external": true}],
        "subnets": [subnet("s-blue", BLUE, "10.0.1.0/24", "10.0.1.1"),
                    subnet("s-red", RED, "10.0.2.0/24", "10.0.2.1"),
                    subnet("s-pub", PUBLIC, "203.0.113.0/24", "203.0.113.1")],
        "ports": [port(VM1, BLUE, "s-blue", "10.0.1.10", open.clone()),
                  port(VM2, BLUE, "s-blue", "10.0.1.11", json!([any("egress")])),
                  port(WEB, RED, "s-red", "10.0.2.10", ssh_only)],
        "routers": [{"id": "r1", "interfaces": [
            {"port_id": "c1000000-0000-4000-8000-0000000000c1", "subnet_id": "s-blue", "ip": "10.0.1.1"},
            {"port_id": "c2000000-0000-4000-8000-0000000000c2", "subnet_id": "s-red", "ip": "10.0.2.1"}],
            "external_gateway": {"port_id": "c3000000-0000-4000-8000-0000000000c3",
                "network_id": PUBLIC, "subnet_id": "s-pub", "ip": "203.0.113.2"}}],
        "floating_ips": [{"id": "fip1", "external_ip": "203.0.113.50",
            "internal_ip": "10.0.2.10", "port_id": WEB, "router_id": "r1"}]
    }))
    .expect("the test world parses")
}

fn q(port: &str, dst: &str, proto: Proto, dport: Option<u16>) -> Query {
    Query {
        port: port.into(),
        dst: dst.parse().expect("address"),
        proto,
        dport,
    }
}

#[test]
fn same_network_is_bridged_and_the_far_port_decides() {
    let d = world();
    let t = trace(&d, &q(VM1, "10.0.1.11", Proto::Icmp, None)).expect("trace");
    // vm2 allows nothing in.
    match &t.verdict {
        Verdict::Dropped { node, why } => {
            assert!(node.starts_with("i-a2000000"), "{node}");
            assert!(why.contains("no security-group rule"), "{why}");
            assert!(why.contains("nlab sg rule-add"), "{why}");
        }
        v => panic!("expected a drop at vm2, got {v:?}"),
    }
    assert!(
        t.hops.iter().any(|h| h.what.contains("on-link")),
        "{:?}",
        t.hops
    );
    let back = trace(&d, &q(VM2, "10.0.1.10", Proto::Icmp, None)).expect("trace");
    assert_eq!(
        back.verdict,
        Verdict::Delivered {
            node: "i-a1000000".into(),
            port: VM1.into()
        }
    );
}

#[test]
fn across_the_router_only_ssh_gets_in() {
    let d = world();
    let ping = trace(&d, &q(VM1, "10.0.2.10", Proto::Icmp, None)).expect("trace");
    assert!(
        matches!(ping.verdict, Verdict::Dropped { .. }),
        "{:?}",
        ping.verdict
    );
    let ssh = trace(&d, &q(VM1, "10.0.2.10", Proto::Tcp, Some(22))).expect("trace");
    assert_eq!(
        ssh.verdict,
        Verdict::Delivered {
            node: "i-a3000000".into(),
            port: WEB.into()
        }
    );
    let nodes: Vec<&str> = ssh.hops.iter().map(|h| h.node.as_str()).collect();
    assert_eq!(
        nodes,
        [
            "i-a1000000",
            "i-a1000000",
            "net-b1000000",
            "qrouter-r1",
            "net-e2000000",
            "i-a3000000"
        ]
    );
    assert!(
        ssh.hops[1].what.contains("gateway 10.0.1.1"),
        "{:?}",
        ssh.hops
    );
    assert!(
        ssh.hops.last().unwrap().what.contains("port 22"),
        "{:?}",
        ssh.hops
    );
    assert_eq!(ssh.final_src, "10.0.1.10".parse::<IpAddr>().unwrap());
    let http = trace(&d, &q(VM1, "10.0.2.10", Proto::Tcp, Some(80))).expect("trace");
    assert!(matches!(http.verdict, Verdict::Dropped { .. }));
}

#[test]
fn outward_traffic_is_snatted_or_uses_its_floating_ip() {
    let d = world();
    let out = trace(&d, &q(VM1, "198.51.100.7", Proto::Tcp, Some(443))).expect("trace");
    assert_eq!(
        out.verdict,
        Verdict::LeavesWorld {
            node: "ext-f3000000".into()
        }
    );
    assert_eq!(out.final_src, "203.0.113.2".parse::<IpAddr>().unwrap());
    assert!(out
        .hops
        .iter()
        .any(|h| h.what.contains("SNAT (masquerade)")));
    // web has a floating IP: it leaves as that.
    let web = trace(&d, &q(WEB, "198.51.100.7", Proto::Icmp, None)).expect("trace");
    assert_eq!(web.final_src, "203.0.113.50".parse::<IpAddr>().unwrap());
    // From inside to web's floating IP: out, back in by DNAT, ssh allowed.
    let hair = trace(&d, &q(VM1, "203.0.113.50", Proto::Tcp, Some(22))).expect("trace");
    assert_eq!(
        hair.verdict,
        Verdict::Delivered {
            node: "i-a3000000".into(),
            port: WEB.into()
        }
    );
    assert!(
        hair.hops.iter().any(|h| h.what.starts_with("DNAT")),
        "{:?}",
        hair.hops
    );
    assert_eq!(hair.final_dst, "10.0.2.10".parse::<IpAddr>().unwrap());
}

#[test]
fn what_is_missing_is_named() {
    let mut d = world();
    d.routers[0].external_gateway = None;
    let t = trace(&d, &q(VM1, "198.51.100.7", Proto::Icmp, None)).expect("trace");
    match t.verdict {
        Verdict::Dropped { node, why } => {
            assert_eq!(node, "qrouter-r1");
            assert!(why.contains("set-gateway"), "{why}");
        }
        v => panic!("{v:?}"),
    }
    d.routers.clear();
    let t = trace(&d, &q(VM1, "10.0.2.10", Proto::Icmp, None)).expect("trace");
    assert!(
        matches!(&t.verdict, Verdict::Dropped { why, .. } if why.contains("add-interface")),
        "{:?}",
        t.verdict
    );
    d.ports[0].port_security_enabled = false;
    d.ports[0].security_rules.clear();
    let t = trace(&d, &q(VM1, "10.0.1.99", Proto::Icmp, None)).expect("trace");
    assert!(t.hops[0].what.contains("port security is off"));
    assert!(matches!(&t.verdict, Verdict::Dropped { why, .. } if why.contains("ARP")));
    assert!(trace(&d, &q("nope", "10.0.1.1", Proto::Icmp, None)).is_err());
    d.ports[0].binding = crate::vnet::realize::Binding::Unbound;
    let e = trace(&d, &q(VM1, "10.0.1.11", Proto::Icmp, None)).unwrap_err();
    assert!(e.contains("not bound"), "{e}");
}

#[test]
fn rule_matching_follows_neutron() {
    assert_eq!(Proto::parse("TCP"), Some(Proto::Tcp));
    assert_eq!(Proto::parse("ping"), Some(Proto::Icmp));
    assert_eq!(Proto::parse("gre"), None);
    let d = world();
    // A remote prefix limits who may come in.
    let mut d2 = d.clone();
    d2.ports[2].security_rules[1].remote = Some(vec!["10.0.9.0/24".parse().unwrap()]);
    let t = trace(&d2, &q(VM1, "10.0.2.10", Proto::Tcp, Some(22))).expect("trace");
    assert!(matches!(t.verdict, Verdict::Dropped { .. }));
    d2.ports[2].security_rules[1].remote = Some(vec!["10.0.1.0/24".parse().unwrap()]);
    let t = trace(&d2, &q(VM1, "10.0.2.10", Proto::Tcp, Some(22))).expect("trace");
    assert!(matches!(t.verdict, Verdict::Delivered { .. }));
}

#[test]
fn a_tap_port_is_filtered_in_the_model_too() {
    let mut d = world();
    // ICMP to port 2 has no rule: dropped on an instance and on a VM's TAP.
    d.ports[2].binding = crate::vnet::realize::Binding::Tap;
    let t = trace(&d, &q(VM1, "10.0.2.10", Proto::Icmp, None)).expect("trace");
    assert!(matches!(t.verdict, Verdict::Dropped { .. }), "{t:?}");
}
