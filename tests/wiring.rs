//! `nlab wiring` and `nlab inspect LAB --wiring` against what the tests
//! wire themselves with `ip` (the witness): a lab's every link and bridge
//! port, an end moved or deleted by hand, an `ip netns add` namespace, a
//! process's namespace (`unshare -n sleep`) and, where Podman runs, a
//! container.
mod common;
use common::*;
use serde_json::Value;
use std::process::{Child, Command};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(out.status.success(), "ip {args:?}: {}", text(&out));
}

/// Runs nlab with `args`, returns (exit code, parsed stdout).
fn json(args: &[&str]) -> (i32, Value) {
    let out = nlab().args(args).output().expect("running nlab");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("nlab {args:?}: not JSON ({e}): {}", text(&out)));
    (out.status.code().unwrap_or(-1), v)
}

fn namespace<'a>(w: &'a Value, name: &str) -> &'a Value {
    w["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no namespace {name} in {w:#}"))
}

fn iface<'a>(ns: &'a Value, name: &str) -> &'a Value {
    ns["interfaces"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no interface {name} in {ns:#}"))
}

/// Asserts `ns`'s `name` is a veth whose peer is `peer` in `peer_ns`.
fn assert_peer(w: &Value, ns: &str, name: &str, peer_ns: &str, peer: &str) {
    let i = iface(namespace(w, ns), name);
    assert_eq!(i["kind"], "veth", "{ns}/{name}: {i:#}");
    assert_eq!(i["peer"]["namespace"], peer_ns, "{ns}/{name}: {i:#}");
    assert_eq!(i["peer"]["interface"], peer, "{ns}/{name}: {i:#}");
}

/// Every field the schema promises, with its type.
fn check_schema(w: &Value) {
    assert!(w["elapsed_ms"].is_f64(), "{w:#}");
    let kinds = [
        "root",
        "container",
        "lab",
        "netns",
        "mount",
        "process",
        "thread",
        "fd",
        "unknown",
    ];
    for n in w["namespaces"].as_array().expect("namespaces") {
        assert!(n["name"].is_string() && n["holder"].is_string(), "{n:#}");
        assert!(n["inode"].is_u64(), "{n:#}");
        assert!(kinds.contains(&n["kind"].as_str().unwrap_or("")), "{n:#}");
        for i in n["interfaces"].as_array().expect("interfaces") {
            assert!(i["name"].is_string() && i["kind"].is_string(), "{i:#}");
            assert!(i["index"].is_u64() && i["mtu"].is_u64(), "{i:#}");
            assert!(i["up"].is_boolean() && i["oper"].is_string(), "{i:#}");
            for end in ["peer", "parent"] {
                if let Some(p) = i.get(end) {
                    assert!(p["index"].is_u64(), "{i:#}");
                    assert!(p["namespace"].is_string() || p["namespace"].is_null());
                }
            }
        }
    }
}

#[test]
fn a_labs_wiring_matches_its_topology() {
    require_root!();
    // A lab name with a `-`: its namespaces are `nlab-LAB:NODE`.
    let name = format!("{}-w", lab_name("wm"));
    let _g = LabGuard(name.clone());
    nlab()
        .args(["up", "--topo", "linear,3", "--name", &name])
        .assert()
        .success();
    let (code, w) = json(&["inspect", &name, "--wiring", "--json"]);
    assert_eq!(code, 0, "{w:#}");
    assert_eq!(w["drift"], Value::Array(vec![]), "{w:#}");
    check_schema(&w);
    let links = [
        ("h1", "h1-eth0", "s1", "s1-eth1"),
        ("h2", "h2-eth0", "s2", "s2-eth1"),
        ("h3", "h3-eth0", "s3", "s3-eth1"),
        ("s1", "s1-eth2", "s2", "s2-eth2"),
        ("s2", "s2-eth3", "s3", "s3-eth2"),
    ];
    for (a, ai, b, bi) in links {
        let (na, nb) = (ns(&name, a), ns(&name, b));
        assert_peer(&w, &na, ai, &nb, bi);
        assert_peer(&w, &nb, bi, &na, ai);
        // Witness: the kernel's peer index as `ip` reads it.
        let seen = ip_json(&na, &["link", "show", ai]);
        let i = iface(namespace(&w, &na), ai);
        assert_eq!(seen[0]["link_index"], i["peer"]["index"], "{seen:#}");
    }
    for (s, ports) in [
        ("s1", vec!["s1-eth1", "s1-eth2"]),
        ("s2", vec!["s2-eth1", "s2-eth2", "s2-eth3"]),
        ("s3", vec!["s3-eth1", "s3-eth2"]),
    ] {
        let n = namespace(&w, &ns(&name, s));
        assert_eq!(n["lab"], name.as_str());
        assert_eq!(n["node"], s);
        assert_eq!(n["kind"], "lab");
        let br = iface(n, s);
        assert_eq!(br["kind"], "bridge");
        assert_eq!(br["ports"], serde_json::json!(ports), "{br:#}");
        for p in ports {
            assert_eq!(iface(n, p)["master"], s);
        }
    }
}

#[test]
fn an_end_moved_deleted_or_unbridged_by_hand_is_drift() {
    require_root!();
    let name = lab_name("wd");
    let _g = LabGuard(name.clone());
    nlab()
        .args(["up", "--topo", "linear,2", "--name", &name])
        .assert()
        .success();
    let other = format!("wd{}", std::process::id());
    let _o = NetnsGuard::add(&other);
    ip(&[
        "-n",
        &ns(&name, "s2"),
        "link",
        "set",
        "s2-eth2",
        "netns",
        &other,
    ]);
    let (code, w) = json(&["inspect", &name, "--wiring", "--json"]);
    assert_eq!(code, 1, "drift exits 1: {w:#}");
    let drift: Vec<&str> = w["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    let key = "link s1:s1-eth2--s2:s2-eth2";
    assert!(drift.contains(&format!("{key}: s2:s2-eth2 is missing").as_str()));
    let moved = format!(
        "{key}: s2:s2-eth2 was moved to namespace {other} (it is still the veth peer of \
         s1:s1-eth2): move it back (`ip -n {other} link set s2-eth2 netns {}`) or delete it \
         (`ip -n {other} link del s2-eth2`), then `nlab up`",
        ns(&name, "s2")
    );
    assert!(drift.contains(&moved.as_str()), "{drift:#?}");
    assert_peer(&w, &ns(&name, "s1"), "s1-eth2", &other, "s2-eth2");
    // Plain `inspect` reports drift too, the same way.
    nlab().args(["inspect", &name]).assert().code(1);
    // `up` leaves alone an end whose peer lives outside the lab (it may be
    // someone's): deleting the other namespace deletes the pair.
    drop(_o);
    let s1 = ns(&name, "s1");
    let gone = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        ip_json(&s1, &["link", "show", "s1-eth2"]) == Value::Null
    });
    assert!(gone, "s1-eth2 outlived the namespace its peer was in");

    // One end deleted takes its peer along; a port leaves its bridge.
    ip(&["-n", &ns(&name, "h1"), "link", "del", "h1-eth0"]);
    ip(&["-n", &ns(&name, "s2"), "link", "set", "s2-eth1", "nomaster"]);
    let out = nlab()
        .args(["inspect", &name, "--wiring"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for want in [
        "link h1:h1-eth0--s1:s1-eth1: h1:h1-eth0 is missing",
        "link h1:h1-eth0--s1:s1-eth1: s1:s1-eth1 is missing",
        "link h2:h2-eth0--s2:s2-eth1: s2:s2-eth1 is not a port of bridge s2",
    ] {
        assert!(t.contains(want), "no `{want}` in:\n{t}");
    }
    // `up` repairs it all; the wiring agrees again.
    nlab()
        .args(["up", "--topo", "linear,2", "--name", &name])
        .assert()
        .success();
    let (code, w) = json(&["inspect", &name, "--wiring", "--json"]);
    assert_eq!(code, 0, "{w:#}");
}

/// An `ip netns add` namespace, deleted on drop.
struct NetnsGuard(String);

impl NetnsGuard {
    fn add(name: &str) -> NetnsGuard {
        ip(&["netns", "add", name]);
        NetnsGuard(name.to_string())
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `unshare -n sleep 60`, once its namespace is its own.
fn process_in_own_ns() -> Proc {
    let child = Command::new("unshare")
        .args(["-n", "sleep", "60"])
        .spawn()
        .expect("unshare");
    let p = Proc(child);
    let me = std::fs::read_link("/proc/self/ns/net").unwrap();
    for _ in 0..200 {
        let ns = std::fs::read_link(format!("/proc/{}/ns/net", p.0.id()));
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", p.0.id()));
        if ns.is_ok_and(|n| n != me) && comm.is_ok_and(|c| c.trim() == "sleep") {
            return p;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("unshare -n sleep never got its own namespace");
}

#[test]
fn namespaces_made_by_hand_are_named_with_their_peers() {
    require_root!();
    let id = std::process::id() % 100_000;
    let (netns, v_ns, v_pid) = (format!("wn{id}"), format!("wv{id}"), format!("wp{id}"));
    let _n = NetnsGuard::add(&netns);
    ip(&[
        "link", "add", &v_ns, "type", "veth", "peer", "name", "eth0", "netns", &netns,
    ]);
    let sleeper = process_in_own_ns();
    let pid = sleeper.0.id().to_string();
    let pid_ns = format!("/proc/{pid}/ns/net");
    ip(&[
        "link", "add", &v_pid, "type", "veth", "peer", "name", "eth1", "netns", &pid_ns,
    ]);

    let (code, w) = json(&["wiring", "--json"]);
    assert_eq!(code, 0);
    check_schema(&w);
    let by_pid = format!("pid {pid} (sleep)");
    assert_peer(&w, &netns, "eth0", "root", &v_ns);
    assert_peer(&w, "root", &v_ns, &netns, "eth0");
    assert_peer(&w, &by_pid, "eth1", "root", &v_pid);
    assert_peer(&w, "root", &v_pid, &by_pid, "eth1");
    assert_eq!(namespace(&w, &netns)["kind"], "netns");
    assert_eq!(namespace(&w, &by_pid)["kind"], "process");

    // Filters: by PID, by name; the table names the host end.
    let (_, one) = json(&["wiring", "--pid", &pid, "--json"]);
    assert_eq!(one["namespaces"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(one["namespaces"][0]["name"], by_pid.as_str());
    let out = nlab().args(["wiring", "--ns", &netns]).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains(&format!("{v_ns} @ root")), "{t}");
    nlab()
        .args(["wiring", "--pid", "999999999"])
        .assert()
        .code(2);
    nlab()
        .args(["wiring", "--ns", "no-such-ns"])
        .assert()
        .code(2);
    let _ = Command::new("ip").args(["link", "del", &v_ns]).status();
    let _ = Command::new("ip").args(["link", "del", &v_pid]).status();
}

/// A macvlan moved into a namespace names its parent and mode; a TAP
/// names the process holding it (python's ioctl, as QEMU would do it).
#[test]
fn macvlan_parents_and_tap_holders() {
    require_root!();
    let id = std::process::id() % 100_000;
    let (netns, lower, mv, tap) = (
        format!("wm{id}"),
        format!("wl{id}"),
        format!("wq{id}"),
        format!("wt{id}"),
    );
    let _n = NetnsGuard::add(&netns);
    ip(&[
        "link",
        "add",
        &lower,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{lower}p"),
    ]);
    ip(&[
        "link", "add", &mv, "link", &lower, "type", "macvlan", "mode", "private",
    ]);
    ip(&["link", "set", &mv, "netns", &netns]);
    let attach = format!(
        "import fcntl,struct,os,time\n\
         fd=os.open('/dev/net/tun',os.O_RDWR)\n\
         fcntl.ioctl(fd,0x400454ca,struct.pack('16sH',b'{tap}',0x1002))\n\
         print('ok',flush=True)\n\
         time.sleep(60)"
    );
    let mut child = Command::new("python3")
        .args(["-c", &attach])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let holder = Proc(child);
    assert_eq!(line.trim(), "ok", "python could not attach {tap}");

    let (_, w) = json(&["wiring", "--json"]);
    let m = iface(namespace(&w, &netns), &mv);
    assert_eq!(m["kind"], "macvlan", "{m:#}");
    assert_eq!(m["mode"], "private", "{m:#}");
    assert_eq!(m["parent"]["namespace"], "root", "{m:#}");
    assert_eq!(m["parent"]["interface"], lower.as_str(), "{m:#}");
    let t = iface(namespace(&w, "root"), &tap);
    assert_eq!(t["kind"], "tap", "{t:#}");
    assert_eq!(t["holders"][0]["pid"], holder.0.id(), "{t:#}");
    assert_eq!(t["holders"][0]["command"], "python3", "{t:#}");
    drop(holder);
    let _ = Command::new("ip").args(["link", "del", &lower]).status();
}

/// Where Podman runs: a container (an image made offline from busybox)
/// with `--network none` and a veth the test gives it is named by the
/// container's name, its eth0 paired with the host end.
#[test]
fn a_containers_eth0_is_paired_with_its_host_veth() {
    require_root!();
    let Some(c) = podman::Container::start() else {
        return;
    };
    let host = format!("wc{}", std::process::id() % 100_000);
    let netns = format!("/proc/{}/ns/net", c.pid);
    ip(&[
        "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &netns,
    ]);
    let (code, w) = json(&["wiring", "--ns", &c.name, "--json"]);
    assert_eq!(code, 0, "{w:#}");
    let label = format!("podman:{}", c.name);
    assert_eq!(namespace(&w, &label)["kind"], "container");
    assert_peer(&w, &label, "eth0", "root", &host);
    let _ = Command::new("ip").args(["link", "del", &host]).status();
}

mod podman {
    use std::process::Command;

    /// A running container, removed (with its image) on drop.
    pub struct Container {
        pub name: String,
        pub pid: u32,
        image: String,
    }

    fn podman(args: &[&str]) -> Result<String, String> {
        let out = Command::new("podman")
            .args(args)
            .output()
            .map_err(|e| format!("podman: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "podman {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// A busybox root file system as a tarball, for `podman import`.
    fn rootfs(dir: &std::path::Path) -> Result<std::path::PathBuf, String> {
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("bin")).map_err(|e| e.to_string())?;
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("no busybox binary (apt-get install busybox-static)")?;
        std::fs::copy(bb, root.join("bin/busybox")).map_err(|e| e.to_string())?;
        for app in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(app))
                .map_err(|e| e.to_string())?;
        }
        let tar = dir.join("rootfs.tar");
        let ok = Command::new("tar")
            .args(["-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .map_err(|e| e.to_string())?
            .success();
        ok.then_some(tar).ok_or_else(|| "tar failed".to_string())
    }

    impl Container {
        /// Starts one, or says `SKIP:` why not and returns `None`.
        pub fn start() -> Option<Container> {
            match Self::try_start() {
                Ok(c) => Some(c),
                Err(why) => {
                    eprintln!("SKIP: container wiring: {why}");
                    None
                }
            }
        }

        fn try_start() -> Result<Container, String> {
            podman(&["--version"]).map_err(|_| "podman is not installed".to_string())?;
            let id = std::process::id();
            let (name, image) = (format!("nlabw{id}"), format!("localhost/nlab-wiring-{id}"));
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let tar = rootfs(dir.path())?;
            podman(&["import", &tar.to_string_lossy(), &image])?;
            let mut c = Container {
                name: name.clone(),
                pid: 0,
                image: image.clone(),
            };
            // What runs on this machine's hybrid cgroups (DESIGN.md).
            podman(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                &image,
                "sleep",
                "60",
            ])?;
            let pid = podman(&["inspect", "-f", "{{.State.Pid}}", &name])?;
            c.pid = pid
                .parse()
                .map_err(|_| format!("podman inspect said {pid:?}"))?;
            Ok(c)
        }
    }

    impl Drop for Container {
        fn drop(&mut self) {
            let _ = podman(&["rm", "-f", "-t", "0", &self.name]);
            let _ = podman(&["rmi", "-f", &self.image]);
        }
    }
}

/// Two pairs alike in everything the dumps show (names, indexes, MACs):
/// only the namespace ids tell them apart (`RTM_GETNSID`).
#[test]
fn identical_pairs_are_told_apart_by_namespace_ids() {
    require_root!();
    let id = std::process::id() % 100_000;
    let names: Vec<String> = ["ta", "tb", "tc", "td"]
        .iter()
        .map(|p| format!("{p}{id}"))
        .collect();
    let _g: Vec<NetnsGuard> = names.iter().map(|n| NetnsGuard::add(n)).collect();
    for (a, b) in [(&names[0], &names[1]), (&names[2], &names[3])] {
        ip(&[
            "link",
            "add",
            "x",
            "index",
            "5",
            "address",
            "02:00:00:00:00:0a",
            "netns",
            a,
            "type",
            "veth",
            "peer",
            "name",
            "y",
            "index",
            "6",
            "address",
            "02:00:00:00:00:0b",
            "netns",
            b,
        ]);
    }
    let (_, w) = json(&["wiring", "--json"]);
    assert_peer(&w, &names[0], "x", &names[1], "y");
    assert_peer(&w, &names[1], "y", &names[0], "x");
    assert_peer(&w, &names[2], "x", &names[3], "y");
    assert_peer(&w, &names[3], "y", &names[2], "x");
}
