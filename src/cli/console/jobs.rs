//! Running commands on the host in the foreground (Ctrl-C reaches the
//! command, not the console), and the console's record of background jobs
//! (`NODE CMD &`, started in the node's own shell with their output in a
//! log file so it does not write over the prompt, stopped when the
//! console exits).

use super::shells::Shells;
use crate::kernel::signals;
use crate::lab::Lab;
use anyhow::Context;
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

/// Makes SIGINT set a flag instead of ending the console. A foreground
/// command shares the terminal's process group and gets the signal itself;
/// a handler (unlike SIG_IGN) is reset by `exec`, so the command dies of
/// Ctrl-C as it would in a shell.
pub fn catch_sigint() -> anyhow::Result<()> {
    signals::catch_sigint().context("installing a SIGINT handler")
}

/// Background jobs live in their own process groups, so a console killed
/// by SIGTERM or by its terminal closing (SIGHUP) takes them down first.
/// Jobs past the 64th are still stopped on a normal exit.
pub fn stop_jobs_on_termination() -> anyhow::Result<()> {
    signals::stop_groups_on_termination().context("installing termination handlers")
}

pub fn remember_group(pgid: i32, on: bool) {
    signals::remember_group(pgid, on)
}

/// Whether Ctrl-C came since the last call (and clears it).
pub fn take_interrupt() -> bool {
    signals::take_sigint()
}

/// Whether Ctrl-C came, leaving the flag for the script loop to see.
pub fn interrupted() -> bool {
    signals::sigint_seen()
}

/// The shell node commands run in; Mininet's nodes run bash.
pub fn shell() -> &'static str {
    if std::path::Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

/// A command line for `node`'s shell (`None` runs on the host).
pub fn shell_command(lab: &Lab, node: Option<&str>, line: &str) -> anyhow::Result<Command> {
    let args = vec!["-c".to_string(), line.to_string()];
    Ok(match node {
        Some(n) => lab.command(n, shell(), &args)?,
        None => {
            let mut c = Command::new(shell());
            c.args(&args);
            c
        }
    })
}

/// Runs `cmd` in the foreground and waits. `stdin_tty` says whether it may
/// read the console's stdin (not when stdin is the script being read).
pub fn run_foreground(mut cmd: Command, stdin_tty: bool) -> anyhow::Result<ExitStatus> {
    if !stdin_tty {
        cmd.stdin(Stdio::null());
    }
    take_interrupt();
    let mut child = cmd.spawn().context("starting the command")?;
    child.wait().context("waiting for the command")
}

/// What a finished foreground command means for the console's exit code.
pub fn describe_failure(status: &ExitStatus) -> Option<String> {
    if status.success() {
        None
    } else if let Some(sig) = status.signal() {
        let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("?");
        Some(format!("killed by {name}"))
    } else {
        Some(format!("exit status {}", status.code().unwrap_or(-1)))
    }
}

pub struct Job {
    pub id: usize,
    pub node: String,
    pub line: String,
    /// Its pid as the node's shell numbers it (`$!`).
    pub pid: u64,
    pub log: PathBuf,
    pub status: Option<ExitStatus>,
}

/// The console's background jobs: each runs in its node's own shell
/// (started there with `&`), with its output in a log file.
pub struct Jobs {
    list: Vec<Job>,
    next: usize,
}

impl Jobs {
    pub fn new() -> Jobs {
        Jobs {
            list: Vec::new(),
            next: 1,
        }
    }

    /// A new, empty log file for the next job of `node`.
    pub fn new_log(&self, lab: &Lab, node: &str) -> anyhow::Result<PathBuf> {
        // In the lab's runtime directory: the logs outlive the console (for
        // a CI step to read) and go with the lab at `nlab down`.
        // Root's only, like the rest of the lab's directory.
        let dir = crate::store::ensure_lab_dir(lab.name())?.join("jobs");
        crate::store::ensure_private_dir(&dir)?;
        let log = dir.join(format!(
            "{}-job{}-{node}.log",
            std::process::id(),
            self.next
        ));
        crate::store::create_private_file(&log)?;
        Ok(log)
    }

    /// Records a job `node`'s shell started.
    pub fn add(&mut self, node: &str, line: &str, pid: u64, log: PathBuf) -> &Job {
        self.list.push(Job {
            id: self.next,
            node: node.to_string(),
            line: line.to_string(),
            pid,
            log,
            status: None,
        });
        self.next += 1;
        &self.list[self.list.len() - 1]
    }

    /// Asks each node's shell which of its jobs ended; returns those that
    /// just did. A job whose shell is gone ended with it (its watcher
    /// ends the shell's group).
    pub fn reap(&mut self, lab: &Lab, shells: &mut Shells) -> Vec<&Job> {
        let mut by_node: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for j in self.list.iter().filter(|j| j.status.is_none()) {
            by_node.entry(j.node.clone()).or_default().push(j.pid);
        }
        let mut ended = Vec::new();
        for (node, pids) in by_node {
            let gone: Vec<(u64, i32)> = if shells.has(&node) {
                shells.ended_jobs(lab, &node, &pids).unwrap_or_default()
            } else {
                pids.iter().map(|p| (*p, 128 + libc::SIGTERM)).collect()
            };
            for (pid, st) in gone {
                let found = self
                    .list
                    .iter()
                    .position(|j| j.node == node && j.pid == pid && j.status.is_none());
                if let Some(i) = found {
                    self.list[i].status = Some(status_of(st));
                    ended.push(i);
                }
            }
        }
        ended.into_iter().map(|i| &self.list[i]).collect()
    }

    pub fn list(&self) -> &[Job] {
        &self.list
    }

    pub fn running(&self) -> usize {
        self.list.iter().filter(|j| j.status.is_none()).count()
    }

    /// The jobs still running, described for the exit message; the node
    /// shells stop them (SIGTERM to the shell's group, then SIGKILL).
    pub fn stop_all(&mut self, lab: &Lab, shells: &mut Shells) -> Vec<String> {
        self.reap(lab, shells);
        let mut stopped = Vec::new();
        for j in self.list.iter_mut().filter(|j| j.status.is_none()) {
            stopped.push(format!("[{}] {}: {}", j.id, j.node, j.line));
            j.status = Some(status_of(128 + libc::SIGTERM));
        }
        stopped
    }
}

/// A shell's `$?` as an exit status: above 128, the signal that ended it.
fn status_of(st: i32) -> ExitStatus {
    if st > 128 {
        ExitStatus::from_raw(st - 128)
    } else {
        ExitStatus::from_raw((st & 0xff) << 8)
    }
}

/// One line of `jobs`.
pub fn job_line(j: &Job) -> String {
    let state = match &j.status {
        None => "running".to_string(),
        Some(s) => match describe_failure(s) {
            None => "done".to_string(),
            Some(f) => f,
        },
    };
    format!(
        "[{}] {:<8} {} {}: {}\n    output: {}",
        j.id,
        state,
        j.pid,
        j.node,
        j.line,
        j.log.display()
    )
}
