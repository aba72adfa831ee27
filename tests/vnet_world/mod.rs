//! Worlds for the `vnet::realize` root tests and their witnesses: plain
//! `Desired` values built in code, as the API would from its store.
#![allow(dead_code)]

use nlab::testing::vnet::*;
use nlab::topo::MacAddr;
use std::process::Command;

/// A UUID-shaped id whose first 8 hex digits are `head` (padded).
pub fn id(head: &str) -> String {
    format!("{head:0<8}-0000-4000-8000-000000000000")
}

pub fn net(head: &str) -> Network {
    Network {
        id: id(head),
        name: head.into(),
        mtu: None,
        external: false,
        admin_state_up: true,
    }
}

pub fn subnet(head: &str, network: &str, cidr: &str, gateway: Option<&str>, dhcp: bool) -> Subnet {
    Subnet {
        id: id(head),
        network_id: id(network),
        cidr: cidr.parse().expect("cidr"),
        ip_version: 4,
        gateway_ip: gateway.map(|g| g.parse().expect("gateway")),
        allocation_pools: Vec::new(),
        dns_nameservers: Vec::new(),
        host_routes: Vec::new(),
        enable_dhcp: dhcp,
        ipv6_slaac: false,
        dhcp_ip: None,
    }
}

/// An instance port with one fixed address and MAC fa:16:3e:00:00:`mac`.
pub fn port(head: &str, network: &str, subnet: &str, ip: &str, mac: u8) -> Port {
    Port {
        id: id(head),
        network_id: id(network),
        mac: MacAddr([0xfa, 0x16, 0x3e, 0, 0, mac]),
        fixed_ips: vec![FixedIp {
            subnet_id: id(subnet),
            ip_address: ip.parse().expect("ip"),
        }],
        binding: Binding::Instance,
        port_security_enabled: false,
        allowed_address_pairs: Vec::new(),
        security_rules: Vec::new(),
        admin_state_up: true,
    }
}

/// Neutron's default group as it applies to a port: egress anywhere.
pub fn egress_any() -> SgRule {
    SgRule {
        direction: Direction::Egress,
        ethertype: "IPv4".into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote: None,
    }
}

/// An ingress rule for one TCP port (or, with `proto` `icmp`, any ICMP).
pub fn ingress(proto: &str, port: Option<u16>) -> SgRule {
    SgRule {
        direction: Direction::Ingress,
        ethertype: "IPv4".into(),
        protocol: Some(proto.into()),
        port_range_min: port,
        port_range_max: port,
        remote: None,
    }
}

/// The namespace of node `node` of lab `lab` (the naming rule written
/// out again here, so tests witness it).
pub fn ns(lab: &str, node: &str) -> String {
    format!("nlab-{lab}-{node}")
}

/// `ip netns exec NS ARGS…`, its output.
pub fn run_in(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec")
}

/// One ping from `ns` to `addr`, 2 s to answer.
pub fn ping(ns: &str, addr: &str) -> bool {
    run_in(ns, &["ping", "-c1", "-W2", addr]).status.success()
}

/// The IPv4 addresses on `dev` in `ns`.
pub fn ipv4_of(ns: &str, dev: &str) -> Vec<String> {
    let o = run_in(ns, &["ip", "-j", "-4", "addr", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_string))
        .collect()
}

/// A process group killed (with -9) on drop: servers and captures.
pub struct Bg(pub std::process::Child);

impl Bg {
    /// `ip netns exec NS sh -c SCRIPT` in its own process group.
    pub fn sh(ns: &str, script: &str) -> Bg {
        use std::os::unix::process::CommandExt;
        let c = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawning a background process");
        Bg(c)
    }
    /// Stops it and returns what it printed (stdout, stderr).
    pub fn finish(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.0.id())])
            .status();
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        if let Some(mut o) = self.0.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.0.wait();
        (out, err)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.0.id())])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// Waits (up to 20 s) until `f` holds.
pub fn until(mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    f()
}

/// Whether something in `ns` listens on TCP `port`.
pub fn listening(ns: &str, port: u16) -> bool {
    let o = run_in(ns, &["ss", "-Htln", &format!("sport = :{port}")]);
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

/// A TCP server on `port` in `ns` that answers each connection with
/// `reply` (shell text: `$SOCAT_PEERADDR` is the client's address).
pub fn tcp_server(ns: &str, port: u16, reply: &str) -> Bg {
    let bg = Bg::sh(
        ns,
        &format!("exec socat TCP-LISTEN:{port},reuseaddr,fork SYSTEM:'echo {reply}'"),
    );
    assert!(
        until(|| listening(ns, port)),
        "the server in {ns} never listened on {port}"
    );
    bg
}

/// Connects from `ns` to `addr:port`, returns what the server said
/// (empty when the connection failed).
pub fn tcp_read(ns: &str, addr: &str, port: u16) -> String {
    let o = run_in(
        ns,
        &[
            "socat",
            "-T3",
            "-u",
            &format!("TCP:{addr}:{port},connect-timeout=3"),
            "-",
        ],
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Captures ICMP on `dev` in `ns` while `f` runs (once tcpdump says its
/// filter is in place); returns the packets tcpdump printed.
pub fn capture_icmp(ns: &str, dev: &str, f: impl FnOnce()) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let bg = Bg::sh(
        ns,
        &format!(
            "exec tcpdump --immediate-mode -l -n -i {dev} icmp >{} 2>{}",
            out.display(),
            err.display()
        ),
    );
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        until(|| read(&err).contains("listening on")),
        "tcpdump on {dev} in {ns}: {}",
        read(&err)
    );
    f();
    // Give tcpdump a moment to print what it got (a capture that must
    // stay empty waits the whole moment).
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < end && !read(&out).contains("ICMP") {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = bg.finish();
    read(&out)
        .lines()
        .filter(|l| l.contains("ICMP"))
        .map(str::to_string)
        .collect()
}
