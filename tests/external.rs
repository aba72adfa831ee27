//! Attaching namespaces nlab did not make (issue 14): a process's
//! (`pid:`), an `ip netns add` one (`netns:`), and `host:IFNAME` ends in
//! the root namespace. Witnesses: `ping`, `ip -j` of the attached
//! namespace before and after `down`, the attached process still running.
mod common;
use common::pause::Pause;
use common::*;

/// One test at a time: one of them runs `nlab cleanup`, which removes
/// every lab, the other tests' included.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd).args(args).output().expect(cmd)
}

fn ok(cmd: &str, args: &[&str]) {
    let o = run(cmd, args);
    assert!(o.status.success(), "{cmd} {args:?}: {}", text(&o));
}

/// A process in a network namespace of its own, started outside nlab.
struct Outsider(Child);

impl Outsider {
    fn start() -> Outsider {
        let c = Command::new("unshare")
            .args(["-n", "sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare -n sleep");
        let pid = c.id();
        // unshare execs sleep once the namespace is made.
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert!(wait_until(Duration::from_secs(5), || {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|l| l != mine)
        }));
        Outsider(c)
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An `ip netns add` namespace, deleted on drop.
struct Named(String);

impl Named {
    fn add(tag: &str) -> Named {
        let n = format!("x{tag}{}", std::process::id() % 100000);
        ok("ip", &["netns", "add", &n]);
        Named(n)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "delete", &self.0]);
    }
}

/// Links, addresses and routes of a namespace, as `ip -j` prints them,
/// without counters and lifetimes.
fn state(enter: &[&str]) -> String {
    let mut out = String::new();
    for what in [
        &["-j", "link"][..],
        &["-j", "addr"],
        &["-j", "route", "show", "table", "all"],
    ] {
        let mut args: Vec<&str> = enter.to_vec();
        args.extend(["ip", "-d"]);
        args.extend(what);
        let o = run(args[0], &args[1..]);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if let Some(list) = v.as_array_mut() {
            for item in list {
                if let Some(m) = item.as_object_mut() {
                    m.remove("stats64");
                    m.remove("stats");
                }
            }
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

fn write_topo(lab: &str, body: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{lab}.yml"));
    std::fs::write(&path, format!("name: {lab}\ntopology:\n{body}")).unwrap();
    path
}

fn up(file: &std::path::Path) -> std::process::Output {
    nlab().arg("up").arg(file).output().unwrap()
}

#[test]
fn a_process_and_a_named_namespace_reach_the_lab_and_are_intact_after_down() {
    require_root!();
    let _serial = serial();
    let mut p = Outsider::start();
    let pid = p.pid().to_string();
    let blue = Named::add("b");
    // Their own state: an address, a route, lo up.
    ok("ip", &["-n", &blue.0, "link", "set", "lo", "up"]);
    ok(
        "ip",
        &["-n", &blue.0, "addr", "add", "192.0.2.1/32", "dev", "lo"],
    );
    ok(
        "nsenter",
        &["-t", &pid, "-n", "ip", "link", "set", "lo", "up"],
    );
    let enter_p = ["nsenter", "-t", &pid, "-n"];
    let enter_b = ["ip", "netns", "exec", &blue.0];
    let (p_before, b_before) = (state(&enter_p), state(&enter_b));

    let lab = lab_name("ext");
    let _g = LabGuard(lab.clone());
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    s1: {{kind: switch}}\n    h1: {{}}\n    p1: {{kind: external, pid: {pid}}}\n    \
             b1: {{kind: ext-container, netns: {}}}\n  links:\n    \
             - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, \"s1:p1\"]\n    \
             - endpoints: [{{node: p1, iface: lab0, ip: 10.0.0.2/24}}, \"s1:p2\"]\n    \
             - endpoints: [{{node: b1, iface: lab0, ip: 10.0.0.3/24}}, \"s1:p3\"]\n",
            blue.0
        ),
    );
    let o = up(&file);
    assert!(o.status.success(), "{}", text(&o));
    let h1 = ns(&lab, "h1");
    assert!(
        ping(&h1, "10.0.0.2"),
        "h1 cannot reach the process's namespace"
    );
    assert!(ping(&h1, "10.0.0.3"), "h1 cannot reach the named namespace");
    let o = run(
        "ip",
        &["netns", "exec", &blue.0, "ping", "-c1", "-W2", "10.0.0.1"],
    );
    assert!(
        o.status.success(),
        "the named namespace cannot reach h1: {}",
        text(&o)
    );
    let o = run(
        "nsenter",
        &["-t", &pid, "-n", "ping", "-c1", "-W2", "10.0.0.3"],
    );
    assert!(o.status.success(), "p1 cannot reach b1: {}", text(&o));
    // The kernel's wiring matches the topology: the attached namespaces'
    // own interfaces are theirs, not drift.
    let o = nlab().args(["inspect", &lab, "--wiring"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The lab's end inside the attached namespace carries the owner tag.
    let o = run(
        "nsenter",
        &["-t", &pid, "-n", "ip", "-d", "link", "show", "lab0"],
    );
    assert!(
        text(&o).contains(&format!("alias nlab:{lab}")),
        "{}",
        text(&o)
    );

    let o = nlab().args(["down", &lab]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(p.running(), "down ended the attached process");
    assert_eq!(state(&enter_p), p_before, "the process's namespace changed");
    assert_eq!(state(&enter_b), b_before, "the named namespace changed");
    assert!(
        std::path::Path::new("/run/netns").join(&blue.0).exists(),
        "its pin went"
    );
    assert_no_trace(&lab);
}

#[test]
fn an_attached_process_survives_down_even_if_it_holds_a_lab_interface() {
    require_root!();
    let _serial = serial();
    // The process entered the lab only through nlab's pin; down must
    // never kill it, even though its namespace is pinned under the lab's
    // name like any node's.
    let mut p = Outsider::start();
    let lab = lab_name("exk");
    let _g = LabGuard(lab.clone());
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    h1: {{}}\n    p1: {{kind: external, netns: /proc/{}/ns/net}}\n  links:\n    \
             - endpoints: [{{node: h1, iface: eth0, ip: 10.0.9.1/24}}, {{node: p1, iface: e9, ip: 10.0.9.2/24}}]\n",
            p.pid()
        ),
    );
    let o = up(&file);
    assert!(o.status.success(), "{}", text(&o));
    // `nlab exec` reaches it like any node.
    let o = nlab()
        .args(["exec", &lab, "p1", "--", "ping", "-c1", "-W2", "h1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = nlab().args(["down", &lab]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(p.running(), "down ended the attached process");
}

#[test]
fn bad_attachments_are_refused_before_anything_is_made() {
    require_root!();
    let _serial = serial();
    let lab = lab_name("exb");
    let cases = [
        (
            "p1: {kind: external, pid: 999999}",
            "no process 999999 is running",
        ),
        (
            "p1: {kind: external, netns: nlab-no-such-ns}",
            "no such namespace",
        ),
        ("p1: {kind: external, pid: 1}", "root network namespace"),
        ("p1: {kind: external}", "names no namespace"),
    ];
    for (node, want) in cases {
        let file = write_topo(
            &lab,
            &format!("  nodes:\n    h1: {{}}\n    {node}\n  links:\n    - endpoints: [\"h1:eth0\", \"p1:eth0\"]\n"),
        );
        let o = up(&file);
        assert!(!o.status.success(), "{node}: up succeeded");
        assert!(text(&o).contains(want), "{node}: {}", text(&o));
        assert_no_trace(&lab);
    }
    // A `host:` name the root namespace has already (one made here, so
    // only in the sandbox, whose root namespace is a throwaway one).
    if outside_sandbox().is_some() {
        return;
    }
    let taken = format!("xh{}", std::process::id() % 100000);
    ok(
        "ip",
        &[
            "link",
            "add",
            &taken,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{taken}p"),
        ],
    );
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    h1: {{}}\n  links:\n    - endpoints: [\"h1:eth0\", \"host:{taken}\"]\n"
        ),
    );
    let o = up(&file);
    let _ = run("ip", &["link", "delete", &taken]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(&format!("`host:{taken}` exists already")),
        "{}",
        text(&o)
    );
    assert_no_trace(&lab);
}

#[test]
fn a_process_that_exits_during_up_fails_it_and_nothing_is_kept() {
    require_root!();
    let _serial = serial();
    let mut p = Outsider::start();
    let lab = lab_name("exd");
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    h1: {{}}\n    p1: {{kind: external, pid: {}}}\n  links:\n    - endpoints: [\"h1:eth0\", \"p1:eth0\"]\n",
            p.pid()
        ),
    );
    let pause = Pause::new("attach-resolved");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("nlab"));
    cmd.arg("up")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = pause.arm(&mut cmd).spawn().unwrap();
    pause.wait_reached("attach-resolved", Duration::from_secs(20));
    let _ = p.0.kill();
    let _ = p.0.wait();
    pause.go("attach-resolved");
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "up succeeded: {}", text(&o));
    assert!(text(&o).contains("exited during up"), "{}", text(&o));
    assert_no_trace(&lab);
}

/// `host:` ends: in the root namespace with the owner tag; gone after
/// `down`, and after `kill -9` of `up` + `cleanup` (found by the tag).
/// `cleanup` removes every lab: only in scripts/test.sh's sandbox.
#[test]
fn host_ends_are_tagged_and_gone_after_down_and_after_kill_9_and_cleanup() {
    require_root!();
    let _serial = serial();
    if let Some(why) = outside_sandbox() {
        eprintln!("SKIP: host_ends_are_tagged_and_gone_after_down_and_after_kill_9_and_cleanup: runs `nlab cleanup`, only in scripts/test.sh's sandbox: {why}");
        return;
    }
    let lab = lab_name("exh");
    let ifname = format!("nh{}", std::process::id() % 100000);
    // The node end in an attached namespace: the host end then dies with
    // no namespace of the lab, so only its tag can lead `cleanup` to it.
    let blue = Named::add("h");
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    s1: {{kind: switch}}\n    h1: {{}}\n    b1: {{kind: external, netns: {}}}\n  links:\n    \
             - endpoints: [{{node: h1, iface: eth0, ip: 10.0.7.1/24}}, \"s1:p1\"]\n    \
             - endpoints: [{{node: b1, iface: eth0, ip: 10.0.7.2/24}}, \"s1:p2\"]\n    \
             - endpoints: [{{node: b1, iface: up0, ip: 10.0.8.2/24}}, \"host:{ifname}\"]\n",
            blue.0
        ),
    );
    let blue_before = state(&["ip", "netns", "exec", &blue.0]);
    let show = || run("ip", &["-d", "link", "show", &ifname]);
    {
        let _g = LabGuard(lab.clone());
        let o = up(&file);
        assert!(o.status.success(), "{}", text(&o));
        let o = show();
        assert!(
            o.status.success(),
            "host:{ifname} is not in the root namespace"
        );
        assert!(
            text(&o).contains(&format!("alias nlab:{lab}")),
            "{}",
            text(&o)
        );
        assert!(
            text(&o).contains("state UP") || text(&o).contains(",UP"),
            "{}",
            text(&o)
        );
        let o = nlab().args(["inspect", &lab]).output().unwrap();
        assert!(text(&o).contains(&format!("host:{ifname}")), "{}", text(&o));
        let o = nlab().args(["inspect", &lab, "--wiring"]).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let o = nlab().args(["down", &lab]).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(!show().status.success(), "host:{ifname} is left after down");
        assert_eq!(state(&["ip", "netns", "exec", &blue.0]), blue_before);
    }
    // kill -9 once the kernel work is done, before up returns.
    let pause = Pause::new("applied");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("nlab"));
    cmd.arg("up")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = pause.arm(&mut cmd).spawn().unwrap();
    pause.wait_reached("applied", Duration::from_secs(20));
    assert!(show().status.success());
    let _ = child.kill();
    let _ = child.wait();
    // Only the tag is left to find it by: no journal, and the attached
    // namespace unpinned (it lives on as `blue`).
    let _ = std::fs::remove_dir_all(format!("/run/nlab/{lab}"));
    ok("ip", &["netns", "delete", &ns(&lab, "b1")]);
    let o = nlab().arg("cleanup").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !show().status.success(),
        "host:{ifname} is left after kill -9 + cleanup"
    );
    assert_no_trace(&lab);
    // The lab's other end in `blue` goes with its peer's namespace, which
    // the kernel frees in the background.
    let blue_now = || state(&["ip", "netns", "exec", &blue.0]);
    wait_until(Duration::from_secs(10), || blue_now() == blue_before);
    assert_eq!(blue_now(), blue_before);
}

#[test]
fn an_edited_attached_node_is_attached_again_and_a_removed_one_detached() {
    require_root!();
    let _serial = serial();
    let blue = Named::add("e");
    ok("ip", &["-n", &blue.0, "link", "set", "lo", "up"]);
    let enter = ["ip", "netns", "exec", &blue.0];
    let before = state(&enter);
    let lab = lab_name("exe");
    let _g = LabGuard(lab.clone());
    let node = format!("b1: {{kind: external, netns: {}}}", blue.0);
    let body = |b1: &str| {
        format!(
            "  nodes:\n    h1: {{}}\n    {b1}\n  links:\n    \
             - endpoints: [{{node: h1, iface: eth0, ip: 10.0.5.1/24}}, {{node: b1, iface: lab0, ip: 10.0.5.3/24}}]\n"
        )
    };
    let o = up(&write_topo(&lab, &body(&node)));
    assert!(o.status.success(), "{}", text(&o));
    // A route on the attached node: the node is attached again with it.
    let routed = node.replace('}', ", routes: [{dst: 10.9.0.0/16, via: 10.0.5.1}]}");
    let o = up(&write_topo(&lab, &body(&routed)));
    assert!(o.status.success(), "{}", text(&o));
    let o = run("ip", &["-n", &blue.0, "route"]);
    assert!(
        text(&o).contains("10.9.0.0/16 via 10.0.5.1 dev lab0"),
        "{}",
        text(&o)
    );
    assert!(ping(&ns(&lab, "h1"), "10.0.5.3"));
    // Gone from the file: detached, the namespace as it was.
    let file = write_topo(
        &lab,
        "  nodes:\n    h1: {}\n    h2: {}\n  links:\n    - endpoints: [\"h1:eth0\", \"h2:eth0\"]\n",
    );
    let o = up(&file);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(state(&enter), before, "the detached namespace changed");
    assert!(!std::path::Path::new("/run/netns")
        .join(ns(&lab, "b1"))
        .exists());
}

/// The worst case: the lab's directory (journal and record) deleted by
/// hand while nlab's pin of an attached process's namespace remains.
/// `cleanup` still knows the pin is attached (by the mark nlab keeps
/// outside the lab's directory) and does not end the process.
#[test]
fn cleanup_spares_an_attached_process_when_the_lab_directory_is_gone() {
    require_root!();
    if let Some(why) = outside_sandbox() {
        eprintln!("SKIP: cleanup_spares_an_attached_process_when_the_lab_directory_is_gone: runs `nlab cleanup`, only in scripts/test.sh's sandbox: {why}");
        return;
    }
    let _serial = serial();
    let mut p = Outsider::start();
    let pid = p.pid().to_string();
    let enter = ["nsenter", "-t", &pid, "-n"];
    let before = state(&enter);
    let lab = lab_name("exg");
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    h1: {{}}\n    p1: {{kind: external, pid: {pid}}}\n  links:\n    \
             - endpoints: [{{node: h1, iface: eth0, ip: 10.0.6.1/24}}, {{node: p1, iface: lab0, ip: 10.0.6.2/24}}]\n"
        ),
    );
    let o = up(&file);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_dir_all(format!("/run/nlab/{lab}")).unwrap();
    let o = nlab().arg("cleanup").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(p.running(), "cleanup ended the attached process");
    // Its lab end went with h1's namespace (the kernel frees it in the
    // background).
    wait_until(Duration::from_secs(10), || state(&enter) == before);
    assert_eq!(state(&enter), before);
    assert_no_trace(&lab);
    assert!(!std::path::Path::new("/run/nlab/.attached").exists());
}

/// nlab's pin holds an attached namespace for the lab's lifetime: the
/// process exiting after `up` leaves the namespace and its links working
/// until `down`, which then frees it.
#[test]
fn an_attached_namespace_outlives_its_process_until_down() {
    require_root!();
    let _serial = serial();
    let mut p = Outsider::start();
    let lab = lab_name("exo");
    let _g = LabGuard(lab.clone());
    let file = write_topo(
        &lab,
        &format!(
            "  nodes:\n    h1: {{}}\n    p1: {{kind: external, pid: {}}}\n  links:\n    \
             - endpoints: [{{node: h1, iface: eth0, ip: 10.0.4.1/24}}, {{node: p1, iface: lab0, ip: 10.0.4.2/24}}]\n",
            p.pid()
        ),
    );
    let o = up(&file);
    assert!(o.status.success(), "{}", text(&o));
    let _ = p.0.kill();
    let _ = p.0.wait();
    assert!(
        ping(&ns(&lab, "h1"), "10.0.4.2"),
        "the namespace went with its process"
    );
    let o = nlab().args(["down", &lab]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_no_trace(&lab);
}
