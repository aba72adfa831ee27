//! Each node keeps its shell while the console runs (Mininet's nodes
//! do): `cd`, `export` and shell variables persist, the shell starts on
//! the node's first command and ends with the console, however it ends.
//! Through the real binary: `nlab cli LAB -c …`, a console on a pipe
//! killed with SIGKILL, and a terminal (rexpect) for Ctrl-C.
mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn up(name: &str) {
    nlab()
        .args(["up", "--topo", "single,2", "--name", name])
        .assert()
        .success();
}

/// Pids in node `node`'s network namespace, as `ip netns pids` sees them.
fn pids_in(lab: &str, node: &str) -> Vec<String> {
    let o = Command::new("ip")
        .args(["netns", "pids", &ns(lab, node)])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn cd_export_and_variables_persist_and_no_shell_outlives_the_console() {
    require_root!();
    let name = lab_name("ks");
    let _g = LabGuard(name.clone());
    up(&name);
    assert!(pids_in(&name, "h1").is_empty(), "a process right after up");
    let out = nlab()
        .args([
            "cli",
            &name,
            "-c",
            "dump; h1 cd /tmp; h1 pwd; h1 export NLABX=42; h1 Y=7; \
             h1 echo v=$NLABX y=$Y; h2 echo h2=$NLABX; dump; h1 printf no-newline; h1 echo next",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.contains(&"/tmp"), "cd did not persist: {s}");
    assert!(lines.contains(&"v=42 y=7"), "export/variable lost: {s}");
    // Another node has its own shell: h1's variables are not there.
    assert!(lines.contains(&"h2="), "h2 saw h1's export: {s}");
    // No shell before the first command; a pid once there is one.
    let dumps: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("<Host h1:"))
        .collect();
    assert_eq!(dumps.len(), 2, "{s}");
    assert!(dumps[0].contains(" ns="), "{s}");
    assert!(dumps[1].contains(" pid="), "{s}");
    // Output without a final newline does not hide the end of a command.
    assert!(s.contains("no-newline"), "{s}");
    assert!(
        lines.contains(&"next") || s.contains("no-newlinenext"),
        "{s}"
    );
    for node in ["h1", "h2", "s1"] {
        assert!(
            pids_in(&name, node).is_empty(),
            "{node}: a shell outlived the console"
        );
    }
}

#[test]
fn a_shell_that_exits_is_reported_and_started_again() {
    require_root!();
    let name = lab_name("kx");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .args([
            "cli",
            &name,
            "-c",
            "h1 cd /tmp; h1 exit 3; h1 pwd; h1 false",
        ])
        .assert()
        .code(1);
    let o = out.get_output();
    let err = String::from_utf8_lossy(&o.stderr);
    let s = text(o);
    assert!(
        err.contains("h1: the node's shell ended (exit status 3)"),
        "{err}"
    );
    assert!(err.contains("*** h1 (exit status 1)"), "{err}");
    // The new shell starts where a fresh one does, not in /tmp.
    assert!(!s.lines().any(|l| l == "/tmp"), "{s}");
}

#[test]
fn shells_die_with_a_console_killed_by_sigkill() {
    require_root!();
    let name = lab_name("kk");
    let _g = LabGuard(name.clone());
    up(&name);
    let mut c = Group::spawn(
        Command::new(env!("CARGO_BIN_EXE_nlab"))
            .args(["cli", &name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = c.0.stdin.take().unwrap();
    let mut out = BufReader::new(c.0.stdout.take().unwrap());
    writeln!(stdin, "h1 echo ready-h1\nh2 echo ready-h2").unwrap();
    let mut seen = String::new();
    while !seen.contains("ready-h2\n") {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "console ended: {seen}");
        seen.push_str(&l);
    }
    assert!(
        !pids_in(&name, "h1").is_empty(),
        "no shell in h1 while the console runs"
    );
    // SIGKILL to the console alone, not its group: nothing can clean up.
    let _ = Command::new("kill")
        .args(["-9", &c.id().to_string()])
        .status();
    let _ = c.0.wait();
    let gone = wait_until(Duration::from_secs(10), || {
        pids_in(&name, "h1").is_empty() && pids_in(&name, "h2").is_empty()
    });
    assert!(
        gone,
        "shells outlived a killed console: {:?}",
        pids_in(&name, "h1")
    );
}

#[test]
fn ctrl_c_stops_the_command_not_the_nodes_shell() {
    require_root!();
    let name = lab_name("kc");
    let _g = LabGuard(name.clone());
    up(&name);
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nlab"));
    cmd.args(["cli", &name])
        .env("TERM", "xterm")
        .env("XDG_STATE_HOME", state.path());
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    let prompt = format!("nlab:{name}>");
    p.exp_string(&prompt).unwrap();
    p.send_line("h1 cd /tmp; export KEEP=yes").unwrap();
    p.exp_string(&prompt).unwrap();
    p.send_line("h1 sleep 60; echo not-reached").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    p.send_control('c').unwrap();
    let out = p.exp_string(&prompt).unwrap();
    // The typed line is echoed; its output would be a line of its own.
    assert!(!out.contains("\nnot-reached"), "{out:?}");
    p.send_line("h1 echo $(pwd) $KEEP").unwrap();
    let out = p.exp_string(&prompt).unwrap();
    assert!(
        out.contains("/tmp yes"),
        "the shell did not survive Ctrl-C: {out:?}"
    );
    // A command that reads the terminal gets what is typed.
    p.send_line("h1 read -r line; echo got=$line").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.send_line("typed").unwrap();
    let out = p.exp_string(&prompt).unwrap();
    assert!(out.contains("got=typed"), "{out:?}");
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    assert!(
        pids_in(&name, "h1").is_empty(),
        "h1's shell outlived the console"
    );
}

#[test]
fn py_and_unsupported_commands_say_why_and_iperfudp_checks_its_bandwidth() {
    require_root!();
    let name = lab_name("kp");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .args([
            "cli",
            &name,
            "-c",
            "py net.hosts; iperfudp fast; wait; noecho h1 echo quiet",
        ])
        .assert()
        .code(1);
    let o = out.get_output();
    let err = String::from_utf8_lossy(&o.stderr);
    let s = text(o);
    assert!(err.contains("python3 -m nlab.mininet"), "{err}");
    assert!(err.contains("`fast` is not a bandwidth"), "{err}");
    assert!(s.contains("No background jobs to wait for."), "{s}");
    assert!(s.lines().any(|l| l == "quiet"), "{s}");
}

#[test]
fn wait_returns_when_the_background_jobs_end() {
    require_root!();
    let name = lab_name("kw");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .args(["cli", &name, "-c", "h1 sleep 0.3 &; wait; jobs"])
        .assert()
        .code(0);
    let s = text(out.get_output());
    assert!(s.contains("*** Waiting for 1 background job(s)"), "{s}");
    assert!(s.contains("[1] done: h1: sleep 0.3"), "{s}");
}
