//! Processes as `/proc` shows them, and signalling one without racing pid
//! reuse. A process is identified by what its owner cannot forge (pid,
//! start time, uid, the files it holds open), never by its argv, which
//! any user sets to anything (`exec -a`).

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The fields of `/proc/PID/stat` nlab needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `T` (stopped), `t` (traced), `Z` (zombie), …
    pub state: char,
    /// Field 5: the process group.
    pub pgrp: i32,
    /// Field 22: clock ticks after boot when the process started. With the
    /// pid it names one process for the whole uptime.
    pub start_ticks: u64,
}

/// Parses a `/proc/PID/stat` line: the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state), so field 22 is f[19].
    Some(Stat {
        state: f.first()?.chars().next()?,
        pgrp: f.get(2)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
    })
}

pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// How long ago a process that started at `start_ticks` started.
pub fn since_start(start_ticks: u64) -> Option<std::time::Duration> {
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let started = start_ticks as f64 / hz as f64;
    Some(std::time::Duration::from_secs_f64(
        (uptime - started).max(0.0),
    ))
}

/// Whether process group `pgid` has a member that is not a zombie (an
/// orphan's zombie waits for whoever reaps orphans, and holds nothing).
pub fn group_has_live(pgid: i32) -> bool {
    if kill_group(pgid, 0).is_err() {
        return false;
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten().any(|e| {
        fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|line| parse_stat(&line))
            .is_some_and(|s| s.pgrp == pgid && !matches!(s.state, 'Z' | 'X' | 'x'))
    })
}

/// Alive and not a zombie (a zombie holds nothing any more).
pub fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Stopped by a signal (`T`) or by a tracer (`t`): it answers nothing
/// until continued.
pub fn stopped(pid: i32) -> bool {
    stat(pid).is_some_and(|s| matches!(s.state, 'T' | 't'))
}

/// Real and effective uid, from `/proc/PID/status`.
pub fn uids(pid: i32) -> Option<(u32, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let mut it = line.split_whitespace().map(|s| s.parse::<u32>().ok());
    Some((it.next()??, it.next()??))
}

/// Runs as root (real and effective uid 0).
pub fn is_root(pid: i32) -> bool {
    uids(pid) == Some((0, 0))
}

/// The start time of the calling process (what it records in its pid file).
pub fn self_start_ticks() -> Option<u64> {
    parse_stat(&fs::read_to_string("/proc/self/stat").ok()?).map(|s| s.start_ticks)
}

/// The command line, for messages only (never for identity).
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if args.is_empty() {
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| format!("[{}]", c.trim_end()))
            .unwrap_or_else(|_| "?".into())
    } else {
        args.join(" ")
    }
}

/// `pid N (COMMAND)`, to name a process in a message.
pub fn describe(pid: i32) -> String {
    format!("pid {pid} ({})", cmdline(pid))
}

/// The kernel's short name of the process (`/proc/PID/comm`): its
/// executable's file name, which `exec -a` does not change.
pub fn comm(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_string())
}

/// The file name of the executable the process runs (`(deleted)` cut off:
/// a supervisor outlives an upgrade of its binary).
pub fn exe_name(pid: i32) -> Option<String> {
    let p = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let s = p.to_string_lossy();
    let s = s.strip_suffix(" (deleted)").unwrap_or(&s);
    s.rsplit('/').next().map(str::to_string)
}

/// Shares the calling process's mount namespace, so a path it holds means
/// the same file to both.
pub fn same_mount_ns(pid: i32) -> bool {
    match (
        fs::metadata(format!("/proc/{pid}/ns/mnt")),
        fs::metadata("/proc/self/ns/mnt"),
    ) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// Holds `path` open (also after it was unlinked: ` (deleted)`).
pub fn holds_open(pid: i32, path: &Path) -> bool {
    let want = path.to_string_lossy();
    let deleted = format!("{want} (deleted)");
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .any(|t| {
            let t = t.to_string_lossy();
            t == want || t == deleted
        })
}

/// Processes holding a `flock` on the file at `path`, from `/proc/locks`
/// (waiters, shown with `->`, left out): who to name when a lock is busy.
pub fn flock_holders(path: &Path) -> Vec<i32> {
    let Ok(m) = fs::metadata(path) else {
        return Vec::new();
    };
    let text = fs::read_to_string("/proc/locks").unwrap_or_default();
    parse_locks(&text, libc::major(m.dev()), libc::minor(m.dev()), m.ino())
}

/// The holders in a `/proc/locks` text of the flock on (major, minor, ino).
pub fn parse_locks(text: &str, major: u32, minor: u32, ino: u64) -> Vec<i32> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // `1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF`
        if f.len() < 6 || f[1] != "FLOCK" {
            continue;
        }
        let Ok(pid) = f[4].parse::<i32>() else {
            continue;
        };
        let id: Vec<&str> = f[5].split(':').collect();
        let [ma, mi, i] = id[..] else { continue };
        let same = u32::from_str_radix(ma, 16) == Ok(major)
            && u32::from_str_radix(mi, 16) == Ok(minor)
            && i.parse::<u64>() == Ok(ino);
        if same && pid > 0 && !out.contains(&pid) {
            out.push(pid);
        }
    }
    out
}

/// A handle on one process: signals sent through it reach that process or
/// fail, never a newcomer that reused its pid.
pub struct Pidfd {
    fd: OwnedFd,
    pid: i32,
}

impl Pidfd {
    /// Opens a handle on `pid` if it still started at `start_ticks`: the
    /// check comes after the open, so the handle names the checked process.
    pub fn open(pid: i32, start_ticks: u64) -> Option<Pidfd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the kernel just gave us this descriptor; we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let h = Pidfd { fd, pid };
        (stat(pid).map(|s| s.start_ticks) == Some(start_ticks)).then_some(h)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig`; Ok also when the process has exited meanwhile.
    pub fn signal(&self, sig: i32) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(()),
            _ => Err(e),
        }
    }

    /// Waits until the whole process has exited, every thread of it: only
    /// then has it let go of its files and locks (a killed leader shows
    /// as a zombie while its other threads still unwind). False when it
    /// still runs after `timeout`.
    pub fn wait_exit(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut p = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd we own; a pidfd turns readable
            // when its process has exited.
            let r = unsafe { libc::poll(&mut p, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if r > 0 {
                return true;
            }
            let interrupted =
                r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
            if !interrupted || left.is_zero() {
                return false;
            }
        }
    }
}

/// Makes `cmd`, once spawned, a daemon: its own session, and reparented
/// away from us by a second fork (the spawned child exits at once, the
/// caller reaps it, the grandchild runs the command), with every
/// descriptor above stderr closed on exec, whoever opened it without
/// O_CLOEXEC.
pub fn detach_on_spawn(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
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
                _ => libc::_exit(0),
            }
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

/// Makes `cmd`, once spawned, a child in its own session (so the
/// terminal's Ctrl-C does not reach it) that creates its files with
/// `umask` (QEMU creates its console socket and log itself, and those
/// must be root's alone). Unlike [`detach_on_spawn`] there is no second
/// fork: the caller learns the child's pid, which it records.
pub fn own_session_with_umask(cmd: &mut std::process::Command, umask: u32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls (setsid, umask) between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
}

/// Sends `sig` to process `pid`. Only for a pid this process is sure of
/// (its own child, or one just read and checked); [`Pidfd`] otherwise.
/// A process that has exited meanwhile gives ESRCH.
pub fn kill(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) with scalar arguments.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sends `sig` to every process of group `pgid`.
pub fn kill_group(pgid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: killpg(3) with scalar arguments.
    if unsafe { libc::killpg(pgid, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets the permission bits of an open file, whatever the umask did to it.
pub fn fchmod(f: &impl AsRawFd, mode: u32) -> std::io::Result<()> {
    // SAFETY: fchmod on a descriptor the caller owns.
    if unsafe { libc::fchmod(f.as_raw_fd(), mode as libc::mode_t) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether another process holds an exclusive `flock` on `path`: a shared
/// probe that is let go at once. `None` when the file cannot be opened.
pub fn exclusively_locked(path: &Path) -> Option<bool> {
    let f = fs::File::open(path).ok()?;
    // Closing `f` lets the shared probe go.
    super::files::try_lock_shared(&f).ok().map(|got| !got)
}

/// Makes `cmd`'s child get `sig` when the thread that spawns it ends
/// (`PR_SET_PDEATHSIG`), also when this process is killed with SIGKILL;
/// spawning fails if we died before the setting took.
pub fn die_with_parent(cmd: &mut std::process::Command, sig: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid before the fork; only prctl and getppid between fork
    // and exec, and an error made from a number (no allocation).
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_after_the_last_parenthesis() {
        let line =
            "4242 (a) b (c)) T 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'T',
                pgrp: 4242,
                start_ticks: 987654
            })
        );
        assert_eq!(parse_stat("12 (x) S 1"), None);
    }

    #[test]
    fn own_stat_is_readable_and_running() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(!stopped(me));
        assert_eq!(stat(me).map(|s| s.start_ticks), self_start_ticks());
    }

    #[test]
    fn lock_lines_match_device_and_inode() {
        let text = "1: FLOCK  ADVISORY  WRITE 77 00:1a:5678 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 78 00:1a:5678 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 79 00:1a:5678 0 EOF\n\
                    3: FLOCK  ADVISORY  READ 80 00:1b:5678 0 EOF\n\
                    4: FLOCK  ADVISORY  READ 81 00:1a:5678 0 EOF\n\
                    5: OFDLCK ADVISORY  WRITE -1 00:1a:5678 0 EOF\n";
        assert_eq!(parse_locks(text, 0, 0x1a, 5678), vec![77, 81]);
    }
}
