//! The two places packets go: a pcapng file or stream, and a summary
//! line per packet (what `nlab capture` prints without `-w`).

use super::pcapng::{IfStats, Writer, FLAG_INBOUND, FLAG_OUTBOUND};
use super::{summary, IfCount, Sink, Target, SNAPLEN};
use crate::kernel::packet::{Direction, Packet};
use std::io::{self, Write};

/// Writes pcapng: one interface block per target, then packets, then a
/// statistics block per interface at the end.
pub struct PcapngSink<W: Write> {
    w: Writer<W>,
    /// Flush after every drained batch (a pipe's reader sees packets as
    /// they come); a file is flushed by its buffer and at the end.
    pub flush_each_batch: bool,
}

impl<W: Write> PcapngSink<W> {
    /// `description` goes into each interface block (the lab's name).
    pub fn new(out: W, targets: &[Target], description: &str) -> io::Result<Self> {
        let mut w = Writer::new(out)?;
        for t in targets {
            w.interface(&t.label(), description, SNAPLEN)?;
        }
        Ok(PcapngSink {
            w,
            flush_each_batch: false,
        })
    }
}

impl<W: Write> Sink for PcapngSink<W> {
    fn packet(&mut self, iface: usize, p: &Packet) -> io::Result<()> {
        let flags = match p.direction {
            Direction::Inbound => FLAG_INBOUND,
            Direction::Outbound => FLAG_OUTBOUND,
        };
        self.w
            .packet(iface as u32, p.ts_ns, p.data, p.orig_len, flags)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.flush_each_batch {
            self.w.flush()
        } else {
            Ok(())
        }
    }

    fn finish(&mut self, stats: &[IfCount]) -> io::Result<()> {
        for (i, c) in stats.iter().enumerate() {
            let st = IfStats {
                start_ns: c.start_ns,
                end_ns: c.end_ns,
                received: c.received,
                dropped: c.dropped,
            };
            self.w.stats(i as u32, &st)?;
        }
        self.w.flush()
    }
}

/// One line per packet: time, `node:iface`, direction, then what
/// tcpdump would say about it (`IP 10.0.0.1 > 10.0.0.2: ICMP echo request …`).
pub struct LineSink<W: Write> {
    out: W,
    labels: Vec<String>,
}

impl<W: Write> LineSink<W> {
    pub fn new(out: W, targets: &[Target]) -> Self {
        LineSink {
            out,
            labels: targets.iter().map(Target::label).collect(),
        }
    }
}

impl<W: Write> Sink for LineSink<W> {
    fn packet(&mut self, iface: usize, p: &Packet) -> io::Result<()> {
        let dir = match p.direction {
            Direction::Inbound => "In ",
            Direction::Outbound => "Out",
        };
        writeln!(
            self.out,
            "{} {} {dir} {}",
            summary::clock(p.ts_ns),
            self.labels[iface],
            summary::describe(p.data, p.orig_len)
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _: &[IfCount]) -> io::Result<()> {
        self.out.flush()
    }
}
