//! Finding every process inside a lab's namespaces, pinned or not.
//!
//! A namespace lives while a process is in it, pin or no pin: a program
//! that entered a node just before `down` unpinned it would live on where
//! no name leads. So each namespace is recorded when it is made (its inode,
//! which the kernel reuses after the namespace is freed, and its cookie,
//! which it never reuses) in the lab's directory, which `down` removes only
//! once no process is left; `down` and `cleanup` find processes by either.
//! And `down` first marks the lab closing, which `exec` checks after it
//! entered (see `kernel::exec`).

use super::{Error, Result};
use crate::kernel::exec::CLOSING_MARKER;
use crate::kernel::netns;
use crate::store::lab_dir;
use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// Lines `NAMESPACE INODE COOKIE`, one per namespace made, in the lab dir.
const RECORD_FILE: &str = "namespaces";

/// How long `down` keeps ending processes that appear in the lab's
/// namespaces before it gives up (and leaves the lab for `cleanup`).
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// One namespace as it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsRecord {
    pub inode: u64,
    /// 0 when the kernel has no namespace cookies.
    pub cookie: u64,
}

/// Appends `recs` (namespace name, record) to the lab's record.
pub fn record(lab: &str, recs: &[(String, NsRecord)]) -> Result<()> {
    if recs.is_empty() {
        return Ok(());
    }
    let path = lab_dir(lab).join(RECORD_FILE);
    let mut text = String::with_capacity(recs.len() * 48);
    for (ns, r) in recs {
        text.push_str(&format!("{ns} {} {}\n", r.inode, r.cookie));
    }
    let what = || format!("recording namespaces in {}", path.display());
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(what(), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io(what(), e))
}

/// What the lab's record holds (nothing when there is none).
pub fn recorded(lab: &str) -> Vec<NsRecord> {
    let text = fs::read_to_string(lab_dir(lab).join(RECORD_FILE)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().skip(1);
            Some(NsRecord {
                inode: w.next()?.parse().ok()?,
                cookie: w.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Marks the lab closing, so no `exec` enters it from now on. Nothing to
/// mark when the lab has no directory left.
pub fn mark_closing(lab: &str) -> Result<()> {
    let dir = lab_dir(lab);
    if !dir.is_dir() {
        return Ok(());
    }
    let path = dir.join(CLOSING_MARKER);
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map(drop)
        .map_err(|e| Error::io(format!("marking lab {lab} closing"), e))
}

/// Clears the mark of a `down` that did not finish, so the lab `up` made
/// again can be entered.
pub fn clear_closing(lab: &str) -> Result<()> {
    let path = lab_dir(lab).join(CLOSING_MARKER);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Processes in the namespaces whose inodes are `pinned`, and in recorded
/// namespaces that are no longer pinned (checked by cookie, since their
/// inode numbers may since belong to another namespace).
pub fn pids_in(pinned: &HashSet<u64>, recorded: &[NsRecord]) -> Vec<i32> {
    let loose: HashMap<u64, u64> = recorded
        .iter()
        .filter(|r| r.cookie != 0 && !pinned.contains(&r.inode))
        .map(|r| (r.inode, r.cookie))
        .collect();
    // Never the namespace nlab runs in, nor init's, whatever a pin or a
    // record says: a lab's namespaces are never those.
    let roots = crate::kernel::attach::root_inodes();
    netns::pid_inodes()
        .into_iter()
        .filter(|(_, ino)| !roots.contains(ino))
        .filter(|(pid, ino)| {
            pinned.contains(ino)
                || loose
                    .get(ino)
                    .is_some_and(|c| netns::cookie_of_pid(*pid) == Some(*c))
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// SIGKILLs `pids` and waits (briefly) until they are gone, so their
/// namespaces can be freed.
pub fn kill(pids: &[i32]) {
    for &pid in pids {
        // A pid that exited meanwhile gives ESRCH, which is fine.
        let _ = crate::kernel::proc::kill(pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for &pid in pids {
        while Instant::now() < deadline && alive(pid) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A zombie still shows up in /proc but no longer holds its namespace:
/// only a live process matters.
fn alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

/// Scans `/proc` until no process is left in the namespaces (a process may
/// have entered, or forked, after an earlier scan), for at most
/// [`DRAIN_FOR`]. Returns how many it ended.
pub fn drain(pinned: &HashSet<u64>, recorded: &[NsRecord], what: &str) -> Result<usize> {
    let start = Instant::now();
    let mut ended = 0;
    loop {
        let pids: Vec<i32> = pids_in(pinned, recorded)
            .into_iter()
            .filter(|&p| alive(p))
            .collect();
        if pids.is_empty() {
            return Ok(ended);
        }
        if start.elapsed() > DRAIN_FOR {
            return Err(Error::Cleanup(vec![format!(
                "{what}: processes {pids:?} keep appearing in its namespaces; \
                 stop what starts them and run `nlab cleanup`"
            )]));
        }
        ended += pids.len();
        kill(&pids);
    }
}
