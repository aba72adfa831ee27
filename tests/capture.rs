//! Root tests of `nlab capture`: the files it writes are read by tools
//! nobody here wrote (`tcpdump -r`, `tshark -r`, `capinfos`), which must
//! count exactly the packets `ping` sent; a filter keeps ARP out; two
//! interfaces give two interface blocks; `-w -` streams into
//! `tcpdump -r -`; `-c` stops; bad input is refused with exit code 2.
//!
//! Each test makes its own `minimal` lab (h1 — s1 — h2) and pings only
//! between its hosts.
mod common;

use common::{lab_name, nlab, text, LabGuard};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn up(tag: &str) -> LabGuard {
    let name = lab_name(tag);
    let g = LabGuard(name.clone());
    let o = nlab()
        .args(["up", "--topo", "minimal", "--name", &name])
        .output()
        .expect("run nlab up");
    assert!(o.status.success(), "{}", text(&o));
    g
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A running `nlab capture` and the rest of its stderr (read on a
/// thread, so the child never blocks on it); killed on drop if running.
struct Cap(Option<Child>, std::sync::mpsc::Receiver<String>);

impl Cap {
    /// Starts `nlab capture ARGS` and returns once it says it captures
    /// (its rings are open), so no packet sent after is missed.
    fn start(args: &[&str], stdout: Stdio) -> Cap {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("nlab"))
            .arg("capture")
            .args(args)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nlab capture");
        let err = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(err);
        let mut first = String::new();
        lines.read_line(&mut first).expect("read stderr");
        assert!(
            first.starts_with("capturing on"),
            "nlab capture said: {first}"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut lines, &mut rest);
            let _ = tx.send(rest);
        });
        Cap(Some(child), rx)
    }

    /// Waits (at most 20 s) for the capture to end; its exit status and
    /// the rest of its stderr (the counts).
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.0.take().expect("child");
        let end = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < end, "nlab capture did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let err = self
            .1
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        (status, err)
    }

    fn term(&self) {
        if let Some(c) = &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

impl Drop for Cap {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ping(lab: &str, count: u32) -> Output {
    let o = nlab()
        .args(["exec", lab, "h1", "--", "ping", "-c", &count.to_string()])
        .args(["-i", "0.1", "10.0.0.2"])
        .output()
        .expect("run ping");
    assert!(o.status.success(), "ping failed: {}", text(&o));
    o
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    assert!(o.status.success(), "{cmd} {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn count_matching(out: &str, needle: &str) -> usize {
    out.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn tcpdump_tshark_and_capinfos_count_exactly_the_pings() {
    require_root!();
    let lab = up("cp");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.pcapng");
    let f = file.to_str().expect("utf-8 path");
    let cap = Cap::start(
        &[&lab.0, "h1:h1-eth0", "-w", f, "--filter", "icmp"],
        Stdio::null(),
    );
    ping(&lab.0, 10);
    // SIGTERM ends it like Ctrl-C: last packets written, counts printed.
    cap.term();
    let (status, err) = cap.wait();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("h1:h1-eth0: 20 packets captured, 20 received by filter, 0 dropped by kernel"),
        "{err}"
    );
    let td = tool("tcpdump", &["-nr", f]);
    assert_eq!(count_matching(&td, "ICMP echo request"), 10, "{td}");
    assert_eq!(count_matching(&td, "ICMP echo reply"), 10, "{td}");
    assert_eq!(td.lines().count(), 20, "{td}");
    if have("tshark") {
        let ts = tool(
            "tshark",
            &[
                "-r",
                f,
                "-T",
                "fields",
                "-e",
                "frame.interface_name",
                "-e",
                "icmp.type",
            ],
        );
        assert_eq!(count_matching(&ts, "h1:h1-eth0\t8"), 10, "{ts}");
        assert_eq!(count_matching(&ts, "h1:h1-eth0\t0"), 10, "{ts}");
    }
    if have("capinfos") {
        let ci = tool("capinfos", &["-c", "-I", f]);
        assert!(
            ci.lines()
                .any(|l| l.starts_with("Number of packets:") && l.trim_end().ends_with(" 20")),
            "{ci}"
        );
    }
}

#[test]
fn a_filter_keeps_arp_out_and_no_filter_lets_it_in() {
    require_root!();
    let lab = up("cf");
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("all.pcapng");
    let icmp = dir.path().join("icmp.pcapng");
    let (all_s, icmp_s) = (all.to_str().expect("path"), icmp.to_str().expect("path"));
    let c1 = Cap::start(&[&lab.0, "h1:h1-eth0", "-w", all_s], Stdio::null());
    let c2 = Cap::start(
        &[&lab.0, "h1:h1-eth0", "-w", icmp_s, "--filter", "icmp"],
        Stdio::null(),
    );
    // A fresh lab: the first ping resolves h2's address with ARP.
    ping(&lab.0, 2);
    c1.term();
    c2.term();
    let (s1, e1) = c1.wait();
    let (s2, e2) = c2.wait();
    assert!(s1.success() && s2.success(), "{e1}{e2}");
    let all_out = tool("tcpdump", &["-nr", all_s]);
    let icmp_out = tool("tcpdump", &["-nr", icmp_s]);
    assert!(
        count_matching(&all_out, "ARP") >= 2,
        "no ARP without a filter: {all_out}"
    );
    assert_eq!(count_matching(&icmp_out, "ARP"), 0, "{icmp_out}");
    assert_eq!(count_matching(&icmp_out, "ICMP echo"), 4, "{icmp_out}");
    assert_eq!(icmp_out.lines().count(), 4, "{icmp_out}");
}

#[test]
fn two_interfaces_give_two_interface_blocks_and_count_stops() {
    require_root!();
    let lab = up("c2");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("two.pcapng");
    let f = file.to_str().expect("path");
    let args = [
        &lab.0,
        "h1:h1-eth0",
        "s1:s1-eth2",
        "-w",
        f,
        "-f",
        "icmp",
        "-c",
        "12",
    ];
    let cap = Cap::start(&args, Stdio::null());
    // 10 pings cross both interfaces: 40 packets, but -c 12 stops it.
    ping(&lab.0, 10);
    let (status, err) = cap.wait();
    assert!(status.success(), "{err}");
    let captured: u64 = err
        .lines()
        .filter_map(|l| l.split(": ").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(captured, 12, "{err}");
    let td = tool("tcpdump", &["-nr", f]);
    assert_eq!(td.lines().count(), 12, "{td}");
    if have("capinfos") {
        let ci = tool("capinfos", &[f]);
        assert!(ci.contains("Number of interfaces in file: 2"), "{ci}");
        assert!(
            ci.contains("Name = h1:h1-eth0") && ci.contains("Name = s1:s1-eth2"),
            "{ci}"
        );
    }
    if have("tshark") {
        let ts = tool(
            "tshark",
            &["-r", f, "-T", "fields", "-e", "frame.interface_name"],
        );
        let mut names: Vec<&str> = ts.lines().collect();
        names.sort();
        names.dedup();
        assert_eq!(names, vec!["h1:h1-eth0", "s1:s1-eth2"], "{ts}");
    }
}

#[test]
fn a_stream_on_stdout_feeds_tcpdump_and_lines_describe_packets() {
    require_root!();
    let lab = up("cs");
    let mut cap = Cap::start(
        &[&lab.0, "h1:h1-eth0", "-w", "-", "-f", "icmp", "-c", "4"],
        Stdio::piped(),
    );
    let stream = cap
        .0
        .as_mut()
        .and_then(|c| c.stdout.take())
        .expect("stdout");
    let td = Command::new("tcpdump")
        .args(["-nr", "-"])
        .stdin(stream)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tcpdump");
    ping(&lab.0, 2);
    let (status, err) = cap.wait();
    assert!(status.success(), "{err}");
    let o = td.wait_with_output().expect("tcpdump");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(count_matching(&out, "ICMP echo"), 4, "{out}");

    // Without -w: a line per packet, naming the interface and direction.
    let mut lines = Cap::start(
        &[&lab.0, "h1:h1-eth0", "-f", "icmp", "-c", "2"],
        Stdio::piped(),
    );
    ping(&lab.0, 1);
    let mut out = String::new();
    let mut so = lines
        .0
        .as_mut()
        .and_then(|c| c.stdout.take())
        .expect("stdout");
    let (status, err) = lines.wait();
    assert!(status.success(), "{err}");
    std::io::Read::read_to_string(&mut so, &mut out).expect("read lines");
    let want = [
        "h1:h1-eth0 Out IP 10.0.0.1 > 10.0.0.2: ICMP echo request",
        "h1:h1-eth0 In  IP 10.0.0.2 > 10.0.0.1: ICMP echo reply",
    ];
    for w in want {
        assert_eq!(count_matching(&out, w), 1, "{w} in {out}");
    }
}

#[test]
fn bad_input_is_refused_with_what_to_do() {
    require_root!();
    let lab = up("ce");
    let run = |args: &[&str]| {
        let o = nlab().arg("capture").args(args).output().expect("run");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        text(&o)
    };
    let e = run(&["nosuchlab", "h1:h1-eth0"]);
    assert!(e.contains("no lab named `nosuchlab`"), "{e}");
    let e = run(&[&lab.0, "h9:h9-eth0"]);
    assert!(
        e.contains("has no node `h9`") && e.contains("h1, h2, s1"),
        "{e}"
    );
    let e = run(&[&lab.0, "h1:eth7"]);
    assert!(
        e.contains("node `h1` has no interface `eth7` (interfaces: h1-eth0, lo)"),
        "{e}"
    );
    let e = run(&[&lab.0, "h1"]);
    assert!(e.contains("is not NODE:IFACE"), "{e}");
    let e = run(&[&lab.0, "h1:h1-eth0", "--filter", "icmp and"]);
    assert!(
        e.contains("bad capture filter `icmp and`") && e.contains("syntax error"),
        "{e}"
    );
    let e = run(&[&lab.0, "h1:h1-eth0", "--json"]);
    assert!(e.contains("--json"), "{e}");
}
