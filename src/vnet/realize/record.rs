//! The world as last applied, kept beside the lab's journal
//! (`/run/nlab/<lab>/vnet-world.json`, root's alone) so that `nlab trace`
//! reads the same model the kernel was built from, without the API's
//! database or server.

use super::Desired;
use crate::store::{paths::lab_dir, write_atomic};
use std::path::PathBuf;

/// Where the world applied to lab `lab` is kept.
pub fn path(lab: &str) -> PathBuf {
    lab_dir(lab).join("vnet-world.json")
}

/// Records `d` as the world lab `lab` now realizes.
pub fn save(d: &Desired, lab: &str) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(d).map_err(std::io::Error::other)?;
    write_atomic(&path(lab), &bytes)
}

/// The world last applied to lab `lab`, or a message saying there is none.
pub fn load(lab: &str) -> Result<Desired, String> {
    let p = path(lab);
    let bytes = std::fs::read(&p).map_err(|e| {
        format!(
            "no virtual-network world is recorded for lab {lab} ({}: {e}); is `nlab serve` \
             running with --lab {lab}?",
            p.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a world nlab wrote: {e}", p.display()))
}
