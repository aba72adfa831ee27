//! NAT nodes, witnessed from outside: curl through a port forward to
//! python's http.server, the source address an internet-side server sees,
//! a STUN-like UDP server for the RFC 4787 mapping and filtering classes,
//! `--nat` with its host uplink, and Mininet's NAT examples.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::topo::Topology;
use std::process::{Command, Stdio};
use std::time::Duration;

const STUN_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nat/stun_server.py");
const STUN_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nat/stun_client.py");

fn up(yaml: &str, lab: &str) -> Lab {
    let t: Topology = nlab::topo::file::parse_as(yaml, None, Some(lab)).expect("valid topology");
    Lab::up(&t, &UpOptions::default()).expect("lab up").0
}

fn in_ns(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec")
}

/// A background process in `ns`, killed when dropped.
fn spawn_in(ns: &str, args: &[&str]) -> Group {
    Group::spawn(
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// `python3 -m http.server PORT` in `ns`, serving a directory whose
/// `who` file says `name`.
fn http_server(ns: &str, port: u16, name: &str) -> (Group, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("who"), name).expect("write");
    let d = dir.path().to_str().expect("utf-8 path").to_string();
    let g = spawn_in(
        ns,
        &[
            "python3",
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "0.0.0.0",
            "--directory",
            &d,
        ],
    );
    (g, dir)
}

/// What curl fetches from `url` in `ns` (retried while the server starts).
fn curl(ns: &str, url: &str) -> Option<String> {
    let mut got = None;
    wait_until(Duration::from_secs(5), || {
        let o = in_ns(ns, &["curl", "-s", "--max-time", "1", url]);
        got = o
            .status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned());
        got.is_some()
    });
    got
}

/// The STUN server's answer to `map` sent from `ns` to `dst`: the source
/// address it saw.
fn mapped(ns: &str, dst_ip: &str, dst_port: u16) -> Option<String> {
    let code = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(1)\n\
         for _ in range(5):\n  s.sendto(b'map',('{dst_ip}',{dst_port}))\n  \
         try:\n    print(s.recvfrom(512)[0].decode()); break\n  except socket.timeout: pass\n"
    );
    let o = in_ns(ns, &["python3", "-c", &code]);
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn stun_server(ns: &str, specs: &[&str]) -> Group {
    let mut args = vec!["python3", STUN_SERVER];
    args.extend_from_slice(specs);
    let g = spawn_in(ns, &args);
    std::thread::sleep(Duration::from_millis(300));
    g
}

const FORWARDED: &str = "
topology:
  nodes:
    h1: {gateway: 192.168.1.1}
    h2: {gateway: 192.168.1.1}
    s1: {kind: switch}
    nat1:
      kind: nat
      forward: [\"8080:h1:80/tcp\"]
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 192.168.1.10/24}, \"s1:p1\"]
    - endpoints: [{node: h2, iface: eth0, ip: 192.168.1.11/24}, \"s1:p2\"]
    - endpoints: [{node: nat1, iface: lan, ip: 192.168.1.1/24}, \"s1:p3\"]
";

#[test]
fn a_port_forward_reaches_http_server_and_traffic_leaves_masqueraded() {
    require_root!();
    let lab = lab_name("nf");
    let _g = LabGuard(lab.clone());
    let l = up(FORWARDED, &lab);
    // The file names no uplink: nlab made the internet node.
    assert!(l.topology().nodes.contains_key("internet"));
    let (_srv, _dir) = http_server(&ns(&lab, "h1"), 80, "h1");
    let body = curl(&ns(&lab, "internet"), "http://203.0.113.2:8080/who");
    assert_eq!(
        body.as_deref(),
        Some("h1"),
        "curl from the internet through 8080"
    );
    // The internet sees the NAT's address, never the private one.
    let _stun = stun_server(&ns(&lab, "internet"), &["203.0.113.1:3478"]);
    let seen = mapped(&ns(&lab, "h2"), "203.0.113.1", 3478).expect("a STUN answer");
    assert!(
        seen.starts_with("203.0.113.2:"),
        "source seen from the internet: {seen}"
    );
    // Hairpinning (on by default): h2 reaches h1 at the public address.
    assert_eq!(
        curl(&ns(&lab, "h2"), "http://203.0.113.2:8080/who").as_deref(),
        Some("h1")
    );
    // Unsolicited traffic from the internet to the private side is dropped
    // even when the internet has a route to it.
    in_ns(
        &ns(&lab, "internet"),
        &["ip", "route", "add", "192.168.1.0/24", "via", "203.0.113.2"],
    );
    assert!(!ping(&ns(&lab, "internet"), "192.168.1.10"));
    // One table, owner-tagged, in the NAT's namespace.
    let o = in_ns(&ns(&lab, "nat1"), &["nft", "list", "tables"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("table ip nlab-{lab}")
    );
}

/// 1:1 static NAT: h1 owns public 203.0.113.10 in both directions, h2
/// stays behind the NAT's own address.
#[test]
fn a_static_nat_gives_one_host_its_own_public_address() {
    require_root!();
    let lab = lab_name("ns");
    let _g = LabGuard(lab.clone());
    let yaml = FORWARDED.replace(
        "      kind: nat\n",
        "      kind: nat\n      static: [\"203.0.113.10:h1\"]\n",
    );
    up(&yaml, &lab);
    let inet = ns(&lab, "internet");
    // Outbound: the internet's server sees h1 as the static address, h2
    // as the NAT's.
    let _stun = stun_server(&inet, &["203.0.113.1:3478"]);
    let h1 = mapped(&ns(&lab, "h1"), "203.0.113.1", 3478).expect("h1's mapping");
    let h2 = mapped(&ns(&lab, "h2"), "203.0.113.1", 3478).expect("h2's mapping");
    assert!(h1.starts_with("203.0.113.10:"), "h1 seen as {h1}");
    assert!(h2.starts_with("203.0.113.2:"), "h2 seen as {h2}");
    // Inbound: any port of the public address reaches h1, unsolicited;
    // ICMP too.
    let (_srv, _dir) = http_server(&ns(&lab, "h1"), 8000, "h1");
    assert_eq!(
        curl(&inet, "http://203.0.113.10:8000/who").as_deref(),
        Some("h1"),
        "curl from the internet to the static address"
    );
    assert!(ping(&inet, "203.0.113.10"));
    // And h1's end sees the internet's own address (nothing rewrites the
    // source on the way in): a server in h1 reports its peer.
    let _h1_stun = stun_server(&ns(&lab, "h1"), &["0.0.0.0:5000"]);
    let peer = mapped(&inet, "203.0.113.10", 5000).expect("h1's server answers");
    assert!(peer.starts_with("203.0.113.1:"), "h1 saw {peer}");
    // Hairpinning: h2 reaches h1 at its public address.
    assert_eq!(
        curl(&ns(&lab, "h2"), "http://203.0.113.10:8000/who").as_deref(),
        Some("h1")
    );
}

#[test]
fn without_hairpinning_the_public_address_is_not_reachable_from_inside() {
    require_root!();
    let lab = lab_name("nh");
    let _g = LabGuard(lab.clone());
    let yaml = FORWARDED.replace(
        "      kind: nat\n",
        "      kind: nat\n      hairpin: false\n",
    );
    up(&yaml, &lab);
    let (_srv, _dir) = http_server(&ns(&lab, "h1"), 80, "h1");
    assert_eq!(
        curl(&ns(&lab, "internet"), "http://203.0.113.2:8080/who").as_deref(),
        Some("h1")
    );
    let o = in_ns(
        &ns(&lab, "h2"),
        &[
            "curl",
            "-s",
            "--max-time",
            "1",
            "http://203.0.113.2:8080/who",
        ],
    );
    assert!(!o.status.success() || String::from_utf8_lossy(&o.stdout) != "h1");
}

#[test]
fn two_nated_segments_with_the_same_subnet_work_independently() {
    require_root!();
    let lab = lab_name("n2");
    let _g = LabGuard(lab.clone());
    let yaml = "
topology:
  nodes:
    inet: {kind: internet}
    a: {gateway: 192.168.1.1}
    b: {gateway: 192.168.1.1}
    nata: {kind: nat, uplink: inet, forward: [\"8080:a:80/tcp\"]}
    natb: {kind: nat, uplink: inet, forward: [\"8081:b:80/tcp\"]}
  links:
    - endpoints: [{node: a, iface: eth0, ip: 192.168.1.10/24}, {node: nata, iface: lan, ip: 192.168.1.1/24}]
    - endpoints: [{node: b, iface: eth0, ip: 192.168.1.10/24}, {node: natb, iface: lan, ip: 192.168.1.1/24}]
    - endpoints: [{node: nata, iface: wan, ip: 203.0.113.2/24}, {node: inet, iface: to-a, ip: 203.0.113.1/24}]
    - endpoints: [{node: natb, iface: wan, ip: 198.51.100.2/24}, {node: inet, iface: to-b, ip: 198.51.100.1/24}]
";
    up(yaml, &lab);
    let inet = ns(&lab, "inet");
    let _stun = stun_server(&inet, &["203.0.113.1:3478", "198.51.100.1:3478"]);
    let a = mapped(&ns(&lab, "a"), "203.0.113.1", 3478).expect("a's mapping");
    let b = mapped(&ns(&lab, "b"), "198.51.100.1", 3478).expect("b's mapping");
    assert!(a.starts_with("203.0.113.2:"), "{a}");
    assert!(b.starts_with("198.51.100.2:"), "{b}");
    let (_sa, _da) = http_server(&ns(&lab, "a"), 80, "a");
    let (_sb, _db) = http_server(&ns(&lab, "b"), 80, "b");
    assert_eq!(
        curl(&inet, "http://203.0.113.2:8080/who").as_deref(),
        Some("a")
    );
    assert_eq!(
        curl(&inet, "http://198.51.100.2:8081/who").as_deref(),
        Some("b")
    );
}

/// The RFC 4787 witness: the client behind `nat` asks the server on two
/// addresses and two ports what mapping it sees, then which sources get
/// back in.
fn rfc4787(lab: &str, client: &str, a1: &str, a2: &str) -> serde_json::Value {
    let o = in_ns(
        &ns(lab, client),
        &["python3", STUN_CLIENT, a1, a2, "3478", "3479", "40000"],
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

/// One NAT per preset, each on its own uplink subnet `<net>.0/24` of the
/// internet node, which answers on `<net>.1` and `<net>.3`.
const PRESETS: [(&str, &str); 5] = [
    ("port-restricted", "203.0.113"),
    ("symmetric", "198.51.100"),
    ("full-cone", "192.0.2"),
    ("restricted-cone", "100.64.1"),
    ("cgnat", "100.64.2"),
];

fn presets_lab() -> String {
    let mut nodes = String::from("    inet: {kind: internet}\n");
    let mut links = String::new();
    for (i, (preset, net)) in PRESETS.iter().enumerate() {
        let n = i + 1;
        nodes += &format!(
            "    h{n}: {{gateway: 192.168.{n}.1}}\n    nat{n}: {{kind: nat, uplink: inet, nat: {preset}}}\n"
        );
        links += &format!(
            "    - endpoints: [{{node: h{n}, iface: eth0, ip: 192.168.{n}.10/24}}, {{node: nat{n}, iface: lan, ip: 192.168.{n}.1/24}}]\n\
             \x20   - endpoints: [{{node: nat{n}, iface: wan, ip: {net}.2/24}}, {{node: inet, iface: n{n}, ip: [{net}.1/24, {net}.3/24]}}]\n"
        );
    }
    format!("topology:\n  nodes:\n{nodes}  links:\n{links}")
}

/// Checks one client's answers against RFC 4787's definitions for `preset`.
fn check_preset(preset: &str, net: &str, r: &serde_json::Value) {
    let b = nlab::topo::nat::preset(preset).expect("a preset");
    use nlab::topo::nat::Dependence::*;
    let m = &r["mapping"];
    let all = [&m["a1p1"], &m["a2p1"], &m["a1p2"]];
    let public = format!("{net}.2:");
    assert!(
        all.iter()
            .all(|v| v.as_str().is_some_and(|v| v.starts_with(&public))),
        "{preset}: every mapping on the NAT's address: {r}"
    );
    match b.mapping {
        // Section 4.1: the same mapped endpoint whatever the destination.
        EndpointIndependent => {
            assert!(
                m["a1p1"] == m["a2p1"] && m["a1p1"] == m["a1p2"],
                "{preset}: {r}"
            );
        }
        // Another port of the same address already gets another mapping.
        _ => {
            assert_ne!(m["a1p1"], m["a2p1"], "{preset}: {r}");
            assert_ne!(m["a1p1"], m["a1p2"], "{preset}: {r}");
        }
    }
    // Section 4.2.1: port preservation keeps the local port 40000.
    let kept = m["a1p1"] == format!("{public}40000").as_str();
    assert_eq!(
        kept, b.port_preservation,
        "{preset}: port preservation: {r}"
    );
    // Section 5: after sending to A1:P1 only, who may send back.
    let f = &r["filtering"];
    let (other_port, other_addr) = match b.filtering {
        EndpointIndependent => (true, true),
        AddressDependent => (true, false),
        AddressAndPortDependent => (false, false),
    };
    assert_eq!(f["same_addr_other_port"], other_port, "{preset}: {r}");
    assert_eq!(f["other_addr"], other_addr, "{preset}: {r}");
}

#[test]
fn rfc_4787_mapping_and_filtering_per_preset() {
    require_root!();
    let lab = lab_name("nr");
    let _g = LabGuard(lab.clone());
    up(&presets_lab(), &lab);
    let specs: Vec<String> = PRESETS
        .iter()
        .flat_map(|(_, net)| [format!("{net}.1"), format!("{net}.3")])
        .flat_map(|a| [format!("{a}:3478"), format!("{a}:3479")])
        .collect();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let _stun = stun_server(&ns(&lab, "inet"), &specs);
    // The clients wait for what does not come: run them side by side.
    let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
        let runs: Vec<_> = PRESETS
            .iter()
            .enumerate()
            .map(|(i, (_, net))| {
                let lab = &lab;
                s.spawn(move || {
                    let (a1, a2) = (format!("{net}.1"), format!("{net}.3"));
                    rfc4787(lab, &format!("h{}", i + 1), &a1, &a2)
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("client thread"))
            .collect()
    });
    for ((preset, net), r) in PRESETS.iter().zip(&answers) {
        check_preset(preset, net, r);
    }
}

/// The README's NAT examples do what their comments say.
#[test]
fn home_and_cgnat_examples_work_as_documented() {
    require_root!();
    let lab = lab_name("ne");
    let g = LabGuard(lab.clone());
    up(&example("home-nat"), &lab);
    let inet = ns(&lab, "internet");
    let (_srv, _dir) = http_server(&ns(&lab, "h1"), 80, "h1");
    assert_eq!(
        curl(&inet, "http://203.0.113.2:8080/who").as_deref(),
        Some("h1")
    );
    let _stun = stun_server(&inet, &["203.0.113.1:3478"]);
    let seen = mapped(&ns(&lab, "srv"), "203.0.113.1", 3478).expect("srv's mapping");
    assert!(seen.starts_with("203.0.113.10:"), "srv seen as {seen}");
    drop(g);
    let lab = lab_name("nc");
    let _g = LabGuard(lab.clone());
    up(&example("cgnat"), &lab);
    let specs = [
        "198.51.100.1:3478",
        "198.51.100.1:3479",
        "198.51.100.3:3478",
        "198.51.100.3:3479",
    ];
    let _stun = stun_server(&ns(&lab, "inet"), &specs);
    let r = rfc4787(&lab, "sub1", "198.51.100.1", "198.51.100.3");
    check_preset("cgnat", "198.51.100", &r);
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("examples/topologies/{name}.yaml")).expect("example")
}

#[test]
fn mininet_natnet_example_nats_two_networks_toward_h0() {
    require_root!();
    let lab = lab_name("nn");
    let _g = LabGuard(lab.clone());
    let yaml = std::fs::read_to_string("examples/topologies/natnet.yaml").expect("example");
    up(&yaml, &lab);
    assert!(ping(&ns(&lab, "h1"), "10.0.0.1"));
    assert!(ping(&ns(&lab, "h2"), "10.0.0.1"));
    // h0 has no way into the private networks but the forward.
    assert!(!ping(&ns(&lab, "h0"), "192.168.1.100"));
    let (_srv, _dir) = http_server(&ns(&lab, "h1"), 80, "h1");
    assert_eq!(
        curl(&ns(&lab, "h0"), "http://10.0.0.2:8080/who").as_deref(),
        Some("h1")
    );
}

#[test]
fn mininet_linuxrouter_example_routes_three_subnets() {
    require_root!();
    let lab = lab_name("nl");
    let _g = LabGuard(lab.clone());
    let yaml = std::fs::read_to_string("examples/topologies/linuxrouter.yaml").expect("example");
    up(&yaml, &lab);
    for (from, to) in [
        ("h1", "172.16.0.100"),
        ("h2", "10.0.0.100"),
        ("h3", "192.168.1.100"),
    ] {
        assert!(ping(&ns(&lab, from), to), "{from} -> {to}");
    }
}

/// The root namespace as far as the host uplink touches it.
fn root_state() -> (String, String, String) {
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip");
    let links: String = String::from_utf8_lossy(&links.stdout)
        .lines()
        .filter(|l| l.contains("nlu-") || l.contains("nlab:"))
        .collect();
    let nft = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft");
    let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("ip_forward");
    (
        links,
        String::from_utf8_lossy(&nft.stdout).into_owned(),
        fwd.trim().to_string(),
    )
}

/// `--nat` and `uplink: host` touch the root namespace, so they run in one
/// test (one at a time) and only where the suite's sandbox is the root
/// namespace: there the "host" is the sandbox's namespace, and no test
/// traffic leaves the machine.
#[test]
fn host_uplinks_reach_the_host_end_and_leave_nothing() {
    require_root!();
    if let Some(why) = outside_sandbox() {
        eprintln!("SKIP: host uplink test: {why}");
        return;
    }
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").expect("ip_forward");
    // A stand-in for "what the host reaches": an address of the sandbox's
    // root namespace outside the transfer subnet (this kernel has no dummy
    // links, so on lo).
    let lo = |op: &str| {
        Command::new("ip")
            .args(["addr", op, "198.18.0.1/32", "dev", "lo"])
            .status()
            .expect("ip")
    };
    lo("add");
    let before = root_state();
    let stun = Group::spawn(
        Command::new("python3")
            .args([STUN_SERVER, "198.18.0.1:3478"])
            .stdout(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(300));
    for (how, lab) in [("--nat", lab_name("nt")), ("file", lab_name("nf"))] {
        let g = LabGuard(lab.clone());
        let out = if how == "--nat" {
            nlab()
                .args(["up", "--topo", "tree,2,2", "--nat", "--name", &lab])
                .output()
                .expect("nlab")
        } else {
            nlab()
                .args(["up", "examples/topologies/nat.yaml", "--name", &lab])
                .output()
                .expect("nlab")
        };
        assert!(out.status.success(), "{}", text(&out));
        let (links, nft, fwd) = root_state();
        assert!(
            links.contains(&format!("nlab:{lab}:nat0:uplink")),
            "{links}"
        );
        assert!(
            nft.contains(&format!("table ip nlab-{lab}")) && nft.contains("masquerade"),
            "{nft}"
        );
        assert_eq!(fwd, "1");
        for h in ["h1", "h2", "h3", "h4"] {
            let r = ip_json(&ns(&lab, h), &["route", "show", "default"]);
            assert_eq!(r[0]["gateway"], "10.0.0.5", "{h}: {r}");
            assert!(ping(&ns(&lab, h), "198.18.0.1"), "{h} reaches the host");
        }
        // The host sees the NAT's end of the transfer subnet.
        let seen = mapped(&ns(&lab, "h1"), "198.18.0.1", 3478).expect("answer from the host");
        assert!(seen.starts_with("100.127."), "{seen}");
        let p = nlab().args(["pingall", &lab]).output().expect("pingall");
        assert!(p.status.success(), "{}", text(&p));
        drop(g);
        assert_eq!(root_state(), before, "after down of {lab} ({how})");
    }
    drop(stun);
    lo("del");
    uplink_found_by_its_owner_tag_alone(&before);
    a_dropping_host_forward_chain_is_reported_not_changed(&before);
}

/// A host forward chain with a drop policy (Docker's) is named in a
/// warning at `up` and left as it was.
fn a_dropping_host_forward_chain_is_reported_not_changed(before: &(String, String, String)) {
    let nft = |args: &[&str]| {
        let ok = Command::new("nft").args(args).status().expect("nft");
        assert!(ok.success(), "nft {args:?}");
    };
    nft(&["add", "table", "ip", "dockerish"]);
    nft(&[
        "add",
        "chain",
        "ip",
        "dockerish",
        "FORWARD",
        "{ type filter hook forward priority 0; policy drop; }",
    ]);
    let listed = || root_state().1;
    let with_drop = listed();
    let lab = lab_name("nd");
    let g = LabGuard(lab.clone());
    let out = nlab()
        .args(["up", "--topo", "single,2", "--nat", "--name", &lab])
        .output()
        .expect("nlab");
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("ip dockerish FORWARD"),
        "{err}"
    );
    assert!(
        listed().contains("table ip dockerish {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}"),
        "{}",
        listed()
    );
    drop(g);
    assert_eq!(listed(), with_drop, "the host's chain after down");
    nft(&["delete", "table", "ip", "dockerish"]);
    assert_eq!(&root_state(), before);
}

/// With the uplink record lost (as after a crash between steps), `down`
/// still finds the root-namespace objects by their owner tags.
fn uplink_found_by_its_owner_tag_alone(before: &(String, String, String)) {
    let lab = lab_name("nk");
    let g = LabGuard(lab.clone());
    let out = nlab()
        .args(["up", "--topo", "single,2", "--nat", "--name", &lab])
        .output()
        .expect("nlab");
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_file(format!("/run/nlab/{lab}/uplinks.json")).expect("the uplink record");
    drop(g);
    assert_eq!(
        &root_state(),
        before,
        "after down of {lab} without its uplink record"
    );
}
