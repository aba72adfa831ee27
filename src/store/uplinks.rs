//! Records of what a lab's host uplinks made in the root namespace, and of
//! the host's `net.ipv4.ip_forward` that they needed.
//!
//! Each lab records its uplinks in `/run/nlab/<lab>/uplinks.json` before
//! making them (intent first, so `down` after a `kill -9` finds them). The
//! forwarding setting belongs to the host, not to one lab: one record,
//! `/run/nlab/.ip_forward.json`, keeps the value found before the first
//! lab changed it and the labs that need it now, under a lock file that
//! nothing deletes.

use super::journal::write_atomic;
use super::lock::LOCK_DIR;
use super::paths::{lab_dir, LAB_DIR_MODE, RUN_DIR};
use super::{Error, Result};
use crate::kernel::files;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One host uplink: the NAT node's veth end `uplink` and its peer
/// `root_if` in the root namespace, on the transfer subnet
/// `net/prefix` (`root_addr` the host's end, `nat_addr` the NAT's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkRecord {
    pub node: String,
    pub root_if: String,
    pub net: Ipv4Addr,
    pub prefix: u8,
    pub root_addr: Ipv4Addr,
    pub nat_addr: Ipv4Addr,
}

fn uplinks_path(lab: &str) -> PathBuf {
    lab_dir(lab).join("uplinks.json")
}

/// The lab's recorded uplinks (none when there is no record).
pub fn load(lab: &str) -> Vec<UplinkRecord> {
    std::fs::read(uplinks_path(lab))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Replaces the lab's uplink record (the lab directory must exist).
pub fn save(lab: &str, recs: &[UplinkRecord]) -> Result<()> {
    let path = uplinks_path(lab);
    let bytes = serde_json::to_vec_pretty(recs).map_err(|e| Error::Journal(e.to_string()))?;
    write_atomic(&path, &bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// The host's forwarding setting as nlab found it, and who needs it on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardRecord {
    /// `net.ipv4.ip_forward` before the first lab set it.
    pub old: String,
    pub labs: BTreeSet<String>,
}

fn forward_path() -> PathBuf {
    Path::new(RUN_DIR).join(".ip_forward.json")
}

/// Every lab named in the forwarding record (for `cleanup`).
pub fn forward_labs() -> Vec<String> {
    read_forward()
        .map(|r| r.labs.into_iter().collect())
        .unwrap_or_default()
}

fn read_forward() -> Option<ForwardRecord> {
    std::fs::read(forward_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Runs `f` on the forwarding record under its lock; `f` returns what the
/// record becomes (`None` deletes it) and a value for the caller.
pub fn with_forward<R>(
    f: impl FnOnce(Option<ForwardRecord>) -> (Option<ForwardRecord>, R),
) -> Result<R> {
    // Among the lab locks, where nothing deletes a lock file (a lock on a
    // deleted inode serializes nothing).
    for (d, mode) in [(RUN_DIR, 0o755), (LOCK_DIR, LAB_DIR_MODE)] {
        files::ensure_dir(Path::new(d), mode).map_err(|e| Error::io(format!("creating {d}"), e))?;
    }
    let lock_path = Path::new(LOCK_DIR).join("ip_forward.lock");
    let lock = files::open_file(&lock_path, 0o600, false)
        .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
    let start = Instant::now();
    while !files::try_lock_exclusive(&lock)
        .map_err(|e| Error::io(format!("locking {}", lock_path.display()), e))?
    {
        if start.elapsed() > Duration::from_secs(10) {
            let holders: Vec<String> = files::lock_holders(&lock)
                .iter()
                .map(|h| format!("pid {} ({})", h.pid, h.command))
                .collect();
            return Err(Error::Journal(format!(
                "{} stayed locked for 10 s, held by {}; try again once it has finished",
                lock_path.display(),
                if holders.is_empty() {
                    "a process that could not be named".to_string()
                } else {
                    holders.join(", ")
                }
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (next, out) = f(read_forward());
    let path = forward_path();
    match next {
        Some(r) => {
            let bytes = serde_json::to_vec_pretty(&r).map_err(|e| Error::Journal(e.to_string()))?;
            write_atomic(&path, &bytes)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("removing {}", path.display()), e))
            }
            _ => {}
        },
    }
    Ok(out)
}
