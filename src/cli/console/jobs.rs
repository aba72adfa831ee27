//! Running commands inside nodes: in the foreground (Ctrl-C reaches the
//! command, not the console) and in the background (`&`: own process group,
//! output to a log file so it does not write over the prompt, stopped when
//! the console exits).

use crate::kernel::{proc, signals};
use crate::lab::Lab;
use anyhow::Context;
use nix::sys::signal::Signal;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
    pub child: Child,
    pub log: PathBuf,
    pub status: Option<ExitStatus>,
}

/// The console's background jobs.
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

    /// Starts `line` in `node`'s shell in the background.
    pub fn start(&mut self, lab: &Lab, node: &str, line: &str) -> anyhow::Result<&Job> {
        // In the lab's runtime directory: the logs outlive the console (for
        // a CI step to read) and go with the lab at `nlab down`.
        // Root's only, like the rest of the lab's directory.
        let dir = crate::store::ensure_lab_dir(lab.name())?.join("jobs");
        crate::store::ensure_private_dir(&dir)?;
        let id = self.next;
        let log = dir.join(format!("{}-job{id}-{node}.log", std::process::id()));
        let out = crate::store::create_private_file(&log)?;
        let err = out.try_clone().context("duplicating the log file")?;
        let mut cmd = shell_command(lab, Some(node), line)?;
        // Its own process group: Ctrl-C at the terminal does not reach it,
        // and stopping the job reaches everything it started.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting `{line}` in {node}"))?;
        self.next += 1;
        remember_group(child.id() as i32, true);
        self.list.push(Job {
            id,
            node: node.to_string(),
            line: line.to_string(),
            child,
            log,
            status: None,
        });
        Ok(&self.list[self.list.len() - 1])
    }

    /// Updates the status of every job; returns those that just ended.
    pub fn reap(&mut self) -> Vec<&Job> {
        let mut ended = Vec::new();
        for (i, j) in self.list.iter_mut().enumerate() {
            if j.status.is_none() {
                if let Ok(Some(s)) = j.child.try_wait() {
                    j.status = Some(s);
                    remember_group(j.child.id() as i32, false);
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

    /// Stops every running job: SIGTERM to its process group, SIGKILL after
    /// a second. Returns the jobs stopped.
    pub fn stop_all(&mut self) -> Vec<String> {
        self.reap();
        let mut stopped = Vec::new();
        for j in self.list.iter().filter(|j| j.status.is_none()) {
            let _ = proc::kill_group(j.child.id() as i32, libc::SIGTERM);
            stopped.push(format!("[{}] {}: {}", j.id, j.node, j.line));
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            self.reap();
        }
        for j in self.list.iter_mut().filter(|j| j.status.is_none()) {
            let _ = proc::kill_group(j.child.id() as i32, libc::SIGKILL);
            j.status = j.child.wait().ok();
            remember_group(j.child.id() as i32, false);
        }
        stopped
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
        j.child.id(),
        j.node,
        j.line,
        j.log.display()
    )
}
