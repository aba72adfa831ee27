//! How the driver threads of a run work together: what they share, the
//! mailboxes through which one lets another's pair go, and the gate that
//! ends a wave when all of them are done.

use super::plan::Pace;
use super::PingHost;
use crate::kernel::fd::EventFd;
use crate::kernel::{Error, Result};
use socket2::SockAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A driver's mailbox for triggers from the others.
pub(super) struct Inbox {
    queue: Mutex<Vec<u32>>,
    pending: AtomicBool,
    wake: EventFd,
}

impl Inbox {
    pub fn new() -> Result<Inbox> {
        Ok(Inbox {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            wake: EventFd::new("the ICMP prober")?,
        })
    }

    /// The eventfd that becomes readable when a trigger arrives.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.wake.raw()
    }

    /// Makes the eventfd not readable again (before draining).
    pub fn clear(&self) {
        self.wake.clear();
    }

    pub fn push(&self, v: u32) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.push(v);
            q.len() == 1
        };
        if was_empty {
            self.pending.store(true, Ordering::Release);
            self.wake.wake();
        }
    }

    pub fn drain(&self, out: &mut Vec<u32>) {
        if self.pending.swap(false, Ordering::Acquire) {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            out.append(&mut q);
        }
    }
}

/// Counts drivers still running a wave; the last one wakes the waiters.
pub(super) struct Gate {
    left: Mutex<usize>,
    cv: Condvar,
}

impl Gate {
    pub fn new(n: usize) -> Gate {
        Gate {
            left: Mutex::new(n),
            cv: Condvar::new(),
        }
    }

    pub fn done(&self) {
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.cv.notify_all();
        }
    }

    /// Waits at most `timeout` for every driver; true if all are done.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        let left = match timeout {
            None => self
                .cv
                .wait_while(left, |l| *l > 0)
                .unwrap_or_else(PoisonError::into_inner),
            Some(t) => {
                self.cv
                    .wait_timeout_while(left, t, |l| *l > 0)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        *left == 0
    }
}

/// What every driver of a run shares.
pub(super) struct Shared<'a> {
    pub hosts: &'a [PingHost],
    pub dests: &'a [SockAddr],
    pub nonce: u32,
    pub start: Instant,
    pub pace: Pace,
    pub inboxes: &'a [Inbox],
    /// Pairs finished, over all drivers and waves (for progress).
    pub done: &'a AtomicUsize,
    /// A driver failed: the others stop.
    pub aborted: AtomicBool,
}

impl Shared<'_> {
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64
    }

    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        for i in self.inboxes {
            i.wake.wake();
        }
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }
}

/// Turns a driver thread's panic into an error.
pub(super) fn joined<T>(r: std::thread::Result<Result<T>>) -> Result<T> {
    r.unwrap_or_else(|_| {
        Err(Error::protocol(
            "probing ICMP pairs",
            "a driver thread panicked",
        ))
    })
}
