//! `py EXPR` and `px STMT`, Mininet's: Python evaluated with `net` and
//! every node name bound to Mininet objects, in one namespace that lasts
//! from one command to the next.
//!
//! Python answers them, nlab's package (python/): a console that a
//! script's `CLI(net)` opened talks to that script (`NLAB_PY_SOCKET`, a
//! Unix socket it serves), so `py` sees the script's own objects; any
//! other console starts a helper on first use, `$NLAB_PYTHON -m
//! nlab.console_py LAB` (default `python3`), which attaches the package
//! to the running lab. One request per line (`py SRC`), one answer per
//! request (`ok`/`err`); the output goes straight to the console's.
//!
//! The helper ends with the console: its request pipe closes (it ends
//! the node shells it started and exits), SIGTERM/SIGHUP to the console
//! reach its process group, and it gets SIGTERM when the console dies in
//! any other way (`PR_SET_PDEATHSIG`).

use super::jobs;
use crate::kernel::{proc, shell_io};
use anyhow::{anyhow, bail, Context};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Conn {
    requests: File,
    answers: BufReader<File>,
    /// The helper, when the console started one (not for a script's).
    helper: Option<Child>,
}

/// The console's connection to Python, made on the first `py`/`px`.
#[derive(Default)]
pub struct Python {
    conn: Option<Conn>,
}

impl Python {
    /// Runs `op` (`py` or `px`) on `src`; `Ok(false)` when Python raised.
    pub fn run(&mut self, lab: &str, op: &str, src: &str) -> anyhow::Result<bool> {
        if src.trim().is_empty() {
            bail!("usage: {op} {}", if op == "py" { "EXPR" } else { "STMT" });
        }
        if self.conn.is_none() {
            self.conn = Some(connect(lab)?);
        }
        let Some(c) = self.conn.as_mut() else {
            bail!("no Python helper");
        };
        super::shells::flush();
        let sent = c.requests.write_all(format!("{op} {src}\n").as_bytes());
        let answer = match sent {
            Ok(()) => wait_answer(c),
            Err(e) => Err(anyhow!(e)),
        };
        match answer {
            Ok(Some(a)) => Ok(a == "ok"),
            Ok(None) | Err(_) => {
                let why = match self.conn.take().and_then(|c| c.helper) {
                    Some(mut h) => {
                        let st = h.wait().ok();
                        jobs::remember_group(h.id() as i32, false);
                        format!(
                            "the Python helper ended ({})",
                            st.map(|s| jobs::describe_failure(&s).unwrap_or("exit 0".into()))
                                .unwrap_or_default()
                        )
                    }
                    None => "the script that opened this console stopped answering".into(),
                };
                bail!("*** {op}: {why}; the next py/px starts again")
            }
        }
    }

    /// Ends the helper, if one runs: its request pipe closed, then
    /// SIGTERM and at last SIGKILL.
    pub fn stop(&mut self) {
        let Some(c) = self.conn.take() else { return };
        drop(c.requests);
        let Some(mut h) = c.helper else { return };
        let pgid = h.id() as i32;
        let mut wait = |secs: u64| {
            let t = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < t {
                if !matches!(h.try_wait(), Ok(None)) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        };
        if !wait(3) {
            let _ = proc::kill_group(pgid, libc::SIGTERM);
            if !wait(2) {
                let _ = proc::kill_group(pgid, libc::SIGKILL);
            }
        }
        let _ = h.wait();
        jobs::remember_group(pgid, false);
    }
}

/// The script's socket when a `CLI(net)` opened this console, else a
/// new helper attached to `lab`.
fn connect(lab: &str) -> anyhow::Result<Conn> {
    if let Some(path) = std::env::var_os("NLAB_PY_SOCKET").filter(|p| !p.is_empty()) {
        let s = UnixStream::connect(&path).with_context(|| {
            format!(
                "connecting to the Python script that opened this console ({})",
                std::path::Path::new(&path).display()
            )
        })?;
        let r = s.try_clone().context("duplicating the Python socket")?;
        return Ok(Conn {
            requests: File::from(OwnedFd::from(s)),
            answers: BufReader::new(File::from(OwnedFd::from(r))),
            helper: None,
        });
    }
    start_helper(lab)
}

/// What to do when the helper cannot start.
fn hint(py: &str) -> String {
    format!(
        "py/px need nlab's Python package for {py}: install it (pip install ./python in nlab's \
         checkout) or set NLAB_PYTHON to an interpreter that has it (python/venv.sh makes \
         target/pyvenv/bin/python)"
    )
}

fn start_helper(lab: &str) -> anyhow::Result<Conn> {
    let py = crate::cli::custom::python();
    let shown = py.to_string_lossy().into_owned();
    let (req_r, req_w) = shell_io::pipe().context("making the Python request pipe")?;
    let (ans_r, ans_w) = shell_io::pipe().context("making the Python answer pipe")?;
    let mut cmd = Command::new(&py);
    cmd.args(["-m", "nlab.console_py", lab])
        .stdin(Stdio::null());
    if std::env::var_os("NLAB").is_none() {
        if let Ok(exe) = std::env::current_exe() {
            cmd.env("NLAB", exe);
        }
    }
    shell_io::pass_fds(
        &mut cmd,
        vec![(req_r.as_raw_fd(), 3), (ans_w.as_raw_fd(), 4)],
    );
    // Its own group: the terminal's Ctrl-C is forwarded only while it
    // evaluates something.
    cmd.process_group(0);
    proc::die_with_parent(&mut cmd, libc::SIGTERM);
    let child = cmd
        .spawn()
        .map_err(|e| anyhow!("*** py: cannot run {shown}: {e}; {}", hint(&shown)))?;
    drop((req_r, ans_w));
    jobs::remember_group(child.id() as i32, true);
    let mut c = Conn {
        requests: req_w,
        answers: BufReader::new(ans_r),
        helper: Some(child),
    };
    match wait_answer(&mut c) {
        Ok(Some(a)) if a == "ready" => Ok(c),
        other => {
            let mut h = c.helper.take().ok_or_else(|| anyhow!("no helper"))?;
            drop(c);
            let _ = proc::kill_group(h.id() as i32, libc::SIGTERM);
            let _ = h.wait();
            jobs::remember_group(h.id() as i32, false);
            match other {
                Ok(Some(a)) if a.starts_with("fail ") => {
                    bail!("*** py: attaching to lab {lab} failed: {}", &a[5..])
                }
                _ => bail!(
                    "*** py: {shown} -m nlab.console_py {lab} did not start (its message is \
                     above); {}",
                    hint(&shown)
                ),
            }
        }
    }
}

/// The next answer line; `None` when the other side ended. A Ctrl-C
/// meanwhile goes to the helper (a script's thread cannot be
/// interrupted: the console waits on).
fn wait_answer(c: &mut Conn) -> anyhow::Result<Option<String>> {
    jobs::take_interrupt();
    loop {
        if c.answers.buffer().is_empty() {
            let ready = shell_io::wait_readable(c.answers.get_ref().as_raw_fd(), 100)
                .context("waiting for Python")?;
            if jobs::take_interrupt() {
                if let Some(h) = &c.helper {
                    let _ = proc::kill(h.id() as i32, libc::SIGINT);
                }
            }
            if !ready {
                continue;
            }
        }
        let mut line = String::new();
        if c.answers
            .read_line(&mut line)
            .context("reading Python's answer")?
            == 0
        {
            return Ok(None);
        }
        return Ok(Some(line.trim_end().to_string()));
    }
}
