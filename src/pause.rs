//! Test-only pause points, so a race test hits its window every time.
//!
//! With `NLAB_TEST_PAUSE=step[,step…]` and `NLAB_TEST_PAUSE_DIR=DIR`, the
//! process stops at each named step: it creates `DIR/STEP.reached` (holding
//! its pid), then waits until `DIR/STEP.go` exists, for at most 60 s. Without
//! both variables [`at`] costs one environment lookup and does nothing.
//!
//! Steps in use: `applied` (kernel part applied, journal says `handover`,
//! before the supervisor hand-over), `down-partial` (down removed the
//! supervisor and one namespace, not the rest), `exec-opened` (`exec` holds
//! the node's namespace open, not yet entered), `exec-entered` (after
//! `exec`'s setns and its check that the lab is not closing, before the
//! exec),
//! `down-locked` (down holds the lab lock), `up-locked` (up holds the lab
//! lock), `down-scanned` (down has killed the processes it found),
//! `node-setup` (up made the nodes' cgroups, before their `exec:` lists).
//! `attach-resolved` (up has opened the namespaces it attaches, nothing
//! is changed yet).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a paused process waits for its go before it carries on anyway,
/// so a test that dies never leaves nlab stuck.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Stops at `step` if the environment asks for it; see the module docs.
pub fn at(step: &str) {
    let Some(dir) = dir_for(step) else { return };
    let reached = dir.join(format!("{step}.reached"));
    let go = dir.join(format!("{step}.go"));
    let _ = std::fs::write(&reached, std::process::id().to_string());
    let start = Instant::now();
    while !go.exists() && start.elapsed() < MAX_WAIT {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn dir_for(step: &str) -> Option<PathBuf> {
    let steps = std::env::var("NLAB_TEST_PAUSE").ok()?;
    if !steps.split(',').any(|s| s.trim() == step) {
        return None;
    }
    std::env::var_os("NLAB_TEST_PAUSE_DIR").map(PathBuf::from)
}
