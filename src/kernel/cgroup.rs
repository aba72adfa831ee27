//! Control groups for per-node limits: plain file operations under the
//! cgroup file systems (never `cgcreate`/`systemd-run`).
//!
//! Which version carries each controller is decided at run time, per
//! controller: cgroup v2 where the unified hierarchy offers it to the
//! cgroup nlab runs in (its `cgroup.controllers`), else a v1 hierarchy
//! that has it mounted. Hybrid hosts (v1 memory/cpu/pids beside a v2
//! mount without controllers) get v1; pure v2 hosts get v2.
//!
//! A node's cgroup is `<parent>/nlab/<namespace name>` in each hierarchy
//! used, where `<parent>` is the cgroup nlab runs in (so it stays inside
//! what systemd delegated on v2 hosts) or `$NLAB_CGROUP_PARENT`. The
//! decision logic is pure ([`decide`]) and unit-tested on sample
//! `/proc/self/mounts` and `/proc/self/cgroup` text.

use super::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The directory under the parent that holds every node cgroup.
pub const NLAB_DIR: &str = "nlab";
/// Overrides the parent (a path inside each hierarchy, e.g. `/nlab.slice`).
pub const ENV_PARENT: &str = "NLAB_CGROUP_PARENT";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    Cpu,
    Memory,
    Pids,
}

pub const CONTROLLERS: [Controller; 3] = [Controller::Cpu, Controller::Memory, Controller::Pids];

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// Where one controller lives for nlab: the hierarchy's mount point and
/// the parent cgroup (a path inside it) node cgroups go under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hierarchy {
    pub controller: Controller,
    pub version: Version,
    pub mount: PathBuf,
    pub parent: String,
}

impl Hierarchy {
    /// `<mount><parent>/nlab`.
    pub fn nlab_dir(&self) -> PathBuf {
        join(&self.mount, &self.parent).join(NLAB_DIR)
    }
}

/// Every controller's answer: a hierarchy, or why there is none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Layout {
    pub found: Vec<Hierarchy>,
    pub missing: Vec<(Controller, String)>,
}

impl Layout {
    pub fn get(&self, c: Controller) -> Option<&Hierarchy> {
        self.found.iter().find(|h| h.controller == c)
    }
    pub fn why_missing(&self, c: Controller) -> Option<&str> {
        self.missing.iter().find(|m| m.0 == c).map(|m| m.1.as_str())
    }
}

fn join(mount: &Path, inner: &str) -> PathBuf {
    mount.join(inner.trim_start_matches('/'))
}

/// cgroup mounts in `/proc/self/mounts` text: the v2 mount point, and
/// each v1 mount with its controllers (from the mount options).
pub fn parse_mounts(text: &str) -> (Option<PathBuf>, Vec<(PathBuf, Vec<String>)>) {
    let (mut v2, mut v1) = (None, Vec::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, mnt, fstype, opts, ..] = f[..] else {
            continue;
        };
        // Mount points escape spaces as \040; cgroup mounts have none.
        let mnt = PathBuf::from(mnt);
        match fstype {
            "cgroup2" if v2.is_none() => v2 = Some(mnt),
            "cgroup" => {
                let ctrls = opts
                    .split(',')
                    .filter(|o| CONTROLLERS.iter().any(|c| c.name() == *o) || *o == "cpuacct")
                    .map(str::to_string)
                    .collect();
                v1.push((mnt, ctrls));
            }
            _ => {}
        }
    }
    (v2, v1)
}

/// `/proc/self/cgroup` text: the v2 path (`0::/path`) and each v1
/// hierarchy's controllers with the path.
pub fn parse_self_cgroup(text: &str) -> (Option<String>, Vec<(Vec<String>, String)>) {
    let (mut v2, mut v1) = (None, Vec::new());
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            v2 = Some(path.to_string());
        } else {
            v1.push((
                ctrls.split(',').map(str::to_string).collect(),
                path.to_string(),
            ));
        }
    }
    (v2, v1)
}

/// The decision, per controller. `v2_controllers(dir)` reads
/// `cgroup.controllers` of a v2 cgroup directory (`None` if unreadable);
/// `parent` overrides the cgroup nlab runs in.
pub fn decide(
    mounts: &str,
    self_cgroup: &str,
    parent: Option<&str>,
    v2_controllers: &dyn Fn(&Path) -> Option<String>,
) -> Layout {
    let (v2_mount, v1_mounts) = parse_mounts(mounts);
    let (v2_path, v1_paths) = parse_self_cgroup(self_cgroup);
    let mut layout = Layout::default();
    let v2 = v2_mount.as_ref().map(|m| {
        let p = parent
            .map(str::to_string)
            .or(v2_path.clone())
            .unwrap_or_else(|| "/".into());
        let offered = v2_controllers(&join(m, &p)).unwrap_or_default();
        (m.clone(), p, offered)
    });
    for c in CONTROLLERS {
        if let Some((m, p, offered)) = &v2 {
            if offered.split_whitespace().any(|o| o == c.name()) {
                layout.found.push(Hierarchy {
                    controller: c,
                    version: Version::V2,
                    mount: m.clone(),
                    parent: p.clone(),
                });
                continue;
            }
        }
        let v1 = v1_mounts
            .iter()
            .find(|(_, ctrls)| ctrls.iter().any(|x| x == c.name()));
        match v1 {
            Some((m, ctrls)) => {
                let own = v1_paths
                    .iter()
                    .find(|(cs, _)| cs == ctrls || cs.iter().any(|x| x == c.name()))
                    .map(|(_, p)| p.clone());
                let p = parent
                    .map(str::to_string)
                    .or(own)
                    .unwrap_or_else(|| "/".into());
                layout.found.push(Hierarchy {
                    controller: c,
                    version: Version::V1,
                    mount: m.clone(),
                    parent: p,
                });
            }
            None => {
                let why = match &v2 {
                    Some((m, p, _)) => format!(
                        "not offered to {} on cgroup v2 (its cgroup.controllers) and no cgroup v1 \
                         hierarchy has it",
                        join(m, p).display()
                    ),
                    None => "no cgroup file system has it mounted".to_string(),
                };
                layout.missing.push((c, why));
            }
        }
    }
    layout
}

/// [`decide`] on this machine, for this process.
pub fn detect() -> Layout {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let parent = std::env::var(ENV_PARENT)
        .ok()
        .filter(|p| p.starts_with('/'));
    decide(&mounts, &own, parent.as_deref(), &|d| {
        fs::read_to_string(d.join("cgroup.controllers")).ok()
    })
}

fn mkdir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

/// Writes `value` to `file` of cgroup `dir`; the error names both.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let p = dir.join(file);
    let res = fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|e| Error::io(format!("writing {value} to {}", p.display()), e))
}

/// Reads `file` of cgroup `dir`.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let p = dir.join(file);
    fs::read_to_string(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))
}

/// Makes `<nlab dir>/<name>` in hierarchy `h`. On v2 the controllers are
/// enabled on the way down (`cgroup.subtree_control` of the parent and of
/// the `nlab` directory); a parent that holds processes cannot give them
/// (the kernel's "no internal processes" rule), which the error explains.
pub fn create(h: &Hierarchy, name: &str, ctrls: &[Controller]) -> Result<PathBuf> {
    let top = h.nlab_dir();
    // A concurrent `remove` may rmdir an empty `nlab` dir between our
    // mkdirs: try again a few times.
    for _ in 0..5 {
        mkdir(&top).map_err(|e| Error::io(format!("creating cgroup {}", top.display()), e))?;
        if h.version == Version::V2 {
            enable_v2(h, &top, ctrls)?;
        }
        let dir = top.join(name);
        match mkdir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("creating cgroup {}", dir.display()), e)),
        }
    }
    Err(Error::protocol(
        format!("creating cgroup {}/{name}", top.display()),
        "its parent kept disappearing (another nlab removing it)",
    ))
}

fn enable_v2(h: &Hierarchy, top: &Path, ctrls: &[Controller]) -> Result<()> {
    let parent = join(&h.mount, &h.parent);
    for dir in [parent.as_path(), top] {
        let on = read(dir, "cgroup.subtree_control").unwrap_or_default();
        for c in ctrls {
            if on.split_whitespace().any(|x| x == c.name()) {
                continue;
            }
            write(dir, "cgroup.subtree_control", &format!("+{}", c.name())).map_err(|e| {
                let busy = e.raw_errno() == Some(libc::EBUSY);
                if busy {
                    Error::protocol(
                        format!("enabling the {} controller in {}", c.name(), dir.display()),
                        format!(
                            "that cgroup holds processes, so cgroup v2 cannot give its children \
                             controllers; set {ENV_PARENT} to a cgroup without processes whose \
                             cgroup.subtree_control has {} (e.g. `{ENV_PARENT}=/`, the root \
                             cgroup, as root), or run nlab from a delegated unit that left \
                             it enabled",
                            c.name()
                        ),
                    )
                } else {
                    e
                }
            })?;
        }
    }
    Ok(())
}

/// The pids in cgroup `dir` (as this process's PID namespace sees them).
pub fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Removes cgroup `dir`: ends what still runs in it (every process there
/// was started by nlab in a node), then `rmdir`, retried while the
/// kernel finishes the exits; then its `nlab` parent if that is empty.
/// A cgroup already gone is fine.
pub fn remove(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if !dir.exists() {
            break;
        }
        for pid in procs(dir) {
            // Pid 0: a process of another PID namespace (not ours to see).
            if pid > 0 {
                let _ = super::proc::kill(pid, libc::SIGKILL);
            }
        }
        match fs::remove_dir(dir) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("rmdir {}: {e}; retrying", dir.display());
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "removing cgroup {} (processes still in it: {:?})",
                        dir.display(),
                        procs(dir)
                    ),
                    e,
                ))
            }
        }
    }
    if let Some(parent) = dir.parent().filter(|p| p.ends_with(NLAB_DIR)) {
        // Another lab's cgroups keep it (ENOTEMPTY/EBUSY): fine.
        if fs::remove_dir(parent).is_err() {
            // Its real-time budget shrinks to what the remaining node
            // cgroups hold (nothing to do where it has none).
            super::rt_sched::rebalance(parent);
        }
    }
    Ok(())
}

/// Node cgroups whose name `matches`, in every cgroup hierarchy mounted
/// here: `nlab` directories up to a few levels down, for `cleanup` when
/// the lab's record is lost.
pub fn find_by_name(matches: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let (v2, v1) = parse_mounts(&mounts);
    let mut roots: Vec<PathBuf> = v1.into_iter().map(|(m, _)| m).collect();
    roots.extend(v2);
    let mut out = Vec::new();
    for r in roots {
        walk(&r, 0, matches, &mut out);
    }
    out
}

fn walk(dir: &Path, depth: usize, matches: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
    const MAX_DEPTH: usize = 6;
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if e.file_name() == NLAB_DIR {
            for n in fs::read_dir(&p).into_iter().flatten().flatten() {
                if n.file_type().is_ok_and(|t| t.is_dir())
                    && n.file_name().to_str().is_some_and(matches)
                {
                    out.push(n.path());
                }
            }
        } else if depth < MAX_DEPTH {
            walk(&p, depth + 1, matches, out);
        }
    }
}

/// `key value` lines (`cpu.stat`, `memory.events`, `memory.oom_control`)
/// as a lookup.
pub fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// OOM kills so far in memory cgroup `dir`.
pub fn oom_kills(dir: &Path, v: Version) -> Option<u64> {
    let file = match v {
        Version::V1 => "memory.oom_control",
        Version::V2 => "memory.events",
    };
    stat_value(&fs::read_to_string(dir.join(file)).ok()?, "oom_kill")
}

/// The limits of one node, in the kernel's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// CFS bandwidth `(quota_us, period_us)`.
    pub cpu: Option<(u64, u64)>,
    /// Real-time group scheduling `(runtime_us, period_us)` (v1 only).
    pub rt: Option<(u64, u64)>,
    /// v1 `cpu.shares` (converted to `cpu.weight` on v2 by the caller).
    pub cpu_weight: Option<(u64, u64)>,
    pub memory: Option<u64>,
    pub pids: Option<u64>,
}

/// Writes the limits `controller` carries into node cgroup `dir`.
pub fn set_limits(dir: &Path, v: Version, controller: Controller, l: &Limits) -> Result<()> {
    match (controller, v) {
        (Controller::Cpu, Version::V1) => {
            if let Some((quota, period)) = l.cpu {
                write(dir, "cpu.cfs_period_us", &period.to_string())?;
                write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
            }
            if let Some((shares, _)) = l.cpu_weight {
                write(dir, "cpu.shares", &shares.to_string())?;
            }
            if let Some((runtime, period)) = l.rt {
                super::rt_sched::set(dir, runtime, period)?;
            }
        }
        (Controller::Cpu, Version::V2) => {
            if l.rt.is_some() {
                return Err(Error::protocol(
                    format!("setting real-time CPU time in {}", dir.display()),
                    super::rt_sched::NOT_ON_V2,
                ));
            }
            if let Some((quota, period)) = l.cpu {
                write(dir, "cpu.max", &format!("{quota} {period}"))?;
            }
            if let Some((_, weight)) = l.cpu_weight {
                write(dir, "cpu.weight", &weight.to_string())?;
            }
        }
        (Controller::Memory, v) => {
            if let Some(m) = l.memory {
                let (max, swap) = match v {
                    Version::V1 => ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
                    Version::V2 => ("memory.max", "memory.swap.max"),
                };
                write(dir, max, &m.to_string())?;
                // No swap beyond the limit, where the kernel accounts it:
                // the limit is what the node's processes may use, and a
                // process over it is OOM-killed, not slowed down.
                let no_swap = if v == Version::V1 {
                    m.to_string()
                } else {
                    "0".into()
                };
                if dir.join(swap).exists() {
                    write(dir, swap, &no_swap)?;
                }
            }
        }
        (Controller::Pids, _) => {
            if let Some(p) = l.pids {
                write(dir, "pids.max", &p.to_string())?;
            }
        }
    }
    Ok(())
}

/// CPUs online: what Mininet's CPU fraction is a fraction of.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf with a valid name has no side effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

#[cfg(test)]
mod tests;
