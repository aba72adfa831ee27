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
    // write(2) is async-signal-safe.
    matches!(super::fd::write(fd, &[sig as u8]), Ok(1))
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
        install(sig, on_signal)?;
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
            let mut b = [0u8; 1];
            let n = match super::fd::read(self.read.as_raw_fd(), &mut b) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            };
            return (n == 1).then_some(i32::from(b[0]));
        }
    }
}

static SIGINT_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    SIGINT_SEEN.store(true, Ordering::SeqCst);
}

/// Installs a SIGINT handler (with `SA_RESTART`) that only records the
/// signal, for [`take_sigint`] and [`sigint_seen`]. A handler, unlike
/// SIG_IGN, is reset by `exec`, so children still die of Ctrl-C.
pub fn catch_sigint() -> Result<()> {
    install(libc::SIGINT, on_sigint)
}

/// Makes SIGINT, SIGTERM and SIGHUP only set the flag [`sigint_seen`]
/// reads, for a loop that polls it and ends cleanly (a capture writes its
/// last packets and counts). `ppoll` still returns early on each.
pub fn catch_stop_signals() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        install(sig, on_sigint)?;
    }
    Ok(())
}

/// Whether SIGINT came since the last call (and forgets it).
pub fn take_sigint() -> bool {
    SIGINT_SEEN.swap(false, Ordering::SeqCst)
}

/// Records a SIGINT as the handler would (one taken by a loop that
/// passed it on, for an outer loop to see too).
pub fn note_sigint() {
    SIGINT_SEEN.store(true, Ordering::SeqCst);
}

/// Whether SIGINT came since the last [`take_sigint`].
pub fn sigint_seen() -> bool {
    SIGINT_SEEN.load(Ordering::SeqCst)
}

/// Process groups that SIGTERM or SIGHUP take down with this process
/// (the handler may not lock or allocate). 0 is a free slot.
static GROUPS: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

extern "C" fn on_terminate(sig: libc::c_int) {
    for g in &GROUPS {
        let pgid = g.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: killpg is async-signal-safe.
            unsafe { libc::killpg(pgid, libc::SIGTERM) };
        }
    }
    // A waiting [`Termination`] (`up --cli --rm`) does the exit.
    if forward(sig) {
        return;
    }
    // Otherwise die of the signal as if there were no handler.
    // SAFETY: signal and raise are async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Makes SIGTERM and SIGHUP send SIGTERM to every group given to
/// [`remember_group`] first, then go on as before: to a waiting
/// [`Termination`], or ending the process.
pub fn stop_groups_on_termination() -> Result<()> {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        install(sig, on_terminate)?;
    }
    Ok(())
}

/// Adds (`on`) or removes a process group for [`stop_groups_on_termination`].
/// Groups past the 64th are not remembered.
pub fn remember_group(pgid: i32, on: bool) {
    let (from, to) = if on { (0, pgid) } else { (pgid, 0) };
    for g in &GROUPS {
        if g.compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Installs `handler` for `sig` with `SA_RESTART` and an empty mask. Only
/// for this module's handlers, which make async-signal-safe calls only.
fn install(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) -> Result<()> {
    // SAFETY: a zeroed sigaction with a handler of this module (each only
    // calls async-signal-safe functions) and an empty mask.
    let ok = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler as usize;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(sig, &act, std::ptr::null_mut()) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(Error::io(
            format!("installing a handler for signal {sig}"),
            std::io::Error::last_os_error(),
        ))
    }
}
