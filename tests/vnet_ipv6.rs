//! IPv6 through `nlab serve`, end to end: a subnet with
//! `ipv6_address_mode`/`ipv6_ra_mode` `slaac` on a router's interface; the
//! router advertises the prefix, each instance bound to a port forms the
//! EUI-64 address Neutron computed for the port from the prefix and its
//! MAC, and pings the router and the other instance. A security group
//! with an IPv6 tcp/22 rule lets a TCP connect over IPv6 in and blocks
//! ICMPv6 echo, while neighbour discovery and router adverts still pass
//! (as Neutron always lets them). A dual-stack port gets its IPv4 address
//! by DHCP and its IPv6 one by SLAAC.
mod common;
mod vnet_common;
mod vnet_world;

use serde_json::{json, Value};
use vnet_common::Server;
use vnet_world::{run_in, until, Bg};

const PREFIX: &str = "fd00:77::/64";
const ROUTER_IP: &str = "fd00:77::1";

fn created(s: &Server, path: &str, what: &str, body: Value) -> Value {
    let (st, v) = s.admin("POST", path, Some(json!({ what: body })));
    assert_eq!(st, 201, "POST {path}: {v}");
    v[what].clone()
}

/// A network with the SLAAC subnet on a router; (network id, subnet id).
fn slaac_network(s: &Server) -> (String, String) {
    let net = created(s, "/v2.0/networks", "network", json!({"name": "v6"}));
    let net = net["id"].as_str().expect("id").to_string();
    let sub = created(
        s,
        "/v2.0/subnets",
        "subnet",
        json!({"network_id": net, "ip_version": 6, "cidr": PREFIX,
            "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}),
    );
    assert_eq!(sub["gateway_ip"], ROUTER_IP);
    let sub = sub["id"].as_str().expect("id").to_string();
    let router = created(s, "/v2.0/routers", "router", json!({"name": "r6"}));
    let router = router["id"].as_str().expect("id");
    let (st, v) = s.admin(
        "PUT",
        &format!("/v2.0/routers/{router}/add_router_interface"),
        Some(json!({ "subnet_id": sub })),
    );
    assert_eq!(st, 200, "{v}");
    (net, sub)
}

/// A port on `net` bound to an instance (with `extra` fields); returns it.
fn instance_port(s: &Server, net: &str, name: &str, extra: Value) -> Value {
    let mut body =
        json!({"network_id": net, "name": name, "binding:profile": {"nlab": "instance"}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    created(s, "/v2.0/ports", "port", body)
}

/// The instance namespace of `port` in the server's lab.
fn ns_of(s: &Server, port: &Value) -> String {
    let id = port["id"].as_str().expect("id").replace('-', "");
    format!("nlab-{}-i-{}", s.lab(), &id[..8])
}

/// The global IPv6 addresses of `eth0` in `ns` that SLAAC formed (the
/// kernel marks them `dynamic`: an advert gave them a lifetime; nlab
/// configures none of them itself).
fn global6(ns: &str) -> Vec<String> {
    let v = common::ip_json(
        ns,
        &["-6", "addr", "show", "dev", "eth0", "scope", "global"],
    );
    v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["dynamic"] == true)
                .filter_map(|i| i["local"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `port`'s instance formed the address Neutron gave the
/// port (from the router's advert: nothing else puts it there) and
/// returns it.
fn autoconfigured(s: &Server, port: &Value) -> String {
    let want = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("a fixed IPv6 address")
        .to_string();
    let ns = ns_of(s, port);
    assert!(
        until(|| global6(&ns).contains(&want)),
        "{ns} never formed {want} (Neutron's EUI-64 address of MAC {}); it has {:?}",
        port["mac_address"],
        global6(&ns)
    );
    want
}

fn ping6(ns: &str, addr: &str) -> bool {
    run_in(ns, &["ping", "-6", "-c1", "-W2", "-q", addr])
        .status
        .success()
}

/// A TCP server on `[::]:port` in `ns` answering `reply`.
fn tcp6_server(ns: &str, port: u16, reply: &str) -> Bg {
    let bg = Bg::sh(
        ns,
        &format!("exec socat TCP6-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'"),
    );
    assert!(
        until(|| vnet_world::listening(ns, port)),
        "the server in {ns} never listened on {port}"
    );
    bg
}

#[test]
fn slaac_instances_form_neutrons_addresses_from_the_routers_advert_and_ping() {
    require_root!();
    let s = Server::start();
    let (net, _) = slaac_network(&s);
    let p1 = instance_port(&s, &net, "vm1", json!({}));
    let p2 = instance_port(&s, &net, "vm2", json!({}));
    // Neutron's address for a SLAAC port: prefix + EUI-64 of its MAC.
    let mac = p1["mac_address"].as_str().expect("mac");
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect();
    let eui = format!(
        "fd00:77::{:x}:{:x}:{:x}:{:x}",
        u16::from_be_bytes([b[0] ^ 2, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]])
    );
    assert_eq!(p1["fixed_ips"][0]["ip_address"], eui.as_str());
    let (a1, a2) = (autoconfigured(&s, &p1), autoconfigured(&s, &p2));
    let ns1 = ns_of(&s, &p1);
    // The advert made the router the default route (proto ra, via its
    // link-local address).
    let routes = common::ip_json(&ns1, &["-6", "route", "show", "default"]);
    assert!(
        routes[0]["protocol"] == "ra"
            && routes[0]["gateway"]
                .as_str()
                .is_some_and(|g| g.starts_with("fe80:")),
        "no default route from the advert: {routes}"
    );
    assert!(ping6(&ns1, ROUTER_IP), "{a1} cannot ping the router");
    assert!(ping6(&ns1, &a2), "{a1} cannot ping {a2}");
}

#[test]
fn an_ipv6_tcp_22_group_lets_ssh_in_and_blocks_echo_while_neighbour_discovery_works() {
    require_root!();
    let s = Server::start();
    let (net, _) = slaac_network(&s);
    let sg = created(
        &s,
        "/v2.0/security-groups",
        "security_group",
        json!({"name": "ssh6"}),
    );
    let sg = sg["id"].as_str().expect("id").to_string();
    created(
        &s,
        "/v2.0/security-group-rules",
        "security_group_rule",
        json!({"security_group_id": sg, "direction": "ingress", "ethertype": "IPv6",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": "::/0"}),
    );
    let client = instance_port(&s, &net, "client", json!({}));
    let server = instance_port(&s, &net, "server", json!({"security_groups": [sg]}));
    // SLAAC on the filtered port: the router's advert got in.
    let addr = autoconfigured(&s, &server);
    autoconfigured(&s, &client);
    let (c, srv) = (ns_of(&s, &client), ns_of(&s, &server));
    let _ssh = tcp6_server(&srv, 22, "ssh");
    let _other = tcp6_server(&srv, 2222, "other");
    let read = |port: u16| {
        let o = run_in(
            &c,
            &[
                "socat",
                "-T3",
                "-u",
                &format!("TCP6:[{addr}]:{port},connect-timeout=3"),
                "-",
            ],
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    // The connect needs neighbour discovery both ways (the server's
    // ingress lets the solicitation in).
    assert_eq!(read(22), "ssh", "tcp/22 over IPv6 did not get in");
    assert_eq!(read(2222), "", "tcp/2222 got in without a rule");
    assert!(!ping6(&c, &addr), "ICMPv6 echo got in without a rule");
    // Egress is open and replies come back; the router's solicitations
    // and adverts reach the server.
    assert!(
        ping6(&srv, ROUTER_IP),
        "the filtered instance cannot ping out"
    );
    // The client (default group) is reachable from its group only; the
    // server is not in it.
    let caddr = client["fixed_ips"][0]["ip_address"].as_str().expect("ip");
    assert!(
        !ping6(&srv, caddr),
        "the default group let another group's echo in"
    );
}

/// The port's fixed address of one family.
fn fixed(port: &Value, v6: bool) -> String {
    port["fixed_ips"]
        .as_array()
        .and_then(|f| {
            f.iter()
                .filter_map(|i| i["ip_address"].as_str())
                .find(|a| a.contains(':') == v6)
        })
        .unwrap_or_else(|| panic!("port has no IPv{} address: {port}", if v6 { 6 } else { 4 }))
        .to_string()
}

#[test]
fn a_dual_stack_instance_gets_ipv4_by_dhcp_and_ipv6_by_slaac() {
    require_root!();
    let s = Server::start();
    let (net, _) = slaac_network(&s);
    let v4 = created(
        &s,
        "/v2.0/subnets",
        "subnet",
        json!({"network_id": net, "ip_version": 4, "cidr": "10.66.0.0/24"}),
    );
    let (_, routers) = s.admin("GET", "/v2.0/routers", None);
    let router = routers["routers"][0]["id"].as_str().expect("router");
    let (st, v) = s.admin(
        "PUT",
        &format!("/v2.0/routers/{router}/add_router_interface"),
        Some(json!({"subnet_id": v4["id"]})),
    );
    assert_eq!(st, 200, "{v}");
    let p = instance_port(&s, &net, "dual", json!({}));
    let ns = ns_of(&s, &p);
    let want4 = fixed(&p, false);
    let has4 = || {
        let v = common::ip_json(&ns, &["-4", "addr", "show", "dev", "eth0"]);
        v[0]["addr_info"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["local"] == want4.as_str()))
    };
    assert!(until(has4), "{ns} never got {want4} by DHCP");
    let want6 = fixed(&p, true);
    assert!(
        until(|| global6(&ns).contains(&want6)),
        "{ns} never formed {want6}: {:?}",
        global6(&ns)
    );
    assert!(ping6(&ns, ROUTER_IP), "no IPv6 to the router");
    assert!(
        run_in(&ns, &["ping", "-4", "-c1", "-W2", "-q", "10.66.0.1"])
            .status
            .success(),
        "no IPv4 to the router"
    );
}
