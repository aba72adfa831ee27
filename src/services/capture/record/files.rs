//! The files of a recorded link, all in `/run/nlab/<lab>/capture/`
//! (0700): `<link>.<seq>.pcapng` (0600), `seq` counting up from 000001
//! over the lab's life, so the newest file is the one with the highest
//! number and a restarted recorder starts the next one.
//!
//! A supervisor killed in the middle of a write leaves a file cut off in
//! its last block; [`trim`] cuts it back to its last whole block, so every
//! kept file reads to its end.

use super::super::pcapng::{BYTE_ORDER_MAGIC, EPB, SHB};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The directory of a lab's recordings.
pub fn dir(lab: &str) -> PathBuf {
    crate::store::lab_dir(lab).join("capture")
}

/// `h1:h1-eth0--s1:s1-eth1.000001.pcapng`.
pub fn file_name(link: &str, seq: u64) -> String {
    format!("{link}.{seq:06}.pcapng")
}

/// The number of `name` if it is a file of `link`.
pub fn seq_of(link: &str, name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(link)?
        .strip_prefix('.')?
        .strip_suffix(".pcapng")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The link a recording's file belongs to (`None` for other files).
pub fn link_of(name: &str) -> Option<&str> {
    let (link, digits) = name.strip_suffix(".pcapng")?.rsplit_once('.')?;
    (digits.len() >= 6 && digits.bytes().all(|b| b.is_ascii_digit()) && !link.is_empty())
        .then_some(link)
}

fn names(dir: &Path) -> io::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(d) => Ok(d
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The files of `link` in `dir`, oldest first.
pub fn existing(dir: &Path, link: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut v: Vec<(u64, PathBuf)> = names(dir)?
        .into_iter()
        .filter_map(|n| Some((seq_of(link, &n)?, dir.join(n))))
        .collect();
    v.sort();
    Ok(v)
}

/// Every link that has files in `dir`.
pub fn links_on_disk(dir: &Path) -> io::Result<BTreeSet<String>> {
    Ok(names(dir)?
        .iter()
        .filter_map(|n| link_of(n).map(str::to_string))
        .collect())
}

/// One kept file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub path: String,
    pub bytes: u64,
    pub packets: u64,
}

/// What [`scan`] found: the length of the whole blocks at the file's
/// start, and the packets among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    pub whole: u64,
    pub packets: u64,
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Walks the blocks of a pcapng file as nlab writes it (little-endian,
/// one section), reading only their headers and trailers.
pub fn scan(path: &Path) -> io::Result<Scan> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut r = BufReader::with_capacity(64 << 10, f);
    let mut s = Scan::default();
    let mut head = [0u8; 12];
    while s.whole + 12 <= len {
        r.read_exact(&mut head[..8])?;
        let (kind, total) = (u32_le(&head[..4]), u64::from(u32_le(&head[4..8])));
        if s.whole == 0 {
            r.read_exact(&mut head[8..12])?;
            if kind != SHB || u32_le(&head[8..12]) != BYTE_ORDER_MAGIC {
                break;
            }
        }
        let read = if s.whole == 0 { 12 } else { 8 };
        if total < read + 4 || total % 4 != 0 || s.whole + total > len {
            break;
        }
        r.seek_relative((total - read - 4) as i64)?;
        let mut tail = [0u8; 4];
        r.read_exact(&mut tail)?;
        if u64::from(u32_le(&tail)) != total {
            break;
        }
        s.packets += u64::from(kind == EPB);
        s.whole += total;
    }
    Ok(s)
}

/// [`scan`], then cuts the file back to its whole blocks.
pub fn trim(path: &Path) -> io::Result<Scan> {
    let s = scan(path)?;
    let len = std::fs::metadata(path)?.len();
    if s.whole < len {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        f.set_len(s.whole)?;
    }
    Ok(s)
}

/// The files of `link` as they are on disk (packets counted by reading
/// them), oldest first.
pub fn stats(dir: &Path, link: &str) -> io::Result<Vec<FileStat>> {
    existing(dir, link)?
        .into_iter()
        .map(|(_, p)| {
            let s = scan(&p)?;
            Ok(FileStat {
                path: p.display().to_string(),
                bytes: std::fs::metadata(&p)?.len(),
                packets: s.packets,
            })
        })
        .collect()
}

/// The interface names of a recorded file (its first 64 KiB read).
pub fn interfaces(path: &Path) -> Vec<String> {
    let mut head = Vec::new();
    let read = File::open(path).and_then(|f| f.take(64 << 10).read_to_end(&mut head));
    if read.is_err() {
        return Vec::new();
    }
    super::super::pcapng_read::parse(&head)
        .map(|c| c.interfaces)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::super::pcapng::Writer;
    use super::*;

    const LINK: &str = "h1:h1-eth0--s1:s1-eth1";

    #[test]
    fn names_count_up_and_belong_to_one_link() {
        assert_eq!(file_name(LINK, 1), "h1:h1-eth0--s1:s1-eth1.000001.pcapng");
        assert_eq!(
            file_name(LINK, 1_234_567),
            "h1:h1-eth0--s1:s1-eth1.1234567.pcapng"
        );
        assert_eq!(seq_of(LINK, &file_name(LINK, 42)), Some(42));
        assert_eq!(seq_of(LINK, &file_name(LINK, 1_234_567)), Some(1_234_567));
        // Another link whose key starts the same, and other files.
        let longer = "h1:h1-eth0--s1:s1-eth1.000001";
        assert_eq!(seq_of(LINK, &file_name(longer, 2)), None);
        assert_eq!(seq_of(longer, &file_name(LINK, 1)), None);
        assert_eq!(seq_of(LINK, "h1:h1-eth0--s1:s1-eth1.12.pcapng"), None);
        assert_eq!(seq_of(LINK, "h1:h1-eth0--s1:s1-eth1.000001.pcap"), None);
        assert_eq!(link_of(&file_name(LINK, 3)), Some(LINK));
        assert_eq!(link_of(&file_name(longer, 3)), Some(longer));
        assert_eq!(link_of("supervisor.json"), None);
        assert_eq!(link_of(".000001.pcapng"), None);
    }

    fn sample(path: &Path, packets: usize) -> u64 {
        let f = File::create(path).expect("create");
        let mut w = Writer::new(std::io::BufWriter::new(f)).expect("writer");
        w.interface("h1:h1-eth0", "lab", 262_144).expect("idb");
        for i in 0..packets {
            w.packet(0, 1_000 + i as u64, &[0xab; 61], 61, 1)
                .expect("epb");
        }
        let bytes = w.bytes;
        w.into_inner().expect("flush");
        bytes
    }

    #[test]
    fn a_file_cut_off_mid_block_is_trimmed_to_its_whole_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(file_name(LINK, 1));
        let whole = sample(&p, 5);
        assert_eq!(scan(&p).expect("scan"), Scan { whole, packets: 5 });
        // Cut in the middle of the last packet, as a kill -9 may.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open");
        f.set_len(whole - 30).expect("cut");
        let s = trim(&p).expect("trim");
        assert_eq!(s.packets, 4);
        assert_eq!(s.whole, whole - super::super::super::pcapng::epb_len(61));
        assert_eq!(std::fs::metadata(&p).expect("stat").len(), s.whole);
        let c = super::super::super::pcapng_read::parse(&std::fs::read(&p).expect("read"))
            .expect("parse");
        assert_eq!(c.packets.len(), 4);
        // An empty file and a file of garbage have no whole block.
        std::fs::write(&p, b"").expect("write");
        assert_eq!(trim(&p).expect("trim").whole, 0);
        std::fs::write(&p, [7u8; 40]).expect("write");
        assert_eq!(trim(&p).expect("trim").whole, 0);
        assert_eq!(std::fs::metadata(&p).expect("stat").len(), 0);
    }

    #[test]
    fn files_are_listed_oldest_first_with_their_packets() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (seq, n) in [(10, 1), (9, 2), (11, 3)] {
            sample(&dir.path().join(file_name(LINK, seq)), n);
        }
        sample(&dir.path().join(file_name("a:x--b:y", 1)), 1);
        std::fs::write(dir.path().join("notes.txt"), b"x").expect("write");
        let got: Vec<u64> = existing(dir.path(), LINK)
            .expect("list")
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(got, [9, 10, 11]);
        let st = stats(dir.path(), LINK).expect("stats");
        let packets: Vec<u64> = st.iter().map(|f| f.packets).collect();
        assert_eq!(packets, [2, 1, 3]);
        let links: Vec<String> = links_on_disk(dir.path())
            .expect("links")
            .into_iter()
            .collect();
        assert_eq!(links, ["a:x--b:y", LINK]);
        assert!(existing(&dir.path().join("none"), LINK)
            .expect("missing dir")
            .is_empty());
    }
}
