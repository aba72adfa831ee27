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
pub use super::protocol::{LinkState, Status};
pub use super::{
    driven_links, ensure_running, health, running, status, stop, Error, Health, Result, StopReport,
};

/// The driver that carries a link through the userspace emulator.
pub const EMULATOR: &str = super::drivers::Emulator::NAME;
/// The driver that carries a link's conditions (and schedule) as qdiscs.
pub const TC: &str = super::drivers::Tc::NAME;

/// Whether any supervisor process of `lab` runs (by pid file, and strays
/// that hold a lost one open), answering or not.
pub fn has_process(lab: &str) -> bool {
    !super::process::of_lab(lab).is_empty()
}
