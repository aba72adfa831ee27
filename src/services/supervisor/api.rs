//! What the plan and apply layer (`src/lab/`) may use of the supervisor,
//! and all of it: `lab` imports this module and nothing else of
//! `services`, and nothing in `services` imports `lab` (`tests/layers.rs`
//! checks both). Both sit on [`crate::store`] (journal, names, paths,
//! lock) and [`crate::kernel`].
//!
//! A feature that needs more of the supervisor from `lab` adds it here,
//! so the surface between the two layers stays one file to read.

pub use super::client::Client;
pub use super::local::Local;
pub use super::protocol::{ErrorKind, LinkState, Status};
pub use crate::services::dhcp::service::Status as DhcpStatus;
pub use crate::services::dhcp::Leases as DhcpLeases;

/// Whether a topology has DHCP servers, relays or clients, which the
/// supervisor runs.
pub fn dhcp_needed(t: &crate::topo::Topology) -> bool {
    crate::services::dhcp::plan::needed(t)
}

/// Every lease of the lab, by server node, read from the lease files
/// (also when no supervisor runs).
pub fn dhcp_leases(lab: &str) -> Result<Vec<(String, DhcpLeases)>> {
    crate::services::dhcp::leases::read_all(lab)
        .map_err(|e| Error::io(format!("reading the lease files of {lab}"), e))
}
pub use crate::services::capture::record::{listing as capture_listing, FileStat, RecordingStatus};

pub use super::{
    driven_links, ensure_running, health, running, status, stop, Error, Health, Result, StopReport,
};

/// The driver that carries a link through the userspace emulator.
pub const EMULATOR: &str = super::drivers::Emulator::NAME;
/// The driver that carries a link's conditions (and schedule) as qdiscs.
pub const TC: &str = super::drivers::Tc::NAME;

/// The `nlab` binary that runs helper processes (the supervisor, a PID
/// namespace's init): `$NLAB_EXE`, this program, or an `nlab` beside it.
pub fn nlab_exe() -> Result<std::path::PathBuf> {
    super::process::exe()
}

/// Whether any supervisor process of `lab` runs (by pid file, and strays
/// that hold a lost one open), answering or not.
pub fn has_process(lab: &str) -> bool {
    !super::process::of_lab(lab).is_empty()
}
