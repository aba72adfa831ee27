//! Ephemeral labs: held by the test process's descriptors only, so nothing
//! of them outlives it. The witness is the whole machine: every network
//! namespace any process or descriptor refers to, every pin, every file
//! nlab could have written, every process.
//!
//! The kill -9 test runs the lab in a child process (this test binary
//! again, running the ignored `child_lab` test), kills it mid-test and
//! checks that the kernel reclaimed everything.

#[macro_use]
mod common;

use nlab::lab::Lab;
use nlab::topo::conditions::{Directed, Impairment, Rate, Step, StepAction};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "NLAB_TEST_EPHEMERAL_CHILD";

/// Inode of a `net:[N]` nsfs link.
fn net_inode(link: &std::path::Path) -> Option<u64> {
    let t = std::fs::read_link(link).ok()?;
    let t = t.to_str()?;
    t.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// Every network namespace something on the machine still refers to: a
/// thread's namespace, an open descriptor, a pin (read from mountinfo of
/// every mount namespace we can see, not only ours).
fn referenced_namespaces() -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = p.path();
        if !p
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        for t in std::fs::read_dir(pid.join("task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            out.extend(net_inode(&t.path().join("ns/net")));
        }
        for fd in std::fs::read_dir(pid.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            out.extend(net_inode(&fd.path()));
        }
    }
    out
}

/// Entries of a directory, for before/after comparisons.
fn entries(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Everything on disk an nlab lab could leave. In the shared `/tmp`, only
/// names an nlab lab would use count: other programs on the host write
/// there while the test runs.
fn disk(lab: &str) -> Vec<(&'static str, BTreeSet<String>)> {
    let mut all: Vec<(&'static str, BTreeSet<String>)> =
        ["/run/netns", "/run/nlab", "/run/nlab/.locks", "/etc/netns"]
            .into_iter()
            .map(|d| (d, entries(d)))
            .collect();
    let tmp = entries("/tmp")
        .into_iter()
        .filter(|e| e.contains("nlab") || e.contains(lab))
        .collect();
    all.push(("/tmp", tmp));
    all
}

fn alive(pid: i32) -> bool {
    common::stat_fields(&format!("/proc/{pid}/stat"))
        .is_some_and(|f| f.first().is_some_and(|s| s != "Z" && s != "X"))
}

/// The namespace inode of node `node`, read from a thread inside it.
fn node_inode(lab: &Lab, node: &str) -> u64 {
    lab.node(node)
        .expect("node")
        .run(|| std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()))
        .expect("run in node")
        .expect("stat of the node's namespace")
}

fn two_hosts(name: &str, delay: Option<&str>) -> nlab::lab::LabBuilder {
    let b = Lab::builder(name)
        .host("h1")
        .host("h2")
        .switch("s1")
        .link("h1", "s1")
        .addr("h1", "10.0.0.1/24")
        .link("h2", "s1");
    let b = match delay {
        Some(d) => b.conditions(&[("delay", d)]),
        None => b,
    };
    b.addr("h2", "10.0.0.2/24").ephemeral()
}

/// The body of the kill -9 test, run in a child process: an ephemeral lab
/// with an emulated link (delay needs netem, or the userspace emulator
/// where the kernel has none) and a program in a node; it reports what it
/// holds on stdout and waits to be killed.
#[test]
#[ignore = "run by kill9_leaves_nothing in a child process"]
fn child_lab() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let name = std::env::var(CHILD_ENV).expect("lab name");
    let lab = two_hosts(&name, Some("2ms")).up().expect("ephemeral up");
    let ping = lab
        .exec_output("h1", &["ping", "-c2", "-W2", "h2"])
        .expect("ping");
    assert!(
        ping.status.success(),
        "ping across the emulated link failed"
    );
    let mut sleeper = lab
        .command("h1", "sleep", &["600".to_string()])
        .expect("command")
        .spawn()
        .expect("spawn sleep in h1");
    let inodes: Vec<String> = ["h1", "h2", "s1"]
        .iter()
        .map(|n| node_inode(&lab, n).to_string())
        .collect();
    println!("READY {} {}", sleeper.id(), inodes.join(" "));
    std::thread::sleep(Duration::from_secs(600));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn kill9_leaves_nothing() {
    require_root!();
    let name = common::lab_name("k9");
    let before = disk(&name);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child_lab", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &name)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the child test");
    let out = child.stdout.take().expect("child stdout");
    let ready = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("READY "));
    let Some(ready) = ready else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child test ended before its lab was up");
    };
    let nums: Vec<u64> = ready
        .split_whitespace()
        .skip(1)
        .map(|s| s.parse().expect("number"))
        .collect();
    let (sleeper, inodes) = (nums[0] as i32, &nums[1..]);
    // While it runs: the namespaces exist (held by the child's
    // descriptors), with no pin and no file anywhere.
    let live = referenced_namespaces();
    assert!(
        inodes.iter().all(|i| live.contains(i)),
        "namespaces not found while up"
    );
    assert!(alive(sleeper), "the program in h1 is not running");
    assert_eq!(disk(&name), before, "the ephemeral lab wrote to disk");
    // Mid-test, without a chance to clean up.
    child.kill().expect("kill -9 of the child");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = referenced_namespaces();
        let left: Vec<&u64> = inodes.iter().filter(|i| live.contains(i)).collect();
        if left.is_empty() && !alive(sleeper) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after kill -9: namespaces {left:?} still referenced, sleeper alive: {}",
            alive(sleeper)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // lsns, an independent witness, sees none of them either.
    let lsns = Command::new("lsns")
        .args(["-t", "net", "-n", "-o", "NS"])
        .output()
        .expect("lsns");
    let seen: BTreeSet<u64> = String::from_utf8_lossy(&lsns.stdout)
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert!(
        inodes.iter().all(|i| !seen.contains(i)),
        "lsns still lists one"
    );
    assert_eq!(disk(&name), before, "something was left on disk");
}

#[test]
fn drop_frees_everything_and_programs_die() {
    require_root!();
    let name = common::lab_name("ed");
    let before = disk(&name);
    let lab = two_hosts(&name, None).up().expect("ephemeral up");
    assert!(lab.is_ephemeral());
    // Names resolve through the in-memory hosts file.
    let ping = lab
        .exec_output("h1", &["ping", "-c1", "-W2", "h2"])
        .expect("ping");
    assert!(ping.status.success(), "ping h2 by name failed");
    let hosts = lab.exec_output("h2", &["cat", "/etc/hosts"]).expect("cat");
    assert!(String::from_utf8_lossy(&hosts.stdout).contains("10.0.0.1\th1"));
    // Nothing of it where other processes look.
    assert_eq!(disk(&name), before, "the ephemeral lab wrote to disk");
    assert!(Lab::open(&name).is_err(), "another handle found it by name");
    let mut sleeper = lab
        .command("h2", "sleep", &["600".to_string()])
        .expect("command")
        .spawn()
        .expect("spawn");
    let inodes = [
        node_inode(&lab, "h1"),
        node_inode(&lab, "h2"),
        node_inode(&lab, "s1"),
    ];
    let report = lab.down().expect("down");
    assert_eq!(report.namespaces, 3);
    assert!(report.processes >= 1, "down ended no process: {report:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while inodes.iter().any(|i| referenced_namespaces().contains(i)) {
        assert!(
            Instant::now() < deadline,
            "namespaces still referenced after down"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(sleeper.id() as i32),
        "the program in h2 survived down"
    );
    let _ = sleeper.wait();
    assert_eq!(disk(&name), before);
}

#[test]
fn runtime_changes_and_refusals() {
    require_root!();
    let name = common::lab_name("ec");
    let mut lab = two_hosts(&name, None).up().expect("ephemeral up");
    // The same name twice in one process is refused, nothing touched.
    let again = two_hosts(&name, None).up();
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("already has an ephemeral lab")),
        "a second ephemeral lab of the same name: {again:?}"
    );
    let ping = |lab: &Lab| {
        lab.exec_output("h1", &["ping", "-c1", "-W1", "10.0.0.2"])
            .expect("ping")
            .status
            .success()
    };
    assert!(ping(&lab), "the first lab broke");
    lab.link("h1", "s1").expect("link").down().expect("down");
    assert!(!ping(&lab), "ping works over a link set down");
    lab.link("h1", "s1").expect("link").up().expect("up");
    assert!(ping(&lab), "ping fails after the link came back");
    let rate = Directed::symmetric(Impairment {
        rate: Some(Rate {
            bits_per_sec: 10_000_000,
            burst_bytes: None,
        }),
        ..Impairment::default()
    });
    lab.link("h1", "s1")
        .expect("link")
        .set_conditions(rate)
        .expect("set conditions");
    assert!(ping(&lab), "ping fails with a rate limit");
    drop(lab);
    // A schedule needs a supervisor: refused before anything is made.
    let mut sched = nlab::topo::generate::from_spec("minimal", &common::lab_name("es"), false)
        .expect("minimal");
    sched.links[0].schedule = vec![Step {
        at: Duration::from_secs(1),
        action: StepAction::Down,
    }];
    let err = Lab::ephemeral(&sched).expect_err("schedule accepted");
    assert!(err.to_string().contains("supervisor"), "{err}");
    assert!(nlab::testing::netns::lab_pinned(&sched.name).is_empty());
}

/// A NAT works in an ephemeral lab (its table lives in the NAT's own
/// namespace); a host uplink, which would outlive the process in the root
/// namespace, is refused before anything is made.
#[test]
fn a_nat_in_an_ephemeral_lab_and_a_host_uplink_refused() {
    require_root!();
    let yaml = "
topology:
  nodes:
    h1: {gateway: 192.168.1.1}
    nat1: {kind: nat}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 192.168.1.10/24}, {node: nat1, iface: lan, ip: 192.168.1.1/24}]
";
    let name = common::lab_name("en");
    let t = nlab::topo::file::parse_as(yaml, None, Some(&name)).expect("valid topology");
    let lab = Lab::ephemeral(&t).expect("ephemeral NAT lab");
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nat/stun_server.py");
    let mut stun = lab
        .command(
            "internet",
            "python3",
            &[server.into(), "203.0.113.1:3478".into()],
        )
        .expect("command")
        .stdout(Stdio::piped())
        .spawn()
        .expect("stun server");
    let mut ready = String::new();
    BufReader::new(stun.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("ready line");
    let code = "import socket\ns=socket.socket(2,2)\ns.settimeout(2)\n\
                s.sendto(b'map',('203.0.113.1',3478))\nprint(s.recv(99).decode())";
    let o = lab
        .exec_output("h1", &["python3", "-c", code])
        .expect("client");
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(seen.starts_with("203.0.113.2:"), "h1 seen as {seen:?}");
    let _ = stun.kill();
    let _ = stun.wait();
    drop(lab);
    let host = yaml.replace("nat1: {kind: nat}", "nat1: {kind: nat, uplink: host}");
    let name = common::lab_name("eu");
    let t = nlab::topo::file::parse_as(&host, None, Some(&name)).expect("valid topology");
    let err = Lab::ephemeral(&t).expect_err("a host uplink accepted");
    assert!(err.to_string().contains("uplink: host"), "{err}");
    assert!(nlab::testing::netns::lab_pinned(&name).is_empty());
}
