//! Interfaces on a host NIC (`macvlan:`, `macvtap:`), as root, inside
//! the test sandbox only: a veth stands in for the host's NIC, its other
//! end in a "segment" namespace the test makes (the real segment). Lab
//! nodes on MACVLANs reach a peer on that segment and each other; a VM's
//! MACVTAP passes the segment's frames to its queue; `down` leaves the
//! host namespace as it was. A parent that does not exist is an error
//! before anything is made.

mod common;

use common::segment::Segment;
use common::{lab_name, LabGuard};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Output};

fn nlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nlab"))
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip")
}

fn root_links() -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&ip(&["-j", "link", "show"]).stdout).expect("ip -j link");
    let mut names: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The tests of this file compare the root namespace's links before and
/// after, and each makes a stand-in NIC there: they take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn skip() -> bool {
    if !nix::unistd::geteuid().is_root() || std::env::var_os("NLAB_TEST_SANDBOX").is_none() {
        eprintln!("SKIP: needs root inside scripts/sandbox.sh (it makes a stand-in NIC in its root namespace)");
        return true;
    }
    false
}

fn up(lab: &str, yaml: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{lab}.yaml"));
    std::fs::write(&file, yaml).expect("write");
    nlab().arg("up").arg(&file).output().expect("nlab up")
}

fn exec_ok(lab: &str, node: &str, argv: &[&str]) -> bool {
    nlab()
        .args(["exec", lab, node, "--"])
        .args(argv)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn macvlan_nodes_reach_the_segment_and_each_other() {
    if skip() {
        return;
    }
    let _turn = turn();
    let tag = format!("{}", std::process::id() % 100000);
    let seg = Segment::new(&tag);
    let before = root_links();
    let lab = lab_name("mv");
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    m1:\n      interfaces:\n        eth0: {{macvlan: {{parent: {nic}, mode: bridge}}, ip: 192.168.77.10/24}}\n      gateway: 192.168.77.1\n    m2:\n      interfaces:\n        eth0: {{macvlan: {{parent: {nic}}}, ip: 192.168.77.11/24, mac: \"02:00:00:77:00:11\"}}\n  links: []\n",
        nic = seg.nic
    );
    let guard = LabGuard(lab.clone());
    let out = up(&lab, &yaml);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Made straight in the node: nothing new in the host's namespace.
    assert_eq!(root_links(), before);
    let ns = common::ns(&lab, "m2");
    let v = common::ip_json(&ns, &["-d", "link", "show", "eth0"]);
    let l = &v[0];
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
    assert_eq!(l["linkinfo"]["info_data"]["mode"], "bridge", "{l}");
    assert_eq!(l["address"], "02:00:00:77:00:11");
    assert_eq!(l["ifalias"], format!("nlab:{lab}"));
    // The segment's peer, by address; the other macvlan; a default route
    // through the macvlan (the gateway on the segment).
    assert!(
        exec_ok(&lab, "m1", &["ping", "-c1", "-W2", "192.168.77.1"]),
        "m1 cannot reach the segment"
    );
    assert!(
        exec_ok(&lab, "m1", &["ping", "-c1", "-W2", "m2"]),
        "m1 cannot reach m2"
    );
    let routes = common::ip_json(&common::ns(&lab, "m1"), &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "192.168.77.1", "{routes}");
    // The segment's peer sees m2 at the MAC the file gave it.
    let neigh = Command::new("ip")
        .args(["-n", &seg.seg, "neigh", "show", "192.168.77.11"])
        .output()
        .expect("neigh");
    let _ = exec_ok(&lab, "m2", &["ping", "-c1", "-W2", "192.168.77.1"]);
    let neigh2 = Command::new("ip")
        .args(["-n", &seg.seg, "neigh", "show", "192.168.77.11"])
        .output()
        .expect("neigh");
    let seen = String::from_utf8_lossy(&neigh.stdout).to_string()
        + &String::from_utf8_lossy(&neigh2.stdout);
    assert!(seen.contains("02:00:00:77:00:11"), "{seen}");
    // Again: no change.
    let again = up(&lab, &yaml);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 changes"));
    drop(guard);
    assert_eq!(
        root_links(),
        before,
        "down left something in the host namespace"
    );
    assert!(
        ip(&["link", "show", &seg.nic]).status.success(),
        "the parent NIC went with the lab"
    );
}

#[test]
fn a_vms_macvtap_passes_the_segments_frames_to_its_queue() {
    if skip() {
        return;
    }
    let _turn = turn();
    let tag = format!("{}t", std::process::id() % 100000);
    let seg = Segment::new(&tag);
    let lab = lab_name("mvt");
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    vm1:\n      kind: vm\n      interfaces:\n        eth0: {{macvtap: {{parent: {nic}}}, ip: 192.168.77.20/24, mac: \"02:00:00:77:00:20\"}}\n  links: []\n",
        nic = seg.nic
    );
    let _guard = LabGuard(lab.clone());
    let out = up(&lab, &yaml);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ns = common::ns(&lab, "vm1");
    let v = common::ip_json(&ns, &["-d", "link", "show", "eth0"]);
    assert_eq!(v[0]["linkinfo"]["info_kind"], "macvtap", "{}", v[0]);
    assert_eq!(v[0]["address"], "02:00:00:77:00:20");
    // The guest's address is the guest's: not on the namespace's side.
    let a = common::ip_json(&ns, &["addr", "show", "eth0"]);
    assert!(
        a[0]["addr_info"]
            .as_array()
            .is_some_and(|x| x.iter().all(|i| i["family"] != "inet")),
        "{a}"
    );
    // The macvtap's queue: its character device (dev number from the
    // node's sysfs), read while the segment pings the guest's address.
    let index = v[0]["ifindex"].as_u64().expect("ifindex");
    let dev = nlab()
        .args([
            "exec",
            &lab,
            "vm1",
            "--",
            "cat",
            &format!("/sys/class/net/eth0/tap{index}/dev"),
        ])
        .output()
        .expect("dev");
    let dev = String::from_utf8_lossy(&dev.stdout).trim().to_string();
    let (major, minor) = dev.split_once(':').expect("major:minor");
    // `up` told the user that device and the guest's MAC.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("macvtap eth0: add `-netdev tap,id=ID,fd=N -device virtio-net-pci,netdev=ID,mac=02:00:00:77:00:20` with fd N open on its queue device {dev} ")),
        "{said}"
    );
    let node = std::env::temp_dir().join(format!("nlab-tap{tag}"));
    let _ = std::fs::remove_file(&node);
    let mk = Command::new("mknod")
        .arg(&node)
        .args(["c", major, minor])
        .status()
        .expect("mknod");
    assert!(mk.success());
    // The segment asks for the guest's address: the ARP request (a
    // broadcast) reaches the macvtap's queue.
    let mut pinger = Command::new("ip")
        .args([
            "netns",
            "exec",
            &seg.seg,
            "ping",
            "-c3",
            "-W1",
            "192.168.77.20",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ping from the segment");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&node)
        .expect("open the macvtap queue");
    let mut buf = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let n = loop {
        match std::io::Read::read(&mut f, &mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no frame on the macvtap queue in 5 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reading the macvtap queue: {e}"),
        }
    };
    let _ = pinger.kill();
    let _ = pinger.wait();
    let _ = std::fs::remove_file(&node);
    assert!(n >= 42, "read {n} bytes from the macvtap queue");
}

#[test]
fn a_missing_parent_is_an_error_and_nothing_is_made() {
    if skip() {
        return;
    }
    let lab = lab_name("mvbad");
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    m1:\n      interfaces:\n        eth0: {{macvlan: {{parent: nosuchnic0}}, ip: 10.9.0.1/24}}\n  links: []\n"
    );
    let out = up(&lab, &yaml);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "the macvlan `m1:eth0` sits on host interface nosuchnic0, which does not exist"
        ),
        "{err}"
    );
    common::assert_no_trace(&lab);
}
