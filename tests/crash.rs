//! Crash safety: `kill -9` in the middle of `nlab up`, then `nlab cleanup`
//! leaves nothing. Kept in its own test binary because `cleanup` removes
//! every lab on the host, and cargo runs test binaries one at a time; and
//! run only in scripts/test.sh's sandbox, whose "host" is a throwaway
//! one, so a user's own labs are never in reach.
mod common;
use common::*;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `cleanup` removes every lab: the tests of this binary take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// True in scripts/test.sh's sandbox; else says why the calling test
/// skips: `nlab cleanup` would remove the labs of the real host.
fn sandboxed() -> bool {
    let Some(why) = outside_sandbox() else {
        return true;
    };
    let t = std::thread::current();
    eprintln!(
        "SKIP: {}: runs `nlab cleanup`, which removes every lab on the host, so only in \
         scripts/test.sh's sandbox: {why}",
        t.name().unwrap_or("a crash test")
    );
    false
}

#[test]
fn kill_9_halfway_through_up_then_cleanup_leaves_nothing() {
    require_root!();
    if !sandboxed() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = lab_name("k");
    let prefix = format!("nlab-{name}-");
    let bin = assert_cmd::cargo::cargo_bin("nlab");
    let mut child = Command::new(&bin)
        .args(["up", "--topo", "single,200", "--name", &name])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it is halfway through creating namespaces.
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_ns(&prefix) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    let made = count_ns(&prefix);
    assert!(made > 0, "nlab up made nothing before it was killed");
    let st = Command::new(&bin).arg("cleanup").status().unwrap();
    assert!(st.success());
    assert_no_trace(&name);
    // And cleanup is idempotent.
    assert!(Command::new(&bin)
        .arg("cleanup")
        .status()
        .unwrap()
        .success());
}

/// The supervisor is detached: killing every `nlab` command and losing
/// everything else of the lab (namespaces, journal, pid file, socket)
/// leaves it running, and `nlab cleanup` must still find it (by its
/// command line) and end it.
#[test]
fn cleanup_ends_a_supervisor_whose_lab_files_are_gone() {
    require_root!();
    if !sandboxed() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = lab_name("v");
    let bin = assert_cmd::cargo::cargo_bin("nlab");
    let run = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(run(&["up", "--topo", "minimal", "--name", &name]));
    assert!(run(&["supervisor", "start", &name]));
    let pid_file = format!("/run/nlab/{name}/supervisor.pid");
    // `PID START_TICKS`: the pid is the first word.
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(supervisors_of(&name), vec![pid]);
    // Everything else of the lab gone by hand: the supervisor process is
    // its only trace.
    for node in ["h1", "h2", "s1"] {
        let ns = format!("nlab-{name}-{node}");
        assert!(Command::new("ip")
            .args(["netns", "del", &ns])
            .status()
            .unwrap()
            .success());
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
    }
    std::fs::remove_dir_all(format!("/run/nlab/{name}")).unwrap();
    let out = Command::new(&bin)
        .args(["cleanup", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        r["labs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == name.as_str()),
        "cleanup did not find lab {name}: {r}"
    );
    assert!(r["processes"].as_u64().unwrap() >= 1, "{r}");
    assert_no_trace(&name);
}
