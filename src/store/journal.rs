//! The journal (`/run/nlab/<lab>/state.json`) and the per-lab lock.
//!
//! The journal records intent before a batch of kernel operations and
//! confirms it after, rather than one write per object: a thousand fsyncs
//! would cost more than the lab. If `nlab` dies in between, the journal
//! says "applying" and cleanup falls back to names, which are enough.

use super::{Error, Result};
use crate::kernel::files;
use crate::topo::Topology;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Root of every lab's runtime files.
pub const RUN_DIR: &str = "/run/nlab";
/// The lab locks: beside the labs' directories, not in them, so `down`
/// removing a lab's directory does not remove the lock others wait on.
pub const LOCK_DIR: &str = "/run/nlab/.locks";
pub const STATE_VERSION: u32 = 1;

/// A lab's directory and everything in it is root's alone: the journals,
/// the supervisor's socket and pid file, and `etc/`, whose files `exec`
/// binds over a node's `/etc`. Bind mounts do not check the source's path,
/// so nodes still read their `hosts` file through the mount.
const LAB_DIR_MODE: u32 = 0o700;
const PRIVATE_FILE_MODE: u32 = 0o600;

pub fn lab_dir(lab: &str) -> PathBuf {
    Path::new(RUN_DIR).join(lab)
}

/// Creates (or corrects the modes of) `/run/nlab` (0755) and the lab's
/// directory (0700, root's), whatever the umask.
pub fn ensure_lab_dir(lab: &str) -> Result<PathBuf> {
    let dir = lab_dir(lab);
    for (d, mode) in [(Path::new(RUN_DIR), 0o755), (dir.as_path(), LAB_DIR_MODE)] {
        files::ensure_dir(d, mode)
            .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
    }
    Ok(dir)
}

/// Creates `dir` (0700) inside an existing lab directory.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    files::ensure_dir(dir, LAB_DIR_MODE)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Creates (or empties) a file only root may read or write.
pub fn create_private_file(path: &Path) -> Result<File> {
    files::open_file(path, PRIVATE_FILE_MODE, true)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Operations are being applied; the kernel may hold any mix of the old
    /// and new topology.
    Applying,
    /// The kernel matches `topology`; its links are being handed to the
    /// lab's supervisor (emulated links pass nothing until they are).
    Handover,
    /// The kernel matches `topology`.
    Applied,
}

/// The journal of one lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Always the name of the directory the journal was read from: the
    /// field in the file is never trusted (see [`State::load`]).
    pub lab: String,
    pub phase: Phase,
    /// The topology as last applied (or being applied, in `Applying`).
    pub topology: Topology,
    /// Seconds since the epoch.
    pub created: u64,
    pub updated: u64,
    /// The process that wrote this (for `nlab list` to spot crashed runs).
    pub pid: u32,
    /// Seed of the userspace link emulator's per-packet decisions: the same
    /// seed gives the same drops, duplicates and reorders.
    #[serde(default)]
    pub seed: u64,
    /// Links (by key) the user set down (`nlab link set --down`, the
    /// console's `link A B down`): their `up: false` in `topology` is the
    /// user's choice, which a later `up FILE` keeps.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub down_by_user: std::collections::BTreeSet<String>,
    /// What the lab was made from (`file:/abs/path`, `topo:tree`), so
    /// `up` from another source is not taken for an edit of this one.
    /// `None` for labs made through the library or by older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old
/// file or the new one, never half of one: a synced temp file, renamed.
/// The file is root's alone (0600), whatever the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    write_atomic_as(path, Path::new(&tmp), bytes, PRIVATE_FILE_MODE)
}

/// [`write_atomic`] through the temp file `tmp`, with file mode `mode`.
pub fn write_atomic_as(path: &Path, tmp: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = files::open_file(tmp, mode, true)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    fs::rename(tmp, path)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    pub fn path(lab: &str) -> PathBuf {
        lab_dir(lab).join("state.json")
    }

    /// Reads the journal; `Ok(None)` when the lab has none.
    ///
    /// A lab's identity is its path: the names inside the file are
    /// overwritten with `lab`, so a journal that says `"lab": "other"`
    /// cannot make `up` write (or tear down) another lab. Node and
    /// interface names become namespace paths and link names, so a journal
    /// whose names nlab could not have written is refused.
    pub fn load(lab: &str) -> Result<Option<State>> {
        let p = Self::path(lab);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", p.display()), e)),
        };
        let bad = |why: String| {
            Error::Journal(format!(
                "{} is not a journal this nlab understands ({why}); `nlab cleanup` removes the lab by name",
                p.display()
            ))
        };
        let mut st: State = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        check_names(&st.topology).map_err(bad)?;
        st.lab = lab.to_string();
        st.topology.name = lab.to_string();
        Ok(Some(st))
    }

    /// Writes the journal atomically (temp file + rename).
    pub fn save(&self) -> Result<()> {
        ensure_lab_dir(&self.lab)?;
        let p = Self::path(&self.lab);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Journal(format!("encoding the journal: {e}")))?;
        write_atomic(&p, &text).map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }
}

/// Every node and interface name of a recorded topology is one the
/// validator accepts (no `/`, no `..`, within the kernel's lengths).
fn check_names(t: &Topology) -> std::result::Result<(), String> {
    use crate::topo::validate::{check_iface_name, check_node_name};
    for (key, n) in &t.nodes {
        check_node_name(key).map_err(|e| format!("node `{key}`: {e}"))?;
        if n.name != *key {
            return Err(format!("node `{key}` calls itself `{}`", n.name));
        }
    }
    for l in &t.links {
        for e in &l.endpoints {
            if !t.nodes.contains_key(&e.node) {
                return Err(format!("link end {} names no node", e.id()));
            }
            check_iface_name(&e.iface).map_err(|m| format!("link end {}: {m}", e.id()))?;
        }
    }
    Ok(())
}

/// Labs that have a runtime directory (not `.locks`).
pub fn list_lab_dirs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(RUN_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

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
