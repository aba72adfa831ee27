//! Mininet's `--host rt,cpu=F` (`CPULimitedHost` with `sched='rt'`):
//! real-time group scheduling where the kernel has it (cgroup v1's cpu
//! hierarchy with `CONFIG_RT_GROUP_SCHED`), a clear refusal naming the
//! missing feature where it does not. Which path runs depends on this
//! kernel; the other is skipped with a line saying so (its decision is
//! unit-tested in `kernel::rt_sched`).
//!
//! Witnesses: the cgroup's `cpu.rt_runtime_us`/`cpu.rt_period_us` read
//! from /sys, and a program in the node reporting its own scheduling
//! policy and priority and the CPU time a busy loop got (the kernel's
//! accounting) against the wall time it ran.
mod common;
use common::*;
use std::path::PathBuf;

fn features() -> serde_json::Value {
    let out = nlab().args(["features", "--json"]).assert().code(0);
    serde_json::from_slice(&out.get_output().stdout).expect("features --json")
}

/// Whether this machine can give real-time CPU time to a node cgroup, as
/// `nlab features` reports it.
fn supported() -> Result<(), String> {
    let rt = &features()["cgroups"]["real_time"];
    if rt["available"] == true {
        Ok(())
    } else {
        Err(rt["why"].as_str().unwrap_or("no reason given").to_string())
    }
}

/// The node's cpu cgroup, where `nlab features` says node cgroups go.
fn cpu_dir(lab: &str, node: &str) -> Option<PathBuf> {
    let f = features();
    let found = f["cgroups"]["found"].as_array()?;
    let h = found.iter().find(|h| h["controller"] == "cpu")?;
    let mount = h["mount"].as_str()?;
    let parent = h["parent"].as_str()?.trim_start_matches('/');
    Some(
        PathBuf::from(mount)
            .join(parent)
            .join("nlab")
            .join(ns(lab, node)),
    )
}

fn read_u64(dir: &std::path::Path, f: &str) -> u64 {
    std::fs::read_to_string(dir.join(f))
        .unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()))
}

/// Runs in the node: its policy, priority, and a 1 s busy loop's CPU
/// time over its wall time.
const PROBE: &str = "import os, time
w, c = time.monotonic(), time.process_time()
while time.monotonic() - w < 1.0:
    pass
print(os.sched_getscheduler(0) == os.SCHED_RR, os.sched_getparam(0).sched_priority,
      (time.process_time() - c) / (time.monotonic() - w))";

#[test]
fn host_rt_gives_sched_rr_within_the_group_budget() {
    require_root!();
    if let Err(why) = supported() {
        println!("skipped: this kernel has no real-time group scheduling ({why}); the refusal is tested by host_rt_is_refused_naming_the_missing_feature");
        return;
    }
    let name = lab_name("rt");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args([
            "up",
            "--topo",
            "single,2",
            "--name",
            &name,
            "--host",
            "rt,cpu=0.1",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    assert!(
        s.contains("h1: real-time (SCHED_RR 20) 0.1 of each 100 ms period"),
        "{s}"
    );
    let dir = cpu_dir(&name, "h1").expect("cpu hierarchy");
    assert_eq!(read_u64(&dir, "cpu.rt_period_us"), 100_000);
    assert_eq!(read_u64(&dir, "cpu.rt_runtime_us"), 10_000);
    // The shared nlab directory holds at least the two nodes' share.
    let top = dir.parent().expect("nlab dir");
    let (r, p) = (
        read_u64(top, "cpu.rt_runtime_us"),
        read_u64(top, "cpu.rt_period_us"),
    );
    assert!(r as f64 / p as f64 >= 0.2, "{r}/{p}");
    let out = nlab()
        .args(["exec", &name, "h1", "--", "python3", "-c", PROBE])
        .assert()
        .code(0);
    let s = text(out.get_output());
    let f: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(&f[..2], ["True", "20"], "{s}");
    let share: f64 = f[2].parse().unwrap_or_else(|_| panic!("{s}"));
    // 10 ms per 100 ms per CPU: well under half of one CPU, whatever
    // else the machine runs (a busy loop unthrottled gets about 1.0).
    assert!(share < 0.5, "the busy loop got {share} of a CPU: {s}");
    // The node's network works as before.
    nlab().args(["pingall", &name]).assert().code(0);
    nlab().args(["down", &name]).assert().code(0);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!cpu_dir(&name, "h2").is_some_and(|d| d.exists()));
}

#[test]
fn host_rt_is_refused_naming_the_missing_feature() {
    require_root!();
    let why = match supported() {
        Ok(()) => {
            println!("skipped: this kernel has real-time group scheduling (cgroup v1 cpu.rt_runtime_us); the real path is tested by host_rt_gives_sched_rr_within_the_group_budget, the refusal's wording by kernel::rt_sched::tests");
            // What does not depend on the kernel: rt needs a fraction.
            let out = nlab()
                .args([
                    "up", "--topo", "single,2", "--name", "rtbad", "--host", "rt",
                ])
                .assert()
                .code(2);
            assert!(text(out.get_output()).contains("positive CPU fraction"));
            assert_eq!(count_ns("nlab-rtbad-"), 0);
            return;
        }
        Err(why) => why,
    };
    let name = lab_name("rtno");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args([
            "up",
            "--topo",
            "single,2",
            "--name",
            &name,
            "--host",
            "rt,cpu=0.1",
        ])
        .assert()
        .failure();
    let s = text(out.get_output());
    assert!(s.contains("node `h1` asks for real-time CPU time"), "{s}");
    assert!(s.contains(&why) && s.contains("--host cfs"), "{s}");
    assert_eq!(count_ns(&format!("nlab-{name}-")), 0, "nothing built: {s}");
}
