//! What the console needs to keep a shell per node: descriptors passed to
//! the shell at fixed numbers, waiting for its answer while watching for
//! Ctrl-C, and handing the terminal to the shell's process group while it
//! runs a command (and taking it back).

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child see descriptor `src` as `dst` for each pair (its
/// close-on-exec flag cleared there). Runs after any earlier `pre_exec`
/// (entering the node), so the descriptors reach the program itself.
pub fn pass_fds(cmd: &mut Command, pairs: Vec<(RawFd, RawFd)>) {
    // SAFETY: only fcntl, dup2 and close between fork and exec, on
    // descriptors the parent keeps open until spawn returns; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            // Move every source above the targets first, so that a
            // source numbered like another pair's target survives.
            let mut high = [-1; 8];
            for (i, (src, _)) in pairs.iter().take(high.len()).enumerate() {
                let fd = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 64);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                high[i] = fd;
            }
            for (i, (_, dst)) in pairs.iter().take(high.len()).enumerate() {
                if libc::dup2(high[i], *dst) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(high[i]);
            }
            Ok(())
        });
    }
}

/// Waits up to `timeout_ms` for `fd` to be readable (or at its end).
/// `Ok(false)` on timeout or when a signal interrupted the wait.
pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll(2) on one pollfd we own.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(r > 0)
}

/// The terminal on stdin handed to another process group (a node's shell
/// running a command in the foreground, so Ctrl-C and reads of the
/// terminal reach it) until dropped, when this process's group has it
/// back.
pub struct Foreground {
    own: libc::pid_t,
}

impl Foreground {
    /// Gives the terminal to `pgid`; `None` when stdin is no terminal or
    /// this process is not in the terminal's foreground (nothing to give).
    pub fn give(pgid: libc::pid_t) -> Option<Foreground> {
        // SAFETY: scalar syscalls on fd 0.
        unsafe {
            let own = libc::getpgrp();
            if libc::isatty(0) != 1 || libc::tcgetpgrp(0) != own {
                return None;
            }
            if set_foreground(pgid) {
                Some(Foreground { own })
            } else {
                None
            }
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        set_foreground(self.own);
    }
}

/// `tcsetpgrp(0, pgid)` with SIGTTOU blocked: a process in a background
/// group may then still take the terminal back.
fn set_foreground(pgid: libc::pid_t) -> bool {
    // SAFETY: signal masks on stack-allocated sets; tcsetpgrp on fd 0.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let ok = libc::tcsetpgrp(0, pgid) == 0;
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        ok
    }
}

/// The terminal on stdin without echo until dropped (`noecho`).
pub struct EchoOff {
    saved: nix::sys::termios::Termios,
}

impl EchoOff {
    /// Turns echo off; `None` when stdin is no terminal.
    pub fn enter() -> Option<EchoOff> {
        use nix::sys::termios::{self, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}

/// A pipe, both ends close-on-exec: `(read end, write end)`.
pub fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    let mut fds = [-1; 2];
    // SAFETY: pipe2 fills the two-element array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned by nobody else.
    Ok(unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    })
}
