//! The built-in userspace link emulator, for links whose conditions need
//! netem on a kernel that lacks it.
//!
//! The link's two ends are persistent TAP devices (`kernel::tap`), one in
//! each node's namespace, named like the veth ends would be. A running
//! emulated link attaches to both and moves frames between them, one thread
//! per direction, applying that direction's [`Impairment`] with a fate
//! decided per packet from the seed and the packet's identity
//! ([`fate`]), so the same seed reproduces the same losses packet for
//! packet whatever other traffic crosses the link.

pub mod delay_queue;
pub mod engine;
pub mod fate;
pub mod flow;
pub mod forward;
pub mod jitter;
pub mod loss;
pub mod stats;
pub mod token_bucket;
pub mod vnet;

pub use engine::LossRecord;
pub use stats::{DirStats, LinkStats};

use crate::kernel::fd::EventFd;
use crate::kernel::tap::{self, Tap};
use crate::kernel::thread;
use crate::topo::conditions::{Directed, Impairment};
use fate::FateKey;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// One TAP end of an emulated link: the interface `iface` inside the
/// pinned namespace `ns` (its full name, from `netns::ns_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapEnd {
    pub ns: String,
    pub iface: String,
}

/// An emulated link: `a` is the link's `endpoints[0]`, so `cond.a_to_b`
/// applies to frames sent by `a`.
#[derive(Debug, Clone)]
pub struct EmulatedLink {
    /// Stable name of the link (e.g. `h1:eth0-s1:eth1`); part of every
    /// packet's fate, so keep it the same across runs.
    pub key: String,
    pub a: TapEnd,
    pub b: TapEnd,
    pub cond: Directed,
    pub seed: u64,
}

/// What the forwarding threads share with the handle.
pub struct Shared {
    cond: Mutex<Directed>,
    generation: AtomicU64,
    up: AtomicBool,
    stop: AtomicBool,
    detached: AtomicBool,
    counters: [stats::SharedCounters; 2],
    losses: [Mutex<Vec<LossRecord>>; 2],
    /// Kernel thread id of each direction's thread, 0 until it runs.
    tids: [AtomicU32; 2],
}

impl Shared {
    fn impairment(&self, idx: usize) -> Impairment {
        let c = self.cond.lock().unwrap_or_else(|p| p.into_inner());
        if idx == 0 {
            c.a_to_b.clone()
        } else {
            c.b_to_a.clone()
        }
    }

    fn lock_losses(&self, idx: usize) -> MutexGuard<'_, Vec<LossRecord>> {
        self.losses[idx].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The error of starting an emulated link.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] crate::kernel::Error),
    #[error("emulated link {link}: {what}: {source}")]
    Io {
        link: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A running emulated link. Dropping it stops it too.
pub struct Running {
    key: String,
    shared: Arc<Shared>,
    wake: EventFd,
    threads: Vec<JoinHandle<()>>,
    // Held so the fds stay open as long as the threads use them.
    _taps: [Arc<Tap>; 2],
}

impl Running {
    /// Attaches to the link's two existing persistent TAPs and starts
    /// forwarding both ways.
    pub fn start(link: &EmulatedLink) -> Result<Running> {
        thread::install_wake_handler();
        let a = Arc::new(tap::attach(&link.a.ns, &link.a.iface)?);
        let b = Arc::new(tap::attach(&link.b.ns, &link.b.iface)?);
        let wake = EventFd::new(&format!("stopping emulated link {}", link.key))?;
        let shared = Arc::new(Shared {
            cond: Mutex::new(link.cond.clone()),
            generation: AtomicU64::new(0),
            up: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            counters: Default::default(),
            losses: Default::default(),
            tids: Default::default(),
        });
        let mut r = Running {
            key: link.key.clone(),
            shared,
            wake,
            threads: Vec::new(),
            _taps: [a.clone(), b.clone()],
        };
        for (idx, (rx, tx)) in [(a.clone(), b.clone()), (b, a)].into_iter().enumerate() {
            let shared = r.shared.clone();
            let wake = r.wake.raw();
            let key = FateKey::new(link.seed, &link.key, idx as u8);
            let name = format!("nlab-emu-{}", if idx == 0 { "ab" } else { "ba" });
            let h = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let ends = forward::Ends {
                        rx: rx.fd.as_raw_fd(),
                        tx: tx.fd.as_raw_fd(),
                        wake,
                    };
                    forward::run(ends, &shared, idx, key);
                })
                .map_err(|e| Error::Io {
                    link: link.key.clone(),
                    what: "starting a forwarding thread".into(),
                    source: e,
                })?;
            r.threads.push(h);
        }
        Ok(r)
    }

    /// Changes the conditions live. Frames already queued keep their
    /// release times; flow state (indices, loss chains) carries on.
    pub fn update(&self, cond: &Directed) {
        *self.shared.cond.lock().unwrap_or_else(|p| p.into_inner()) = cond.clone();
        self.shared.generation.fetch_add(1, Release);
    }

    /// Down drops every frame both ways, queued ones included.
    pub fn set_up(&self, up: bool) {
        self.shared.up.store(up, Relaxed);
    }

    pub fn stats(&self) -> LinkStats {
        LinkStats {
            a_to_b: self.shared.counters[0].read(),
            b_to_a: self.shared.counters[1].read(),
        }
    }

    /// Packets lost to the loss model so far, per direction, as (flow,
    /// index within the flow): the record a repeatability check compares.
    pub fn losses(&self) -> [Vec<LossRecord>; 2] {
        [
            self.shared.lock_losses(0).clone(),
            self.shared.lock_losses(1).clone(),
        ]
    }

    /// True once a TAP end went away under the running link (deleted, or
    /// its namespace removed); the link forwards nothing more and should
    /// be stopped.
    pub fn detached(&self) -> bool {
        self.shared.detached.load(Relaxed)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Kernel thread ids of the a→b and b→a forwarding threads (None until
    /// a thread has started), to look them up in `/proc`.
    pub fn thread_ids(&self) -> [Option<u32>; 2] {
        self.shared
            .tids
            .each_ref()
            .map(|t| Some(t.load(Relaxed)).filter(|&t| t != 0))
    }

    /// Stops both threads and detaches from the TAPs (which stay, without
    /// carrier, until deleted).
    pub fn stop(self) {}

    fn halt(&mut self) {
        self.shared.stop.store(true, Relaxed);
        // The eventfd stays readable, so both threads see it.
        self.wake.wake();
        for t in self.threads.drain(..) {
            // A thread asleep in a blocking read sees neither the flag nor
            // the eventfd: interrupt it until it has gone (a signal sent
            // just before it enters the read would be lost).
            while !t.is_finished() {
                thread::interrupt(&t);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}
