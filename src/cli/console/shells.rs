//! A shell per node that lives as long as the console, as Mininet's
//! nodes keep theirs: `h1 cd /tmp` then `h1 pwd` prints `/tmp`, and
//! `export` sticks. A node's shell starts on its first command, so a lab
//! nobody types into still has no process per node.
//!
//! The shell (`bash --norc --noprofile`, else `sh`) enters the node as
//! `nlab exec` does and runs a small loop: it reads one command per line
//! from descriptor 3, `eval`s it in itself (so `cd` and `export` persist)
//! with the console's stdout and stderr, and writes an end marker with
//! the command's sequence number and exit status to descriptor 4. The
//! command's output goes straight to the console's output, in order.
//!
//! Each shell has its own process group. On a terminal the console hands
//! it the terminal while it runs a command (Ctrl-C and keyboard input go
//! to the command); otherwise the console passes on a SIGINT it gets. The
//! loop traps SIGINT, so a stopped command does not end the shell. Every
//! shell ends when the console exits: its command pipe closes (the loop
//! ends), its group gets SIGTERM on SIGTERM/SIGHUP, and it gets SIGKILL
//! when the console dies in any other way (`PR_SET_PDEATHSIG`).

use super::jobs;
use crate::kernel::{proc, shell_io};
use crate::lab::Lab;
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What every loop starts with: a watcher, double-forked so the shell's
/// `jobs` never lists it, that waits on descriptor 5 (a pipe only the
/// console writes to). When the console dies without saying `q` there,
/// the watcher ends the shell's process group, background jobs (`NODE
/// CMD &`) included: they are the shell's children, which the shell's
/// own death signal does not reach.
macro_rules! watcher {
    () => {
        "( { trap '' INT TERM; read -r __nlab_x <&5; \
[ \"$__nlab_x\" = q ] || { kill -TERM 0; sleep 1; kill -KILL 0; }; } \
</dev/null >/dev/null 2>&1 3<&- 4>&- & ); exec 5<&-; "
    };
}

/// What a loop does when the console closes its command pipe: its
/// background jobs get SIGTERM and the shell waits for them, so they are
/// its own to reap (no orphan left for an init that may not reap).
macro_rules! reap_jobs {
    () => {
        "kill -TERM $(jobs -p) 2>/dev/null; wait"
    };
}

/// The body of a loop, between reading a line and writing its end marker.
/// Each line is a sequence number, a mode and a command: mode `-` runs
/// it with the console's output; a path runs it with stdin from
/// /dev/null and output appended to that file (`NODE CMD &`: the job
/// starts in this shell, so its `jobs`, `$!`, `wait` and variables are
/// the shell's); `?` takes pids of background jobs and reports, on
/// descriptor 4, each that has ended with its exit status. The end
/// marker carries the last background pid (`$!`).
macro_rules! loop_body {
    ($run:expr) => {
        concat!(
            "case $__nlab_m in \
'?') for __nlab_p in $__nlab_c; do kill -0 $__nlab_p 2>/dev/null || \
{ wait $__nlab_p; printf 'nlab-job %s %s\\n' $__nlab_p $? >&4; }; done; __nlab_s=0;; \
-) ",
            $run,
            " 3<&- 4>&-; __nlab_s=$?;; \
*) ",
            $run,
            " 3<&- 4>&- </dev/null >>\"$__nlab_m\" 2>&1; __nlab_s=$?;; \
esac; "
        )
    };
}

/// The loop each node's shell runs (the mode and command are in
/// `__nlab_m` and `__nlab_c`, so the user's own variables are free). The
/// command runs in a function, so that bash's SIGINT trap can `return`
/// from it: Ctrl-C abandons the rest of the line (`sleep 9; echo x`
/// prints nothing), as an interactive shell does, and the shell lives
/// on. A `read` cut short by a signal reads again.
const LOOP_BASH: &str = concat!(
    "__nlab_run() { __nlab_busy=1; eval \"$__nlab_c\"; }; ",
    "trap '[ -n \"${__nlab_busy-}\" ] && return 130' INT; trap '' TSTP; ",
    watcher!(),
    "while :; do ",
    "IFS=' ' read -r __nlab_n __nlab_m __nlab_c <&3 || { [ $? -gt 128 ] && continue; break; }; ",
    loop_body!("__nlab_run"),
    "__nlab_busy=; ",
    "printf 'nlab-end %s %s %s\\n' \"$__nlab_n\" \"$__nlab_s\" \"${!:-0}\" >&4; ",
    "done; ",
    reap_jobs!()
);

/// The same for a plain `sh`, whose traps cannot return from a function:
/// Ctrl-C ends the running program, and the line goes on.
const LOOP_SH: &str = concat!(
    "trap : INT; trap '' TSTP; ",
    watcher!(),
    "while :; do ",
    "IFS=' ' read -r __nlab_n __nlab_m __nlab_c <&3 || { [ $? -gt 128 ] && continue; break; }; ",
    loop_body!("eval \"$__nlab_c\""),
    "printf 'nlab-end %s %s %s\\n' \"$__nlab_n\" \"$__nlab_s\" \"${!:-0}\" >&4; ",
    "done; ",
    reap_jobs!()
);

/// How a command in a node's shell ended.
pub struct Outcome {
    /// The exit status, as `$?` says (130 after Ctrl-C).
    pub status: i32,
    /// The shell itself ended (`exit`, or killed); it starts again on the
    /// node's next command.
    pub shell_ended: Option<ExitStatus>,
    /// A background job the command started (`$!` changed), as the
    /// node's shell numbers it.
    pub started: Option<u64>,
}

/// How a line is run in a node's shell.
enum Mode<'a> {
    /// With the console's terminal and output.
    Foreground,
    /// Output appended to this file, stdin /dev/null (`NODE CMD &`).
    Background(&'a Path),
    /// Which of these background pids have ended.
    Query,
}

struct NodeShell {
    child: Child,
    /// `None` once closed (the loop then ends).
    commands: Option<File>,
    ends: BufReader<File>,
    /// The watcher's pipe: `q` on it means the console ends the shell
    /// itself; its end without `q` makes the watcher end the group.
    watch: Option<File>,
    seq: u64,
    /// `$!` after the last command.
    last_bg: u64,
}

/// The console's node shells, by node.
pub struct Shells {
    list: BTreeMap<String, NodeShell>,
    /// Commands may read the console's stdin (a terminal).
    stdin: bool,
}

impl Shells {
    pub fn new(stdin: bool) -> Shells {
        Shells {
            list: BTreeMap::new(),
            stdin,
        }
    }

    /// The pid of each node's shell that has started (the process nlab
    /// started: the shell itself, or the parent that waits for it in a
    /// node with its own PID namespace).
    pub fn pids(&self) -> BTreeMap<String, u32> {
        self.list
            .iter()
            .map(|(n, s)| (n.clone(), s.child.id()))
            .collect()
    }

    /// Whether `node`'s shell is running.
    pub fn has(&self, node: &str) -> bool {
        self.list.contains_key(node)
    }

    fn start(&mut self, lab: &Lab, node: &str) -> anyhow::Result<&mut NodeShell> {
        if !self.list.contains_key(node) {
            let (cmd_r, cmd_w) = shell_io::pipe().context("making the command pipe")?;
            let (end_r, end_w) = shell_io::pipe().context("making the status pipe")?;
            let (watch_r, watch_w) = shell_io::pipe().context("making the watcher's pipe")?;
            let (prog, mut args, script) = match jobs::shell() {
                "/bin/bash" => (
                    "/bin/bash",
                    vec!["--norc".to_string(), "--noprofile".to_string()],
                    LOOP_BASH,
                ),
                sh => (sh, Vec::new(), LOOP_SH),
            };
            args.extend(["-c".to_string(), script.to_string()]);
            let mut cmd = lab
                .command_tied(node, prog, &args)
                .with_context(|| format!("preparing the shell of node {node}"))?;
            shell_io::pass_fds(
                &mut cmd,
                vec![
                    (cmd_r.as_raw_fd(), 3),
                    (end_w.as_raw_fd(), 4),
                    (watch_r.as_raw_fd(), 5),
                ],
            );
            cmd.process_group(0);
            if !self.stdin {
                cmd.stdin(Stdio::null());
            }
            let child = cmd.spawn().with_context(|| {
                format!("starting a shell in node {node} (is {prog} installed in it?)")
            })?;
            // Our copies of the shell's ends: closed, so its exit reads
            // as the end of the status pipe.
            drop((cmd_r, end_w, watch_r));
            jobs::remember_group(child.id() as i32, true);
            self.list.insert(
                node.to_string(),
                NodeShell {
                    child,
                    commands: Some(cmd_w),
                    ends: BufReader::new(end_r),
                    watch: Some(watch_w),
                    seq: 0,
                    last_bg: 0,
                },
            );
        }
        self.list
            .get_mut(node)
            .ok_or_else(|| anyhow!("no shell for node {node}"))
    }

    /// Runs `line` in `node`'s shell and waits for it to end.
    pub fn run(&mut self, lab: &Lab, node: &str, line: &str) -> anyhow::Result<Outcome> {
        self.send(lab, node, Mode::Foreground, line, &mut Vec::new())
    }

    /// Runs `line` (which ends in `&`) in `node`'s shell with its output
    /// appended to `log`; returns once the shell has started the job.
    pub fn run_background(
        &mut self,
        lab: &Lab,
        node: &str,
        line: &str,
        log: &Path,
    ) -> anyhow::Result<Outcome> {
        if log.to_str().is_none_or(|p| p.contains(char::is_whitespace)) {
            bail!(
                "the job log path {} has blanks or is not UTF-8: a node's shell cannot take it",
                log.display()
            );
        }
        self.send(lab, node, Mode::Background(log), line, &mut Vec::new())
    }

    /// Which of `pids` (background jobs of `node`'s shell) have ended,
    /// with their exit status as the shell's `wait` gives it. Nothing
    /// when the node has no shell.
    pub fn ended_jobs(
        &mut self,
        lab: &Lab,
        node: &str,
        pids: &[u64],
    ) -> anyhow::Result<Vec<(u64, i32)>> {
        if !self.list.contains_key(node) || pids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = pids.iter().map(u64::to_string).collect();
        let mut ended = Vec::new();
        self.send(lab, node, Mode::Query, &list.join(" "), &mut ended)?;
        Ok(ended)
    }

    fn send(
        &mut self,
        lab: &Lab,
        node: &str,
        mode: Mode,
        line: &str,
        ended: &mut Vec<(u64, i32)>,
    ) -> anyhow::Result<Outcome> {
        if line.contains('\n') {
            bail!("a node command is one line; run a script with `{node} sh FILE`");
        }
        let foreground = matches!(mode, Mode::Foreground);
        let stdin = self.stdin && foreground;
        let s = self.start(lab, node)?;
        s.seq += 1;
        // The sequence number leads the line and the loop echoes it back
        // on its own pipe: an end marker no output of the command can fake.
        let how = match mode {
            Mode::Foreground => "-".to_string(),
            Mode::Background(p) => p.display().to_string(),
            Mode::Query => "?".to_string(),
        };
        let text = format!("{} {how} {line}\n", s.seq);
        jobs::take_interrupt();
        let pgid = s.child.id() as libc::pid_t;
        let fg = if stdin {
            shell_io::Foreground::give(pgid)
        } else {
            None
        };
        let sent = match &mut s.commands {
            Some(w) => w.write_all(text.as_bytes()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        let answer = match sent {
            Ok(()) => wait_end(s, pgid, ended),
            Err(_) => Ok(None),
        };
        drop(fg);
        match answer? {
            Some((status, bg)) => {
                let started = (bg != 0 && bg != s.last_bg).then_some(bg);
                s.last_bg = bg;
                Ok(Outcome {
                    status,
                    shell_ended: None,
                    started,
                })
            }
            None => {
                let Some(mut s) = self.list.remove(node) else {
                    bail!("no shell for node {node}");
                };
                let st = s.child.wait().context("waiting for the node's shell")?;
                jobs::remember_group(pgid, false);
                let status = st.code().unwrap_or(128 + st.signal().unwrap_or(0));
                Ok(Outcome {
                    status,
                    shell_ended: Some(st),
                    started: None,
                })
            }
        }
    }

    /// Ends every shell: its command pipe closed (the loop ends by
    /// itself), then SIGTERM and at last SIGKILL to its process group for
    /// a command still running; then background jobs left in the group
    /// get SIGTERM, and SIGKILL after a second. Returns the nodes whose
    /// shell had to be stopped that way.
    pub fn stop_all(&mut self) -> Vec<String> {
        let mut stopped = Vec::new();
        let mut list = std::mem::take(&mut self.list);
        for (_, s) in list.iter_mut() {
            s.commands = None;
            if let Some(mut w) = s.watch.take() {
                // The console ends the group itself: the watcher just goes.
                let _ = w.write_all(b"q\n");
            }
        }
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut groups = Vec::new();
        for (node, mut s) in list {
            let pgid = s.child.id() as i32;
            while Instant::now() < deadline && matches!(s.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(5));
            }
            if matches!(s.child.try_wait(), Ok(None)) {
                stopped.push(node);
                let _ = proc::kill_group(pgid, libc::SIGTERM);
                let t = Instant::now() + Duration::from_secs(1);
                while Instant::now() < t && matches!(s.child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            // Background jobs stay in the shell's group after it exits.
            let _ = proc::kill_group(pgid, libc::SIGTERM);
            let _ = s.child.wait();
            groups.push(pgid);
        }
        let t = Instant::now() + Duration::from_secs(1);
        while Instant::now() < t && groups.iter().any(|g| proc::group_has_live(*g)) {
            std::thread::sleep(Duration::from_millis(10));
        }
        for g in groups {
            // Whatever is left in the group goes too.
            let _ = proc::kill_group(g, libc::SIGKILL);
            jobs::remember_group(g, false);
        }
        stopped
    }
}

/// Reads the shell's status pipe up to the marker of command `s.seq`:
/// the command's status and the shell's last background pid, `None` when
/// the shell ended first. Ended jobs it reports on the way go to
/// `ended`. A SIGINT the console gets meanwhile (it has the terminal, or
/// a script runner sent it) goes to the shell's group.
fn wait_end(
    s: &mut NodeShell,
    pgid: libc::pid_t,
    ended: &mut Vec<(u64, i32)>,
) -> anyhow::Result<Option<(i32, u64)>> {
    let want = format!("nlab-end {} ", s.seq);
    let mut line = String::new();
    loop {
        if s.ends.buffer().is_empty() {
            let ready = shell_io::wait_readable(s.ends.get_ref().as_raw_fd(), 100)
                .context("waiting for the node's shell")?;
            if jobs::take_interrupt() {
                let _ = proc::kill_group(pgid, libc::SIGINT);
                // The script loop still sees that Ctrl-C came.
                crate::kernel::signals::note_sigint();
            }
            if !ready {
                continue;
            }
        }
        line.clear();
        if s.ends
            .read_line(&mut line)
            .context("reading the node's shell")?
            == 0
        {
            return Ok(None);
        }
        if let Some(rest) = line.trim_end().strip_prefix("nlab-job ") {
            if let Some((pid, st)) = rest.split_once(' ') {
                if let (Ok(pid), Ok(st)) = (pid.parse(), st.parse()) {
                    ended.push((pid, st));
                }
            }
        } else if let Some(rest) = line.trim_end().strip_prefix(&want) {
            let mut f = rest.split(' ');
            let status = f.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            let bg = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            return Ok(Some((status, bg)));
        }
    }
}

/// Flushes our own output before a node's shell writes to the same place.
pub fn flush() {
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both loops are valid for the shell that runs them.
    #[test]
    fn loops_parse() {
        for (sh, script) in [("/bin/bash", LOOP_BASH), ("/bin/sh", LOOP_SH)] {
            if !Path::new(sh).exists() {
                continue;
            }
            let st = std::process::Command::new(sh)
                .args(["-n", "-c", script])
                .status()
                .unwrap();
            assert!(st.success(), "{sh} rejects its loop:\n{script}");
        }
    }

    /// The protocol, in both shells, without a lab: a foreground line
    /// keeps `cd`, a background line's job is the shell's (`$!`, its
    /// output in the log, seen there with the shell's directory), and a
    /// query reports it once it ended, with its status.
    #[test]
    fn loops_run_foreground_background_and_query_lines() {
        for (sh, script) in [("/bin/bash", LOOP_BASH), ("/bin/sh", LOOP_SH)] {
            if !Path::new(sh).exists() {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("job.log");
            let (cmd_r, mut cmd_w) = shell_io::pipe().unwrap();
            let (end_r, end_w) = shell_io::pipe().unwrap();
            let (watch_r, watch_w) = shell_io::pipe().unwrap();
            let mut cmd = std::process::Command::new(sh);
            cmd.args(["-c", script]).stdin(Stdio::null());
            shell_io::pass_fds(
                &mut cmd,
                vec![
                    (cmd_r.as_raw_fd(), 3),
                    (end_w.as_raw_fd(), 4),
                    (watch_r.as_raw_fd(), 5),
                ],
            );
            let mut child = cmd.spawn().unwrap();
            drop((cmd_r, end_w, watch_r));
            let mut ends = BufReader::new(end_r);
            let mut send = |line: &str| -> Vec<String> {
                cmd_w.write_all(line.as_bytes()).unwrap();
                let seq = line.split(' ').next().unwrap().to_string();
                let mut got = Vec::new();
                loop {
                    let mut l = String::new();
                    assert!(ends.read_line(&mut l).unwrap() > 0, "{sh} ended");
                    let done = l.starts_with(&format!("nlab-end {seq} "));
                    got.push(l.trim_end().to_string());
                    if done {
                        return got;
                    }
                }
            };
            assert_eq!(send("1 - cd /tmp\n"), ["nlab-end 1 0 0"], "{sh}");
            let started = send(&format!("2 {} pwd; exit 3 &\n", log.display()));
            let pid: u64 = started[0].rsplit(' ').next().unwrap().parse().unwrap();
            assert!(pid > 0, "{sh}: {started:?}");
            let mut ended = Vec::new();
            for i in 0..500 {
                let got = send(&format!("{} ? {pid}\n", 3 + i));
                if got.len() > 1 {
                    ended = got;
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(ended[0], format!("nlab-job {pid} 3"), "{sh}");
            assert_eq!(std::fs::read_to_string(&log).unwrap(), "/tmp\n", "{sh}");
            let mut w = watch_w;
            w.write_all(b"q\n").unwrap();
            drop(cmd_w);
            assert!(child.wait().unwrap().success(), "{sh}");
        }
    }
}
