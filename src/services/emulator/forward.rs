//! The data path of one direction: read frames from the sending TAP, run
//! the engine, write them to the receiving TAP at their release time.
//!
//! One thread per direction. While frames wait in the delay queue it
//! blocks in `ppoll` on the sending TAP and a stop eventfd, with the
//! timeout set to the head of the queue (nanosecond resolution, 1 µs timer
//! slack, monotonic clock), and each wakeup reads up to [`BATCH`] frames
//! before looking at the queue again. With nothing queued there is no
//! deadline to wake for, so it sleeps in a blocking `read` instead: one
//! system call per arriving frame instead of three (`ppoll`, the `read`,
//! and the `read` that finds the TAP empty); stopping interrupts it with
//! [`thread::wake_signal`]. With no impairment and nothing queued, a frame goes
//! straight from the read buffer to the write: no parsing, no allocation.

use super::delay_queue::DelayQueue;
use super::engine::{DropReason, Engine};
use super::fate::FateKey;
use super::stats::DirStats;
use super::vnet;
use super::Shared;
use crate::kernel::tap::{MAX_FRAME, VNET_HDR_LEN};
use crate::kernel::{fd, thread};
use crate::topo::conditions::Impairment;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed};

/// Frames read per wakeup before due frames are sent.
pub const BATCH: usize = 64;

#[inline]
pub fn now_ns() -> u64 {
    thread::monotonic_ns()
}

enum Read {
    Frame(usize),
    Empty,
    /// The device went away (deleted, or its namespace with it).
    Gone,
}

#[inline]
fn read(fd: RawFd, buf: &mut [u8]) -> Read {
    match fd::read(fd, buf) {
        Ok(0) => Read::Empty,
        Ok(n) => Read::Frame(n),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) => Read::Empty,
        Err(_) => Read::Gone,
    }
}

/// Switches `fd` between blocking and non-blocking reads.
fn set_nonblocking(fd: RawFd, on: bool) {
    fd::set_nonblocking(fd, on)
}

#[inline]
fn write(fd: RawFd, frame: &[u8]) -> bool {
    fd::write(fd, frame).is_ok_and(|n| n == frame.len())
}

/// Waits until `rx` is readable, `wake` fires, or `until` (monotonic ns).
/// `rx` < 0 waits for `wake` only.
#[inline]
fn wait(rx: RawFd, wake: RawFd, until: Option<u64>) {
    fd::wait_readable2(rx, wake, until.map(|t| t.saturating_sub(now_ns())))
}

/// Where frames of one direction come from and go to.
pub struct Ends {
    pub rx: RawFd,
    pub tx: RawFd,
    pub wake: RawFd,
}

struct Dir<'a> {
    ends: Ends,
    shared: &'a Shared,
    idx: usize,
    engine: Engine,
    queue: DelayQueue,
    st: DirStats,
    generation: u64,
    tid: u32,
    nice: Option<i32>,
}

impl Dir<'_> {
    fn send(&mut self, frame: &[u8]) {
        if write(self.ends.tx, frame) {
            self.st.tx += 1;
            self.st.tx_bytes += (frame.len() - VNET_HDR_LEN) as u64;
        } else {
            self.st.tx_errors += 1;
        }
    }

    fn emit(&mut self, frame: &[u8], release: u64, now: u64, at_once: bool) {
        if at_once || (release <= now && self.queue.is_empty()) {
            self.send(frame);
        } else {
            self.queue.push(release, frame);
        }
    }

    fn reload(&mut self) {
        let g = self.shared.generation.load(Acquire);
        if g != self.generation {
            self.generation = g;
            let imp = self.shared.impairment(self.idx);
            self.engine.set(&imp, now_ns());
            self.prioritize();
        }
    }

    /// Sets the thread's nice value for what its conditions ask of it (see
    /// [`TIMING_NICE`]); a system call only when that changes.
    fn prioritize(&mut self) {
        let want = if times_frames(self.engine.impairment()) {
            TIMING_NICE
        } else {
            PASSING_NICE
        };
        if self.nice != Some(want) {
            // Best effort: raising the priority needs CAP_SYS_NICE, which
            // the supervisor (root) has.
            thread::set_nice(self.tid, want);
            self.nice = Some(want);
        }
    }

    /// Handles one frame read into `buf[..n]`.
    fn frame(&mut self, buf: &mut [u8], now: u64) {
        let n = buf.len();
        self.st.rx += 1;
        self.st.rx_bytes += (n - VNET_HDR_LEN) as u64;
        if !self.shared.up.load(Relaxed) {
            self.st.down_dropped += 1;
            return;
        }
        if self.queue.is_empty() && self.engine.impairment().is_none() {
            self.send(buf);
            return;
        }
        let d = self.engine.decide(
            &buf[VNET_HDR_LEN..],
            n - VNET_HDR_LEN,
            now,
            self.queue.len(),
        );
        match d.drop {
            Some(DropReason::Loss) => {
                self.st.lost += 1;
                let mut log = self.shared.lock_losses(self.idx);
                log.append(&mut self.engine.losses);
                return;
            }
            Some(DropReason::QueueFull) => {
                self.st.queue_dropped += 1;
                return;
            }
            None => {}
        }
        if d.copies == 2 {
            self.st.duplicated += 1;
            self.emit(buf, d.release_ns, now, d.reordered);
        }
        if let Some(bit) = d.corrupt_bit {
            self.st.corrupted += 1;
            vnet::corrupt(buf, bit);
        }
        if d.reordered {
            self.st.reordered += 1;
        }
        self.emit(buf, d.release_ns, now, d.reordered);
    }

    fn flush_due(&mut self, now: u64) {
        if !self.shared.up.load(Relaxed) {
            self.st.down_dropped += self.queue.clear() as u64;
            return;
        }
        while let Some(b) = self.queue.pop_due(now) {
            self.send(&b);
            self.queue.recycle(b);
        }
    }

    /// The sending TAP went away: polling or reading it returns at once,
    /// so say so and wait for the stop.
    fn detach(&mut self) {
        self.shared.detached.store(true, Relaxed);
        self.publish();
        while !self.shared.stop.load(Relaxed) {
            wait(-1, self.ends.wake, None);
        }
    }

    fn publish(&mut self) {
        self.st.queued = self.queue.len() as u64;
        self.shared.counters[self.idx].add(&self.st);
        self.st = DirStats::default();
    }
}

/// Nice value of a forwarding thread whose frames wait for a release time
/// (a delay, jitter or rate is set). A netem qdisc releases frames from a
/// timer, ahead of every process; this thread must wake on time too when
/// the machine is busy, so it runs ahead of ordinary processes.
const TIMING_NICE: i32 = -10;

/// Nice value of a forwarding thread that passes each frame on as it
/// comes (no condition, or only loss, duplication, corruption or
/// reordering). Nothing is timed, and ahead of the sender and receiver it
/// carries it only takes their CPU: on two cores a 64-byte UDP flood then
/// forwards frames that the receiver's socket drops. At the same priority
/// the loss-free rate was 84 kpps against 66 kpps at nice -10 (medians
/// of 7 alternating rounds, BENCHMARKS.md), and TCP 15.5 Gbit/s against
/// 13.7 Gbit/s.
const PASSING_NICE: i32 = 0;

/// Whether conditions give frames a release time.
fn times_frames(imp: &Impairment) -> bool {
    !imp.delay.is_zero() || imp.jitter.is_some() || imp.rate.is_some()
}

/// Runs one direction until the link is stopped.
pub fn run(ends: Ends, shared: &Shared, idx: usize, key: FateKey) {
    // 1 µs of timer slack instead of the default 50 µs keeps release
    // times sharp.
    thread::set_timer_slack_ns(1000);
    let tid = thread::gettid();
    shared.tids[idx].store(tid, Relaxed);
    let imp = shared.impairment(idx);
    let mut dir = Dir {
        ends,
        shared,
        idx,
        engine: Engine::new(key, &imp),
        queue: DelayQueue::default(),
        st: DirStats::default(),
        generation: shared.generation.load(Acquire),
        tid,
        nice: None,
    };
    dir.prioritize();
    let mut buf = vec![0u8; MAX_FRAME];
    // The TAP comes non-blocking from `tap::attach`.
    let mut blocking = false;
    while !shared.stop.load(Relaxed) {
        dir.reload();
        let idle = dir.queue.is_empty();
        if idle != blocking {
            set_nonblocking(dir.ends.rx, !idle);
            blocking = idle;
        }
        if blocking {
            match read(dir.ends.rx, &mut buf) {
                Read::Frame(n) if n > VNET_HDR_LEN => {
                    // Conditions may have changed while it slept.
                    dir.reload();
                    dir.frame(&mut buf[..n], now_ns());
                    dir.publish();
                }
                Read::Frame(_) | Read::Empty => {}
                Read::Gone => return dir.detach(),
            }
            continue;
        }
        let mut drained = false;
        for _ in 0..BATCH {
            let n = match read(dir.ends.rx, &mut buf) {
                Read::Frame(n) => n,
                Read::Empty => {
                    drained = true;
                    break;
                }
                Read::Gone => return dir.detach(),
            };
            if n <= VNET_HDR_LEN {
                continue;
            }
            dir.frame(&mut buf[..n], now_ns());
        }
        dir.flush_due(now_ns());
        dir.publish();
        if drained && !dir.queue.is_empty() {
            wait(dir.ends.rx, dir.ends.wake, dir.queue.next_release());
        }
    }
}
