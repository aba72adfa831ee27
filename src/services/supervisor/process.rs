//! The supervisor as an operating-system process: starting it detached,
//! finding it (by pid file and by command line), ending it.

use super::{paths, Error, Result};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
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
        .open(&log_path)
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
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
    // SAFETY: only async-signal-safe calls (setsid, fork, _exit,
    // close_range) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                // The intermediate child: our caller reaps it at once; the
                // grandchild belongs to init from here on.
                _ => libc::_exit(0),
            }
            // Every descriptor above stderr closes on exec, whoever opened
            // it without O_CLOEXEC.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("starting {} {SUBCOMMAND} {lab}", exe.display()), e))?;
    let _ = child.wait();
    Ok(())
}

/// The command line of a process, split at NULs.
fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// True when `pid` runs `nlab supervise LAB`.
pub fn is_supervisor_of(pid: i32, lab: &str) -> bool {
    supervised_lab(pid).is_some_and(|l| l == lab)
}

fn supervised_lab(pid: i32) -> Option<String> {
    let args = cmdline(pid);
    let is_nlab = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .is_some_and(|n| n == "nlab");
    (is_nlab && args.len() == 3 && args[1] == SUBCOMMAND).then(|| args[2].clone())
}

/// Every running supervisor on this host, as (pid, lab), found from
/// `/proc/*/cmdline`: what cleanup uses when pid files are gone.
pub fn all_supervisors() -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // The command line first: it rules out almost every process, so
        // only supervisors pay for the liveness check.
        if let Some(lab) = supervised_lab(pid) {
            if alive(pid) {
                out.push((pid, lab));
            }
        }
    }
    out
}

/// The pid in the lab's pid file, if that process is its supervisor.
pub fn pid_from_file(lab: &str) -> Option<i32> {
    let pid = fs::read_to_string(paths::pid(lab))
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    (alive(pid) && is_supervisor_of(pid, lab)).then_some(pid)
}

/// Running supervisors of one lab (normally none or one).
pub fn pids_of(lab: &str) -> Vec<i32> {
    let mut v: Vec<i32> = all_supervisors()
        .into_iter()
        .filter(|(_, l)| l == lab)
        .map(|(p, _)| p)
        .collect();
    if let Some(p) = pid_from_file(lab) {
        if !v.contains(&p) {
            v.push(p);
        }
    }
    v
}

/// Alive and not a zombie (a zombie holds nothing any more).
pub fn alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

/// Waits until none of `pids` is alive; returns those still alive.
pub fn wait_gone(pids: &[i32], timeout: Duration) -> Vec<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGTERM, then SIGKILL for what is left; waits until they are gone.
/// Returns how many were signalled.
pub fn terminate(pids: &[i32]) -> usize {
    for &p in pids {
        // SAFETY: kill(2) on a pid we just checked runs our supervisor.
        unsafe {
            libc::kill(p, libc::SIGTERM);
        }
    }
    let left = wait_gone(pids, Duration::from_secs(1));
    for &p in &left {
        // SAFETY: as above.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    wait_gone(&left, Duration::from_secs(2));
    pids.len()
}
