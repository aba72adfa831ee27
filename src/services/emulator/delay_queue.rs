//! Frames waiting for their release time, earliest first; frames with the
//! same release time leave in arrival order. Buffers are recycled through
//! a small pool so a steady delayed stream allocates nothing per packet.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Debug)]
struct Entry {
    release: u64,
    seq: u64,
    buf: Vec<u8>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.release, self.seq) == (o.release, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.release, o.seq).cmp(&(self.release, self.seq))
    }
}

/// Pool size: enough for bursts, small enough not to pin much memory once
/// a delayed GSO stream stops.
const POOL_MAX: usize = 256;

#[derive(Debug, Default)]
pub struct DelayQueue {
    heap: BinaryHeap<Entry>,
    seq: u64,
    pool: Vec<Vec<u8>>,
    bytes: usize,
}

impl DelayQueue {
    /// Queues a copy of `data` to leave at `release` (monotonic ns).
    pub fn push(&mut self, release: u64, data: &[u8]) {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        self.bytes += buf.len();
        self.seq += 1;
        self.heap.push(Entry {
            release,
            seq: self.seq,
            buf,
        });
    }

    /// Release time of the earliest frame.
    pub fn next_release(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.release)
    }

    /// The earliest frame if it is due at `now`. Give the buffer back with
    /// [`DelayQueue::recycle`].
    pub fn pop_due(&mut self, now: u64) -> Option<Vec<u8>> {
        if self.heap.peek()?.release > now {
            return None;
        }
        let e = self.heap.pop()?;
        self.bytes -= e.buf.len();
        Some(e.buf)
    }

    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            self.pool.push(buf);
        }
    }

    /// Drops every queued frame; returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.heap.len();
        for e in std::mem::take(&mut self.heap) {
            self.recycle(e.buf);
        }
        self.bytes = 0;
        n
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_arrival_order() {
        let mut q = DelayQueue::default();
        q.push(30, b"c");
        q.push(10, b"a1");
        q.push(20, b"b");
        q.push(10, b"a2");
        assert_eq!(q.next_release(), Some(10));
        assert_eq!(q.pop_due(5), None);
        let mut out = Vec::new();
        while let Some(b) = q.pop_due(25) {
            out.push(String::from_utf8(b.clone()).unwrap_or_default());
            q.recycle(b);
        }
        assert_eq!(out, ["a1", "a2", "b"]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.bytes(), 1);
        assert_eq!(q.clear(), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn buffers_are_reused() {
        let mut q = DelayQueue::default();
        q.push(1, &[0u8; 1500]);
        let b = q.pop_due(1).unwrap_or_default();
        let ptr = b.as_ptr();
        q.recycle(b);
        q.push(2, &[1u8; 100]);
        let b = q.pop_due(2).unwrap_or_default();
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(b.len(), 100);
    }
}
