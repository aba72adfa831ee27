//! The console without a terminal: `nlab cli LAB -c "…"`, a script on
//! stdin, `up --cli --rm`, and the exit codes CI relies on.
mod common;
use common::*;

fn up(name: &str) {
    nlab()
        .args(["up", "--topo", "single,3", "--name", name])
        .assert()
        .success();
}

#[test]
fn commands_from_dash_c_echo_and_succeed() {
    require_root!();
    let name = lab_name("sc");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .args(["cli", &name, "-c", "pingall; h1 ping -c1 h3; net"])
        .assert()
        .code(0);
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // Each command echoed after the prompt, no colour off a terminal.
    assert!(s.contains(&format!("nlab:{name}> pingall\n")), "{s}");
    assert!(!s.contains('\x1b'), "colour in a pipe: {s:?}");
    assert!(s.contains("*** Results: 0% dropped (6/6 received)"), "{s}");
    assert!(s.contains("1 packets transmitted, 1 received"), "{s}");
    assert!(s.contains("PING 10.0.0.3"), "name not substituted: {s}");
    assert!(
        s.contains("s1 lo:  s1-eth1:h1-eth0 s1-eth2:h2-eth0 s1-eth3:h3-eth0"),
        "{s}"
    );
}

#[test]
fn any_failed_command_makes_the_exit_code_1() {
    require_root!();
    let name = lab_name("sf");
    let _g = LabGuard(name.clone());
    up(&name);
    for (cmds, what) in [
        ("nodes; h1 false; nodes", "node command exiting 1"),
        ("frobnicate", "unknown command"),
        (
            "link s1 h1 down; pingall 0.3; link s1 h1 up",
            "pingall loss",
        ),
        ("link h1 h2 down", "no such link"),
        ("h9 true", "unknown node"),
    ] {
        nlab()
            .args(["cli", &name, "-c", cmds])
            .assert()
            .append_context("case", what)
            .code(1);
    }
    // The commands after a failure still ran: the link is up again.
    nlab()
        .args(["cli", &name, "-c", "pingall"])
        .assert()
        .code(0);
    let out = nlab()
        .args(["cli", &name, "-c", "frobnicat"])
        .assert()
        .code(1);
    let e = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(e.contains("Unknown command") && e.contains("help"), "{e}");
}

#[test]
fn a_script_on_stdin_runs_with_source_and_background_jobs() {
    require_root!();
    let name = lab_name("ss");
    let _g = LabGuard(name.clone());
    up(&name);
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc.nlab");
    std::fs::write(&inc, "# included\nh2 echo from-source h3\n").unwrap();
    let script = format!(
        "# a comment\nh3 sleep 30 &\njobs\nsource {}\ntime h1 true\n",
        inc.display()
    );
    let out = nlab()
        .args(["cli", &name])
        .write_stdin(script)
        .assert()
        .code(0);
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(s.contains("running") && s.contains("h3: sleep 30"), "{s}");
    assert!(s.contains("from-source 10.0.0.3"), "{s}");
    assert!(s.contains("*** Elapsed time: "), "{s}");
    assert!(s.contains("*** Stopping 1 background job(s)"), "{s}");
    let left = std::process::Command::new("pgrep")
        .args(["-x", "-f", "sleep 30"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the background sleep outlived the console"
    );
}

#[test]
fn bad_usage_exits_2() {
    require_root!();
    nlab().args(["cli", "tnosuchlab"]).assert().code(2);
    nlab()
        .args(["up", "--topo", "single,2", "--rm"])
        .assert()
        .code(2);
}

#[test]
fn up_with_cli_and_rm_removes_the_lab_on_exit() {
    require_root!();
    let name = lab_name("sr");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args(["up", "--topo", "linear,2", "--name", &name, "--cli", "--rm"])
        .write_stdin("pingall\nh1 ping -c1 h2\n")
        .assert()
        .code(0);
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(s.contains("*** Results: 0% dropped (2/2 received)"), "{s}");
    assert!(s.contains(&format!("Lab {name} is down")), "{s}");
    assert_no_trace(&name);
}

#[test]
fn a_console_killed_by_sigterm_stops_its_background_jobs() {
    require_root!();
    use std::io::{BufRead, BufReader, Write};
    let name = lab_name("sk");
    let _g = LabGuard(name.clone());
    up(&name);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["cli", &name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The pipe stays open: the console waits for more commands.
    writeln!(stdin, "h2 sleep 301 &").unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut pid = None;
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.strip_prefix("[1] ") {
            pid = rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<i32>().ok());
            break;
        }
        line.clear();
    }
    let pid = pid.unwrap_or_else(|| panic!("no job line: {line:?}"));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Dead is enough: a zombie waits for whoever reaps orphans here.
    let gone = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        common::stat_fields(&format!("/proc/{pid}/stat"))
            .is_none_or(|f| f.first().is_some_and(|s| s == "Z"))
    });
    assert!(gone, "background job {pid} outlived a SIGTERMed console");
    drop(stdin);
}

#[test]
fn iperf_reports_mininets_shape_and_the_tool() {
    require_root!();
    let name = lab_name("si");
    let _g = LabGuard(name.clone());
    up(&name);
    let have_iperf3 = std::process::Command::new("iperf3")
        .arg("--version")
        .output()
        .is_ok();
    let mut cases = vec![(None, "nlab's built-in TCP sender and receiver")];
    if have_iperf3 {
        cases.push((Some("auto"), "measured by iperf3"));
    } else {
        eprintln!("SKIP (iperf3 half): iperf3 is not installed");
    }
    for (mode, tool) in cases {
        let mut cmd = nlab();
        cmd.args(["cli", &name, "-c", "iperf h1 h3 1"]);
        if mode.is_none() {
            cmd.env("NLAB_IPERF", "builtin");
        }
        let out = cmd.assert().code(0);
        let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(
            s.contains("*** Iperf: testing TCP bandwidth between h1 and h3"),
            "{s}"
        );
        assert!(s.contains(tool), "{s}");
        let results = s
            .lines()
            .find_map(|l| l.strip_prefix("*** Results: ['"))
            .unwrap_or_else(|| panic!("no results: {s}"));
        // Both rates are positive numbers with a unit.
        for part in results.split("', '") {
            let v: f64 = part.split_whitespace().next().unwrap().parse().unwrap();
            assert!(v > 0.0 && part.contains("bits/sec"), "{s}");
        }
    }
}

#[test]
fn pingall6_pings_over_ipv6() {
    require_root!();
    use nlab::lab::{Lab, UpOptions};
    use nlab::topo::IpNet;
    let name = lab_name("s6");
    let _g = LabGuard(name.clone());
    let mut t = star(&name, 3);
    for (i, l) in t.links.iter_mut().enumerate() {
        let a: IpNet = format!("fd00::{}/64", i + 1).parse().unwrap();
        l.endpoints[0].addrs.push(a);
    }
    Lab::up(&t, &UpOptions::default()).unwrap();
    let out = nlab()
        .args(["cli", &name, "-c", "pingall6 3; h1 ping -c1 h2"])
        .assert()
        .code(0);
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(s.contains("*** Results: 0% dropped (6/6 received)"), "{s}");
    // Substitution prefers IPv4 like Mininet's IP().
    assert!(s.contains("PING 10.0.0.2"), "{s}");
}

/// The walkthrough's last step: `mn --link tc,bw=10,delay=10ms` becomes
/// `nlab up --topo single,2 --link tc,bw=10,delay=10ms --cli`. Two 10 ms
/// hops each way make a 40 ms RTT (as in Mininet), and `iperf` sees the
/// 10 Mbit/s limit.
#[test]
fn the_walkthrough_with_tc_links_delays_and_shapes() {
    require_root!();
    let name = lab_name("sw");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args(["up", "--topo", "single,2", "--name", &name])
        .args(["--link", "tc,bw=10,delay=10ms", "--cli", "--rm"])
        .write_stdin("h1 ping -c3 h2\niperf h1 h2 2\n")
        .assert()
        .code(0);
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let rtts: Vec<f64> = s
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(rtts.len(), 3, "{s}");
    // The first ping also waits for ARP through both hops.
    assert!(rtts[1..].iter().all(|r| (39.0..50.0).contains(r)), "{s}");
    let results = s
        .lines()
        .find_map(|l| l.strip_prefix("*** Results: ['"))
        .unwrap_or_else(|| panic!("no iperf results: {s}"));
    // Mininet's order: the server's (receiver's) rate, then the client's,
    // which also counts what still sat in queues when it stopped.
    if let Some(part) = results.trim_end_matches("']").split("', '").next() {
        let mut w = part.split_whitespace();
        let v: f64 = w.next().unwrap().parse().unwrap();
        let mbit = match w.next() {
            Some("Kbits/sec") => v / 1000.0,
            Some("Mbits/sec") => v,
            Some("Gbits/sec") => v * 1000.0,
            u => panic!("unit {u:?} in {s}"),
        };
        assert!(
            (5.0..11.0).contains(&mbit),
            "{mbit} Mbit/s through bw=10: {s}"
        );
    }
    assert!(s.contains(&format!("Lab {name} is down")), "{s}");
    assert_no_trace(&name);
}
