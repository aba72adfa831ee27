//! The command line's part of per-node limits and isolation: `nlab
//! features`' cgroup lines, `nlab exec` in a node with a memory limit
//! (which says so when the limit killed the program), the PID
//! namespace's init (`nlab node-init`), and `up`'s `exec:` output.

use crate::kernel::cgroup::{self, Version};
use crate::lab::{node_run, Lab};
use std::os::unix::process::ExitStatusExt;

/// One line per controller: which cgroup version carries it and where a
/// node's cgroup would go, or why it is unavailable.
pub fn cgroup_lines() -> Vec<(String, String)> {
    let l = cgroup::detect();
    cgroup::CONTROLLERS
        .iter()
        .map(|c| {
            let v = match (l.get(*c), l.why_missing(*c)) {
                (Some(h), _) => format!(
                    "cgroup {} ({})",
                    match h.version {
                        Version::V1 => "v1",
                        Version::V2 => "v2",
                    },
                    h.nlab_dir().join("nlab-LAB-NODE").display()
                ),
                (None, Some(why)) => format!("unavailable: {why}"),
                (None, None) => "unavailable".into(),
            };
            (format!("node {} limits", c.name()), v)
        })
        .chain(std::iter::once((
            "node real-time cpu (--host rt)".to_string(),
            match real_time(&l) {
                Ok(()) => "cgroup v1 (cpu.rt_runtime_us, SCHED_RR)".to_string(),
                Err(why) => format!("unavailable: {why}"),
            },
        )))
        .collect()
}

/// Whether nodes can get real-time CPU time (`--host rt`), else why not.
fn real_time(l: &cgroup::Layout) -> Result<(), String> {
    match l.get(cgroup::Controller::Cpu) {
        Some(h) => crate::kernel::rt_sched::support(h),
        None => Err("there is no cpu controller".into()),
    }
}

/// The same as JSON.
pub fn cgroup_json() -> serde_json::Value {
    let l = cgroup::detect();
    serde_json::json!({
        "found": l.found,
        "missing": l.missing.iter().map(|(c, why)| serde_json::json!({"controller": c, "why": why})).collect::<Vec<_>>(),
        "real_time": match real_time(&l) {
            Ok(()) => serde_json::json!({"available": true}),
            Err(why) => serde_json::json!({"available": false, "why": why}),
        },
    })
}

/// `nlab exec` in a node with a memory limit: the program runs as a child
/// (not in place of nlab) so that, if the limit kills it, nlab can say so.
/// Ctrl-C reaches the program (same process group); nlab waits it out.
pub fn exec_watching_oom(
    lab: &Lab,
    node: &str,
    prog: &str,
    args: &[String],
) -> anyhow::Result<i32> {
    let n = lab
        .topology()
        .nodes
        .get(node)
        .ok_or_else(|| anyhow::anyhow!("no node {node}"))?;
    let before = node_run::oom_count(lab.name(), node);
    crate::kernel::signals::catch_sigint()?;
    let mut child = lab
        .command(node, prog, args)?
        .spawn()
        .map_err(|e| anyhow::anyhow!("running `{prog}` in {node}: {e}"))?;
    let status = child.wait()?;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    // Killed, or a shell saying its child was (137): the cgroup's OOM
    // counter tells whether the limit did it.
    if code == 128 + libc::SIGKILL {
        if let Some(note) = node_run::oom_note(lab.name(), n, before) {
            eprintln!("nlab exec: `{prog}` {note}");
        }
    }
    Ok(code)
}

/// `nlab node-init LAB NODE` (hidden): the init of a node's PID namespace.
pub fn node_init() -> anyhow::Result<i32> {
    crate::kernel::pid_init::run()
}

/// `up`'s report of the `exec:` commands it ran.
pub fn print_exec(runs: &[node_run::ExecRun]) {
    for r in runs {
        println!("*** {}: {}", r.node, r.command);
        print!("{}", r.output);
        if !r.output.is_empty() && !r.output.ends_with('\n') {
            println!();
        }
    }
}

/// After `up`: each node's limits and isolation, one line per node.
pub fn print_settings(t: &crate::topo::Topology) {
    use crate::topo::limits::{show_size, Cpu};
    let mut nodes: Vec<&crate::topo::Node> =
        t.nodes.values().filter(|n| !n.run.is_empty()).collect();
    nodes.sort_by(|a, b| crate::topo::natural_cmp(&a.name, &b.name));
    let shown = nodes.len().min(20);
    // Printed with the first line under it: nodes whose only setting is
    // `exec:` or `env:` have none.
    let mut header = false;
    for n in &nodes[..shown] {
        let r = &n.run;
        let mut parts = Vec::new();
        match r.cpu {
            Some(Cpu::Cores(c)) => parts.push(format!("cpu {c}")),
            Some(Cpu::MachineFraction { fraction, .. }) => {
                parts.push(format!("cpu {fraction} of the machine"))
            }
            Some(Cpu::RealTime {
                fraction,
                period_us,
            }) => parts.push(format!(
                "real-time (SCHED_RR {}) {fraction} of each {} ms period",
                crate::topo::limits::RT_PRIORITY,
                period_us as f64 / 1000.0
            )),
            None => {}
        }
        parts.extend(r.cpu_shares.map(|s| format!("cpu_shares {s}")));
        parts.extend(r.memory.map(|m| format!("memory {}", show_size(m))));
        parts.extend(r.pids.map(|p| format!("pids {p}")));
        for (on, what) in [
            (r.isolation.uts, "own hostname"),
            (r.isolation.tmp, "own /tmp and /run"),
            (r.isolation.pid, "own PID namespace"),
        ] {
            if on {
                parts.push(what.into());
            }
        }
        if r.own_resolv_conf() {
            parts.push("own resolv.conf".into());
        }
        if !r.binds.is_empty() {
            parts.push(format!("{} bind(s)", r.binds.len()));
        }
        if !parts.is_empty() {
            if !std::mem::replace(&mut header, true) {
                println!("Limits and isolation:");
            }
            println!("  {}: {}", n.name, parts.join(", "));
        }
    }
}
