//! Tearing labs down: by journal when there is one, by name always.
//!
//! Namespaces are deleted whole (never veth by veth: each single delete
//! waits ~20 ms in the kernel). A namespace lives while a process is in
//! it, so the processes go first. Everything here tolerates objects that
//! are already gone, so `down` and `cleanup` can be repeated.

use super::state::{self, lab_dir, LabLock};
use super::{hosts, Error, Result};
use crate::kernel::netns;
use serde::Serialize;
use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a teardown removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TeardownReport {
    pub labs: Vec<String>,
    pub namespaces: usize,
    pub processes: usize,
    pub files: usize,
}

/// Threads that unpin namespaces at once. Each unmount waits for an RCU
/// grace period after dropping the mount lock; waiters in parallel share
/// grace periods, so many threads turn N waits into a few.
const UNPIN_THREADS: usize = 32;

/// Ends processes inside the given namespaces, then unpins them and
/// removes their `/etc/netns` entries.
pub fn remove_namespaces(names: &[String]) -> Result<usize> {
    let inodes: HashSet<u64> = names
        .iter()
        .filter_map(|n| netns::pinned_inode(n))
        .collect();
    let killed = kill_processes_in(&inodes);
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
    for n in names {
        hosts::remove_entry(&Path::new(netns::ETC_NETNS).join(n))?;
    }
    Ok(killed)
}

/// SIGKILLs every process whose network namespace is in `inodes` and waits
/// (briefly) until they are gone, so their namespaces can be freed.
pub fn kill_processes_in(inodes: &HashSet<u64>) -> usize {
    if inodes.is_empty() {
        return 0;
    }
    let pids = netns::pids_in(inodes);
    for &pid in &pids {
        // SAFETY: kill(2) on a pid we just read; a pid that exited meanwhile
        // gives ESRCH, which is fine.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for &pid in &pids {
        while Instant::now() < deadline {
            // A zombie still shows up in /proc but no longer holds its
            // namespace: only a live one matters.
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            if matches!(state, None | Some("Z") | Some("X")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    pids.len()
}

/// `nlab down LAB`: everything of one lab, found by journal and by name.
pub fn down(lab: &str) -> Result<TeardownReport> {
    super::check_lab_name(lab)?;
    let _lock = LabLock::acquire(lab)?;
    // The supervisor first: it runs in the root namespace (so killing the
    // processes in the lab's namespaces misses it), and it could otherwise
    // still be changing links while they are removed.
    let supervisors = crate::services::supervisor::stop(lab).found;
    let prefix = netns::ns_name(lab, "");
    let mut names = netns::list_pinned(&prefix);
    // A journal may know of a node whose pin vanished but whose /etc files
    // remain; names cover the rest.
    if let Ok(Some(st)) = state::State::load(lab) {
        for n in st.topology.nodes.keys() {
            let ns = netns::ns_name(lab, n);
            if !names.contains(&ns) && netns::exists(&ns) {
                names.push(ns);
            }
        }
    }
    let mut report = TeardownReport {
        labs: vec![lab.to_string()],
        namespaces: names.len(),
        ..Default::default()
    };
    // One namespace first, so a test can stop `down` with the lab half
    // removed (pause point `down-partial`) and check nothing calls it up.
    let (first, rest) = names.split_at(names.len().min(1));
    report.processes = supervisors + remove_namespaces(first)?;
    crate::pause::at("down-partial");
    report.processes += remove_namespaces(rest)?;
    for etc in netns::list_etc(&prefix) {
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
    let mut labs: Vec<String> = state::list_lab_dirs();
    for (lab, _) in crate::services::supervisor::running() {
        if !labs.contains(&lab) {
            labs.push(lab);
        }
    }
    for n in netns::list_pinned(netns::PREFIX)
        .into_iter()
        .chain(netns::list_etc(netns::PREFIX))
    {
        // Lab names have no '-', so the lab is what sits between the
        // prefix and the next '-'.
        if let Some(lab) = n
            .strip_prefix(netns::PREFIX)
            .and_then(|r| r.split('-').next())
        {
            if !lab.is_empty() && !labs.iter().any(|l| l == lab) {
                labs.push(lab.to_string());
            }
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
    for lab in all_labs() {
        match down(&lab) {
            Ok(r) => {
                total.labs.push(lab);
                total.namespaces += r.namespaces;
                total.processes += r.processes;
                total.files += r.files;
            }
            Err(e) => errors.push(format!("{lab}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Cleanup(errors));
    }
    Ok(total)
}
