//! Turning SIGTERM and SIGHUP into a message a thread can wait for, so a
//! process that must clean up when it is told to go (`up --cli --rm`, whose
//! terminal closed) does its work outside the signal handler.
//!
//! The handler only writes the signal's number to a pipe (write(2) is
//! async-signal-safe); a thread blocked in [`Termination::wait`] reads it.
//! Other handlers of these signals (the console's, which stops background
//! jobs first) pass it on with [`forward`].

use super::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// Write end of the pipe, or -1 when nobody waits.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// A pipe that receives SIGTERM and SIGHUP.
pub struct Termination {
    read: OwnedFd,
    /// Kept open for the life of the process: the handler may write to it
    /// at any time.
    _write: OwnedFd,
}

extern "C" fn on_signal(sig: libc::c_int) {
    forward(sig);
}

/// Passes `sig` to a waiting [`Termination`]; false when there is none.
/// Async-signal-safe: for use inside signal handlers.
pub fn forward(sig: libc::c_int) -> bool {
    let fd = WAKE.load(Ordering::SeqCst);
    if fd < 0 {
        return false;
    }
    let b = sig as u8;
    // SAFETY: write(2) of one byte from the stack; async-signal-safe.
    unsafe { libc::write(fd, (&b as *const u8).cast(), 1) == 1 }
}

/// Installs handlers for SIGTERM and SIGHUP that send the signal to the
/// returned pipe instead of ending the process.
pub fn catch_termination() -> Result<Termination> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills two fds, owned right away.
    let (read, write) = unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(Error::io(
                "creating a pipe for termination signals",
                std::io::Error::last_os_error(),
            ));
        }
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    WAKE.store(write.as_raw_fd(), Ordering::SeqCst);
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only calls
        // async-signal-safe functions.
        let ok = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut()) == 0
        };
        if !ok {
            return Err(Error::io(
                format!("installing a handler for signal {sig}"),
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(Termination {
        read,
        _write: write,
    })
}

impl Termination {
    /// Blocks until SIGTERM or SIGHUP arrives; returns its number (`None`
    /// if the pipe failed, which leaves the signal unanswered).
    pub fn wait(&self) -> Option<i32> {
        loop {
            let mut b = 0u8;
            // SAFETY: read(2) of one byte into the stack.
            let n = unsafe { libc::read(self.read.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
            if n == 1 {
                return Some(i32::from(b));
            }
            if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return None;
            }
        }
    }
}
