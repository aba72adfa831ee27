//! The journal (`/run/nlab/<lab>/state.json`).
//!
//! The journal records intent before a batch of kernel operations and
//! confirms it after, rather than one write per object: a thousand fsyncs
//! would cost more than the lab. If `nlab` dies in between, the journal
//! says "applying" and cleanup falls back to names, which are enough.

use super::paths::{ensure_lab_dir, lab_dir, PRIVATE_FILE_MODE};
use super::{Error, Result};
use crate::kernel::files;
use crate::topo::Topology;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The journal format this nlab writes, and the newest it reads.
///
/// Bump it only when a journal of the previous release can no longer be
/// read as it is (a field renamed, removed or given a new meaning), and
/// teach [`State::load`] to convert the old one. A field added with a
/// serde default (`seed`, `down_by_user`, `origin`) or a new phase keeps
/// it: every version-1 journal still loads, which `tests/upgrade.rs` and
/// the unit tests here check with a journal written by the release before
/// `store/` (c9dae2b).
pub const STATE_VERSION: u32 = 1;

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
        let st = Self::parse(&text, lab).map_err(|why| {
            Error::Journal(format!(
                "{} is not a journal this nlab understands ({why}); `nlab cleanup` removes the lab by name",
                p.display()
            ))
        })?;
        Ok(Some(st))
    }

    /// The journal `text` of lab `lab` (see [`State::load`]), or why not.
    fn parse(text: &str, lab: &str) -> std::result::Result<State, String> {
        // The version first: a newer format may not even parse, and if it
        // did, fields this nlab does not know would be dropped on save.
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if v.version > STATE_VERSION {
            return Err(format!(
                "journal version {} is from a newer nlab, this one reads up to version {STATE_VERSION}",
                v.version
            ));
        }
        let mut st: State = serde_json::from_str(text).map_err(|e| e.to_string())?;
        check_names(&st.topology)?;
        st.lab = lab.to_string();
        st.topology.name = lab.to_string();
        Ok(st)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `state.json` of `nlab up --topo linear,2 --name old` as the release
    /// before `store/` (c9dae2b) wrote it, byte for byte.
    const OLD_RELEASE_JOURNAL: &str = include_str!("testdata/journal-v1-c9dae2b.json");

    #[test]
    fn a_journal_of_the_previous_release_loads() {
        let st = State::parse(OLD_RELEASE_JOURNAL, "old").expect("old journal loads");
        assert_eq!(st.version, 1);
        assert_eq!(st.phase, Phase::Applied);
        assert_eq!(st.topology.nodes.len(), 4);
        assert_eq!(st.topology.links.len(), 3);
        // What the old release did not write takes its default.
        assert!(st.down_by_user.is_empty());
        assert_eq!(st.origin, None);
        // And it saves as the current format, which loads again.
        let text = serde_json::to_string(&st).expect("encodes");
        let again = State::parse(&text, "old").expect("loads again");
        assert_eq!(again.created, st.created);
        assert_eq!(again.seed, st.seed);
    }

    #[test]
    fn the_journal_keeps_the_previous_release_version() {
        // Reading version 1 is what makes the previous release's labs
        // ours: a bump needs a conversion in `parse` (and this test moved).
        assert_eq!(STATE_VERSION, 1);
        let v: serde_json::Value = serde_json::from_str(OLD_RELEASE_JOURNAL).expect("json");
        assert_eq!(v["version"], 1);
    }

    #[test]
    fn a_journal_of_a_newer_nlab_is_refused_by_its_version() {
        let mut v: serde_json::Value = serde_json::from_str(OLD_RELEASE_JOURNAL).expect("json");
        v["version"] = (STATE_VERSION + 1).into();
        let e = State::parse(&v.to_string(), "old").expect_err("newer refused");
        assert!(e.contains("from a newer nlab"), "{e}");
        assert!(e.contains(&format!("up to version {STATE_VERSION}")), "{e}");
    }
}
