//! What `lab/` and `services/` both keep on disk about a lab: the journal,
//! the lab's name and paths, and the per-lab lock.
//!
//! It sits below both (it uses only [`crate::kernel`] and [`crate::topo`]),
//! so the supervisor reads a lab's journal without reaching into the plan
//! and apply layer, and `lab/` calls the supervisor without a cycle.
//!
//! - [`names`]: which strings are lab names (they become paths and
//!   namespace names, so this is a safety check, not tidiness).
//! - [`paths`]: `/run/nlab/<lab>/` and the files in it, with their modes.
//! - [`journal`]: `state.json`, the lab's recorded topology and phase.
//! - [`lock`]: the lock that serializes commands working on one lab.

// An internal layer: outside the crate only `crate::testing` reaches a
// few of its items, for nlab's own tests; the public API is `lab` and
// `topo`, which `missing_docs` holds to full documentation.
#![allow(missing_docs, rustdoc::private_intra_doc_links)]

pub mod journal;
pub mod lock;
pub mod names;
pub mod paths;
pub mod uplinks;

pub use journal::{now, write_atomic, write_atomic_as, Phase, State, STATE_VERSION};
pub use lock::{lock_path, remove_stale_locks, set_lock_wait, LabLock};
pub use names::check_lab_name;
pub use paths::{
    create_private_file, ensure_lab_dir, ensure_private_dir, lab_dir, list_lab_dirs, RUN_DIR,
};

use crate::kernel::files::LockHolder;
use std::time::Duration;

/// Errors of the store: reading and writing a lab's files, its name, its
/// lock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Journal(String),
    #[error("`{0}` is not a lab name: {1}")]
    BadLabName(String, String),
    /// Another process held the lab's lock for longer than this one waits.
    #[error("{}", lock::timeout_message(.lab, .waited, .holders))]
    LockTimeout {
        lab: String,
        waited: Duration,
        holders: Vec<LockHolder>,
    },
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
