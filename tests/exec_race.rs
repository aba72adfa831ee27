//! `exec` racing `down` (issue 11, item 11): whichever way they interleave,
//! no process is left in a namespace of the lab, and `cleanup` finds
//! processes in namespaces that are no longer pinned. Each race opens its
//! window with a pause point and proves it was reached.
mod common;
use common::pause::Pause;
use common::*;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `cleanup` below removes every lab on the host: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn nlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nlab"))
}

fn run(args: &[&str]) -> Output {
    nlab().args(args).output().expect("running nlab")
}

/// A two-host lab, and the inodes of its namespaces (the witness's key).
fn lab_up(tag: &str) -> (String, HashSet<u64>) {
    let name = lab_name(tag);
    let o = run(&["up", "--topo", "single,2", "--name", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let inodes = common::pinned_inodes(&name);
    assert_eq!(inodes.len(), 3);
    (name, inodes)
}

/// Live processes whose network namespace is one of `inodes`, read from
/// /proc/*/ns/net: independent of nlab's own scan.
fn processes_in(inodes: &HashSet<u64>) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let live = stat_fields(&format!("/proc/{pid}/stat"))
                .is_some_and(|f| f.first().is_some_and(|s| s != "Z"));
            let ino = std::fs::metadata(format!("/proc/{pid}/ns/net")).map(|m| m.ino());
            live && ino.is_ok_and(|i| inodes.contains(&i))
        })
        .collect()
}

fn exec_sleep(lab: &str, pause: Option<&Pause>) -> Child {
    let mut cmd = nlab();
    cmd.args(["exec", lab, "h1", "--", "sleep", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = pause {
        p.arm(&mut cmd);
    }
    cmd.spawn().expect("starting nlab exec")
}

fn wait_output(child: Child) -> Output {
    child.wait_with_output().expect("waiting for nlab exec")
}

/// Nothing of the lab is left: no process in any of its namespaces, no
/// trace, and nothing for `cleanup` to find.
fn assert_gone(lab: &str, inodes: &HashSet<u64>) {
    let left = processes_in(inodes);
    assert!(left.is_empty(), "processes left in lab {lab}: {left:?}");
    assert!(
        !nlab::lab::all_labs().iter().any(|l| l == lab),
        "cleanup would still find lab {lab}"
    );
    assert_no_trace(lab);
}

#[test]
fn exec_that_opened_the_namespace_before_down_refuses_to_start() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (name, inodes) = lab_up("xo");
    let _g = LabGuard(name.clone());
    let pause = Pause::new("exec-opened");
    let exec = exec_sleep(&name, Some(&pause));
    pause.wait_reached("exec-opened", Duration::from_secs(20));
    let down = run(&["down", &name]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    pause.go("exec-opened");
    let out = wait_output(exec);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exec should refuse: {err}");
    assert!(err.contains("removed"), "no clear reason: {err}");
    assert_gone(&name, &inodes);
}

#[test]
fn exec_inside_the_node_when_down_scans_is_ended_by_down() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (name, inodes) = lab_up("xe");
    let _g = LabGuard(name.clone());
    let pause = Pause::new("exec-entered");
    let exec = exec_sleep(&name, Some(&pause));
    let pid = pause.wait_reached("exec-entered", Duration::from_secs(20));
    assert!(
        processes_in(&inodes).contains(&(pid as i32)),
        "the paused exec is not inside the lab"
    );
    let down = run(&["down", &name]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let out = wait_output(exec);
    assert_eq!(out.status.signal(), Some(9), "down did not end the exec");
    assert_gone(&name, &inodes);
}

#[test]
fn exec_while_down_is_between_its_scan_and_the_unpin_refuses() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (name, inodes) = lab_up("xd");
    let _g = LabGuard(name.clone());
    let pause = Pause::new("down-scanned");
    let mut cmd = nlab();
    pause.arm(cmd.args(["down", &name]));
    let down = cmd.stdout(Stdio::null()).spawn().expect("starting down");
    pause.wait_reached("down-scanned", Duration::from_secs(20));
    // The pins are still there: only the closing mark tells exec.
    assert_eq!(count_ns(&format!("nlab-{name}-")), 3);
    let out = wait_output(exec_sleep(&name, None));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "exec ran during down");
    assert!(err.contains("being removed"), "no clear reason: {err}");
    pause.go("down-scanned");
    let st = wait_output(down).status;
    assert!(st.success(), "down failed: {st}");
    assert_gone(&name, &inodes);
}

#[test]
fn cleanup_ends_processes_in_namespaces_that_lost_their_pin() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (name, inodes) = lab_up("xc");
    let _g = LabGuard(name.clone());
    let exec = exec_sleep(&name, None);
    let t0 = Instant::now();
    while processes_in(&inodes).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "exec never entered");
        std::thread::sleep(Duration::from_millis(10));
    }
    // What an interrupted down (or `ip netns del`) leaves: every pin gone,
    // a namespace held by a process alone.
    for n in ["h1", "h2", "s1"] {
        let st = Command::new("ip")
            .args(["netns", "del", &ns(&name, n)])
            .status()
            .unwrap();
        assert!(st.success());
    }
    assert!(!processes_in(&inodes).is_empty());
    let out = run(&["cleanup", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["labs"].as_array().unwrap().iter().any(|l| l == &name[..]),
        "cleanup did not find lab {name}: {v}"
    );
    assert!(v["processes"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(wait_output(exec).status.signal(), Some(9));
    assert_gone(&name, &inodes);
}
