//! Shared helpers for root integration tests: unique lab names, a guard
//! that tears a lab down even when the test panics, and leak checks.
#![allow(dead_code)]

use nlab::topo::{Endpoint, IpNet, Link, Node, NodeKind, Topology};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub mod image;
pub mod pause;
pub mod segment;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The fields of a `/proc/…/stat` file after the command name (which may
/// hold spaces and parentheses): `[0]` is the state, `[1]` the parent, `[3]`
/// the session, `[16]` the nice value. None when it cannot be read (the
/// process or thread has gone).
pub fn stat_fields(path: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after_comm = stat.rsplit(')').next().unwrap_or("");
    Some(after_comm.split_whitespace().map(str::to_string).collect())
}

/// A short lab name unique to this test process and call.
pub fn lab_name(tag: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("t{}{}{}", tag, std::process::id() % 100000, n)
}

/// Tears the lab down on drop, then checks nothing of it is left.
pub struct LabGuard(pub String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = nlab::lab::down(&self.0);
        if !std::thread::panicking() {
            assert_no_trace(&self.0);
        }
    }
}

fn names_with_prefix(dir: &str, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The lab a namespace name belongs to, by the naming rule written out
/// again here (not the product's parser) so tests witness it:
/// `nlab-<lab>:<node>` for a lab with `-`, else `nlab-<lab>-<node>`.
pub fn lab_of_ns(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("nlab-")?;
    match rest.split_once(':') {
        Some((lab, _)) => Some(lab),
        None => rest.split_once('-').map(|(lab, _)| lab),
    }
}

fn names_of_lab(dir: &str, lab: &str) -> Vec<String> {
    names_with_prefix(dir, "nlab-")
        .into_iter()
        .filter(|n| lab_of_ns(n) == Some(lab))
        .collect()
}

/// Nothing of `lab` remains: namespaces, /etc/netns dirs, runtime dir.
/// Names are matched by lab, not by prefix, so another lab whose name
/// starts the same (`a` and `a-b`) does not count.
pub fn assert_no_trace(lab: &str) {
    let ns = names_of_lab("/run/netns", lab);
    assert!(ns.is_empty(), "namespaces left: {ns:?}");
    let etc = names_of_lab("/etc/netns", lab);
    assert!(etc.is_empty(), "/etc/netns entries left: {etc:?}");
    assert!(
        !std::path::Path::new(&format!("/run/nlab/{lab}")).exists(),
        "runtime dir of {lab} left"
    );
    assert!(
        !std::path::Path::new(&format!("/run/nlab/.locks/{lab}.lock")).exists(),
        "lock file of {lab} left"
    );
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = s
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| lab_of_ns(n) == Some(lab))
        .collect();
    assert!(
        listed.is_empty(),
        "ip netns list still shows namespaces of {lab}: {listed:?}"
    );
    let sup = supervisors_of(lab);
    assert!(sup.is_empty(), "supervisor(s) of {lab} left: {sup:?}");
}

/// Live processes running `nlab supervise LAB`, read from /proc.
/// The process has exited: no `/proc/PID` left, or a zombie. A process
/// killed with -9 loses its command line before it is gone (its memory
/// goes first, its files later), so a scan by command line is no proof.
pub fn gone(pid: i32) -> bool {
    stat_fields(&format!("/proc/{pid}/stat")).is_none_or(|f| f.first().is_some_and(|s| s == "Z"))
}

pub fn supervisors_of(lab: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let args: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .split(|&c| c == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let zombie = stat_fields(&format!("/proc/{pid}/stat"))
            .is_none_or(|f| f.first().is_some_and(|s| s == "Z"));
        if !zombie && args.len() >= 3 && args[1] == "supervise" && args[2] == lab {
            out.push(pid);
        }
    }
    out
}

pub fn link(a: (&str, &str, Option<&str>), b: (&str, &str, Option<&str>)) -> Link {
    let mk = |(n, i, ip): (&str, &str, Option<&str>)| {
        let mut e = Endpoint::new(n, i);
        if let Some(ip) = ip {
            e.addrs.push(ip.parse::<IpNet>().unwrap());
        }
        e
    };
    Link::new(mk(a), mk(b))
}

/// h1..hn on switch s1, 10.0.0.i/24.
pub fn star(lab: &str, n: usize) -> Topology {
    let mut t = Topology::new(lab);
    t.nodes
        .insert("s1".into(), Node::new("s1", NodeKind::Switch));
    for i in 1..=n {
        let h = format!("h{i}");
        t.nodes.insert(h.clone(), Node::new(&h, NodeKind::Host));
        let ip = format!("10.0.0.{i}/24");
        t.links.push(link(
            (&h, &format!("{h}-eth0"), Some(&ip)),
            ("s1", &format!("s1-eth{i}"), None),
        ));
    }
    t
}

/// `ip netns exec NS ping -c1 -W1 ADDR` succeeded.
pub fn ping(ns: &str, addr: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c1", "-W2", "-q", addr])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn ip_json(ns: &str, what: &[&str]) -> serde_json::Value {
    let mut args = vec!["-j", "-n", ns];
    args.extend_from_slice(what);
    let out = Command::new("ip").args(&args).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Output of `ip netns exec NS ping -c1 ADDR`, if it succeeded.
pub fn ping_output(ns: &str, addr: &str) -> Option<String> {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c1", "-W2", addr])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The namespace of `node` in `lab` (the rule of [`lab_of_ns`]).
pub fn ns(lab: &str, node: &str) -> String {
    if lab.contains('-') {
        format!("nlab-{lab}:{node}")
    } else {
        format!("nlab-{lab}-{node}")
    }
}

/// How many pinned namespaces start with `prefix`.
/// The inodes of `lab`'s pinned namespaces (the key of /proc witnesses).
pub fn pinned_inodes(lab: &str) -> std::collections::HashSet<u64> {
    use std::os::unix::fs::MetadataExt;
    names_of_lab("/run/netns", lab)
        .iter()
        .filter_map(|n| std::fs::metadata(format!("/run/netns/{n}")).ok())
        .map(|m| m.ino())
        .collect()
}

pub fn count_ns(prefix: &str) -> usize {
    names_with_prefix("/run/netns", prefix).len()
}

/// h1 (10.0.0.1/24) and h2 (10.0.0.2/24) joined by one link with
/// conditions `c`.
pub fn pair(lab: &str, c: nlab::topo::conditions::Directed) -> Topology {
    let mut t = Topology::new(lab);
    for h in ["h1", "h2"] {
        t.nodes.insert(h.into(), Node::new(h, NodeKind::Host));
    }
    let mut l = link(
        ("h1", "eth0", Some("10.0.0.1/24")),
        ("h2", "eth0", Some("10.0.0.2/24")),
    );
    l.conditions = c;
    t.links.push(l);
    t
}

/// True where the userspace emulator carries netem conditions; elsewhere
/// says why the calling test skips.
pub fn emulator_backend() -> bool {
    let f = nlab::testing::features::probe().expect("feature probe");
    if f.netem {
        eprintln!("SKIP: this kernel has netem, so the userspace emulator is not used");
        return false;
    }
    true
}

/// Waits (up to `max`) until the kernel has finished freeing deleted
/// namespaces: its cleanup work runs on the `netns` workqueue and holds
/// the rtnl lock meanwhile, so timing-sensitive tests after a big teardown
/// would wait on it. Two witnesses: the busy kworker names itself
/// `…+netns` (invisible from a PID namespace, which is where CI runs), and
/// creating a namespace, which needs that lock, is quick again.
pub fn wait_for_netns_cleanup(max: std::time::Duration) {
    use std::time::{Duration, Instant};
    let kworker_busy = || {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .map(|c| c.trim_end().ends_with("+netns"))
                    .unwrap_or(false)
            })
    };
    // A thread that unshares its network namespace and exits: the
    // namespace is made (registering its loopback takes rtnl) and freed.
    let rtnl_slow = || {
        let t = Instant::now();
        // SAFETY: unshare with a flag only, on a thread that exits next.
        let made = std::thread::spawn(|| unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0)
            .join()
            .unwrap_or(false);
        !made || t.elapsed() > Duration::from_millis(20)
    };
    let t0 = Instant::now();
    let mut quiet = 0;
    while t0.elapsed() < max && quiet < 10 {
        quiet = if kworker_busy() || rtnl_slow() {
            0
        } else {
            quiet + 1
        };
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The kind of `eth0` in `node` of `lab` as `ip -d` reports it: `veth`,
/// or `tun` for the TAP ends of an emulated link.
pub fn eth0_kind(lab: &str, node: &str) -> String {
    let v = ip_json(&ns(lab, node), &["-d", "link", "show", "eth0"]);
    v[0]["linkinfo"]["info_kind"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}

/// A child in a process group of its own, killed whole (children too:
/// `flock CMD`, `runuser CMD` fork theirs) when dropped, also on panic.
pub struct Group(pub std::process::Child);

impl Group {
    pub fn spawn(cmd: &mut Command) -> Group {
        use std::os::unix::process::CommandExt;
        Group(cmd.process_group(0).spawn().expect("spawning a helper"))
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Returns from the calling test, with a visible `SKIP:` line naming it,
/// unless the test runs as root: root tests make namespaces and labs.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root_or_skip() {
            return;
        }
    };
}

/// True as root; else prints why the calling test (named by its thread,
/// as the test harness names it) skips.
pub fn is_root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let t = std::thread::current();
    eprintln!("SKIP: {}: needs root", t.name().unwrap_or("a test"));
    false
}

/// Why a test that may only run in scripts/test.sh's sandbox cannot run
/// here, or None inside it: the script sets `NLAB_TEST_SANDBOX=1`, and the
/// lab directories are mounts of their own (its private tmpfs), so a user
/// who sets the variable by hand on the host is still refused.
pub fn outside_sandbox() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if std::env::var_os("NLAB_TEST_SANDBOX").is_none_or(|v| v != "1") {
        return Some(
            "NLAB_TEST_SANDBOX=1 is not set (scripts/test.sh sets it in its sandbox)".into(),
        );
    }
    for dir in ["/run/netns", "/run/nlab", "/etc/netns"] {
        let parent = std::path::Path::new(dir)
            .parent()
            .unwrap_or(std::path::Path::new("/"));
        let (Ok(d), Ok(p)) = (std::fs::metadata(dir), std::fs::metadata(parent)) else {
            return Some(format!("{dir} cannot be read"));
        };
        if d.dev() == p.dev() {
            return Some(format!(
                "{dir} is not a mount of its own (the sandbox's tmpfs)"
            ));
        }
    }
    None
}

/// The `nlab` binary under test, as an assert_cmd command.
pub fn nlab() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("nlab").expect("the nlab binary")
}

/// stdout then stderr of `o`, for assertion messages and searches.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Polls `f` every 10 ms until it holds or `max` has passed; its last
/// answer.
pub fn wait_until(max: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + max;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f()
}

/// Conditions `i` from a to b only.
pub fn one_way(i: nlab::topo::conditions::Impairment) -> nlab::topo::conditions::Directed {
    nlab::topo::conditions::Directed {
        a_to_b: i,
        b_to_a: Default::default(),
    }
}

/// The root qdisc of `dev` in namespace `ns` as `tc -s -j` reports it
/// (with its counters), or Null when it has none.
pub fn root_qdisc(ns: &str, dev: &str) -> serde_json::Value {
    let o = Command::new("tc")
        .args(["-s", "-j", "-n", ns, "qdisc", "show", "dev", dev])
        .output()
        .expect("tc");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("tc json");
    v.as_array()
        .and_then(|a| a.iter().find(|q| q["root"] == true))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// Average RTT (ms) of `count` pings from `ns` to `addr`, 50 ms apart,
/// from ping's summary line; panics when none came back.
pub fn rtt_ms(ns: &str, addr: &str, count: u32) -> f64 {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-q", "-i", "0.05"])
        .args(["-c", &count.to_string(), "-W", "3", addr])
        .output()
        .expect("ping");
    let s = String::from_utf8_lossy(&o.stdout);
    s.lines()
        .find(|l| l.contains("min/avg/max"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no RTT in {s}"))
}

/// The sequence numbers in 1..=n that got no echo reply in ping's output
/// (a reply line has `icmp_seq=` and `time=`; `DUP!` lines do not count).
pub fn lost_seqs(out: &str, n: u32) -> Vec<u32> {
    let got: std::collections::BTreeSet<u32> = out
        .lines()
        .filter(|l| l.contains("time=") && !l.contains("DUP!"))
        .filter_map(|l| {
            l.split("icmp_seq=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    (1..=n).filter(|i| !got.contains(i)).collect()
}
