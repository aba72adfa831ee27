//! Per-node limits and isolation around `up`: checked before anything is
//! built ([`precheck`]), made after the nodes exist ([`setup`]: cgroups,
//! the private `/tmp` and `/run` directories, `resolv.conf`, sysctls, the
//! PID namespace's init), applied to every program nlab starts in a node
//! ([`spec`]), and the node's `exec:` list run last ([`run_exec`]).

use super::{cgroups, Error, Result};
use crate::kernel::cgroup::{self, Layout};
use crate::kernel::exec_node::NodeSpec;
use crate::kernel::{features, files, netns, pid_init};
use crate::services::supervisor::api as supervisor;
use crate::store;
use crate::topo::{Loc, Node, Topology};
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

/// `file:line: ` for a setting written in a file, else nothing.
fn at(t: &Topology, loc: Loc) -> String {
    match (&t.source, loc.is_known()) {
        (Some(f), true) => format!("{f}:{}: ", loc.line),
        (None, true) => format!("line {}: ", loc.line),
        _ => String::new(),
    }
}

fn with_settings(t: &Topology) -> Vec<&Node> {
    t.nodes.values().filter(|n| !n.run.is_empty()).collect()
}

/// What the machine must offer for `t`'s node settings, checked before
/// `up` touches anything: the cgroup controllers the limits need, the
/// paths of bind mounts, the sysctls (in a scratch namespace: only keys
/// a network namespace has), the `nlab` binary for PID namespaces.
pub fn precheck(t: &Topology) -> Result<Option<Layout>> {
    let nodes = with_settings(t);
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut problems = Vec::new();
    for n in &nodes {
        for (i, b) in n.run.binds.iter().enumerate() {
            let loc = at(t, n.run.locs.binds.get(i).copied().unwrap_or(n.loc));
            let (src, dst) = (fs::metadata(&b.src), fs::metadata(&b.dst));
            match (src, dst) {
                (Err(e), _) => problems.push(format!(
                    "{loc}node `{}`: bind `{b}`: the source {} cannot be used: {e}",
                    n.name, b.src
                )),
                (_, Err(_)) if private_target(n, &b.dst) => {}
                (_, Err(_)) => problems.push(format!(
                    "{loc}node `{}`: bind `{b}`: the target {} does not exist; nodes share the \
                     host's file system, so the mount point must exist there (create it first)",
                    n.name, b.dst
                )),
                (Ok(s), Ok(d)) if s.is_dir() != d.is_dir() => problems.push(format!(
                    "{loc}node `{}`: bind `{b}`: one of source and target is a directory, the \
                     other is not",
                    n.name
                )),
                _ => {}
            }
        }
    }
    let keys: Vec<String> = nodes
        .iter()
        .flat_map(|n| n.run.sysctls.keys().map(|k| probe_key(k)))
        .collect();
    if !keys.is_empty() {
        let missing = features::missing_sysctls(&keys)?;
        for n in &nodes {
            for k in n.run.sysctls.keys() {
                if missing.contains(&probe_key(k)) {
                    let loc = at(t, n.run.locs.sysctls.get(k).copied().unwrap_or(n.loc));
                    problems.push(format!(
                        "{loc}node `{}`: sysctl `{k}` does not exist in a network namespace of \
                         this kernel (/proc/sys/{} is missing there)",
                        n.name,
                        probe_key(k).replace('.', "/")
                    ));
                }
            }
        }
    }
    if nodes.iter().any(|n| n.run.isolation.pid) {
        if let Err(e) = supervisor::nlab_exe() {
            problems.push(format!("a node asks for its own PID namespace (isolation.pid), whose init is `nlab {}`: {e}", pid_init::SUBCOMMAND));
        }
    }
    let layout = nodes
        .iter()
        .any(|n| n.run.has_limits())
        .then(cgroup::detect);
    if let Some(l) = &layout {
        if let Err(e) = cgroups::check_available(&nodes, l) {
            problems.push(e.to_string());
        }
        problems.extend(cgroups::check_real_time(&nodes, l));
    }
    if problems.is_empty() {
        Ok(layout)
    } else {
        Err(Error::NodeRun(problems.join("\n")))
    }
}

/// A bind target in the node's private `/tmp` or `/run`, whose mount
/// point nlab makes.
fn private_target(n: &Node, dst: &str) -> bool {
    n.run.isolation.tmp && ["/tmp/", "/run/"].iter().any(|p| dst.starts_with(p))
}

/// The key to look for in a fresh namespace: an interface's key
/// (`net.ipv4.conf.h1-eth0.rp_filter`) as its `default` one.
fn probe_key(k: &str) -> String {
    let parts: Vec<&str> = k.split('.').collect();
    match parts[..] {
        ["net", fam @ ("ipv4" | "ipv6"), "conf", _, ref rest @ ..] if !rest.is_empty() => {
            format!("net.{fam}.conf.default.{}", rest.join("."))
        }
        _ => k.to_string(),
    }
}

/// The node's own directory in the lab's runtime directory.
fn node_dir(lab: &str, node: &str) -> PathBuf {
    store::lab_dir(lab).join("nodes").join(node)
}

/// Makes what the nodes' settings need, after `apply`: for nodes that
/// went, their cgroups go (their processes are gone); for every node with
/// settings (idempotent, so a repeated `up` repairs), its cgroups with
/// their limits, private directories, `resolv.conf`, sysctls and init.
pub fn setup(t: &Topology, deleted: &[String], layout: Option<&Layout>) -> Result<()> {
    let lab = &t.name;
    if !deleted.is_empty() {
        cgroups::remove(lab, Some(deleted))?;
        for n in deleted {
            let d = node_dir(lab, n);
            if d.exists() {
                fs::remove_dir_all(&d)
                    .map_err(|e| Error::io(format!("removing {}", d.display()), e))?;
            }
        }
    }
    let cpus = cgroup::online_cpus();
    for n in with_settings(t) {
        if let Some(l) = layout {
            cgroups::ensure(lab, n, l, cpus)?;
        }
        let ns = netns::ns_name(lab, &n.name);
        if n.run.isolation.tmp {
            let d = node_dir(lab, &n.name);
            store::ensure_private_dir(d.parent().unwrap_or(&d))?;
            for (sub, mode) in [("", 0o700), ("tmp", 0o1777), ("run", 0o755)] {
                let p = d.join(sub);
                files::ensure_dir(&p, mode)
                    .map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
            }
            mount_points(&d, n)?;
        }
        if n.run.own_resolv_conf() {
            write_resolv_conf(lab, &ns, &n.run)?;
        }
        if !n.run.sysctls.is_empty() {
            let h = netns::NetNs::open(&ns)?;
            for (k, v) in &n.run.sysctls {
                h.run(|| netns::write_sysctl(k, v, &ns))??;
            }
        }
        if n.run.isolation.pid && find_init(&ns).is_none() {
            let exe = supervisor::nlab_exe().map_err(|e| Error::NodeRun(e.to_string()))?;
            pid_init::spawn(&ns, &exe, lab, &n.name)?;
        }
    }
    Ok(())
}

/// Binds into the node's private `/tmp` or `/run` need their mount
/// point there (the host's cannot serve): made like the source, a
/// directory or an empty file.
fn mount_points(d: &Path, n: &Node) -> Result<()> {
    for b in &n.run.binds {
        // `/tmp/data` → `<node dir>/tmp/data`.
        let Some(rel) = ["/tmp/", "/run/"]
            .iter()
            .find_map(|p| Some(Path::new(&p[1..4]).join(b.dst.strip_prefix(p)?)))
        else {
            continue;
        };
        let at = d.join(rel);
        let what = |e| {
            Error::io(
                format!("making the mount point {} of bind `{b}`", at.display()),
                e,
            )
        };
        let dir = fs::metadata(&b.src).is_ok_and(|m| m.is_dir());
        let parent = if dir { Some(at.as_path()) } else { at.parent() };
        if let Some(p) = parent {
            mkdirs_no_symlinks(d, p).map_err(what)?;
        }
        if !dir && fs::symlink_metadata(&at).is_err() {
            files::open_file(&at, 0o644, false).map_err(what)?;
        }
    }
    Ok(())
}

/// `mkdir -p` of `path` below `base`, refusing to pass a symlink: the
/// node's `/tmp` is writable by its programs, and nlab (root, on the
/// host) must not follow a link one of them planted there.
fn mkdirs_no_symlinks(base: &Path, path: &Path) -> std::io::Result<()> {
    let rel = path.strip_prefix(base).map_err(std::io::Error::other)?;
    let mut at = base.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(std::io::Error::other(format!(
                    "{} is a symlink",
                    at.display()
                )))
            }
            Ok(_) => {}
            Err(_) => files::ensure_shared_dir(&at, 0o755)?,
        }
    }
    Ok(())
}

/// The init of node namespace `ns`, if it runs.
fn find_init(ns: &str) -> Option<i32> {
    pid_init::find(netns::pinned_inode(ns)?)
}

/// `/etc/netns/<ns>/` as the node's own directory (other nodes share the
/// lab's, a symlink): the lab's `hosts` linked in, its own `resolv.conf`.
fn write_resolv_conf(lab: &str, ns: &str, run: &crate::topo::limits::NodeRun) -> Result<()> {
    let dir = Path::new(netns::ETC_NETNS).join(ns);
    if fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(&dir).map_err(|e| Error::io(format!("replacing {}", dir.display()), e))?;
    }
    files::ensure_dir(&dir, 0o755)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let hosts = dir.join("hosts");
    if fs::symlink_metadata(&hosts).is_err() {
        std::os::unix::fs::symlink(super::hosts::etc_dir(lab).join("hosts"), &hosts)
            .map_err(|e| Error::io(format!("linking {}", hosts.display()), e))?;
    }
    let mut text = String::from("# written by nlab for this node (dns: in the topology)\n");
    for a in &run.dns {
        text.push_str(&format!("nameserver {a}\n"));
    }
    if run.dns.is_empty() {
        // Only search domains or options given: the host's name servers,
        // as Docker keeps them.
        let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        for l in host.lines().filter(|l| l.starts_with("nameserver")) {
            text.push_str(l);
            text.push('\n');
        }
    }
    if !run.dns_search.is_empty() {
        text.push_str(&format!("search {}\n", run.dns_search.join(" ")));
    }
    if !run.dns_options.is_empty() {
        text.push_str(&format!("options {}\n", run.dns_options.join(" ")));
    }
    let (path, tmp) = (dir.join("resolv.conf"), dir.join(".resolv.conf.tmp"));
    store::write_atomic_as(&path, &tmp, text.as_bytes(), 0o644)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// What a program started in `node` gets (`None`: nothing beyond the
/// network namespace).
pub fn spec(lab: &str, n: &Node) -> Result<Option<NodeSpec>> {
    let r = &n.run;
    if r.is_empty() {
        return Ok(None);
    }
    let mut s = NodeSpec {
        cgroups: cgroups::dirs_of(lab, &n.name),
        hostname: r.isolation.uts.then(|| n.name.clone()),
        rt_priority: r
            .cpu
            .and_then(|c| c.rt_runtime())
            .map(|_| crate::topo::limits::RT_PRIORITY),
        ..Default::default()
    };
    if r.has_limits() && s.cgroups.is_empty() {
        return Err(Error::NodeRun(format!(
            "node `{}` has limits but no cgroup is recorded for it; run `nlab up` again",
            n.name
        )));
    }
    // The topology's binds first, while every source is still in view (a
    // source under the host's /tmp would be hidden by the node's own);
    // those into the node's /tmp or /run land in its directory, which the
    // recursive bind over /tmp or /run then carries along.
    let d = node_dir(lab, &n.name);
    for b in &r.binds {
        let dst = match b.dst.strip_prefix('/') {
            Some(rel) if private_target(n, &b.dst) => d.join(rel),
            _ => b.dst.clone().into(),
        };
        s.binds.push((b.src.clone().into(), dst, b.ro));
    }
    if r.isolation.tmp {
        s.binds.push((d.join("tmp"), "/tmp".into(), false));
        s.binds.push((d.join("run"), "/run".into(), false));
    }
    if r.isolation.pid {
        let ns = netns::ns_name(lab, &n.name);
        s.pid_init = Some(find_init(&ns).ok_or_else(|| {
            Error::NodeRun(format!(
                "the init of node `{}`'s PID namespace is not running (it was killed?); run \
                 `nlab up` again to restart it",
                n.name
            ))
        })?);
    }
    Ok(Some(s))
}

/// One command of a node's `exec:` list, as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct ExecRun {
    /// The node it ran in.
    pub node: String,
    /// The command as written in `exec:`.
    pub command: String,
    /// Its exit status.
    pub status: i32,
    /// What it printed (stdout and stderr together).
    pub output: String,
}

/// Why a program of `node` that died of SIGKILL died, if its memory
/// limit killed it (`before`: the OOM kill count before it started).
pub fn oom_note(lab: &str, n: &Node, before: Option<u64>) -> Option<String> {
    let (dir, v) = cgroups::memory_of(lab, &n.name)?;
    let now = cgroup::oom_kills(&dir, v)?;
    (now > before.unwrap_or(0)).then(|| {
        format!(
            "was killed by the kernel's OOM killer at node `{}`'s memory limit ({}); raise `memory:`",
            n.name,
            crate::topo::limits::show_size(n.run.memory.unwrap_or(0))
        )
    })
}

/// OOM kills so far in the node's memory cgroup.
pub fn oom_count(lab: &str, node: &str) -> Option<u64> {
    let (dir, v) = cgroups::memory_of(lab, node)?;
    cgroup::oom_kills(&dir, v)
}

/// Runs the `exec:` list of each of `nodes` (`sh -c`, in order, one node
/// after another); the first failure is an error naming node and command.
pub fn run_exec(lab: &super::Lab, nodes: &[String]) -> Result<Vec<ExecRun>> {
    use std::os::unix::process::ExitStatusExt;
    let mut out = Vec::new();
    for name in nodes {
        let Some(n) = lab.topology().nodes.get(name) else {
            continue;
        };
        for cmd in &n.run.exec {
            let before = oom_count(lab.name(), name);
            let o = lab
                .command(name, "/bin/sh", &["-c".to_string(), cmd.clone()])?
                .output()
                .map_err(|e| Error::io(format!("running `{cmd}` in {name}"), e))?;
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            let status = o
                .status
                .code()
                .unwrap_or(128 + o.status.signal().unwrap_or(0));
            if !o.status.success() {
                // The shell reports a child the OOM killer ended as 137:
                // the cgroup's counter says whether that happened.
                let detail = match (oom_note(lab.name(), n, before), o.status.signal()) {
                    (Some(note), _) => note,
                    (None, Some(s)) => format!("was killed by signal {s}"),
                    (None, None) => format!("exited with status {status}"),
                };
                let tail: String = text
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n  ");
                return Err(Error::NodeExec {
                    node: name.clone(),
                    command: cmd.clone(),
                    detail: if tail.is_empty() {
                        detail
                    } else {
                        format!("{detail}:\n  {tail}")
                    },
                });
            }
            out.push(ExecRun {
                node: name.clone(),
                command: cmd.clone(),
                status,
                output: text,
            });
        }
    }
    Ok(out)
}

/// After `up` applied `p`: [`setup`], then the `exec:` lists of the
/// nodes it created.
pub fn after_up(
    lab: &super::Lab,
    p: &super::Plan,
    layout: Option<&Layout>,
) -> Result<Vec<ExecRun>> {
    setup(lab.topology(), &p.delete_nodes, layout)?;
    crate::pause::at("node-setup");
    run_exec(lab, &p.create_nodes)
}

/// Ephemeral labs keep no files, so no cgroup record nor node directory.
pub fn refuse_in_ephemeral(t: &Topology) -> Result<()> {
    match t.nodes.values().find(|n| !n.run.is_empty()) {
        None => Ok(()),
        Some(n) => Err(Error::NodeRun(format!(
            "node `{}` has limits or isolation settings (cpu, memory, pids, isolation, dns, \
             binds, sysctls, env, exec): their cgroups and files are recorded in the lab's \
             directory, which an ephemeral lab does not have; bring the lab up pinned",
            n.name
        ))),
    }
}

/// `down`: the lab's cgroups (recorded, and found by name), once its
/// processes are gone. Returns how many it removed.
pub fn teardown(lab: &str) -> Result<usize> {
    cgroups::remove(lab, None)
}
