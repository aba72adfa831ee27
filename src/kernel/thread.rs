//! The calling thread's clock, identity and scheduling, and interrupting
//! another thread's blocking system call: what the link emulator's
//! forwarding threads need.

use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;

/// `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The calling thread's kernel id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    (unsafe { libc::syscall(libc::SYS_gettid) }) as u32
}

/// Sets the nice value of thread `tid` (best effort: a negative one needs
/// CAP_SYS_NICE).
pub fn set_nice(tid: u32, nice: i32) -> bool {
    // SAFETY: setpriority with scalar arguments.
    (unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) }) == 0
}

/// Sets the calling thread's timer slack (how late the kernel may wake it
/// from a timed wait, 50 µs by default).
pub fn set_timer_slack_ns(ns: u64) {
    // SAFETY: prctl with a scalar argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong) };
}

/// The signal that interrupts a thread's blocking system call (see
/// [`interrupt`]): a real-time one nothing else in nlab uses.
pub fn wake_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// Installs a no-op handler for [`wake_signal`] without `SA_RESTART`, so
/// the signal makes a blocking `read` return `EINTR` instead of killing
/// the process (the default action) or being restarted. Once per process.
pub fn install_wake_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn noop(_: libc::c_int) {}
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with a handler that does nothing and
        // an empty mask; sigaction only reads it.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = noop as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(wake_signal(), &sa, std::ptr::null_mut());
        }
    });
}

/// Sends [`wake_signal`] to a running thread, so a blocking system call in
/// it returns `EINTR` (after [`install_wake_handler`]).
pub fn interrupt<T>(t: &JoinHandle<T>) {
    // SAFETY: the handle is borrowed, so the thread is not joined yet and
    // its pthread_t is valid.
    unsafe { libc::pthread_kill(t.as_pthread_t(), wake_signal()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_ids() {
        let a = monotonic_ns();
        assert!(monotonic_ns() >= a);
        let me = gettid();
        assert!(me > 0);
        assert_ne!(std::thread::spawn(gettid).join().unwrap(), me);
        assert!(set_nice(me, 0));
    }
}
