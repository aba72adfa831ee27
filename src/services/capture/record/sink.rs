//! The sink of a recorded link: pcapng files of at most `max_size` bytes
//! (a file holds at least one packet), the newest `keep` of them kept.
//! Each file is a complete pcapng section (header, an interface block per
//! recorded `node:iface`, packets), flushed after every batch so readers
//! see packets within a fraction of a second.

use super::super::pcapng::{epb_len, IfStats, Writer, FLAG_INBOUND, FLAG_OUTBOUND};
use super::super::{IfCount, Sink, SNAPLEN};
use super::files::{self, FileStat};
use crate::kernel::files as kfiles;
use crate::kernel::packet::{Direction, Packet};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Recorded files are root's alone: they hold the lab's traffic.
pub const FILE_MODE: u32 = 0o600;

/// What a recording has done, shared with the supervisor's status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Live {
    /// Kept files, oldest first; the last is being written while running.
    pub files: Vec<FileStat>,
    /// Packets that passed to the ring, and those the kernel dropped
    /// because it was full, since this recorder started.
    pub received: u64,
    pub dropped: u64,
    pub running: bool,
    pub error: Option<String>,
}

/// Where and how a link's files are written.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub link: String,
    /// `node:iface` per interface block.
    pub labels: Vec<String>,
    /// The lab's name, in each interface block's description.
    pub description: String,
    pub max_size: u64,
    pub keep: u32,
}

pub struct RotatingSink {
    layout: Layout,
    next_seq: u64,
    w: Option<Writer<BufWriter<File>>>,
    current: FileStat,
    /// Earlier kept files, oldest first.
    closed: Vec<FileStat>,
    live: Arc<Mutex<Live>>,
}

impl RotatingSink {
    /// Takes over the link's files already on disk (trimmed to their whole
    /// blocks: a killed supervisor may have cut the last one off) and
    /// starts the next file.
    pub fn start(layout: Layout, live: Arc<Mutex<Live>>) -> io::Result<RotatingSink> {
        crate::store::ensure_private_dir(&layout.dir).map_err(io::Error::other)?;
        let mut closed = Vec::new();
        let mut last = 0;
        for (seq, path) in files::existing(&layout.dir, &layout.link)? {
            last = seq;
            let s = files::trim(&path)?;
            if s.whole == 0 {
                std::fs::remove_file(&path)?;
                continue;
            }
            closed.push(FileStat {
                path: path.display().to_string(),
                bytes: s.whole,
                packets: s.packets,
            });
        }
        let mut sink = RotatingSink {
            layout,
            next_seq: last + 1,
            w: None,
            current: FileStat::default(),
            closed,
            live,
        };
        sink.open_next()?;
        sink.publish();
        Ok(sink)
    }

    /// Closes the current file (if any), opens the next and deletes the
    /// oldest beyond `keep`.
    fn open_next(&mut self) -> io::Result<()> {
        if let Some(w) = self.w.take() {
            w.into_inner()?;
            self.closed.push(std::mem::take(&mut self.current));
        }
        let path = self
            .layout
            .dir
            .join(files::file_name(&self.layout.link, self.next_seq));
        self.next_seq += 1;
        let f = kfiles::open_file(&path, FILE_MODE, true)?;
        let mut w = Writer::new(BufWriter::with_capacity(256 << 10, f))?;
        for l in &self.layout.labels {
            w.interface(l, &self.layout.description, SNAPLEN)?;
        }
        self.current = FileStat {
            path: path.display().to_string(),
            bytes: w.bytes,
            packets: 0,
        };
        self.w = Some(w);
        let keep_closed = self.layout.keep.saturating_sub(1) as usize;
        while self.closed.len() > keep_closed {
            let old = self.closed.remove(0);
            match std::fs::remove_file(&old.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Hands the current files to the status.
    fn publish(&self) {
        if let Ok(mut l) = self.live.lock() {
            l.files = self.closed.clone();
            l.files.push(self.current.clone());
        }
    }

    fn writer(&mut self) -> io::Result<&mut Writer<BufWriter<File>>> {
        self.w
            .as_mut()
            .ok_or_else(|| io::Error::other("the recording's file is closed"))
    }
}

impl Sink for RotatingSink {
    fn packet(&mut self, iface: usize, p: &Packet) -> io::Result<()> {
        let size = epb_len(p.data.len());
        if self.current.packets > 0 && self.current.bytes + size > self.layout.max_size {
            self.open_next()?;
        }
        let flags = match p.direction {
            Direction::Inbound => FLAG_INBOUND,
            Direction::Outbound => FLAG_OUTBOUND,
        };
        let w = self.writer()?;
        w.packet(iface as u32, p.ts_ns, p.data, p.orig_len, flags)?;
        self.current.bytes = w.bytes;
        self.current.packets += 1;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()?;
        self.publish();
        Ok(())
    }

    fn progress(&mut self, stats: &[IfCount]) {
        if let Ok(mut l) = self.live.lock() {
            l.received = stats.iter().map(|c| c.received).sum();
            l.dropped = stats.iter().map(|c| c.dropped).sum();
        }
    }

    /// The kernel's counts go into the last file as statistics blocks.
    fn finish(&mut self, stats: &[IfCount]) -> io::Result<()> {
        self.progress(stats);
        let w = self.writer()?;
        for (i, c) in stats.iter().enumerate() {
            let st = IfStats {
                start_ns: c.start_ns,
                end_ns: c.end_ns,
                received: c.received,
                dropped: c.dropped,
            };
            w.stats(i as u32, &st)?;
        }
        let bytes = w.bytes;
        w.flush()?;
        self.current.bytes = bytes;
        self.publish();
        Ok(())
    }
}
