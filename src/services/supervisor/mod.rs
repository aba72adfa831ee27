//! The per-lab supervisor: one background process per lab that needs one,
//! running what the kernel cannot hold on its own (scheduled link changes
//! now; the userspace link emulator, DHCP and capture later).
//!
//! - It is `nlab supervise LAB` (hidden subcommand), started detached by
//!   [`ensure_running`] in its own session, in the root namespace; it
//!   enters lab namespaces on threads when it needs to.
//! - Its files sit beside the lab's journal in `/run/nlab/<lab>/`:
//!   `supervisor.pid` (flocked: one supervisor per lab), `supervisor.sock`
//!   (JSON lines, see [`protocol`]), `supervisor.json` (what it must run,
//!   so a restarted one resumes, see [`desired`]) and `supervisor.log`.
//! - A lab with nothing to supervise has no process: it starts only when
//!   something asks for it.
//! - Killing it leaves the kernel's data plane as it is; `lab::teardown`
//!   stops it (socket, then pid file, then a `/proc` scan for strays)
//!   before it removes the lab.

pub mod client;
pub mod daemon;
pub mod desired;
pub mod driver;
pub mod drivers;
pub mod process;
pub mod protocol;
pub mod schedule;

pub use client::Client;
pub use driver::{Drivers, LinkDriver};
pub use protocol::{ErrorKind, LinkState, LinkTarget, Status};

use crate::lab::state::State;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Errors of the supervisor, on both sides of the socket.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Kernel(#[from] crate::kernel::Error),
    #[error(transparent)]
    Lab(#[from] crate::lab::Error),
    #[error("no lab named `{0}` is up (see `nlab list`)")]
    NoSuchLab(String),
    #[error("lab {lab} has no link `{key}` (give its key `a:ifa--b:ifb` or one end `node:iface`)")]
    NoSuchLink { lab: String, key: String },
    #[error("{0}")]
    Driver(String),
    #[error("bad schedule: {0}")]
    Schedule(String),
    #[error("supervisor state: {0}")]
    State(String),
    #[error("{0}")]
    Protocol(String),
    #[error("the supervisor of {lab} refused ({kind}): {message}")]
    Remote {
        lab: String,
        kind: ErrorKind,
        message: String,
    },
    #[error("starting the supervisor: {0}")]
    Start(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// How the daemon reports this error over the socket.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchLink { .. } => ErrorKind::NoSuchLink,
            Error::Driver(_) | Error::Kernel(_) => ErrorKind::Driver,
            Error::Schedule(_) => ErrorKind::BadSchedule,
            Error::Remote { kind, .. } => *kind,
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a lab's supervisor keeps its files.
pub mod paths {
    use crate::lab::state::lab_dir;
    use std::path::PathBuf;

    pub fn pid(lab: &str) -> PathBuf {
        lab_dir(lab).join("supervisor.pid")
    }
    pub fn socket(lab: &str) -> PathBuf {
        lab_dir(lab).join("supervisor.sock")
    }
    pub fn desired(lab: &str) -> PathBuf {
        lab_dir(lab).join("supervisor.json")
    }
    pub fn log(lab: &str) -> PathBuf {
        lab_dir(lab).join("supervisor.log")
    }
}

/// How long a starting supervisor may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Returns a client of the lab's supervisor, starting one first if none
/// answers. Safe to call from several processes at once: the pid-file lock
/// lets one supervisor win, and every caller talks to that one.
pub fn ensure_running(lab: &str) -> Result<Client> {
    crate::lab::check_lab_name(lab)?;
    if State::load(lab)?.is_none() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let client = Client::new(lab);
    if client.answers() {
        return Ok(client);
    }
    process::spawn_detached(lab)?;
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if client.answers() {
            return Ok(client);
        }
        // A supervisor that died at start (and no other one running)
        // will not answer: say why instead of waiting out the timeout.
        if start.elapsed() > Duration::from_millis(500) && process::pids_of(lab).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(Error::Start(format!(
        "the supervisor of {lab} did not answer on {} within {:?}; its log ({}) ends with:\n{}",
        paths::socket(lab).display(),
        start.elapsed(),
        paths::log(lab).display(),
        log_tail(lab, 10)
    )))
}

fn log_tail(lab: &str, lines: usize) -> String {
    let text = std::fs::read_to_string(paths::log(lab)).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// What [`stop`] found and ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StopReport {
    /// Supervisor processes of the lab that were running.
    pub found: usize,
    /// Of those, how many had to be signalled (did not stop when asked).
    pub signalled: usize,
}

/// Ends the lab's supervisor(s): asks over the socket, then SIGTERM and
/// SIGKILL by pid file and by `/proc` scan. Best effort and idempotent:
/// teardown must finish even when the supervisor is wedged or gone.
pub fn stop(lab: &str) -> StopReport {
    let before = process::pids_of(lab);
    let mut report = StopReport {
        found: before.len(),
        signalled: 0,
    };
    if before.is_empty() {
        remove_files(lab);
        return report;
    }
    let asked = Client::new(lab).stop().is_ok();
    let left = if asked {
        process::wait_gone(&before, Duration::from_secs(2))
    } else {
        before
    };
    // Strays too: a supervisor whose pid file was lost still shows its
    // command line.
    let mut rest = process::pids_of(lab);
    for p in left {
        if !rest.contains(&p) && process::alive(p) {
            rest.push(p);
        }
    }
    report.signalled = process::terminate(&rest);
    remove_files(lab);
    report
}

fn remove_files(lab: &str) {
    let _ = std::fs::remove_file(paths::socket(lab));
    let _ = std::fs::remove_file(paths::pid(lab));
}

/// The supervisor's own report, or `None` when the lab has none running.
pub fn status(lab: &str) -> Result<Option<Status>> {
    crate::lab::check_lab_name(lab)?;
    if process::pids_of(lab).is_empty() {
        return Ok(None);
    }
    Client::new(lab).status().map(Some)
}

/// The state the supervisor holds each link it drives in, by link key,
/// from its persisted state (also when it is not running). `inspect` and
/// `up` should take these over the topology's `up`/conditions, or they
/// would report (and "repair") a scheduled change as drift.
pub fn driven_links(lab: &str) -> Result<std::collections::BTreeMap<String, LinkState>> {
    Ok(desired::Desired::load(lab)?
        .links
        .into_iter()
        .map(|(k, e)| (k, e.state))
        .collect())
}

/// Labs with a supervisor process running (pid of the first one found).
pub fn running() -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = process::all_supervisors()
        .into_iter()
        .map(|(p, l)| (l, p))
        .collect();
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v
}
