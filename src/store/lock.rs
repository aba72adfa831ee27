//! The per-lab lock: two `nlab` processes working on one lab take turns.

use super::paths::{lab_dir, LAB_DIR_MODE, PRIVATE_FILE_MODE, RUN_DIR};
use super::{Error, Result};
use crate::kernel::files::{self, LockHolder};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The lab locks: beside the labs' directories, not in them, so `down`
/// removing a lab's directory does not remove the lock others wait on.
pub const LOCK_DIR: &str = "/run/nlab/.locks";
/// How long [`LabLock::acquire`] waits, in milliseconds.
static LOCK_WAIT_MS: AtomicU64 = AtomicU64::new(DEFAULT_LOCK_WAIT.as_millis() as u64);
/// How long a command waits for another one working on the same lab.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting command tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Sets how long every later [`LabLock::acquire`] of this process waits
/// (the command line's `--wait SECS`).
pub fn set_lock_wait(d: Duration) {
    LOCK_WAIT_MS.store(
        d.as_millis().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
}

pub fn lock_wait() -> Duration {
    Duration::from_millis(LOCK_WAIT_MS.load(Ordering::Relaxed))
}

/// The lock file of `lab`.
pub fn lock_path(lab: &str) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("{lab}.lock"))
}

/// An exclusive lock on one lab, held until dropped. Two `nlab` processes
/// working on the same lab take turns instead of interleaving.
///
/// The lock file lives in [`LOCK_DIR`] (root's only: `flock` works on a
/// file opened read-only, so a file others can read lets them block nlab).
/// Whoever removes a lock file does so while holding it, as its last act;
/// a waiter that then gets the lock finds the path no longer names its
/// file and tries again on the new one.
pub struct LabLock {
    file: File,
    path: PathBuf,
}

impl LabLock {
    /// The lock file of a lab (outside its directory, which `down` removes).
    pub fn path(lab: &str) -> PathBuf {
        lock_path(lab)
    }

    /// Waits for the lock at most [`lock_wait`] (see [`set_lock_wait`]).
    pub fn acquire(lab: &str) -> Result<LabLock> {
        Self::acquire_within(lab, lock_wait())
    }

    /// Waits for the lock at most `wait`; on timeout the error names the
    /// processes holding it.
    pub fn acquire_within(lab: &str, wait: Duration) -> Result<LabLock> {
        super::check_lab_name(lab)?;
        for (d, mode) in [(RUN_DIR, 0o755), (LOCK_DIR, LAB_DIR_MODE)] {
            files::ensure_dir(Path::new(d), mode)
                .map_err(|e| Error::io(format!("creating {d}"), e))?;
        }
        let path = lock_path(lab);
        let start = Instant::now();
        loop {
            let file = files::open_file(&path, PRIVATE_FILE_MODE, false)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            loop {
                let locked = files::try_lock_exclusive(&file)
                    .map_err(|e| Error::io(format!("locking lab {lab}"), e))?;
                if locked {
                    break;
                }
                if start.elapsed() >= wait {
                    return Err(Error::LockTimeout {
                        lab: lab.to_string(),
                        waited: start.elapsed(),
                        holders: files::lock_holders(&file),
                    });
                }
                std::thread::sleep(LOCK_POLL);
            }
            if files::still_at(&file, &path) {
                return Ok(LabLock { file, path });
            }
            // Removed (or replaced) while we waited: lock the one there now.
        }
    }

    /// Removes the lock file and releases the lock: the last act of a
    /// command that removed the lab, so no lock file outlives its lab.
    /// Nothing may happen under this lock after it.
    pub fn remove(self) {
        if files::still_at(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What [`super::Error::LockTimeout`] says: who holds the lock, and what to do.
pub(super) fn timeout_message(lab: &str, waited: &Duration, holders: &[LockHolder]) -> String {
    let waited = format!("{:.1} s", waited.as_secs_f64());
    if holders.is_empty() {
        return format!(
            "another process holds the lock of lab `{lab}` ({}), which /proc/locks does not \
             name; gave up after {waited}: wait longer with --wait SECS",
            lock_path(lab).display()
        );
    }
    let who: Vec<String> = holders
        .iter()
        .map(|h| match h.command.as_str() {
            "" => format!("pid {}", h.pid),
            c => format!("pid {} ({c})", h.pid),
        })
        .collect();
    let pids: Vec<String> = holders.iter().map(|h| h.pid.to_string()).collect();
    format!(
        "lab `{lab}` is locked by {}; gave up after {waited}: wait longer with --wait SECS, \
         or stop pid {}",
        who.join(", "),
        pids.join(", ")
    )
}

/// Lock files of labs that are gone and that nobody holds, removed (for
/// `cleanup`: a `down` that was killed leaves its lock file behind).
pub fn remove_stale_locks() -> usize {
    let mut removed = 0;
    for e in fs::read_dir(LOCK_DIR).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(lab) = name.strip_suffix(".lock") else {
            continue;
        };
        if lab_dir(lab).exists() {
            continue;
        }
        if let Ok(lock) = LabLock::acquire_within(lab, Duration::ZERO) {
            // Checked again under the lock: an `up` may have made it since.
            if !lab_dir(lab).exists() {
                lock.remove();
                removed += 1;
            }
        }
    }
    removed
}
