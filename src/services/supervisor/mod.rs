//! The per-lab supervisor: one background process per lab that needs one,
//! running what the kernel cannot hold on its own (scheduled link changes
//! now; the userspace link emulator, DHCP and capture later).
//!
//! - It is `nlab supervise LAB` (hidden subcommand), started detached by
//!   [`ensure_running`] in its own session, in the root namespace; it
//!   enters lab namespaces on threads when it needs to.
//! - Its files sit beside the lab's journal in `/run/nlab/<lab>/`, all
//!   root only: `supervisor.pid` (flocked: one supervisor per lab; `PID
//!   START_TICKS`, see [`process`]), `supervisor/supervisor.sock` (JSON
//!   lines, see [`protocol`]), `supervisor.json` (what it must run,
//!   so a restarted one resumes, see [`desired`]) and `supervisor.log`.
//! - A lab with nothing to supervise has no process: it starts only when
//!   something asks for it.
//! - Killing it leaves the kernel's data plane as it is; `lab::teardown`
//!   stops it (socket, then signals by pid file and start time, then
//!   strays that hold a lost pid file open) before it removes the lab.
//! - A supervisor that does not answer within [`client::TIMEOUT`]
//!   (stopped, wedged) is reported as such, and replaced by the next
//!   [`ensure_running`].
//! - What carries each link is a driver in [`drivers`] (`kernel-state`,
//!   `tc`, `emulator`). The lab layer reaches all of this only through
//!   [`api`]; the supervisor reads the lab's journal from [`crate::store`].

pub mod api;
pub mod client;
pub mod daemon;
pub mod desired;
pub mod drivers;
pub mod local;
pub mod process;
pub mod protocol;
pub mod schedule;

pub use client::Client;
pub use drivers::{Drivers, LinkDriver};
pub use protocol::{ErrorKind, LinkState, LinkTarget, Status};

use crate::store::{self, State};
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
    /// The lab's files: journal, name, pid-file directory.
    #[error(transparent)]
    Store(#[from] store::Error),
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
    #[error("supervisor {} of lab {lab} does not answer within {} s ({}); `nlab up` or `nlab supervisor start {lab}` replaces it", describe_pid(.pid), .timeout.as_secs(), describe_state(.state))]
    NotAnswering {
        lab: String,
        pid: Option<i32>,
        state: char,
        timeout: Duration,
    },
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
    use crate::store::lab_dir;
    use std::path::PathBuf;

    pub fn pid(lab: &str) -> PathBuf {
        lab_dir(lab).join("supervisor.pid")
    }
    /// The socket's directory: root only (0700), so nobody else can
    /// reach the socket, not even in the moment between its bind() and
    /// its chmod().
    pub fn socket_dir(lab: &str) -> PathBuf {
        lab_dir(lab).join("supervisor")
    }
    pub fn socket(lab: &str) -> PathBuf {
        socket_dir(lab).join("supervisor.sock")
    }
    /// Where the previous release's supervisor listened (the lab's
    /// directory itself, before the socket moved into a root-only one).
    pub fn old_socket(lab: &str) -> PathBuf {
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

/// How a lab's supervisor is doing, seen from outside.
#[derive(Debug, Clone)]
pub enum Health {
    /// No supervisor of the lab runs.
    NotRunning,
    /// Its process runs, started less than [`START_TIMEOUT`] ago, and has
    /// not opened its socket yet.
    Starting(process::Supervisor),
    /// Its process runs but answers nothing: stopped, silent on its
    /// socket for [`client::TIMEOUT`], or never listening.
    NotAnswering {
        sup: process::Supervisor,
        why: String,
    },
    /// It answered with its status.
    Running(Box<Status>),
}

/// How the lab's supervisor is doing, found by its pid file and its start
/// time; waits at most [`client::TIMEOUT`] for an answer.
pub fn health(lab: &str) -> Result<Health> {
    store::check_lab_name(lab)?;
    let Some(sup) = process::from_pid_file(lab) else {
        return Ok(Health::NotRunning);
    };
    if sup.stopped() {
        let why = format!("stopped: state {}", sup.state());
        return Ok(Health::NotAnswering { sup, why });
    }
    let err = match Client::new(lab).status() {
        Ok(st) => return Ok(Health::Running(Box::new(st))),
        Err(e) => e,
    };
    if !sup.alive() {
        return Ok(Health::NotRunning);
    }
    let why = match &err {
        Error::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            if previous_release(lab) {
                format!(
                    "a supervisor of the previous nlab release: it listens on {}, not on {}",
                    paths::old_socket(lab).display(),
                    paths::socket(lab).display()
                )
            } else if sup.age().is_some_and(|a| a < START_TIMEOUT) {
                return Ok(Health::Starting(sup));
            } else {
                format!("not listening on {}", paths::socket(lab).display())
            }
        }
        Error::NotAnswering { .. } => format!(
            "silent on its socket for {} s, state {}",
            client::TIMEOUT.as_secs(),
            sup.state()
        ),
        e => e.to_string(),
    };
    Ok(Health::NotAnswering { sup, why })
}

/// The previous release's supervisor listens in the lab's directory, and
/// nothing of this release makes a socket there.
fn previous_release(lab: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(paths::old_socket(lab)).is_ok_and(|m| m.file_type().is_socket())
}

/// The error of a supervisor that did not answer within `timeout`.
pub(crate) fn not_answering(
    lab: &str,
    sup: Option<process::Supervisor>,
    timeout: Duration,
) -> Error {
    Error::NotAnswering {
        lab: lab.to_string(),
        pid: sup.map(|s| s.pid),
        state: sup.map_or('?', |s| s.state()),
        timeout,
    }
}

fn describe_pid(pid: &Option<i32>) -> String {
    pid.map_or("(pid unknown)".into(), |p| format!("pid {p}"))
}

fn describe_state(state: &char) -> String {
    match state {
        'T' | 't' => format!("stopped: state {state}"),
        '?' => "state unknown".into(),
        s => format!("state {s}"),
    }
}

/// Returns a client of the lab's supervisor, starting one first if none
/// answers, and replacing one that runs but does not answer (stopped or
/// wedged). Safe to call from several processes at once: the pid-file
/// lock lets one supervisor win, and every caller talks to that one.
pub fn ensure_running(lab: &str) -> Result<Client> {
    store::check_lab_name(lab)?;
    if State::load(lab)?.is_none() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let client = Client::new(lab);
    let mut h = health(lab)?;
    if let Health::Starting(sup) = h {
        // Someone else just started it: give it the rest of its time.
        while sup.alive() && sup.age().is_some_and(|a| a < START_TIMEOUT) {
            if client.answers() {
                return Ok(client);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        h = health(lab)?;
    }
    match h {
        Health::Running(_) => return Ok(client),
        Health::NotAnswering { sup, why } => replace(lab, &sup, &why)?,
        Health::Starting(sup) => replace(lab, &sup, "did not start listening in time")?,
        Health::NotRunning => {}
    }
    // Strays (their pid file lost) would drive the same TAPs as a new
    // one. One another caller has just started (named by the pid file by
    // now) is no stray: ours then loses the pid-file lock and leaves.
    let current = process::from_pid_file(lab);
    let strays: Vec<process::Supervisor> = process::of_lab(lab)
        .into_iter()
        .filter(|s| Some(*s) != current)
        .collect();
    if !strays.is_empty() {
        process::terminate(&strays);
    }
    // A supervisor just killed may still hold the pid-file lock while its
    // threads exit; the new one would find it taken and leave.
    process::wait_dying_lock_holders(lab, Duration::from_secs(3));
    process::spawn_detached(lab)?;
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if client.answers() {
            return Ok(client);
        }
        // A supervisor that died at start (and no other one running)
        // will not answer: say why instead of waiting out the timeout.
        if start.elapsed() > Duration::from_millis(500) && process::from_pid_file(lab).is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(Error::Start(format!(
        "the supervisor of {lab} did not answer on {} within {:?} (lock on its pid file {} held by: {}); its log ({}) ends with:\n{}",
        paths::socket(lab).display(),
        start.elapsed(),
        paths::pid(lab).display(),
        process::pid_lock_holders(lab),
        paths::log(lab).display(),
        log_tail(lab, 10)
    )))
}

/// Ends a supervisor that does not answer, so a new one can take over.
/// SIGKILL, since a stopped process acts on no other signal; `sup` was
/// identified by pid file and start time, and the signal goes through a
/// pidfd checked against that start time.
fn replace(lab: &str, sup: &process::Supervisor, why: &str) -> Result<()> {
    note_in_log(
        lab,
        &format!(
            "supervisor pid {} does not answer ({why}); replacing it",
            sup.pid
        ),
    );
    if process::kill(sup) {
        let _ = std::fs::remove_file(paths::socket(lab));
        let _ = std::fs::remove_file(paths::old_socket(lab));
        return Ok(());
    }
    Err(Error::Start(format!(
        "the supervisor of {lab} (pid {}) does not answer ({why}) and outlived SIGKILL",
        sup.pid
    )))
}

fn note_in_log(lab: &str, msg: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(paths::log(lab))
    {
        let _ = writeln!(f, "[nlab {}] {msg}", std::process::id());
    }
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
/// SIGKILL, for the pid file's supervisor and for strays that still hold
/// a lost pid file of the lab. Best effort and idempotent: teardown must
/// finish even when the supervisor is wedged or gone.
pub fn stop(lab: &str) -> StopReport {
    let before = process::of_lab(lab);
    let mut report = StopReport {
        found: before.len(),
        signalled: 0,
    };
    if before.is_empty() {
        remove_files(lab);
        return report;
    }
    // A stopped one cannot answer: asking would only cost the timeout.
    let askable = process::from_pid_file(lab).is_some_and(|s| !s.stopped());
    let asked = askable && Client::new(lab).stop().is_ok();
    let left = if asked {
        process::wait_exited(&before, Duration::from_secs(2))
    } else {
        before
    };
    report.signalled = process::terminate(&left);
    remove_files(lab);
    report
}

fn remove_files(lab: &str) {
    let _ = std::fs::remove_file(paths::socket(lab));
    let _ = std::fs::remove_file(paths::old_socket(lab));
    let _ = std::fs::remove_dir(paths::socket_dir(lab));
    let _ = std::fs::remove_file(paths::pid(lab));
}

/// The supervisor's own report, or `None` when the lab has none running.
/// A supervisor that does not answer within [`client::TIMEOUT`] is an
/// error that says so (with its pid and state).
pub fn status(lab: &str) -> Result<Option<Status>> {
    match health(lab)? {
        Health::NotRunning => Ok(None),
        Health::Running(st) => Ok(Some(*st)),
        Health::Starting(sup) => Err(Error::Start(format!(
            "the supervisor of {lab} (pid {}) is starting; ask again in a moment",
            sup.pid
        ))),
        Health::NotAnswering { sup, .. } => Err(not_answering(lab, Some(sup), client::TIMEOUT)),
    }
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

/// Labs with a supervisor process running (pid of the first one found),
/// by pid file, and strays by the pid file they hold open.
pub fn running() -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = process::all()
        .into_iter()
        .map(|(s, l)| (l, s.pid))
        .collect();
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v
}
