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

#[cfg(test)]
mod tests {
    use super::super::super::pcapng_read;
    use super::*;

    fn layout(dir: &std::path::Path) -> Layout {
        Layout {
            dir: dir.join("capture"),
            link: "h1:eth0--s1:p1".into(),
            labels: vec!["h1:eth0".into()],
            description: "lab".into(),
            max_size: 1024,
            keep: 3,
        }
    }

    fn send(sink: &mut RotatingSink, n: u64) {
        let data = [0x5a; 200];
        for i in 0..n {
            let p = Packet {
                ts_ns: 1_000 + i,
                data: &data,
                orig_len: 200,
                direction: Direction::Outbound,
            };
            sink.packet(0, &p).expect("packet");
        }
        sink.flush().expect("flush");
    }

    fn numbers(live: &Arc<Mutex<Live>>) -> Vec<String> {
        let l = live.lock().expect("lock");
        l.files
            .iter()
            .map(|f| {
                let name = f.path.rsplit('/').next().unwrap_or("");
                name.trim_start_matches("h1:eth0--s1:p1.").to_string()
            })
            .collect()
    }

    #[test]
    fn files_rotate_under_the_cap_and_the_newest_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = Arc::new(Mutex::new(Live::default()));
        let mut sink = RotatingSink::start(layout(dir.path()), live.clone()).expect("start");
        // 244-byte packet blocks: 3 fit in 1 KiB after the headers.
        send(&mut sink, 20);
        assert_eq!(
            numbers(&live),
            ["000005.pcapng", "000006.pcapng", "000007.pcapng"]
        );
        let on_disk = std::fs::read_dir(dir.path().join("capture"))
            .expect("dir")
            .count();
        assert_eq!(on_disk, 3);
        let files = live.lock().expect("lock").files.clone();
        for f in &files {
            let bytes = std::fs::read(&f.path).expect("read");
            assert!(bytes.len() <= 1024, "{}: {}", f.path, bytes.len());
            assert_eq!(bytes.len() as u64, f.bytes);
            let c = pcapng_read::parse(&bytes).expect("parse");
            assert_eq!(c.interfaces, ["h1:eth0"]);
            assert_eq!(c.packets.len() as u64, f.packets);
            let mode = std::fs::metadata(&f.path).expect("stat").permissions();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
                FILE_MODE
            );
        }
        // 6 files of 3 and one of 2: the kept ones hold 3 + 3 + 2.
        let kept: Vec<u64> = files.iter().map(|f| f.packets).collect();
        assert_eq!(kept, [3, 3, 2]);
        // A packet larger than the cap still gets a file of its own.
        let big = [0u8; 2000];
        let p = Packet {
            ts_ns: 5,
            data: &big,
            orig_len: 2000,
            direction: Direction::Inbound,
        };
        sink.packet(0, &p).expect("big packet");
        sink.flush().expect("flush");
        assert_eq!(
            live.lock().expect("lock").files.last().map(|f| f.packets),
            Some(1)
        );
    }

    #[test]
    fn a_new_sink_takes_over_the_files_and_starts_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = Arc::new(Mutex::new(Live::default()));
        let mut sink = RotatingSink::start(layout(dir.path()), live.clone()).expect("start");
        send(&mut sink, 4);
        let before = live.lock().expect("lock").files.clone();
        assert_eq!(before.len(), 2);
        // Killed: nothing closed, the last file cut in a block.
        drop(sink);
        let last = &before[1].path;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(last)
            .expect("open");
        f.set_len(before[1].bytes - 7).expect("cut");
        let live2 = Arc::new(Mutex::new(Live::default()));
        let sink = RotatingSink::start(layout(dir.path()), live2.clone()).expect("restart");
        let after = live2.lock().expect("lock").files.clone();
        assert_eq!(
            numbers(&live2),
            ["000001.pcapng", "000002.pcapng", "000003.pcapng"]
        );
        assert_eq!(after[0], before[0]);
        // The cut packet is gone, the rest reads to the end.
        assert_eq!(after[1].packets, 0);
        let bytes = std::fs::read(last).expect("read");
        assert_eq!(bytes.len() as u64, after[1].bytes);
        assert!(pcapng_read::parse(&bytes).is_ok());
        assert_eq!(after[2].packets, 0);
        drop(sink);
    }
}
