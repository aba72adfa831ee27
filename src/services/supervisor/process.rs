//! The supervisor as an operating-system process: starting it detached,
//! finding it, ending it.
//!
//! A supervisor is found by what nobody but it can show (issue 11, item
//! 9): the pid its pid file records together with that process's start
//! time, a root uid, or an open descriptor on the lab's pid file (what a
//! supervisor whose files were removed still holds). Never by argv: any
//! user can run a process whose argv reads `nlab supervise LAB`.

use super::{paths, Error, Result};
use crate::kernel::proc::{self, Pidfd};
use crate::store::{list_lab_dirs, RUN_DIR};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand the supervisor runs as: `nlab supervise LAB`.
pub const SUBCOMMAND: &str = "supervise";

/// The `nlab` binary to start: `$NLAB_EXE`, else this process when it is
/// `nlab`, else an `nlab` beside it or one directory up (a test binary in
/// `target/debug/deps` finds `target/debug/nlab`).
pub fn exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("NLAB_EXE") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| Error::io("finding the running executable", e))?;
    if me.file_name().is_some_and(|n| n == "nlab") {
        return Ok(me);
    }
    let dir = me.parent().map(PathBuf::from).unwrap_or_default();
    for cand in [dir.join("nlab"), dir.join("..").join("nlab")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(Error::Start(format!(
        "cannot find the nlab binary to run the supervisor (looked beside {}); set NLAB_EXE",
        me.display()
    )))
}

/// Starts `nlab supervise LAB` in its own session, detached from this
/// process: stdin from /dev/null, stdout and stderr to the lab's
/// supervisor.log, no inherited descriptors, and reparented away from us
/// (a double fork), so neither the terminal's Ctrl-C nor this process
/// exiting (or forgetting to reap it) touches it.
pub fn spawn_detached(lab: &str) -> Result<()> {
    let exe = exe()?;
    let log_path = paths::log(lab);
    // Root's only (issue 11, item 7): the umask does not decide.
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&log_path)
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    // An older log may carry the mode a wider umask gave it.
    proc::fchmod(&log, 0o600).map_err(|e| Error::io(format!("chmod {}", log_path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    let mut cmd = Command::new(&exe);
    cmd.arg(SUBCOMMAND)
        .arg(lab)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .current_dir("/");
    proc::detach_on_spawn(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("starting {} {SUBCOMMAND} {lab}", exe.display()), e))?;
    let _ = child.wait();
    Ok(())
}

/// One supervisor process: its pid and the start time that, with the pid,
/// names it for the host's whole uptime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervisor {
    pub pid: i32,
    pub start_ticks: u64,
}

impl Supervisor {
    /// Still the same process, alive.
    pub fn alive(&self) -> bool {
        proc::stat(self.pid).is_some_and(|s| {
            s.start_ticks == self.start_ticks && !matches!(s.state, 'Z' | 'X' | 'x')
        })
    }

    /// Stopped (SIGSTOP, a tracer): it answers nothing until continued.
    pub fn stopped(&self) -> bool {
        self.alive() && proc::stopped(self.pid)
    }

    /// Its state letter as `ps` shows it (`T` for stopped).
    pub fn state(&self) -> char {
        proc::stat(self.pid).map_or('?', |s| s.state)
    }

    /// How long ago it started.
    pub fn age(&self) -> Option<Duration> {
        proc::since_start(self.start_ticks)
    }
}

/// What the supervisor writes into its pid file: `PID START_TICKS`.
pub fn pid_file_line() -> String {
    format!(
        "{} {}\n",
        std::process::id(),
        proc::self_start_ticks().unwrap_or(0)
    )
}

/// The supervisor the lab's pid file names, if that process still runs
/// as root and started when the file says. A pid file that is not a
/// root-owned regular file is nobody's word.
pub fn from_pid_file(lab: &str) -> Option<Supervisor> {
    let p = paths::pid(lab);
    let m = fs::symlink_metadata(&p).ok()?;
    if !m.file_type().is_file() || m.uid() != 0 {
        return None;
    }
    let text = fs::read_to_string(&p).ok()?;
    let mut it = text.split_whitespace();
    let pid: i32 = it.next()?.parse().ok()?;
    let stat = proc::stat(pid)?;
    let recorded: Option<u64> = it.next().and_then(|s| s.parse().ok());
    let same = match recorded {
        Some(t) => t == stat.start_ticks,
        // A pid file of the previous release (pid only): its supervisor
        // holds the file open, a process that reused the pid does not.
        None => proc::holds_open(pid, &p),
    };
    let s = Supervisor {
        pid,
        start_ticks: stat.start_ticks,
    };
    (same && proc::is_root(pid) && s.alive()).then_some(s)
}

/// Supervisors that still hold a pid file of a lab under [`RUN_DIR`]
/// open (also one that was deleted): found without their pid file, for
/// cleanup after the lab's files were lost. Only root `nlab` processes
/// of our mount namespace qualify; the name is a quick first filter,
/// the open descriptor the proof.
fn holders_of_pid_files() -> Vec<(Supervisor, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || proc::comm(pid).as_deref() != Some("nlab") {
            continue;
        }
        if !proc::is_root(pid) || !proc::same_mount_ns(pid) {
            continue;
        }
        if !proc::exe_name(pid).is_some_and(|n| n.starts_with("nlab")) {
            continue;
        }
        let Some(stat) = proc::stat(pid) else {
            continue;
        };
        for lab in labs_held(pid) {
            out.push((
                Supervisor {
                    pid,
                    start_ticks: stat.start_ticks,
                },
                lab,
            ));
        }
    }
    out
}

/// Labs whose `supervisor.pid` the process holds open.
fn labs_held(pid: i32) -> Vec<String> {
    let prefix = format!("{RUN_DIR}/");
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().into_owned();
            let t = t.strip_suffix(" (deleted)").unwrap_or(&t);
            let lab = t.strip_prefix(&prefix)?.strip_suffix("/supervisor.pid")?;
            (!lab.contains('/') && crate::store::check_lab_name(lab).is_ok())
                .then(|| lab.to_string())
        })
        .collect()
}

/// Every supervisor of `lab`: the pid file's, and any stray that still
/// holds a (lost) pid file of the lab open.
pub fn of_lab(lab: &str) -> Vec<Supervisor> {
    let mut v: Vec<Supervisor> = from_pid_file(lab).into_iter().collect();
    for (s, l) in holders_of_pid_files() {
        if l == lab && !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// Every supervisor on this host as (supervisor, lab): pid files of the
/// labs with a directory, then strays.
pub fn all() -> Vec<(Supervisor, String)> {
    let mut v: Vec<(Supervisor, String)> = list_lab_dirs()
        .into_iter()
        .filter_map(|lab| Some((from_pid_file(&lab)?, lab)))
        .collect();
    for h in holders_of_pid_files() {
        if !v.contains(&h) {
            v.push(h);
        }
    }
    v
}

/// Who holds the lock on the lab's pid file (`pid N (COMMAND)`, …), for a
/// message; "no process" when none does.
pub fn pid_lock_holders(lab: &str) -> String {
    let v: Vec<String> = proc::flock_holders(&paths::pid(lab))
        .into_iter()
        .map(proc::describe)
        .collect();
    if v.is_empty() {
        "no process".into()
    } else {
        v.join(", ")
    }
}

/// Waits, at most `timeout`, while the lab's pid-file lock is held only by
/// processes already exiting (a supervisor killed with -9: its leader a
/// zombie while its other threads still close its files). True once the
/// lock is free or held by a live process, false on timeout.
pub fn wait_dying_lock_holders(lab: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let holders = proc::flock_holders(&paths::pid(lab));
        if holders.is_empty() || holders.iter().any(|&p| alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Alive and not a zombie (a zombie holds nothing any more).
pub fn alive(pid: i32) -> bool {
    proc::alive(pid)
}

/// Waits until every one of `sups` has exited, every thread (then its
/// locks are free); returns those still running after `timeout`.
pub fn wait_exited(sups: &[Supervisor], timeout: Duration) -> Vec<Supervisor> {
    let deadline = Instant::now() + timeout;
    sups.iter()
        .copied()
        .filter(|s| {
            Pidfd::open(s.pid, s.start_ticks)
                .is_some_and(|h| !h.wait_exit(deadline.saturating_duration_since(Instant::now())))
        })
        .collect()
}

/// SIGTERM (SIGKILL at once for a stopped one, which would keep a
/// SIGTERM pending), then SIGKILL for what is left; waits until they are
/// gone, every thread, so their locks are free. Signals go through a
/// pidfd opened after checking the start time, so a process that reused
/// a pid is never hit. Returns how many were signalled.
pub fn terminate(sups: &[Supervisor]) -> usize {
    let handles: Vec<(Supervisor, Pidfd)> = sups
        .iter()
        .filter_map(|s| Some((*s, Pidfd::open(s.pid, s.start_ticks)?)))
        .collect();
    for (s, h) in &handles {
        let sig = if s.stopped() {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        let _ = h.signal(sig);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    for (_, h) in &handles {
        if !h.wait_exit(deadline.saturating_duration_since(Instant::now())) {
            let _ = h.signal(libc::SIGKILL);
            h.wait_exit(Duration::from_secs(2));
        }
    }
    handles.len()
}

/// SIGKILL now (a supervisor that does not answer gets no chance to
/// tidy up), then waits until it is gone, every thread. False if it
/// outlived the wait.
pub fn kill(s: &Supervisor) -> bool {
    match Pidfd::open(s.pid, s.start_ticks) {
        Some(h) => {
            let _ = h.signal(libc::SIGKILL);
            h.wait_exit(Duration::from_secs(2))
        }
        // Gone already, or its pid taken by another process.
        None => true,
    }
}
