//! `vnet::realize` on the kernel, Neutron's walkthrough: a network with
//! DHCP whose instances get their fixed addresses (nlab's built-in client
//! in instance namespaces; ISC `dhclient` and busybox `udhcpc` as
//! witnesses in namespaces the test made and bound ports to); a router
//! with SNAT seen from the internet namespace; a floating IP reachable
//! from it; a security group allowing only tcp/22 that blocks ping and
//! lets a TCP connect through; a spoofed source address dropped, and let
//! through once port security is off.
mod common;
mod vnet_world;
use common::{lab_name, LabGuard};
use nlab::testing::vnet::*;
use std::path::Path;
use std::process::Command;
use vnet_world::*;

/// An `ip netns add` namespace of the test's, deleted on drop.
struct TestNs(String);

impl TestNs {
    fn new(tag: &str) -> TestNs {
        let name = format!("vt{}{}", std::process::id() % 100_000, tag);
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(ok.success(), "ip netns add {name}");
        TestNs(name)
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Private 10.0.0.0/24 with DHCP (gateway .1, the router's), external
/// 203.0.113.0/24 (the internet namespace at .1), router SNAT at .10,
/// floating IP .20 → i2. i1 has port security off; i2 has a group that
/// allows tcp/22 in and anything out. Ports c3 and c4 are bound to the
/// test's namespaces `ns3` and `ns4`.
fn world(ns3: &str, ns4: &str) -> Desired {
    let mut ext = net("e0");
    ext.external = true;
    let mut i2 = port("c2", "a0", "a5", "10.0.0.12", 0x12);
    i2.port_security_enabled = true;
    i2.security_rules = vec![ingress("tcp", Some(22)), egress_any()];
    let mut p3 = port("c3", "a0", "a5", "10.0.0.13", 0x13);
    p3.binding = Binding::Netns { netns: ns3.into() };
    let mut p4 = port("c4", "a0", "a5", "10.0.0.14", 0x14);
    p4.binding = Binding::Netns { netns: ns4.into() };
    Desired {
        networks: vec![net("a0"), ext],
        subnets: vec![
            subnet("a5", "a0", "10.0.0.0/24", Some("10.0.0.1"), true),
            subnet("e5", "e0", "203.0.113.0/24", Some("203.0.113.1"), false),
        ],
        ports: vec![port("c1", "a0", "a5", "10.0.0.11", 0x11), i2, p3, p4],
        routers: vec![Router {
            id: id("f0"),
            interfaces: vec![RouterInterface {
                port_id: id("f1"),
                subnet_id: id("a5"),
                ip: "10.0.0.1".parse().expect("ip"),
                mac: None,
            }],
            external_gateway: Some(ExternalGateway {
                port_id: id("f2"),
                network_id: id("e0"),
                subnet_id: id("e5"),
                ip: "203.0.113.10".parse().expect("ip"),
                enable_snat: true,
                mac: None,
            }),
            routes: Vec::new(),
        }],
        floating_ips: vec![FloatingIp {
            id: id("ff"),
            external_ip: "203.0.113.20".parse().expect("ip"),
            internal_ip: "10.0.0.12".parse().expect("ip"),
            port_id: id("c2"),
            router_id: id("f0"),
        }],
    }
}

/// Sends one broadcast ARP request on eth0 from a packet socket, with
/// the sender address argv[1] asking for argv[2].
const SEND_ARP: &str = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = open("/sys/class/net/eth0/address").read().strip()
m = bytes.fromhex(mac.replace(":", ""))
ip = lambda a: socket.inet_aton(a)
arp = bytes.fromhex("0001080006040001") + m + ip(sys.argv[1]) + bytes(6) + ip(sys.argv[2])
try:
    s.send(b"\xff" * 6 + m + b"\x08\x06" + arp)
    print("sent")
except OSError as e:  # ENOBUFS: a hook on the way out dropped it
    print("dropped:", e)
"#;

fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, body).expect("writing a client script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p.display().to_string()
}

/// dhclient once in `ns` on `dev`; its script sets the address it got.
fn dhclient(dir: &Path, ns: &str, dev: &str) -> std::process::Output {
    let sf = script(
        dir,
        "dhclient.sh",
        "#!/bin/sh\ncase $reason in BOUND|RENEW|REBOOT) ip addr replace $new_ip_address/$new_subnet_mask dev $interface ;; esac\n",
    );
    let lf = dir.join("dhclient.leases").display().to_string();
    let pf = dir.join("dhclient.pid").display().to_string();
    run_in(
        ns,
        &[
            "dhclient", "-v", "-1", "-sf", &sf, "-lf", &lf, "-pf", &pf, dev,
        ],
    )
}

/// udhcpc once in `ns` on `dev`; its script sets the address it got.
fn udhcpc(dir: &Path, ns: &str, dev: &str) -> std::process::Output {
    let s = script(
        dir,
        "udhcpc.sh",
        "#!/bin/sh\ncase $1 in bound|renew) ip addr replace $ip/$mask dev $interface ;; esac\n",
    );
    run_in(
        ns,
        &[
            "udhcpc", "-n", "-q", "-f", "-i", dev, "-t", "5", "-T", "1", "-s", &s,
        ],
    )
}

/// The inode of the UDP socket on `port` in `ns` (`ss`): a server or
/// client started again has a new one.
fn udp_inode(ns: &str, port: u16) -> Option<u64> {
    let o = run_in(ns, &["ss", "-uanpe", &format!("sport = :{port}")]);
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ino:")?.parse().ok())
}

#[test]
fn dhcp_hands_each_port_its_fixed_address() {
    require_root!();
    let lab = lab_name("vd");
    let _g = LabGuard(lab.clone());
    let (n3, n4) = (TestNs::new("d3"), TestNs::new("d4"));
    let d = world(&n3.0, &n4.0);
    let r = apply(&d, &lab).expect("apply");
    assert!(
        r.ports.values().all(|s| *s == PortStatus::Active),
        "{:?}",
        r.ports
    );
    // The built-in client in the instances (apply waits for it).
    assert_eq!(ipv4_of(&ns(&lab, "i-c1000000"), "eth0"), ["10.0.0.11"]);
    assert_eq!(ipv4_of(&ns(&lab, "i-c2000000"), "eth0"), ["10.0.0.12"]);
    // Other clients in namespaces bound to ports: their reservations.
    let names = Names::new(&d);
    let dev3 = names.port_iface(&d.ports[2]);
    let dev4 = names.port_iface(&d.ports[3]);
    let dir = tempfile::tempdir().expect("tmp");
    let o = dhclient(dir.path(), &n3.0, &dev3);
    assert!(
        o.status.success(),
        "dhclient: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(ipv4_of(&n3.0, &dev3), ["10.0.0.13"]);
    let o = udhcpc(dir.path(), &n4.0, &dev4);
    assert!(
        o.status.success(),
        "udhcpc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(ipv4_of(&n4.0, &dev4), ["10.0.0.14"]);
    // The instances got the router as their gateway: they reach it.
    assert!(ping(&ns(&lab, "i-c1000000"), "10.0.0.1"));
    // A MAC the world does not know gets nothing (static mode).
    let n5 = TestNs::new("d5");
    let mut d5 = d.clone();
    let mut p5 = port("c5", "a0", "a5", "10.0.0.15", 0x15);
    p5.binding = Binding::Netns {
        netns: n5.0.clone(),
    };
    d5.ports.push(p5.clone());
    // The new port's reservation reaches the running server: its socket
    // and the instances' clients stay as they are.
    let server = udp_inode(&ns(&lab, "qdhcp-a5000000"), 67);
    let client = udp_inode(&ns(&lab, "i-c1000000"), 68);
    assert!(
        server.is_some() && client.is_some(),
        "{server:?} {client:?}"
    );
    apply(&d5, &lab).expect("apply with c5");
    assert_eq!(udp_inode(&ns(&lab, "qdhcp-a5000000"), 67), server);
    assert_eq!(udp_inode(&ns(&lab, "i-c1000000"), 68), client);
    let dev5 = Names::new(&d5).port_iface(&p5);
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &n5.0,
            "ip",
            "link",
            "set",
            &dev5,
            "address",
            "02:00:00:00:00:99",
        ])
        .status()
        .expect("ip link set address");
    assert!(o.success());
    let o = udhcpc(dir.path(), &n5.0, &dev5);
    assert!(!o.status.success(), "an unknown MAC got a lease");
    assert!(ipv4_of(&n5.0, &dev5).is_empty());
    // Unbinding removes nlab's veth from the test's namespace and nothing
    // else of it.
    apply(&d, &lab).expect("apply without c5");
    let links = run_in(&n5.0, &["ip", "-br", "link"]);
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(&dev5), "{links}");
    assert!(links.contains("lo"), "{links}");
}

#[test]
fn snat_floating_ip_and_security_groups() {
    require_root!();
    let lab = lab_name("vn");
    let _g = LabGuard(lab.clone());
    let (n3, n4) = (TestNs::new("n3"), TestNs::new("n4"));
    let mut d = world(&n3.0, &n4.0);
    apply(&d, &lab).expect("apply");
    let (i1, i2) = (ns(&lab, "i-c1000000"), ns(&lab, "i-c2000000"));
    let inet = ns(&lab, "ext-e0000000");
    // SNAT: a server in the internet namespace sees the router's address.
    let _peer = tcp_server(&inet, 8080, "$SOCAT_PEERADDR");
    assert_eq!(tcp_read(&i1, "203.0.113.1", 8080), "203.0.113.10");
    // The group of i2 lets tcp/22 in, from inside and through the
    // floating IP, and no ping.
    let _ssh = tcp_server(&i2, 22, "i2");
    assert_eq!(tcp_read(&i1, "10.0.0.12", 22), "i2");
    assert_eq!(
        tcp_read(&inet, "203.0.113.20", 22),
        "i2",
        "the floating IP leads to i2"
    );
    assert!(!ping(&i1, "10.0.0.12"), "the group lets ping through");
    let _other = tcp_server(&i2, 2222, "i2");
    assert_eq!(
        tcp_read(&i1, "10.0.0.12", 2222),
        "",
        "the group lets tcp/2222 through"
    );
    // Egress is allowed, and replies come back (stateful).
    assert!(ping(&i2, "10.0.0.1"));
    // A spoofed source leaves nothing on the wire: the router's leg sees
    // no packet from it.
    let spoof = "10.0.0.99";
    let add = run_in(
        &i2,
        &["ip", "addr", "add", &format!("{spoof}/24"), "dev", "eth0"],
    );
    assert!(add.status.success());
    let leg = ns(&lab, "qrouter-f0000000");
    let seen = capture_icmp(&leg, "qr-f100000000", || {
        assert!(
            !run_in(&i2, &["ping", "-c1", "-W2", "-I", spoof, "10.0.0.1"])
                .status
                .success()
        );
    });
    assert!(seen.iter().all(|l| !l.contains(spoof)), "{seen:?}");
    // The same from a packet socket, which no IP hook sees: an ARP
    // request claiming the spoofed address never leaves i2.
    let arp = capture(&leg, "qr-f100000000", "arp", spoof, || {
        let o = run_in(&i2, &["python3", "-c", SEND_ARP, spoof, "10.0.0.1"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(said.starts_with("dropped"), "{said}");
    });
    assert!(arp.is_empty(), "{arp:?}");
    // Port security off: the same ping goes through.
    d.ports[1].port_security_enabled = false;
    let r = apply(&d, &lab).expect("apply with port security off");
    assert_eq!(r.tables_applied, ["i-c2000000"]);
    assert!(
        run_in(&i2, &["ping", "-c1", "-W2", "-I", spoof, "10.0.0.1"])
            .status
            .success()
    );
    assert!(ping(&i1, "10.0.0.12"), "no group filters i2 any more");
    assert_eq!(tcp_read(&i1, "10.0.0.12", 2222), "i2");
    let arp = capture(&leg, "qr-f100000000", "arp", spoof, || {
        let o = run_in(&i2, &["python3", "-c", SEND_ARP, spoof, "10.0.0.1"]);
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "sent");
    });
    assert!(!arp.is_empty(), "the packet-socket witness sends nothing");
    let tables = run_in(&i2, &["nft", "list", "tables"]);
    assert!(String::from_utf8_lossy(&tables.stdout).trim().is_empty());
}

/// `nft list ruleset` in `ns`.
fn ruleset(ns: &str) -> String {
    String::from_utf8_lossy(&run_in(ns, &["nft", "list", "ruleset"]).stdout).into_owned()
}

#[test]
fn security_groups_filter_a_namespace_nlab_attaches_and_leave_it_as_found() {
    require_root!();
    let lab = lab_name("va");
    let _g = LabGuard(lab.clone());
    let n3 = TestNs::new("a3");
    let before = ruleset(&n3.0);
    // A static subnet: nlab puts the fixed IP on the attached end too.
    let mut p3 = port("c3", "a0", "a5", "10.0.0.13", 0x13);
    p3.binding = Binding::Netns {
        netns: n3.0.clone(),
    };
    p3.port_security_enabled = true;
    p3.security_rules = vec![ingress("tcp", Some(22)), egress_any()];
    let mut d = Desired {
        networks: vec![net("a0")],
        subnets: vec![subnet("a5", "a0", "10.0.0.0/24", None, false)],
        ports: vec![port("c1", "a0", "a5", "10.0.0.11", 0x11), p3],
        ..Default::default()
    };
    let r = apply(&d, &lab).expect("apply");
    assert_eq!(r.tables_applied, ["p-c3000000"]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let dev = Names::new(&d).port_iface(&d.ports[1]);
    let i1 = ns(&lab, "i-c1000000");
    // Only tcp/22 comes in; egress is open and its replies come back.
    let _ssh = tcp_server(&n3.0, 22, "n3");
    let _other = tcp_server(&n3.0, 2222, "n3");
    assert_eq!(tcp_read(&i1, "10.0.0.13", 22), "n3");
    assert_eq!(tcp_read(&i1, "10.0.0.13", 2222), "", "tcp/2222 came in");
    assert!(!ping(&i1, "10.0.0.13"), "the group lets ping in");
    assert!(ping(&n3.0, "10.0.0.11"));
    // A spoofed source never reaches the wire.
    let spoof = "10.0.0.99";
    let add = run_in(
        &n3.0,
        &["ip", "addr", "add", &format!("{spoof}/24"), "dev", &dev],
    );
    assert!(add.status.success());
    let seen = capture_icmp(&i1, "eth0", || {
        let o = run_in(&n3.0, &["ping", "-c1", "-W2", "-I", spoof, "10.0.0.11"]);
        assert!(!o.status.success());
    });
    assert!(seen.iter().all(|l| !l.contains(spoof)), "{seen:?}");
    run_in(
        &n3.0,
        &["ip", "addr", "del", &format!("{spoof}/24"), "dev", &dev],
    );
    // Unbound: nlab's veth and tables go, the namespace is as it was.
    let bound = d.ports[1].binding.clone();
    d.ports[1].binding = Binding::Unbound;
    apply(&d, &lab).expect("apply unbound");
    assert_eq!(ruleset(&n3.0), before, "a table of nlab's was left");
    let links = String::from_utf8_lossy(&run_in(&n3.0, &["ip", "-br", "link"]).stdout).into_owned();
    assert!(!links.contains(&dev), "{links}");
    // Bound again, then the lab taken down: the same.
    d.ports[1].binding = bound;
    let r = apply(&d, &lab).expect("apply bound again");
    assert_eq!(r.tables_applied, ["p-c3000000"]);
    assert!(ruleset(&n3.0).contains("table netdev nlab-sg"));
    nlab::lab::down(&lab).expect("down");
    assert_eq!(ruleset(&n3.0), before, "down left a table of nlab's");
}

#[test]
fn a_gateway_without_snat_nats_only_its_floating_ips() {
    require_root!();
    let lab = lab_name("vs");
    let _g = LabGuard(lab.clone());
    let mut d = world("unused3", "unused4");
    d.ports.truncate(2);
    // Legs with their ports' MACs, as the API's world has them.
    d.routers[0].interfaces[0].mac = Some(nlab::topo::MacAddr([0xfa, 0x16, 0x3e, 0, 0, 0xf1]));
    if let Some(g) = d.routers[0].external_gateway.as_mut() {
        g.enable_snat = false;
        g.mac = Some(nlab::topo::MacAddr([0xfa, 0x16, 0x3e, 0, 0, 0xf2]));
    }
    apply(&d, &lab).expect("apply");
    let (i1, i2) = (ns(&lab, "i-c1000000"), ns(&lab, "i-c2000000"));
    let inet = ns(&lab, "ext-e0000000");
    // i1 has no floating IP: the outside sees its private address.
    let seen = capture_icmp(&inet, "eth0", || {
        ping(&i1, "203.0.113.1");
    });
    assert!(
        seen.iter().any(|l| l.contains("10.0.0.11 > 203.0.113.1")),
        "{seen:?}"
    );
    assert!(seen.iter().all(|l| !l.contains("203.0.113.10")), "{seen:?}");
    // i2's floating IP is still its 1:1 NAT, both ways.
    let _peer = tcp_server(&inet, 8080, "$SOCAT_PEERADDR");
    assert_eq!(tcp_read(&i2, "203.0.113.1", 8080), "203.0.113.20");
    assert_eq!(tcp_read(&i1, "203.0.113.1", 8080), "", "i1 was NATed");
    // SNAT back on: i1 goes out as the router.
    if let Some(g) = d.routers[0].external_gateway.as_mut() {
        g.enable_snat = true;
    }
    apply(&d, &lab).expect("apply with SNAT");
    // The router was made anew, with the same MACs: no neighbour waits.
    assert_eq!(
        tcp_read(&i1, "203.0.113.1", 8080),
        "203.0.113.10",
        "{}",
        ruleset(&ns(&lab, "qrouter-f0000000"))
    );
}
