//! Packet capture on lab interfaces: an AF_PACKET ring per `node:iface`
//! (opened inside the node's namespace, see [`crate::kernel::packet`]),
//! read by one loop that hands each packet to a [`Sink`] (a pcapng file
//! or stream, or one summary line per packet), until a packet count, a
//! duration or a stop signal ends it; then the kernel's counts of
//! received and dropped packets per interface.

pub mod filter;
pub mod pcapng;
pub mod pcapng_read;
pub mod record;
pub mod sinks;
pub mod summary;

use crate::kernel::netns::{self, NetNs};
use crate::kernel::packet::{self, BpfInsn, Packet, PacketRing, RingConfig};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes kept of each packet, as tcpdump's default.
pub const SNAPLEN: u32 = 262_144;
/// Default ring per interface.
pub const DEFAULT_RING_BYTES: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] crate::kernel::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--filter needs tcpdump, which compiles the expression (`tcpdump -dd`), and it is not \
         on PATH: install it (Debian: apt install tcpdump) or capture without --filter"
    )]
    NoTcpdump,
    #[error("bad capture filter `{expr}`: {msg}")]
    BadFilter { expr: String, msg: String },
    #[error("node `{node}` has no interface `{iface}` (interfaces: {known})")]
    NoSuchInterface {
        node: String,
        iface: String,
        known: String,
    },
}

/// One interface to capture on.
#[derive(Debug, Clone)]
pub struct Target {
    pub node: String,
    pub iface: String,
    /// The pinned namespace of the node.
    pub ns: String,
}

impl Target {
    /// `node:iface`, the name the pcapng interface block carries.
    pub fn label(&self) -> String {
        format!("{}:{}", self.node, self.iface)
    }
}

/// Where the packets go.
pub trait Sink {
    /// One packet from interface `iface` (index into the targets).
    fn packet(&mut self, iface: usize, pkt: &Packet) -> std::io::Result<()>;
    /// The ring is drained for now: push out what is buffered.
    fn flush(&mut self) -> std::io::Result<()>;
    /// The capture is over; `stats` per interface, in target order.
    fn finish(&mut self, stats: &[IfCount]) -> std::io::Result<()>;
    /// The kernel's counts so far (every [`CHECK_EVERY`] while running).
    fn progress(&mut self, _stats: &[IfCount]) {}
}

/// What happened on one interface.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IfCount {
    pub interface: String,
    /// Packets handed to the sink.
    pub captured: u64,
    /// Packets that passed the filter (kept or dropped), by the kernel.
    pub received: u64,
    /// Packets the kernel dropped because the ring was full.
    pub dropped: u64,
    #[serde(skip)]
    pub start_ns: u64,
    #[serde(skip)]
    pub end_ns: u64,
}

/// When to stop.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub count: Option<u64>,
    pub duration: Option<Duration>,
}

/// Open captures, ready to run.
pub struct Capture {
    rings: Vec<(Target, PacketRing)>,
    /// Inodes of the pinned namespaces at open: a capture ends when its
    /// lab goes down (the socket would keep the namespace alive, unseen).
    pins: Vec<Option<u64>>,
    retire: Duration,
    start_ns: u64,
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn open_one(t: &Target, filter: Option<&[BpfInsn]>, cfg: &RingConfig) -> Result<PacketRing, Error> {
    let ns = NetNs::open(&t.ns)?;
    ns.run(|| {
        let Some(index) = packet::index_of(&t.iface) else {
            let mut known = packet::interfaces()?;
            known.sort();
            return Err(Error::NoSuchInterface {
                node: t.node.clone(),
                iface: t.iface.clone(),
                known: known.join(", "),
            });
        };
        Ok(PacketRing::open(index, filter, cfg, &t.label())?)
    })?
}

impl Capture {
    /// Opens a ring on every target (all or none): packets are queued
    /// from here on, so the sink may be set up after.
    pub fn open(
        targets: &[Target],
        filter: Option<&[BpfInsn]>,
        ring_bytes: usize,
    ) -> Result<Capture, Error> {
        let cfg = RingConfig::with_total(ring_bytes);
        let rings = targets
            .iter()
            .map(|t| Ok((t.clone(), open_one(t, filter, &cfg)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let pins = targets.iter().map(|t| netns::pinned_inode(&t.ns)).collect();
        Ok(Capture {
            rings,
            pins,
            retire: Duration::from_millis(u64::from(cfg.retire_ms)),
            start_ns: now_ns(),
        })
    }

    /// Whether a node's pinned namespace is gone or another one now
    /// (`nlab down`, or down and up again).
    pub fn lab_gone(&self) -> bool {
        self.rings
            .iter()
            .zip(&self.pins)
            .any(|((t, _), pin)| netns::pinned_inode(&t.ns) != *pin)
    }

    /// Hands every packet the rings hold to `sink`, at most `budget`;
    /// returns how many.
    fn drain(
        &mut self,
        sink: &mut dyn Sink,
        counts: &mut [IfCount],
        budget: u64,
    ) -> std::io::Result<u64> {
        let mut n = 0;
        for (i, (_, ring)) in self.rings.iter_mut().enumerate() {
            while let Some(mut block) = ring.next_block() {
                while let Some(p) = block.next_packet() {
                    if n == budget {
                        return Ok(n);
                    }
                    sink.packet(i, &p)?;
                    counts[i].captured += 1;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Runs until `limits` are reached or `stop()` says so (a signal),
    /// then reads the kernel's counters and finishes the sink. A reader
    /// that went away (`| head`) ends the capture like a signal does.
    pub fn run(
        self,
        sink: &mut dyn Sink,
        limits: &Limits,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<IfCount>, Error> {
        self.run_until(sink, limits, stop).map(|(counts, _)| counts)
    }

    /// [`Self::run`], also saying why it ended. The kernel's counters
    /// are read (and handed to [`Sink::progress`]) every
    /// [`CHECK_EVERY`] too.
    pub fn run_until(
        mut self,
        sink: &mut dyn Sink,
        limits: &Limits,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Vec<IfCount>, Ended), Error> {
        let start = Instant::now();
        let mut counts: Vec<IfCount> = self
            .rings
            .iter()
            .map(|(t, _)| IfCount {
                interface: t.label(),
                start_ns: self.start_ns,
                ..IfCount::default()
            })
            .collect();
        let mut left = limits.count.unwrap_or(u64::MAX);
        let fds: Vec<i32> = self.rings.iter().map(|(_, r)| r.raw_fd()).collect();
        let mut checked = Instant::now();
        let ended = loop {
            match self.batch(sink, &mut counts, left) {
                Ok(n) => left -= n,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break Ended::ReaderGone,
                Err(e) => return Err(io(e)),
            }
            let remaining = limits.duration.map(|d| d.saturating_sub(start.elapsed()));
            if left == 0 || remaining == Some(Duration::ZERO) {
                break Ended::Limit;
            }
            if stop() {
                break Ended::Stopped;
            }
            if checked.elapsed() > CHECK_EVERY {
                checked = Instant::now();
                if self.lab_gone() {
                    break Ended::LabGone;
                }
                // Deleted while down: no error came with the deletion.
                if let Some(gone) = self.unbound() {
                    break gone;
                }
                self.add_stats(&mut counts)?;
                sink.progress(&counts);
            }
            let wait = remaining.map_or(Duration::from_millis(200), |r| {
                r.min(Duration::from_millis(200))
            });
            if let Some(gone) = self.wait(&fds, wait) {
                break gone;
            }
        };
        // Packets of the last moments sit in a block the kernel retires
        // after `retire`: wait for it, so a --duration or Ctrl-C capture
        // holds everything that arrived before it ended.
        if left > 0 && ended != Ended::ReaderGone {
            std::thread::sleep(self.retire + Duration::from_millis(20));
            let _ = self.drain(sink, &mut counts, left);
        }
        let end = now_ns();
        self.add_stats(&mut counts)?;
        for c in counts.iter_mut() {
            c.end_ns = end;
        }
        match sink.finish(&counts) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.map_err(io)?,
        }
        Ok((counts, ended))
    }

    /// Drains the rings into the sink and flushes it; how many packets.
    fn batch(
        &mut self,
        sink: &mut dyn Sink,
        counts: &mut [IfCount],
        left: u64,
    ) -> std::io::Result<u64> {
        let n = self.drain(sink, counts, left)?;
        sink.flush()?;
        Ok(n)
    }

    /// Waits for packets; an interface that went down or away flags its
    /// socket with an error: taken (so the next wait waits), and if the
    /// interface was deleted, the capture ends.
    fn wait(&self, fds: &[i32], timeout: Duration) -> Option<Ended> {
        let flagged = packet::wait_any(fds, timeout);
        for &i in &flagged {
            self.rings[i].1.take_error();
        }
        if flagged.is_empty() {
            None
        } else {
            self.unbound()
        }
    }

    /// The first interface that was deleted since its ring was opened.
    fn unbound(&self) -> Option<Ended> {
        self.rings
            .iter()
            .find(|(_, r)| !r.bound())
            .map(|(t, _)| Ended::InterfaceGone(t.label()))
    }

    /// Adds the kernel's counts since the last read (it resets them).
    fn add_stats(&self, counts: &mut [IfCount]) -> Result<(), Error> {
        for ((t, ring), c) in self.rings.iter().zip(counts.iter_mut()) {
            let st = ring.stats(&t.label())?;
            c.received += st.received;
            c.dropped += st.dropped;
        }
        Ok(())
    }
}

/// How often a running capture checks that its lab is still there and
/// reads the kernel's counters.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Why a capture ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The packet count or the duration was reached.
    Limit,
    /// `stop()` said so.
    Stopped,
    /// The reader of the output went away (a closed pipe).
    ReaderGone,
    /// A node's pinned namespace is gone or another one now.
    LabGone,
    /// This interface (`node:iface`) was deleted.
    InterfaceGone(String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Limit => f.write_str("its packet count or duration was reached"),
            Ended::Stopped => f.write_str("it was stopped"),
            Ended::ReaderGone => f.write_str("the reader of its output went away"),
            Ended::LabGone => {
                f.write_str("a node's namespace went away (lab down or node recreated)")
            }
            Ended::InterfaceGone(i) => write!(f, "interface {i} went away"),
        }
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Io {
        what: "writing captured packets".into(),
        source: e,
    }
}
