//! Reads back the pcapng nlab writes (little-endian sections): for the
//! writer's tests, and for summaries of recorded files (interfaces and
//! packet counts). Unknown block types are skipped, as the format asks.

use super::pcapng::{BYTE_ORDER_MAGIC, EPB, IDB, ISB, SHB};

/// What a file holds, block by block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Interface names (`if_name`) in id order.
    pub interfaces: Vec<String>,
    pub packets: Vec<Record>,
    /// (interface id, received, dropped) from statistics blocks.
    pub stats: Vec<(u32, u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub iface: u32,
    pub ts_ns: u64,
    pub data: Vec<u8>,
    pub orig_len: u32,
    pub flags: u32,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Options from `at` to the end of `body`: (code, value) pairs.
fn options(body: &[u8], mut at: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while let (Some(code), Some(len)) = (u16_at(body, at), u16_at(body, at + 2)) {
        if code == 0 {
            break;
        }
        let Some(v) = body.get(at + 4..at + 4 + len as usize) else {
            break;
        };
        out.push((code, v));
        at += 4 + (len as usize).next_multiple_of(4);
    }
    out
}

/// Parses a whole file; `Err` says where it stopped making sense. A file
/// cut off in the middle of its last block (a capture still being
/// written) yields what came before.
pub fn parse(b: &[u8]) -> Result<Contents, String> {
    let mut c = Contents::default();
    let mut at = 0;
    while at + 12 <= b.len() {
        let kind = u32_at(b, at).unwrap_or(0);
        let total = u32_at(b, at + 4).unwrap_or(0) as usize;
        if total < 12 || total % 4 != 0 {
            return Err(format!("block at byte {at} has length {total}"));
        }
        let Some(body) = b.get(at + 8..at + total - 4) else {
            break;
        };
        match kind {
            SHB if u32_at(body, 0) != Some(BYTE_ORDER_MAGIC) => {
                return Err(format!("section at byte {at} is not little-endian pcapng"));
            }
            IDB => {
                let name = options(body, 8)
                    .into_iter()
                    .find(|(code, _)| *code == 2)
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                c.interfaces.push(name);
            }
            EPB => c
                .packets
                .push(record(body).ok_or(format!("bad packet block at byte {at}"))?),
            ISB => {
                let opts = options(body, 12);
                let get = |code| {
                    opts.iter()
                        .find(|(c, _)| *c == code)
                        .and_then(|(_, v)| u64_at(v, 0))
                        .unwrap_or(0)
                };
                c.stats.push((u32_at(body, 0).unwrap_or(0), get(4), get(5)));
            }
            _ => {}
        }
        at += total;
    }
    if at == 0 || u32_at(b, 0) != Some(SHB) {
        return Err("not a pcapng file (no section header)".into());
    }
    Ok(c)
}

fn record(body: &[u8]) -> Option<Record> {
    let iface = u32_at(body, 0)?;
    let ts_ns = (u64::from(u32_at(body, 4)?) << 32) | u64::from(u32_at(body, 8)?);
    let caplen = u32_at(body, 12)? as usize;
    let orig_len = u32_at(body, 16)?;
    let data = body.get(20..20 + caplen)?.to_vec();
    let flags = options(body, 20 + caplen.next_multiple_of(4))
        .into_iter()
        .find(|(code, _)| *code == 2)
        .and_then(|(_, v)| u32_at(v, 0))
        .unwrap_or(0);
    Some(Record {
        iface,
        ts_ns,
        data,
        orig_len,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::super::pcapng::{IfStats, Writer, FLAG_INBOUND, FLAG_OUTBOUND};
    use super::*;

    #[test]
    fn decodes_what_the_writer_encodes() {
        let mut w = Writer::new(Vec::new()).unwrap();
        assert_eq!(w.interface("h1:h1-eth0", "lab x", 262_144).unwrap(), 0);
        assert_eq!(w.interface("s1:s1-eth1", "", 262_144).unwrap(), 1);
        // Lengths 0..=5 cover every padding.
        let mut want = Vec::new();
        for len in 0..=5usize {
            let data: Vec<u8> = (0..len as u8).collect();
            let r = Record {
                iface: (len % 2) as u32,
                ts_ns: 1_764_000_000_123_456_789 + len as u64,
                orig_len: len as u32 + 100,
                flags: if len % 2 == 0 {
                    FLAG_INBOUND
                } else {
                    FLAG_OUTBOUND
                },
                data,
            };
            w.packet(r.iface, r.ts_ns, &r.data, r.orig_len, r.flags)
                .unwrap();
            want.push(r);
        }
        let st = IfStats {
            start_ns: 1,
            end_ns: 2,
            received: 7,
            dropped: 3,
        };
        w.stats(1, &st).unwrap();
        let bytes_counted = w.bytes;
        let bytes = w.into_inner().unwrap();
        assert_eq!(bytes.len() as u64, bytes_counted);
        assert_eq!(bytes.len() % 4, 0);
        let c = parse(&bytes).unwrap();
        assert_eq!(c.interfaces, vec!["h1:h1-eth0", "s1:s1-eth1"]);
        assert_eq!(c.packets, want);
        assert_eq!(c.stats, vec![(1, 7, 3)]);
    }

    #[test]
    fn a_cut_off_file_yields_its_whole_blocks_and_garbage_is_refused() {
        let mut w = Writer::new(Vec::new()).unwrap();
        w.interface("a", "", 100).unwrap();
        w.packet(0, 5, &[1, 2, 3], 3, 0).unwrap();
        w.packet(0, 6, &[4, 5, 6], 3, 0).unwrap();
        let bytes = w.into_inner().unwrap();
        let c = parse(&bytes[..bytes.len() - 5]).unwrap();
        assert_eq!(c.packets.len(), 1);
        assert!(parse(b"\xd4\xc3\xb2\xa1 a classic pcap file").is_err());
        assert!(parse(&[]).is_err());
    }
}
