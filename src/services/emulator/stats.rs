//! Per-direction counters: plain numbers in the forwarding thread, added to
//! shared atomics once per batch so the fast path touches no shared cache
//! line per packet.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One direction's counters as read by [`super::Running::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirStats {
    /// Frames read from the sending end.
    pub rx: u64,
    pub rx_bytes: u64,
    /// Frames written to the receiving end (duplicates count twice).
    pub tx: u64,
    pub tx_bytes: u64,
    /// Lost to the loss model.
    pub lost: u64,
    /// Tail-dropped because `limit` frames were waiting.
    pub queue_dropped: u64,
    /// Dropped because the link was down.
    pub down_dropped: u64,
    /// The receiving end refused the write (interface down, …).
    pub tx_errors: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub reordered: u64,
    /// Frames waiting in the delay queue right now.
    pub queued: u64,
}

/// Both directions, named by the sending end as in `Directed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    pub a_to_b: DirStats,
    pub b_to_a: DirStats,
}

#[derive(Debug, Default)]
pub struct SharedCounters {
    rx: AtomicU64,
    rx_bytes: AtomicU64,
    tx: AtomicU64,
    tx_bytes: AtomicU64,
    lost: AtomicU64,
    queue_dropped: AtomicU64,
    down_dropped: AtomicU64,
    tx_errors: AtomicU64,
    duplicated: AtomicU64,
    corrupted: AtomicU64,
    reordered: AtomicU64,
    queued: AtomicU64,
}

impl SharedCounters {
    /// Adds `d` (a batch's counts) and sets the queue gauge.
    pub fn add(&self, d: &DirStats) {
        let pairs = [
            (&self.rx, d.rx),
            (&self.rx_bytes, d.rx_bytes),
            (&self.tx, d.tx),
            (&self.tx_bytes, d.tx_bytes),
            (&self.lost, d.lost),
            (&self.queue_dropped, d.queue_dropped),
            (&self.down_dropped, d.down_dropped),
            (&self.tx_errors, d.tx_errors),
            (&self.duplicated, d.duplicated),
            (&self.corrupted, d.corrupted),
            (&self.reordered, d.reordered),
        ];
        for (a, v) in pairs {
            if v != 0 {
                a.fetch_add(v, Relaxed);
            }
        }
        self.queued.store(d.queued, Relaxed);
    }

    pub fn read(&self) -> DirStats {
        DirStats {
            rx: self.rx.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            tx: self.tx.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            lost: self.lost.load(Relaxed),
            queue_dropped: self.queue_dropped.load(Relaxed),
            down_dropped: self.down_dropped.load(Relaxed),
            tx_errors: self.tx_errors.load(Relaxed),
            duplicated: self.duplicated.load(Relaxed),
            corrupted: self.corrupted.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
            queued: self.queued.load(Relaxed),
        }
    }
}
