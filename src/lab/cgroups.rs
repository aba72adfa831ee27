//! The lab's node cgroups: created for nodes with `cpu`, `cpu_shares`,
//! `memory` or `pids`, recorded in `/run/nlab/<lab>/cgroups.json` before
//! each `mkdir` (so `down` and `cleanup` find them after a `kill -9`),
//! joined by every program nlab starts in the node, removed once the
//! node's processes are gone. Named `nlab-<lab>-<node>` (the node's
//! namespace name) under an `nlab` directory, so `cleanup` also finds
//! them by name when the record is lost.

use super::{Error, Result};
use crate::kernel::cgroup::{self, Controller, Layout, Limits, Version};
use crate::kernel::{netns, rt_sched};
use crate::store;
use crate::topo::limits::{shares_to_weight, NodeRun};
use crate::topo::Node;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

const RECORD: &str = "cgroups.json";

/// One node cgroup nlab made (or is about to make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCgroup {
    pub node: String,
    pub version: Version,
    pub controllers: Vec<Controller>,
    pub path: PathBuf,
}

fn record_path(lab: &str) -> PathBuf {
    store::lab_dir(lab).join(RECORD)
}

/// The lab's record (empty when there is none).
pub fn recorded(lab: &str) -> Vec<NodeCgroup> {
    std::fs::read(record_path(lab))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(lab: &str, all: &[NodeCgroup]) -> Result<()> {
    store::ensure_lab_dir(lab)?;
    let p = record_path(lab);
    let mut f = store::create_private_file(&p)?;
    let text = serde_json::to_vec_pretty(all)
        .map_err(|e| Error::Internal(format!("encoding {}: {e}", p.display())))?;
    f.write_all(&text)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("writing {}", p.display()), e))
}

/// Which controllers a node's settings need.
pub fn needed(run: &NodeRun) -> Vec<Controller> {
    let mut v = Vec::new();
    if run.cpu.is_some() || run.cpu_shares.is_some() {
        v.push(Controller::Cpu);
    }
    if run.memory.is_some() {
        v.push(Controller::Memory);
    }
    if run.pids.is_some() {
        v.push(Controller::Pids);
    }
    v
}

/// Every controller some node needs is there; else which node asks for
/// what, and why the machine does not have it.
pub fn check_available(nodes: &[&Node], layout: &Layout) -> Result<()> {
    let mut problems = Vec::new();
    for n in nodes {
        for c in needed(&n.run) {
            if let Some(why) = layout.why_missing(c) {
                problems.push(format!(
                    "node `{}` asks for a {} limit, but the {} controller is unavailable: {why}",
                    n.name,
                    c.name(),
                    c.name()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::NodeRun(problems.join("\n")))
    }
}

/// Nodes that ask for real-time CPU time (`--host rt`) on a machine
/// whose cpu hierarchy cannot give it: what is missing, per node.
pub fn check_real_time(nodes: &[&Node], layout: &Layout) -> Vec<String> {
    let Some(h) = layout.get(Controller::Cpu) else {
        return Vec::new(); // check_available names the missing controller
    };
    nodes
        .iter()
        .filter(|n| n.run.cpu.and_then(|c| c.rt_runtime()).is_some())
        .filter_map(|n| {
            rt_sched::support(h).err().map(|why| {
                format!(
                    "node `{}` asks for real-time CPU time (`--host rt`): {why}",
                    n.name
                )
            })
        })
        .collect()
}

/// The kernel's numbers for a node's settings on a machine of `cpus` CPUs.
fn limits_of(run: &NodeRun, cpus: usize) -> Limits {
    Limits {
        cpu: run
            .cpu
            .filter(|c| c.rt_runtime().is_none())
            .map(|c| c.quota(cpus)),
        rt: run.cpu.and_then(|c| c.rt_runtime()),
        cpu_weight: run.cpu_shares.map(|s| (s, shares_to_weight(s))),
        memory: run.memory,
        pids: run.pids,
    }
}

/// Creates (or refreshes the limits of) `node`'s cgroups: one per
/// hierarchy its controllers live in. Recorded before created.
pub fn ensure(lab: &str, node: &Node, layout: &Layout, cpus: usize) -> Result<()> {
    let ctrls = needed(&node.run);
    if ctrls.is_empty() {
        return Ok(());
    }
    let name = netns::ns_name(lab, &node.name);
    // One directory per hierarchy: on v2 (or co-mounted v1) several
    // controllers share it.
    let mut dirs: Vec<NodeCgroup> = Vec::new();
    for c in &ctrls {
        let h = layout.get(*c).ok_or_else(|| {
            Error::NodeRun(format!("no hierarchy for the {} controller", c.name()))
        })?;
        let path = h.nlab_dir().join(&name);
        match dirs.iter_mut().find(|d| d.path == path) {
            Some(d) => d.controllers.push(*c),
            None => dirs.push(NodeCgroup {
                node: node.name.clone(),
                version: h.version,
                controllers: vec![*c],
                path,
            }),
        }
    }
    let mut all = recorded(lab);
    all.retain(|d| d.node != node.name || dirs.contains(d));
    for d in &dirs {
        if !all.contains(d) {
            all.push(d.clone());
        }
    }
    save(lab, &all)?;
    let limits = limits_of(&node.run, cpus);
    for d in &dirs {
        let h = layout
            .get(d.controllers[0])
            .ok_or_else(|| Error::Internal("controller vanished from the layout".into()))?;
        cgroup::create(h, &name, &d.controllers)?;
        for c in &d.controllers {
            cgroup::set_limits(&d.path, d.version, *c, &limits)
                .map_err(|e| Error::NodeRun(format!("node `{}`: {e}", node.name)))?;
        }
    }
    Ok(())
}

/// The cgroup directories of `node` to join.
pub fn dirs_of(lab: &str, node: &str) -> Vec<PathBuf> {
    recorded(lab)
        .into_iter()
        .filter(|d| d.node == node)
        .map(|d| d.path)
        .collect()
}

/// The node's memory cgroup, if it has one.
pub fn memory_of(lab: &str, node: &str) -> Option<(PathBuf, Version)> {
    recorded(lab)
        .into_iter()
        .find(|d| d.node == node && d.controllers.contains(&Controller::Memory))
        .map(|d| (d.path, d.version))
}

/// Removes the cgroups of `nodes` (every node of the lab when `None`,
/// and then also those found by name): call once their processes are
/// gone. Returns how many it removed.
pub fn remove(lab: &str, nodes: Option<&[String]>) -> Result<usize> {
    let all = recorded(lab);
    let mut gone: Vec<PathBuf> = all
        .iter()
        .filter(|d| nodes.is_none_or(|ns| ns.contains(&d.node)))
        .map(|d| d.path.clone())
        .collect();
    // By name too, for a lab whose record is lost. Only this lab's names:
    // cgroups are the whole machine's, and a lab of the same name in
    // another mount namespace (a test sandbox) is not this one, so
    // `cleanup` never goes looking for labs by their cgroups alone.
    if nodes.is_none() {
        let ours = |n: &str| netns::parse_ns_name(n).is_some_and(|(l, _)| l == lab);
        for p in cgroup::find_by_name(&ours) {
            if !gone.contains(&p) {
                gone.push(p);
            }
        }
    }
    let mut errors = Vec::new();
    let mut removed = 0;
    for p in &gone {
        let existed = p.exists();
        match cgroup::remove(p) {
            Ok(()) => removed += usize::from(existed),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Apply(errors));
    }
    if nodes.is_some() {
        let keep: Vec<NodeCgroup> = all
            .into_iter()
            .filter(|d| !gone.contains(&d.path))
            .collect();
        if keep.is_empty() {
            let _ = std::fs::remove_file(record_path(lab));
        } else {
            save(lab, &keep)?;
        }
    }
    Ok(removed)
}
