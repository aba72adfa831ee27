//! containerlab files run unchanged (issue 16): the labs under
//! `tests/clab/`, written in containerlab's format, deployed through the
//! real binary with containerlab's verbs (`deploy -t`, `exec --label`,
//! `inspect --all`, `destroy -t`), checked as containerlab's robot tests
//! check theirs (nodes, interface names, MTUs and MACs, exec output,
//! pings, management addresses reached from the root namespace, host-side
//! interfaces present and then gone), and destroyed with nothing left.
//!
//! Each test makes interfaces in the root namespace (the management
//! network's end, `host:` ends), so they run only in scripts/test.sh's
//! sandbox, one at a time.
mod common;
use common::*;
use std::path::PathBuf;
use std::process::{Command, Output};

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn skip() -> bool {
    if !is_root_or_skip() {
        return true;
    }
    if let Some(why) = outside_sandbox() {
        eprintln!("SKIP: these tests make interfaces in the root namespace: {why}");
        return true;
    }
    false
}

fn lab_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clab")
        .join(name)
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip")
}

/// `ip -j link` of namespace `ns` (`None`: the root namespace), by name.
fn links(ns: Option<&str>) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut args = vec![];
    if let Some(n) = ns {
        args.extend(["-n", n]);
    }
    args.extend(["-d", "-j", "link", "show"]);
    let o = ip(&args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| Some((l["ifname"].as_str()?.to_string(), l.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// The addresses of the root namespace, as `ip -br addr` prints them.
fn root_addrs() -> String {
    String::from_utf8_lossy(&ip(&["-br", "addr"]).stdout).into_owned()
}

fn ping_root(addr: &str) -> bool {
    Command::new("ping")
        .args(["-c1", "-W2", addr])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn deploy(file: &str, extra: &[&str]) -> Output {
    nlab()
        .args(["deploy", "-t"])
        .arg(lab_file(file))
        .args(extra)
        .output()
        .expect("nlab deploy")
}

fn destroy(file: &str) -> Output {
    nlab()
        .args(["destroy", "-t"])
        .arg(lab_file(file))
        .output()
        .expect("nlab destroy")
}

fn exec(args: &[&str]) -> Output {
    nlab().arg("exec").args(args).output().expect("nlab exec")
}

/// A stand-in host NIC for `macvlan:` endpoints, removed on drop.
struct Parent;

impl Parent {
    fn new() -> Parent {
        let o = ip(&[
            "link", "add", "clabpar0", "type", "veth", "peer", "name", "clabpar1",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(ip(&["link", "set", "clabpar0", "up"]).status.success());
        Parent
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", "clabpar0"]);
    }
}

fn assert_iface(l: &std::collections::BTreeMap<String, serde_json::Value>, name: &str) {
    assert!(
        l.contains_key(name),
        "no interface {name}: {:?}",
        l.keys().collect::<Vec<_>>()
    );
}

#[test]
fn linux_nodes_with_every_endpoint_form_deploy_and_leave_nothing() {
    if skip() {
        return;
    }
    let _t = turn();
    let _p = Parent::new();
    let lab = "clab-linux";
    let _g = LabGuard(lab.into());
    let file = "linux-nodes.clab.yml";
    let o = deploy(file, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // exec: runs after up, with the node's env, its output shown.
    assert!(
        out.contains("*** n1: echo \"exec says $GREETING\""),
        "{out}"
    );
    assert!(out.contains("exec says hello from n1"), "{out}");
    // Keys nlab does not honour: a note at the file's line, with what to do.
    let err = String::from_utf8_lossy(&o.stderr);
    let want = "linux-nodes.clab.yml:27: `healthcheck` of node `n1` is not honoured: ";
    assert!(err.contains(want), "no note `{want}` in {err}");
    let want = "linux-nodes.clab.yml:36: `ports` are published on the host's own addresses";
    assert!(err.contains(want), "no note `{want}` in {err}");
    assert!(err.contains("`type: dummy` link is not made"), "{err}");

    // Nodes and their interfaces, names, MTUs and MACs as written.
    let n1 = links(Some("nlab-clab-linux:n1"));
    let n2 = links(Some("nlab-clab-linux:n2"));
    let n3 = links(Some("nlab-clab-linux:n3"));
    for i in ["eth0", "eth1", "eth3", "eth4"] {
        assert_iface(&n1, i);
    }
    for i in ["eth0", "some1", "eth3", "eth4", "eth5"] {
        assert_iface(&n2, i);
    }
    for i in ["eth0", "eth1", "eth2", "eth3"] {
        assert_iface(&n3, i);
    }
    assert_eq!(n1["eth1"]["mtu"], 2000);
    assert_eq!(n2["some1"]["mtu"], 2000);
    assert_eq!(n1["eth3"]["mtu"], 1400);
    assert_eq!(n1["eth3"]["address"], "02:00:00:00:31:01");
    assert_eq!(n2["eth3"]["address"], "02:00:00:00:31:02");
    assert_eq!(n2["eth4"]["address"], "02:00:00:00:31:04");
    assert_eq!(n3["eth3"]["linkinfo"]["info_kind"], "macvlan");
    // mgmt-net:IFACE ends are ports of the management network's bridge.
    let mgmt = links(Some("nlab-clab-linux:mgmt-net"));
    for i in ["n2eth5mgmt", "n1eth4mgmt"] {
        assert_iface(&mgmt, i);
        assert_eq!(mgmt[i]["master"], "mgmt-net", "{i} is not on the bridge");
    }

    // The host side: host:, type: host and kind: host ends, and the
    // management network's end with the gateway addresses.
    let root = links(None);
    for i in ["clabl-n2e4", "clabl-n3e1", "clabl-n3e2"] {
        assert_iface(&root, i);
    }
    let addrs = root_addrs();
    assert!(addrs.contains("172.20.31.1/24"), "{addrs}");
    assert!(addrs.contains("3fff:172:20:31::1/64"), "{addrs}");
    // mgmt-ipv4 as written; n3 got the first free address.
    assert!(ping_root("172.20.31.11"), "n1's mgmt-ipv4 is not reached");
    assert!(ping_root("172.20.31.12"), "n2's mgmt-ipv4 is not reached");
    assert!(
        ping_root("172.20.31.2"),
        "n3's management address is not reached"
    );
    let o = exec(&[lab, "n1", "--", "ip", "-br", "addr", "show", "eth0"]);
    assert!(text(&o).contains("3fff:172:20:31::11/64"), "{}", text(&o));
    // The link's `ipv4: [A, B]`, over the 2000-byte link.
    let o = exec(&[
        lab,
        "n1",
        "--",
        "ping",
        "-c1",
        "-W2",
        "-s",
        "1900",
        "-M",
        "do",
        "192.168.31.2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // Across the management network, node to node.
    let o = exec(&[lab, "n1", "--", "ping", "-c1", "-W2", "172.20.31.12"]);
    assert!(o.status.success(), "{}", text(&o));
    // binds: the relative source, read from the file's directory.
    let o = exec(&[lab, "n1", "--", "cat", "/etc/motd"]);
    assert!(text(&o).contains("a file bound into nlab's containerlab test nodes"));

    // exec by label, and -t FILE: output per node, only the matching ones.
    let f = lab_file(file);
    let f = f.to_str().unwrap();
    let o = exec(&[
        "-t",
        f,
        "--label",
        "role=core",
        "--cmd",
        "ip -br link show eth4",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("*** n2: ") && out.contains("02:00:00:00:31:04"),
        "{out}"
    );
    assert!(!out.contains("*** n1"), "{out}");
    let o = exec(&[
        "-t",
        f,
        "--label",
        "clab-node-name=n3",
        "--cmd",
        "ip -br link show eth0",
    ]);
    assert!(
        text(&o).contains("*** n3: ") && text(&o).contains("eth0"),
        "{}",
        text(&o)
    );
    let o = exec(&[lab, "--all", "--", "true"]);
    let out = text(&o);
    for n in ["n1", "n2", "n3"] {
        assert!(out.contains(&format!("*** {n}: true")), "{out}");
    }
    assert!(!out.contains("*** mgmt-net"), "{out}");
    // A failing command: the exit code is the node's, named in the output.
    let o = exec(&[lab, "--label", "role=edge", "--cmd", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("*** n1: exit status 3"), "{}", text(&o));

    // ports: 56180 of the NAT's uplink address is n2's port 80.
    let web = Group::spawn(
        Command::new(assert_cmd::cargo::cargo_bin("nlab"))
            .args(["exec", lab, "n2"])
            .args(["--", "python3", "-m", "http.server", "80"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let nat = ip(&[
        "-n",
        "nlab-clab-linux:mgmt-nat",
        "-4",
        "-j",
        "addr",
        "show",
        "uplink",
    ]);
    let nat: serde_json::Value = serde_json::from_slice(&nat.stdout).expect("ip -j addr");
    let public = nat[0]["addr_info"][0]["local"]
        .as_str()
        .expect("uplink address");
    let url = format!("http://{public}:56180/");
    let get = || {
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "2",
                &url,
            ])
            .output()
            .is_ok_and(|o| o.stdout == b"200")
    };
    let served = wait_until(std::time::Duration::from_secs(20), get);
    drop(web);
    assert!(served, "{url} did not reach n2's port 80");

    let o = nlab().args(["inspect", "--all"]).output().unwrap();
    assert!(text(&o).contains("Lab clab-linux:"), "{}", text(&o));

    let o = destroy(file);
    assert!(o.status.success(), "{}", text(&o));
    assert_no_trace(lab);
    let root = links(None);
    for i in ["clabl-n2e4", "clabl-n3e1", "clabl-n3e2"] {
        assert!(!root.contains_key(i), "{i} is left after destroy");
    }
    assert!(
        !root_addrs().contains("172.20.31.1/24"),
        "the management end is left"
    );
}

#[test]
fn groups_kinds_and_defaults_merge_with_containerlabs_precedence() {
    if skip() {
        return;
    }
    let _t = turn();
    let lab = "clab-groups";
    let _g = LabGuard(lab.into());
    let o = deploy("groups.clab.yaml", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // exec from the group; env: node > group > kind > defaults, and the
    // variables only one layer sets are all there.
    assert!(out.contains("worker group dkg"), "w1: {out}");
    assert!(out.contains("worker node dkg"), "w2: {out}");
    // boss: its own exec, group `leaders` (no FROM_GROUP).
    assert!(out.contains("leader leaders dk\n"), "boss: {out}");
    let o = exec(&[
        lab,
        "--label",
        "clab-node-group=workers",
        "--cmd",
        "echo $LAYER",
    ]);
    let out = text(&o);
    assert!(out.contains("*** w1: sh -c echo $LAYER\ngroup\n"), "{out}");
    assert!(out.contains("*** w2: sh -c echo $LAYER\nnode\n"), "{out}");
    assert!(!out.contains("boss"), "{out}");
    // labels: the group's over the kind's.
    let o = exec(&[lab, "--label", "tier=kind", "--", "true"]);
    let out = text(&o);
    assert!(out.contains("*** w1") && out.contains("*** w2"), "{out}");
    assert!(!out.contains("boss"), "{out}");
    let o = exec(&[lab, "--label", "tier=leader", "--", "true"]);
    assert!(text(&o).contains("*** boss"), "{}", text(&o));
    let o = exec(&[lab, "--label", "tier=nobody", "--", "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Every node reaches every other over the management network.
    for a in ["172.20.32.2", "172.20.32.3", "172.20.32.4"] {
        assert!(ping_root(a), "{a} is not reached from the host");
    }
    let o = destroy("groups.clab.yaml");
    assert!(o.status.success(), "{}", text(&o));
    assert_no_trace(lab);
}

#[test]
fn nodes_on_a_bridge_reach_each_other_and_no_mgmt_makes_no_management_network() {
    if skip() {
        return;
    }
    let _t = turn();
    let lab = "clab-bridge";
    let _g = LabGuard(lab.into());
    let file = "bridge-and-host.clab.yml";
    let o = deploy(file, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let br = links(Some("nlab-clab-bridge:br-clab"));
    for p in ["a1-eth1", "a2-eth1"] {
        assert_eq!(br[p]["master"], "br-clab", "{p} is not a bridge port");
        assert_eq!(br[p]["operstate"], "UP");
    }
    let o = exec(&[lab, "a1", "--", "ping", "-c1", "-W2", "192.168.33.2"]);
    assert!(o.status.success(), "{}", text(&o));
    // The kind: host node's end, and the management end named by mgmt.bridge.
    let root = links(None);
    assert_eq!(root["clabb-a1e2"]["operstate"], "UP");
    assert_iface(&root, "clabbr-mgmt");
    assert!(root_addrs().contains("172.20.33.1/24"), "{}", root_addrs());
    assert!(ping_root("172.20.33.2") && ping_root("172.20.33.3"));
    let o = destroy(file);
    assert!(o.status.success(), "{}", text(&o));
    assert_no_trace(lab);
    let root = links(None);
    assert!(!root.contains_key("clabb-a1e2") && !root.contains_key("clabbr-mgmt"));

    // --no-mgmt: no eth0, no management switch, no root end; a note
    // says the mgmt block is not honoured.
    let o = nlab()
        .args(["up", "--no-mgmt"])
        .arg(lab_file(file))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("`mgmt` is not honoured"), "{}", text(&o));
    assert!(!links(Some("nlab-clab-bridge:a1")).contains_key("eth0"));
    assert!(!links(None).contains_key("clabbr-mgmt"));
    let o = exec(&[lab, "a1", "--", "ping", "-c1", "-W2", "192.168.33.2"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = nlab().args(["destroy", "--all"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_no_trace(lab);
}

#[test]
fn image_nodes_run_their_container_and_a_missing_image_says_what_to_do() {
    if skip() {
        return;
    }
    let _t = turn();
    let Some(_) = common::image::ready() else {
        return;
    };
    let lab = "clab-image";
    let _g = LabGuard(lab.into());
    let file = "image.clab.yml";
    // h1's image is not here: refused, saying exactly that, nothing made.
    let o = deploy(file, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let want = "node `h1`: asks for image nlab-absent/alpine:3: it is not in podman's local \
                store, and this machine cannot pull it";
    assert!(text(&o).contains(want), "{}", text(&o));
    assert!(text(&o).contains("--images namespace"), "{}", text(&o));
    assert_no_trace(lab);
    // --images namespace: h1 runs as a plain namespace node, one warning;
    // b1 runs the image (from `kinds:`) with its quoted cmd, env and bind.
    let o = deploy(file, &["--images", "namespace"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let warnings = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .count();
    assert_eq!(warnings, 1, "{out}");
    assert!(
        out.contains("h1 (nlab-absent/alpine:3)") && !out.contains("b1 ("),
        "{out}"
    );
    let c = "nlab-clab-image-b1";
    let o = common::image::run("podman", &["exec", c, "cat", "/greeting", "/note.txt"]);
    let got = text(&o);
    assert!(got.contains("hi from b1"), "{got}");
    assert!(
        got.contains("a file bound into nlab's containerlab test nodes"),
        "{got}"
    );
    assert!(
        ping_root("172.20.34.2"),
        "b1's eth0 is not reached from the host"
    );
    assert!(
        ping_root("172.20.34.3"),
        "h1's eth0 is not reached from the host"
    );
    let o = destroy(file);
    assert!(o.status.success(), "{}", text(&o));
    assert_no_trace(lab);
    assert!(
        common::image::containers_of(lab).is_empty(),
        "b1's container is left"
    );
}

#[test]
fn a_failing_exec_fails_deploy_with_the_nodes_name_and_leaves_nothing() {
    if skip() {
        return;
    }
    let _t = turn();
    let lab = "clab-fail";
    let _g = LabGuard(lab.into());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("fail.clab.yml");
    let yaml = "name: clab-fail\ntopology:\n  nodes:\n    a1:\n      kind: linux\n      \
                exec:\n        - echo before\n        - \"false\"\n  links: []\n";
    std::fs::write(&file, yaml).expect("write");
    let o = nlab().args(["deploy", "-t"]).arg(&file).output().unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("exec of node `a1`: `false` exited with status 1"),
        "{}",
        text(&o)
    );
    assert_no_trace(lab);
    assert!(
        !root_addrs().contains("172.20.20.1/24"),
        "the management end is left"
    );
}

/// `nft list ruleset` of the root namespace (the sandbox's).
fn root_ruleset() -> String {
    let o = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A test namespace on a veth to the root namespace, which holds
/// 192.0.2.1/24 on its end (a stand-in for the host's own address, as
/// another machine on its network sees it); removed on drop.
struct Client;

impl Client {
    const NS: &'static str = "clabclient";
    const HOST_ADDR: &'static str = "192.0.2.1";

    fn new() -> Client {
        let _ = ip(&["netns", "del", Self::NS]);
        for args in [
            vec!["netns", "add", Self::NS],
            vec![
                "link",
                "add",
                "clabcli0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                Self::NS,
            ],
            vec!["addr", "add", "192.0.2.1/24", "dev", "clabcli0"],
            vec!["link", "set", "clabcli0", "up"],
            vec!["-n", Self::NS, "addr", "add", "192.0.2.2/24", "dev", "eth0"],
            vec!["-n", Self::NS, "link", "set", "eth0", "up"],
            vec!["-n", Self::NS, "link", "set", "lo", "up"],
        ] {
            let o = ip(&args);
            assert!(o.status.success(), "ip {args:?}: {}", text(&o));
        }
        Client
    }

    /// `curl` of `url` from inside the client's namespace (or from the
    /// root namespace itself): whether it got a 200.
    fn get(inside: bool, url: &str) -> bool {
        let mut c = if inside {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", Self::NS, "curl"]);
            c
        } else {
            Command::new("curl")
        };
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
            url,
        ])
        .output()
        .is_ok_and(|o| o.stdout == b"200")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", "clabcli0"]);
        let _ = ip(&["netns", "del", Self::NS]);
    }
}

/// containerlab's `dns: {servers, search, options}` is the node's own
/// resolv.conf. `ports: ["8080:80"]` is published on the host's own
/// addresses, as Docker publishes it: another machine (a test namespace
/// behind a veth) reaches the node's port 80 at the host's address, port
/// 8080, and so does the host itself; `destroy` leaves the root
/// namespace's ruleset as it was.
#[test]
fn published_ports_reach_the_node_on_the_hosts_addresses_and_dns_is_its_resolv_conf() {
    if skip() {
        return;
    }
    let _t = turn();
    let lab = "clab-ports";
    let _g = LabGuard(lab.into());
    let _c = Client::new();
    let before = root_ruleset();
    let o = deploy("ports.clab.yml", &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("but not on 127.0.0.1"), "{out}");
    // containerlab's dns block: the node's own resolv.conf, as `ip netns
    // exec` (which binds /etc/netns/NS/resolv.conf) shows it.
    let o = ip(&["netns", "exec", &ns(lab, "web"), "cat", "/etc/resolv.conf"]);
    let resolv = String::from_utf8_lossy(&o.stdout);
    for line in [
        "nameserver 192.0.2.53",
        "search lab.example example.org",
        "options ndots:2 timeout:1",
    ] {
        assert!(resolv.lines().any(|l| l == line), "no `{line}` in {resolv}");
    }
    let during = root_ruleset();
    assert!(
        during.contains("table ip nlab-clab-ports") && during.contains("fib daddr type local"),
        "{during}"
    );
    let web = Group::spawn(
        Command::new(assert_cmd::cargo::cargo_bin("nlab"))
            .args(["exec", lab, "web"])
            .args(["--", "python3", "-m", "http.server", "80"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let url = format!("http://{}:8080/", Client::HOST_ADDR);
    let from_outside = wait_until(std::time::Duration::from_secs(20), || {
        Client::get(true, &url)
    });
    let from_host = Client::get(false, &url);
    drop(web);
    assert!(
        from_outside,
        "{url} from {} did not reach web's port 80",
        Client::NS
    );
    assert!(from_host, "{url} from the host did not reach web's port 80");
    let o = destroy("ports.clab.yml");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        root_ruleset(),
        before,
        "the root namespace's ruleset changed"
    );
}

/// `cleanup` (what is left after a `kill -9`, or a lab nobody took down)
/// removes the published ports' table with the rest of the lab.
#[test]
fn published_ports_go_with_cleanup() {
    if skip() {
        return;
    }
    let _t = turn();
    let lab = "clab-ports";
    let _g = LabGuard(lab.into());
    let before = root_ruleset();
    let o = deploy("ports.clab.yml", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(root_ruleset().contains("table ip nlab-clab-ports"));
    let o = nlab().arg("cleanup").output().expect("nlab cleanup");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        root_ruleset(),
        before,
        "cleanup left the root namespace's ruleset changed"
    );
}
