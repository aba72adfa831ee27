//! Commands that run things in a lab: `exec`, `shell`, `pingall`.

use super::output::{print_json, secs};
use super::root::require_root;
use super::PingArgs;
use crate::lab::Lab;
use crate::services::ping::{self, PingOpts};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Pair counts above this get a progress bar on a terminal.
const PROGRESS_MIN_PAIRS: usize = 20_000;

pub fn exec(lab: &str, node: &str, command: &[String]) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(lab)?;
    let ns = lab.namespace(node)?;
    let (prog, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command given after --"))?;
    std::env::set_var("NLAB_LAB", lab.name());
    std::env::set_var("NLAB_NODE", node);
    let spec = node_spec(&lab, node)?;
    if lab
        .topology()
        .nodes
        .get(node)
        .is_some_and(|n| n.run.memory.is_some())
    {
        return super::limits::exec_watching_oom(&lab, node, prog, args);
    }
    // Replacing this process keeps the terminal, signals and the exit code
    // exactly the command's own. A program that cannot be executed exits
    // 127 or 126, as in a shell (see `exit_code`).
    let dir = crate::store::lab_dir(lab.name());
    let err = crate::kernel::exec::exec_replace_lab(&ns, &dir, spec.as_ref(), prog, args);
    Err(anyhow::Error::new(err).context(format!("running `{prog}` in {node}")))
}

pub fn shell(lab: &str, node: &str) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(lab)?;
    let ns = lab.namespace(node)?;
    let sh = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
    std::env::set_var("NLAB_LAB", lab.name());
    std::env::set_var("NLAB_NODE", node);
    // A prompt that says where you are; bash honours PS1 from the
    // environment when no rc file overrides it.
    std::env::set_var("PS1", format!("[{}:{node}] \\w # ", lab.name()));
    eprintln!(
        "Entering {node} of lab {} (namespace {ns}); `exit` to leave.",
        lab.name()
    );
    let spec = node_spec(&lab, node)?;
    let dir = crate::store::lab_dir(lab.name());
    let err = crate::kernel::exec::exec_replace_lab::<&str>(&ns, &dir, spec.as_ref(), &sh, &[]);
    Err(anyhow::Error::new(err).context(format!("starting {sh} in {node}")))
}

/// The node's limits and isolation for a program replacing this process,
/// with the node's `env:` set in this process's environment.
fn node_spec(lab: &Lab, node: &str) -> anyhow::Result<Option<crate::kernel::exec_node::NodeSpec>> {
    let Some(n) = lab.topology().nodes.get(node) else {
        return Ok(None);
    };
    for (k, v) in &n.run.env {
        std::env::set_var(k, v);
    }
    Ok(crate::lab::node_run::spec(lab.name(), n)?)
}

pub fn pingall(a: PingArgs) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(&a.lab)?;
    pingall_lab(&lab, a.timeout, a.ipv6, a.json)
}

/// Pings every ordered pair of hosts; prints Mininet's report (or JSON).
/// Returns 1 when any pair failed.
pub fn pingall_lab(lab: &Lab, timeout: f64, v6: bool, json: bool) -> anyhow::Result<i32> {
    let hosts = ping::hosts_of(lab.topology(), v6);
    // VMs are destinations only: their guest holds the address.
    let skip = ping::not_sources(lab.topology(), &hosts);
    let wanted = ping::without_sources(&ping::all_pairs(hosts.len()), &skip);
    let pairs = wanted.len();
    let bar =
        (!json && pairs >= PROGRESS_MIN_PAIRS && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(pairs as u64);
            if let Ok(s) = ProgressStyle::with_template(
                "pingall [{bar:40}] {pos}/{len} pairs ({per_sec}, eta {eta})",
            ) {
                b.set_style(s.progress_chars("=> "));
            }
            b
        });
    let opts = PingOpts {
        timeout: Duration::from_secs_f64(timeout.max(0.01)),
        ..PingOpts::default()
    };
    let start = Instant::now();
    let progress = |done: usize, _total: usize| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let results = ping::ping_pairs(&hosts, &wanted, &opts, &progress)
        .with_context(|| format!("pinging across lab {}", lab.name()))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let elapsed = start.elapsed();
    let summary = ping::Summary::of(&results);
    if json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            lab: &'a str,
            hosts: Vec<&'a str>,
            sent: usize,
            received: usize,
            dropped_percent: f64,
            seconds: f64,
            failed: Vec<(String, String)>,
            /// Hosts not pinged from (VMs), each with why.
            #[serde(skip_serializing_if = "Vec::is_empty")]
            not_sources: Vec<NotSource<'a>>,
        }
        #[derive(serde::Serialize)]
        struct NotSource<'a> {
            node: &'a str,
            why: &'static str,
        }
        let failed = results
            .iter()
            .filter(|r| r.rtt.is_none())
            .map(|r| (hosts[r.src].name.clone(), hosts[r.dst].name.clone()))
            .collect();
        print_json(&Out {
            lab: lab.name(),
            hosts: hosts.iter().map(|h| h.name.as_str()).collect(),
            sent: summary.pairs,
            received: summary.received,
            dropped_percent: summary.dropped_pct,
            seconds: elapsed.as_secs_f64(),
            failed,
            not_sources: skip
                .iter()
                .map(|&i| NotSource {
                    node: hosts[i].name.as_str(),
                    why: ping::VM_NOTE,
                })
                .collect(),
        })?;
    } else {
        print!("{}", ping::report_skipping(&hosts, &results, &skip));
        println!("*** {} pairs in {}", results.len(), secs(elapsed));
    }
    Ok(if summary.received == summary.pairs {
        0
    } else {
        1
    })
}
