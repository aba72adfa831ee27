//! Tearing labs down: by journal when there is one, by name always.
//!
//! Namespaces are deleted whole (never veth by veth: each single delete
//! waits ~20 ms in the kernel). A namespace lives while a process is in
//! it, so the processes go first, and are looked for again after the
//! unpin (see `held`). Everything here tolerates objects that are already
//! gone, so `down` and `cleanup` can be repeated.

use super::held::{self, NsRecord};
use super::{hosts, Error, Result};
use crate::kernel::netns;
use crate::services::supervisor::api as supervisor;
use crate::store::{self, lab_dir, LabLock};
use serde::Serialize;
use std::collections::HashSet;
use std::fs;
use std::path::Path;

/// What a teardown removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TeardownReport {
    /// The labs torn down.
    pub labs: Vec<String>,
    /// Network namespaces removed.
    pub namespaces: usize,
    /// Attached namespaces (`kind: external`) given back: only nlab's
    /// interfaces and pin removed, their processes left running.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub detached: usize,
    /// Processes ended: those still running in the lab's nodes, and its
    /// supervisor.
    pub processes: usize,
    /// Files and directories removed: `/etc/netns` entries, the lab's
    /// directory under `/run/nlab`, stale lock files (always 0 for an
    /// ephemeral lab, which has none).
    pub files: usize,
    /// Node cgroups removed (nodes with limits).
    #[serde(skip_serializing_if = "is_zero")]
    pub cgroups: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Threads that unpin namespaces at once. Each unmount waits for an RCU
/// grace period after dropping the mount lock; waiters in parallel share
/// grace periods, so many threads turn N waits into a few.
const UNPIN_THREADS: usize = 32;

/// Ends processes inside the given namespaces, then unpins them and
/// removes their `/etc/netns` entries.
pub fn remove_namespaces(names: &[String]) -> Result<usize> {
    remove_held(names, &[], "removing namespaces", false)
}

/// [`remove_namespaces`], also ending processes in the `recorded`
/// namespaces of the lab that are no longer pinned. `what` names the work
/// in errors; `down` pauses at `down-scanned` between killing and unpinning.
fn remove_held(names: &[String], recorded: &[NsRecord], what: &str, down: bool) -> Result<usize> {
    // Attached namespaces are detached, never emptied of processes; image
    // nodes lose their container first.
    let names = &super::detach::split(names)?[..];
    let inodes: HashSet<u64> = names
        .iter()
        .filter_map(|n| netns::pinned_inode(n))
        .collect();
    let pids = if inodes.is_empty() && recorded.is_empty() {
        Vec::new()
    } else {
        held::pids_in(&inodes, recorded)
    };
    held::kill(&pids);
    if down {
        crate::pause::at("down-scanned");
    }
    let chunk = names.len().div_ceil(UNPIN_THREADS).max(1);
    let errors: Vec<crate::kernel::Error> = std::thread::scope(|s| {
        let hs: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|n| netns::delete_pinned(n).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if !errors.is_empty() {
        return Err(Error::Apply(errors));
    }
    // A process that entered after the scan (it checked the pin before the
    // unpin) is inside now: look until none is left.
    let late = if inodes.is_empty() && recorded.is_empty() {
        0
    } else {
        held::drain(&inodes, recorded, what)?
    };
    for n in names {
        hosts::remove_entry(&Path::new(netns::ETC_NETNS).join(n))?;
    }
    Ok(pids.len() + late)
}

/// `nlab down LAB`: everything of one pinned lab, found by its journal and
/// by name, so a lab that a crash left half-built goes too. Waits for
/// the lab's lock: an `up` or link change in progress finishes first.
/// Tearing down a lab that is not there is not an error (the report
/// counts nothing). Ephemeral labs are not found by name: drop them or
/// call [`Lab::down`](super::Lab::down).
///
/// ```
/// use nlab::lab::{self, Lab};
/// # if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) != 0 { return Ok(()); }
///
/// let name = format!("downfn{}", std::process::id());
/// Lab::builder(&name).host("h1").host("h2").link("h1", "h2").up()?;
/// // Later, from this process or another one, by name only:
/// let report = lab::down(&name)?;
/// assert_eq!((report.labs, report.namespaces), (vec![name.clone()], 2));
/// assert_eq!(lab::down(&name)?.namespaces, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn down(lab: &str) -> Result<TeardownReport> {
    super::check_lab_name(lab)?;
    let lock = LabLock::acquire(lab)?;
    crate::pause::at("down-locked");
    let report = down_locked(lab, &lock)?;
    // Only once everything is gone: a lab half-removed keeps its lock file.
    lock.remove();
    Ok(report)
}

/// [`down`] for a caller that holds the lab's lock (`up --replace`, an
/// `up` undoing its failed fresh lab): tearing down and what follows are
/// one turn of the lock, so no other command runs in between.
pub fn down_locked(lab: &str, _held: &LabLock) -> Result<TeardownReport> {
    // Before anything goes: from now on `exec` refuses to enter the lab.
    held::mark_closing(lab)?;
    // The supervisor first: it runs in the root namespace (so killing the
    // processes in the lab's namespaces misses it), and it could otherwise
    // still be changing links while they are removed.
    let supervisors = supervisor::stop(lab).found;
    // Guests by their records, so QEMU powers off rather than being
    // killed with the node's other processes.
    let supervisors = supervisors + super::qemu::stop_all(lab);
    // `host:` ends first: found by their tag, whatever the journal says.
    super::detach::remove_host_ends(lab, None)?;
    // What a host uplink made in the root namespace, before the lab's
    // namespaces (whose NAT ends the deleted veths take with them).
    super::nat::uplink::remove(lab)?;
    // Selected by parsing each name, never by prefix: `nlab-a-` is also a
    // prefix of lab `a-b`'s namespaces (`nlab-a-b:h1`).
    let mut names = netns::lab_pinned(lab);
    // A journal may know of a node whose pin vanished but whose /etc files
    // remain; names cover the rest.
    if let Ok(Some(st)) = store::State::load(lab) {
        for n in st.topology.nodes.keys() {
            let ns = netns::ns_name(lab, n);
            if !names.contains(&ns) && netns::exists(&ns) {
                names.push(ns);
            }
        }
    }
    let attached = super::attached::Record::load(lab);
    let marks = super::attached::marked();
    let detached = names
        .iter()
        .filter(|n| {
            attached
                .pin(n)
                .map_or_else(|| marks.contains_key(*n), |p| !p.image)
        })
        .count();
    let mut report = TeardownReport {
        labs: vec![lab.to_string()],
        namespaces: names.len() - detached,
        detached,
        ..Default::default()
    };
    // The record outlives the pins (the lab dir goes last): namespaces a
    // process still holds after an earlier, interrupted down are found by it.
    let recorded = held::recorded(lab);
    let what = format!("tearing down lab {lab}");
    // One namespace first, so a test can stop `down` with the lab half
    // removed (pause point `down-partial`) and check nothing calls it up.
    let (first, rest) = names.split_at(names.len().min(1));
    report.processes = supervisors + remove_held(first, &recorded, &what, true)?;
    crate::pause::at("down-partial");
    report.processes += remove_held(rest, &recorded, &what, false)?;
    // With the processes gone the node cgroups are empty; the record is
    // in the lab dir, so before it goes.
    report.cgroups = super::node_run::teardown(lab)?;
    // Containers whose pin went already (an interrupted down), and marks
    // of attachments whose pin never came (or went by hand).
    super::detach::remove_containers(lab);
    super::detach::unmark_unpinned(lab)?;
    for etc in netns::lab_etc(lab) {
        hosts::remove_entry(&Path::new(netns::ETC_NETNS).join(&etc))?;
        report.files += 1;
    }
    let dir = lab_dir(lab);
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
        report.files += 1;
    }
    Ok(report)
}

/// Every lab that has any trace: a journal, a pinned namespace, files or
/// a supervisor process.
pub fn all_labs() -> Vec<String> {
    let mut labs: Vec<String> = store::list_lab_dirs();
    for (lab, _) in supervisor::running() {
        if !labs.contains(&lab) {
            labs.push(lab);
        }
    }
    for lab in super::detach::labs_in_root() {
        if !labs.contains(&lab) {
            labs.push(lab);
        }
    }
    for n in netns::list_pinned(netns::PREFIX)
        .into_iter()
        .chain(netns::list_etc(netns::PREFIX))
    {
        // Names nlab could not have made parse to nothing: not ours.
        if let Some((lab, _)) = netns::parse_ns_name(&n) {
            if !labs.iter().any(|l| l == lab) {
                labs.push(lab.to_string());
            }
        }
    }
    for lab in super::nat::uplink::labs_in_root() {
        if !labs.contains(&lab) {
            labs.push(lab);
        }
    }
    // Only names nlab could have made: anything else under the prefix is
    // not ours to remove.
    labs.retain(|l| super::check_lab_name(l).is_ok());
    labs.sort();
    labs
}

/// `nlab cleanup`: every lab, including those a crashed or killed `nlab`
/// left half-built.
pub fn cleanup_all() -> Result<TeardownReport> {
    let mut total = TeardownReport::default();
    let mut errors = Vec::new();
    // Containers nlab started from this root namespace whose lab left no
    // other trace (a kill -9 right after `run`).
    let mut labs = all_labs();
    for (rt, name, lab) in super::detach::labelled_containers() {
        crate::kernel::container::remove(rt, &name);
        if !labs.contains(&lab) && super::check_lab_name(&lab).is_ok() {
            labs.push(lab);
        }
    }
    for lab in labs {
        match down(&lab) {
            Ok(r) => {
                total.labs.push(lab);
                total.namespaces += r.namespaces;
                total.detached += r.detached;
                total.processes += r.processes;
                total.files += r.files;
                total.cgroups += r.cgroups;
            }
            Err(e) => errors.push(format!("{lab}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Cleanup(errors));
    }
    total.files += store::remove_stale_locks();
    Ok(total)
}
