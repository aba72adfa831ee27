//! Links recorded for the lab's lifetime (`capture:`), from the lab's
//! side: what `nlab capture LAB --list` shows.

use super::{Error, Lab, Result};
pub use crate::services::supervisor::api::RecordingStatus;
use crate::services::supervisor::api::{self as supervisor, Client, Health};

/// Every recorded link of `lab` (and links recorded earlier whose files
/// are still there), sorted by link key. Asks the lab's supervisor when
/// one runs; reads the files on disk for what it does not record.
pub fn list(lab: &str) -> Result<Vec<RecordingStatus>> {
    let l = Lab::open(lab)?;
    let want = crate::topo::capture::recordings(l.topology());
    let (live, why) = match supervisor::health(lab).map_err(|e| Error::service(lab, e))? {
        Health::Running(_) => (
            Some(
                Client::new(lab)
                    .capture()
                    .map_err(|e| Error::service(lab, e))?,
            ),
            "the supervisor does not record it: run `nlab up FILE` again".to_string(),
        ),
        Health::NotRunning => (
            None,
            format!("no supervisor running (`nlab supervisor start {lab}`)"),
        ),
        Health::Starting(_) => (None, "the supervisor is starting".into()),
        Health::NotAnswering { sup, why } => (
            None,
            format!(
                "supervisor pid {} does not answer ({why}); `nlab supervisor start {lab}` replaces it",
                sup.pid
            ),
        ),
    };
    Ok(supervisor::capture_listing(lab, &want, live, &why))
}
