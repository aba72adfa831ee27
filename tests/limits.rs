//! Per-node limits (issue 14), witnessed by the kernel's own counters and
//! by what the limited programs see: a memory-limited node's program is
//! OOM-killed at its limit while the lab keeps working, a CPU-limited busy
//! loop is throttled (the cgroup's `nr_throttled`, and its CPU time not
//! above quota × periods), a pids limit refuses `fork`, and the cgroups
//! are gone after `down`, and after `kill -9` of `up` + `cleanup`.
//!
//! The cgroups are the host's (the sandbox has no cgroup namespace), so
//! lab names carry a random part, and every test tears down on panic.
//! `cleanup` removes every lab: the tests of this binary take turns.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::topo::limits::{Cpu, NodeRun};
use nlab::topo::Topology;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

/// A lab name no other sandbox's run can pick (pids repeat across PID
/// namespaces, and cgroups are shared by all of them).
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}x{:x}", lab_name(tag), nanos % 0xfffff)
}

/// Every cgroup directory named like one of `lab`'s nodes, in every
/// hierarchy: found by walking /sys/fs/cgroup, not through nlab.
fn cgroups_of(lab: &str) -> Vec<PathBuf> {
    fn walk(d: &std::path::Path, lab: &str, out: &mut Vec<PathBuf>, depth: usize) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if lab_of_ns(&name) == Some(lab) {
                out.push(e.path());
            } else if depth < 8 {
                walk(&e.path(), lab, out, depth + 1);
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/sys/fs/cgroup"), lab, &mut out, 0);
    out
}

/// The node's cgroup directory of the hierarchy that has one of `files`
/// (the v1 name, the v2 name), and which one it has.
fn cgroup_with(lab: &str, node: &str, files: &[&'static str]) -> (PathBuf, &'static str) {
    let ns = ns(lab, node);
    for p in cgroups_of(lab).into_iter().filter(|p| p.ends_with(&ns)) {
        if let Some(f) = files.iter().find(|f| p.join(f).exists()) {
            return (p, f);
        }
    }
    panic!("no cgroup of {ns} has {files:?}")
}

fn stat(dir: &std::path::Path, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}: {text}", dir.join(file).display()))
}

fn star_with(lab: &str, run: NodeRun) -> Topology {
    let mut t = star(lab, 2);
    t.nodes.get_mut("h1").unwrap().run = run;
    t
}

#[test]
fn a_memory_limited_program_is_oom_killed_and_the_lab_keeps_working() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("m");
    let _g = LabGuard(name.clone());
    let run = NodeRun {
        memory: Some(32 << 20),
        ..Default::default()
    };
    let (lab, _) = Lab::up(&star_with(&name, run), &UpOptions::default()).expect("up");
    let (mem, max) = cgroup_with(&name, "h1", &["memory.limit_in_bytes", "memory.max"]);
    assert_eq!(stat(&mem, max, ""), 32 << 20);
    let v1 = max == "memory.limit_in_bytes";
    let events = if v1 {
        "memory.oom_control"
    } else {
        "memory.events"
    };
    // `tail` buffers a line that never ends: it grows until the limit.
    let out = lab.exec_output("h1", &["tail", "/dev/zero"]).unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    assert!(stat(&mem, events, "oom_kill ") >= 1);
    let peak = if v1 {
        "memory.max_usage_in_bytes"
    } else {
        "memory.peak"
    };
    if mem.join(peak).exists() {
        assert!(stat(&mem, peak, "") <= 32 << 20);
    }
    // The rest of the lab works, and so does the node itself.
    let ping = lab
        .exec_output("h2", &["ping", "-c1", "-W2", "10.0.0.1"])
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");
    let ping = lab
        .exec_output("h1", &["ping", "-c1", "-W2", "10.0.0.2"])
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");
    // `nlab exec` says why the program died.
    let o = nlab()
        .args(["exec", &name, "h1", "--", "tail", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(137), "{}", text(&o));
    assert!(
        text(&o).contains("OOM killer") && text(&o).contains("32 MiB"),
        "{}",
        text(&o)
    );
    lab.down().unwrap();
    assert!(cgroups_of(&name).is_empty(), "{:?}", cgroups_of(&name));
}

#[test]
fn a_cpu_limited_busy_loop_is_throttled_by_its_cgroup() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("c");
    let _g = LabGuard(name.clone());
    let run = NodeRun {
        cpu: Some(Cpu::Cores(0.1)),
        ..Default::default()
    };
    let (lab, _) = Lab::up(&star_with(&name, run), &UpOptions::default()).expect("up");
    let (cpu, max) = cgroup_with(&name, "h1", &["cpu.cfs_quota_us", "cpu.max"]);
    let (quota, period) = if max == "cpu.max" {
        let t = std::fs::read_to_string(cpu.join(max)).unwrap();
        let mut w = t.split_whitespace().map(|v| v.parse::<u64>().unwrap());
        (w.next().unwrap(), w.next().unwrap())
    } else {
        (stat(&cpu, max, ""), stat(&cpu, "cpu.cfs_period_us", ""))
    };
    assert_eq!((quota, period), (10_000, 100_000));
    let mut child = lab
        .command("h1", "sh", &["-c".into(), "while :; do :; done".into()])
        .unwrap()
        .spawn()
        .unwrap();
    // Counted in periods of the cgroup's own clock, not by our timing.
    assert!(
        wait_until(Duration::from_secs(20), || stat(
            &cpu,
            "cpu.stat",
            "nr_periods "
        ) >= 10),
        "the loop never ran 10 periods"
    );
    // The loop's CPU time (its own, from /proc), then the periods: the
    // time cannot exceed one quota per period so far plus one.
    let ticks = clock_ticks();
    let f = stat_fields(&format!("/proc/{}/stat", child.id())).unwrap();
    let used_us =
        (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) * 1_000_000 / ticks;
    let periods = stat(&cpu, "cpu.stat", "nr_periods ");
    let throttled = stat(&cpu, "cpu.stat", "nr_throttled ");
    let _ = child.kill();
    let _ = child.wait();
    assert!(throttled > 0, "never throttled in {periods} periods");
    assert!(
        used_us <= quota * (periods + 1),
        "{used_us} µs of CPU in {periods} periods of a {quota} µs quota"
    );
    lab.down().unwrap();
    assert!(cgroups_of(&name).is_empty());
}

fn clock_ticks() -> u64 {
    let o = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

#[test]
fn a_pids_limit_refuses_fork_beyond_it() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A lab name with `-`: its namespaces (and cgroups) are `nlab-LAB:NODE`.
    let name = format!("{}-p", unique("p"));
    let _g = LabGuard(name.clone());
    let run = NodeRun {
        pids: Some(5),
        ..Default::default()
    };
    let (lab, _) = Lab::up(&star_with(&name, run), &UpOptions::default()).expect("up");
    let py = "import os, time\nn = 0\ntry:\n    while n < 50:\n        if os.fork() == 0:\n            time.sleep(2)\n            os._exit(0)\n        n += 1\nexcept OSError as e:\n    print(n, e.errno)\n";
    let out = lab
        .exec_output("h1", &["/usr/bin/python3", "-c", py])
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // python itself is one task of five: four children, then EAGAIN.
    assert_eq!(said, format!("4 {}", libc::EAGAIN), "{out:?}");
    // Unlimited node: the same program forks all 50.
    let out = lab
        .exec_output("h2", &["/usr/bin/python3", "-c", py])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "{out:?}");
    lab.down().unwrap();
    assert!(cgroups_of(&name).is_empty());
}

/// `kill -9` of `up` once it made the cgroups, then `cleanup`; and a lab
/// whose runtime directory (with the cgroup record) is lost: `cleanup`
/// finds the cgroups by name.
#[test]
fn cgroups_are_gone_after_kill_9_of_up_and_cleanup() {
    require_root!();
    if let Some(why) = outside_sandbox() {
        eprintln!("SKIP: runs `nlab cleanup` (every lab on the host): {why}");
        return;
    }
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("k");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            "name: {name}\ntopology:\n  nodes:\n    h1: {{memory: 64m, pids: 50, cpu: 0.5}}\n    h2: {{memory: 64m}}\n"
        ),
    )
    .unwrap();
    let pause = pause::Pause::new("node-setup");
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("nlab"));
    cmd.arg("up").arg(&file).stdout(std::process::Stdio::null());
    let mut up = pause.arm(&mut cmd).spawn().unwrap();
    pause.wait_reached("node-setup", Duration::from_secs(30));
    let made = cgroups_of(&name);
    for node in ["h1", "h2"] {
        assert!(
            made.iter().any(|p| p.ends_with(ns(&name, node))),
            "{made:?}"
        );
    }
    let _ = up.kill();
    let _ = up.wait();
    assert!(nlab().arg("cleanup").output().unwrap().status.success());
    assert!(cgroups_of(&name).is_empty(), "{:?}", cgroups_of(&name));

    // Up again, a program running in a limited node, the record lost.
    assert!(nlab()
        .arg("up")
        .arg(&file)
        .output()
        .unwrap()
        .status
        .success());
    let mut sleeper = Command::new(assert_cmd::cargo::cargo_bin("nlab"))
        .args(["exec", &name, "h1", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        let (p, _) = cgroup_with(&name, "h1", &["pids.max"]);
        !std::fs::read_to_string(p.join("cgroup.procs"))
            .unwrap_or_default()
            .trim()
            .is_empty()
    }));
    std::fs::remove_dir_all(format!("/run/nlab/{name}")).unwrap();
    assert!(nlab().arg("cleanup").output().unwrap().status.success());
    let _ = sleeper.wait();
    assert!(cgroups_of(&name).is_empty(), "{:?}", cgroups_of(&name));
}

/// A limit below what a program needs: `up` runs the node's `exec:` and
/// says the OOM killer ended it at the limit; nothing of the lab is left.
#[test]
fn a_memory_limit_too_small_for_a_program_is_a_clear_error_at_up() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("s");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            "name: {name}\ntopology:\n  nodes:\n    h1:\n      memory: 4m\n      exec: [\"/usr/bin/python3 -c 'x = bytearray(64 << 20)'\"]\n"
        ),
    )
    .unwrap();
    let o = nlab().arg("up").arg(&file).output().unwrap();
    let e = text(&o);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("exec of node `h1`: `/usr/bin/python3 -c 'x = bytearray(64 << 20)'` was killed by the kernel's OOM killer at node `h1`'s memory limit (4 MiB); raise `memory:`"),
        "{e}"
    );
    assert_eq!(count_ns(&format!("nlab-{name}-")), 0);
    assert!(cgroups_of(&name).is_empty(), "{:?}", cgroups_of(&name));
}

/// Mininet's `--host cfs,cpu=F` with `--topo`: F of the whole machine
/// per host (quota = period × F × CPUs, as Mininet computes it).
#[test]
fn mininet_host_cfs_spelling_limits_every_host() {
    require_root!();
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = unique("h");
    let _g = LabGuard(name.clone());
    let o = nlab()
        .args([
            "up",
            "--topo",
            "single,2",
            "--name",
            &name,
            "--host",
            "cfs,cpu=0.25",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as u64;
    for h in ["h1", "h2"] {
        let (dir, max) = cgroup_with(&name, h, &["cpu.cfs_quota_us", "cpu.max"]);
        let quota: u64 = std::fs::read_to_string(dir.join(max))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(quota, 25_000 * cpus, "{h}");
    }
    let (s1, _) = (ns(&name, "s1"), ());
    assert!(
        !cgroups_of(&name).iter().any(|p| p.ends_with(&s1)),
        "switches are not limited"
    );
    nlab().args(["down", &name]).assert().success();
    assert!(cgroups_of(&name).is_empty());
}
