//! The journal (`/run/nlab/<lab>/state.json`) and the per-lab lock.
//!
//! The journal records intent before a batch of kernel operations and
//! confirms it after, rather than one write per object: a thousand fsyncs
//! would cost more than the lab. If `nlab` dies in between, the journal
//! says "applying" and cleanup falls back to names, which are enough.

use super::{Error, Result};
use crate::topo::Topology;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Root of every lab's runtime files.
pub const RUN_DIR: &str = "/run/nlab";
pub const STATE_VERSION: u32 = 1;

pub fn lab_dir(lab: &str) -> PathBuf {
    Path::new(RUN_DIR).join(lab)
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
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees the old
/// file or the new one, never half of one: a synced temp file, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, path)
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
    pub fn load(lab: &str) -> Result<Option<State>> {
        let p = Self::path(lab);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", p.display()), e)),
        };
        let st: State = serde_json::from_str(&text).map_err(|e| {
            Error::Journal(format!(
                "{} is not a journal this nlab understands ({e}); `nlab cleanup` removes the lab by name",
                p.display()
            ))
        })?;
        Ok(Some(st))
    }

    /// Writes the journal atomically (temp file + rename).
    pub fn save(&self) -> Result<()> {
        let dir = lab_dir(&self.lab);
        fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let p = Self::path(&self.lab);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Journal(format!("encoding the journal: {e}")))?;
        write_atomic(&p, &text).map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }
}

/// Labs that have a runtime directory.
pub fn list_lab_dirs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(RUN_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

/// An exclusive lock on one lab, held until dropped. Two `nlab` processes
/// working on the same lab take turns instead of interleaving.
pub struct LabLock {
    _file: File,
}

impl LabLock {
    /// The lock file of a lab.
    pub fn path(lab: &str) -> PathBuf {
        lab_dir(lab).join("lock")
    }

    pub fn acquire(lab: &str) -> Result<LabLock> {
        let dir = lab_dir(lab);
        fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let p = Self::path(lab);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
        // SAFETY: flock on an fd we own; blocks until the other holder ends.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r != 0 {
            return Err(Error::io(
                format!("locking lab {lab}"),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(LabLock { _file: f })
    }
}
