//! The one process per node that nlab keeps, and only for nodes that ask
//! for their own PID namespace (`isolation: {pid: true}`): a PID
//! namespace ends when its first process (its "init") exits, and no
//! process can join it after that. This init does what an init must:
//! it reaps the orphans that end up with it, and otherwise sleeps.
//!
//! It is `nlab node-init LAB NODE` (the `nlab` binary, so `ps` names it),
//! started in the node's network namespace, in a new PID namespace, in
//! its own session, reparented away from the `up` that started it (a
//! double fork). `down` ends it with the node's other processes (it is
//! in the node's network namespace). It is found again by what the
//! kernel shows, never by argv: a root process in the node's network
//! namespace that is pid 1 of a child PID namespace (`NSpid: N 1`).

use super::{Error, Result};
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The hidden subcommand the init runs as.
pub const SUBCOMMAND: &str = "node-init";

/// Starts the init of node namespace `ns` (pinned, a lab's); returns its
/// pid (as this process's PID namespace sees it).
pub fn spawn(ns: &str, exe: &Path, lab: &str, node: &str) -> Result<i32> {
    let what = || format!("starting the PID namespace init of {ns}");
    let netns = File::open(super::netns::ns_path(ns))
        .map_err(|e| Error::io(format!("{}: opening the namespace", what()), e))?;
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys(format!("{}: pipe", what()), e))?;
    let (net_fd, wr_fd) = (netns.as_raw_fd(), wr.as_raw_fd());
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .arg(lab)
        .arg(node)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    // SAFETY: only async-signal-safe syscalls between fork and exec, on
    // fds that stay open in the parent until `spawn` returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(net_fd, libc::CLONE_NEWNET) != 0
                || libc::setsid() < 0
                || libc::unshare(libc::CLONE_NEWPID) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => Err(std::io::Error::last_os_error()),
                0 => {
                    libc::syscall(
                        libc::SYS_close_range,
                        3u32,
                        u32::MAX,
                        libc::CLOSE_RANGE_CLOEXEC,
                    );
                    Ok(())
                }
                pid => {
                    let b = pid.to_ne_bytes();
                    libc::write(wr_fd, b.as_ptr().cast(), b.len());
                    libc::_exit(0)
                }
            }
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::io(
            format!("{}: running {} {SUBCOMMAND}", what(), exe.display()),
            e,
        )
    })?;
    drop(wr);
    let _ = child.wait();
    drop(netns);
    let mut buf = [0u8; 4];
    File::from(rd)
        .read_exact(&mut buf)
        .map_err(|e| Error::io(format!("{}: reading its pid", what()), e))?;
    Ok(i32::from_ne_bytes(buf))
}

/// The init of the node whose network namespace has inode `net_inode`:
/// a root process there that is pid 1 of the PID namespace below ours.
pub fn find(net_inode: u64) -> Option<i32> {
    let me = std::process::id() as i32;
    let depth = ns_depth(&fs::read_to_string("/proc/self/status").ok()?)?;
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let in_node =
            fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| m.ino() == net_inode);
        if !in_node || !super::proc::is_root(pid) {
            continue;
        }
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if is_child_ns_init(&status, depth) {
            return Some(pid);
        }
    }
    None
}

/// How many PID namespaces deep a process is (fields of `NSpid:`).
fn ns_depth(status: &str) -> Option<usize> {
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    Some(line.split_whitespace().count() - 1)
}

/// `NSpid:` of a process that is pid 1 one namespace below `depth`.
pub fn is_child_ns_init(status: &str, depth: usize) -> bool {
    let Some(line) = status.lines().find(|l| l.starts_with("NSpid:")) else {
        return false;
    };
    let ids: Vec<&str> = line.split_whitespace().skip(1).collect();
    ids.len() == depth + 1 && ids.last() == Some(&"1")
}

/// The init's life: block the signals it waits for, reap every child
/// that exits, leave on SIGTERM, SIGINT or SIGHUP.
pub fn run() -> ! {
    // SAFETY: signal-mask and wait syscalls on local, initialised sets.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut status = 0;
            while libc::waitpid(-1, &mut status, libc::WNOHANG) > 0 {}
            let sig = libc::sigwaitinfo(&set, std::ptr::null_mut());
            if [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].contains(&sig) {
                libc::_exit(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_is_pid_1_one_namespace_down() {
        let init = "Name:\tnlab\nNSpid:\t4242\t1\n";
        assert!(is_child_ns_init(init, 1));
        // Its child, or ourselves, or an init two levels down: not it.
        assert!(!is_child_ns_init("NSpid:\t4243\t2\n", 1));
        assert!(!is_child_ns_init("NSpid:\t4242\n", 1));
        assert!(!is_child_ns_init("NSpid:\t9\t8\t1\n", 1));
        // In a sandbox (itself a PID namespace), one level deeper.
        assert!(is_child_ns_init("NSpid:\t9\t8\t1\n", 2));
        assert_eq!(ns_depth("NSpid:\t9\t8\n"), Some(2));
    }
}
