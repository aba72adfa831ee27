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
    // A background job too: it is the shell's child, which the shell's
    // death signal does not reach.
    writeln!(stdin, "h1 echo ready-h1\nh1 sleep 1000 &\nh2 echo ready-h2").unwrap();
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

/// The venv python/venv.sh makes, with nlab's package.
fn venv_python() -> Option<String> {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pyvenv/bin/python");
    std::path::Path::new(p).exists().then(|| p.to_string())
}

/// Processes whose command line mentions `word` (the sandbox's own PID
/// namespace: only this test's).
fn procs_with(word: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(word) && !cmd.contains("cargo") {
            found.push(cmd);
        }
    }
    found
}

#[test]
fn py_and_px_evaluate_python_on_the_lab_and_keep_their_names() {
    require_root!();
    let Some(py) = venv_python() else {
        eprintln!("SKIP: no target/pyvenv (python/venv.sh makes it)");
        return;
    };
    let name = lab_name("kp");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .env("NLAB_PYTHON", &py)
        .args([
            "cli",
            &name,
            "-c",
            "py h1.IP(); px x = 5; py x * 2; py net.hosts; py h2.cmd('cd /tmp; pwd'); \
             py h1.MAC() == h1.cmd('cat /sys/class/net/h1-eth0/address').strip(); \
             py 1/0; h1 echo console-shell; py net.pingAll()",
        ])
        .assert()
        .code(1);
    let o = out.get_output();
    let err = String::from_utf8_lossy(&o.stderr);
    let s = text(o);
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.contains(&"10.0.0.1"), "{s}");
    assert!(lines.contains(&"10"), "px's x was lost: {s}");
    assert!(
        s.contains("[<Host h1: h1-eth0:10.0.0.1 ") && s.contains("<Host h2: h2-eth0:10.0.0.2 "),
        "{s}"
    );
    assert!(lines.contains(&"/tmp") && lines.contains(&"True"), "{s}");
    assert!(
        err.contains("*** py: ZeroDivisionError: division by zero"),
        "{err}"
    );
    assert!(s.contains("*** Results: 0% dropped (2/2 received)"), "{s}");
    // The helper and the shells it started end with the console.
    assert!(procs_with("nlab.console_py").is_empty(), "helper left");
    for node in ["h1", "h2"] {
        assert!(pids_in(&name, node).is_empty(), "{node}: a process left");
    }
}

#[test]
fn py_without_the_package_says_what_to_do_and_the_helper_dies_with_the_console() {
    require_root!();
    let name = lab_name("kq");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .env("NLAB_PYTHON", "/usr/bin/python3")
        .env("PYTHONPATH", "")
        .args(["cli", &name, "-c", "py net.hosts"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("No module named 'nlab'"), "{err}");
    assert!(
        err.contains("py/px need nlab's Python package for /usr/bin/python3")
            && err.contains("set NLAB_PYTHON"),
        "{err}"
    );
    let Some(py) = venv_python() else {
        eprintln!("SKIP: no target/pyvenv (python/venv.sh makes it)");
        return;
    };
    // A console killed with SIGKILL: the helper gets SIGTERM and ends the
    // node shells it started.
    let mut c = Group::spawn(
        Command::new(env!("CARGO_BIN_EXE_nlab"))
            .env("NLAB_PYTHON", &py)
            .args(["cli", &name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = c.0.stdin.take().unwrap();
    let mut out = BufReader::new(c.0.stdout.take().unwrap());
    writeln!(stdin, "py h1.cmd('echo ready-' + 'py')").unwrap();
    let mut seen = String::new();
    while !seen.contains("ready-py\n") {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "console ended: {seen}");
        seen.push_str(&l);
    }
    assert!(!procs_with("nlab.console_py").is_empty(), "no helper");
    assert!(!pids_in(&name, "h1").is_empty(), "no shell of the helper");
    let _ = Command::new("kill")
        .args(["-9", &c.id().to_string()])
        .status();
    let _ = c.0.wait();
    let gone = wait_until(Duration::from_secs(10), || {
        procs_with("nlab.console_py").is_empty() && pids_in(&name, "h1").is_empty()
    });
    assert!(gone, "the helper or its shell outlived a killed console");
}

#[test]
fn iperfudp_checks_its_bandwidth_and_noecho_runs() {
    require_root!();
    let name = lab_name("ku");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .args([
            "cli",
            &name,
            "-c",
            "xterm h1; iperfudp fast; wait; noecho h1 echo quiet",
        ])
        .assert()
        .code(1);
    let o = out.get_output();
    let err = String::from_utf8_lossy(&o.stderr);
    let s = text(o);
    assert!(err.contains("`xterm` is not supported in nlab"), "{err}");
    assert!(err.contains("`fast` is not a bandwidth"), "{err}");
    assert!(s.contains("No background jobs to wait for."), "{s}");
    assert!(s.lines().any(|l| l == "quiet"), "{s}");
}

#[test]
fn background_jobs_run_in_the_nodes_own_shell() {
    require_root!();
    let name = lab_name("kb");
    let _g = LabGuard(name.clone());
    up(&name);
    let out = nlab()
        .args([
            "cli",
            &name,
            "-c",
            "h1 sleep 1000 &; h1 jobs; h1 export X=1; h1 cd /tmp; \
             h1 sh -c 'echo X=$X in $(pwd)' &; h1 wait $!; h1 echo waited=$?; \
             h2 jobs; jobs",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    let lines: Vec<&str> = s.lines().collect();
    // The job is the shell's: its `jobs` lists it, its `wait` waits for it.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[1]") && l.contains("Running") && l.ends_with("sleep 1000 &")),
        "{s}"
    );
    assert!(lines.contains(&"waited=0"), "{s}");
    // Its output went to its log, from the shell's state.
    let log = s
        .split("(output: ")
        .nth(2)
        .and_then(|r| r.split(')').next())
        .expect("the second job's log")
        .to_string();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "X=1 in /tmp\n");
    assert!(s.contains("[2] done     "), "{s}");
    // The console's exit stops the job still running.
    assert!(
        s.contains("*** Stopping 1 background job(s)\n[1] h1: sleep 1000"),
        "{s}"
    );
    assert!(
        pids_in(&name, "h1").is_empty(),
        "a job outlived the console"
    );
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
