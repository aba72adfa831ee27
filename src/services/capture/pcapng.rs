//! A pcapng writer (draft-ietf-opsawg-pcapng): one Section Header, one
//! Interface Description Block per captured `node:iface` (named so
//! Wireshark's `frame.interface_name` says which link a packet crossed),
//! an Enhanced Packet Block per packet with its direction, and Interface
//! Statistics Blocks (received, dropped) at the end. Little-endian, times
//! in nanoseconds (`if_tsresol` = 9).

use std::io::{self, Write};

pub const SHB: u32 = 0x0A0D_0D0A;
pub const IDB: u32 = 1;
pub const ISB: u32 = 5;
pub const EPB: u32 = 6;
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u16 = 1;

const OPT_END: u16 = 0;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;

/// EPB flag bits 0-1: the direction (RFC draft, section 4.3.1).
pub const FLAG_INBOUND: u32 = 1;
pub const FLAG_OUTBOUND: u32 = 2;

/// The counters an Interface Statistics Block carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IfStats {
    pub start_ns: u64,
    pub end_ns: u64,
    pub received: u64,
    pub dropped: u64,
}

/// Writes pcapng to `W`; call [`Writer::flush`] to push buffered blocks
/// out (after every batch when streaming to a pipe).
pub struct Writer<W: Write> {
    out: W,
    interfaces: u32,
    /// Bytes written so far (for size caps and summaries).
    pub bytes: u64,
}

fn pad4(n: usize) -> usize {
    n.next_multiple_of(4)
}

/// Bytes [`Writer::packet`] writes for a packet of `captured` bytes.
pub fn epb_len(captured: usize) -> u64 {
    (12 + 20 + pad4(captured) + 12) as u64
}

/// Appends one option (code, length, value padded to 4 bytes).
fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(pad4(buf.len()), 0);
}

fn ts_words(ns: u64) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&((ns >> 32) as u32).to_le_bytes());
    b[4..].copy_from_slice(&(ns as u32).to_le_bytes());
    b
}

impl<W: Write> Writer<W> {
    /// Starts a section: writes the Section Header Block.
    pub fn new(out: W) -> io::Result<Writer<W>> {
        let mut w = Writer {
            out,
            interfaces: 0,
            bytes: 0,
        };
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        // Section length unknown: we stream.
        body.extend_from_slice(&(-1i64).to_le_bytes());
        let app = format!("nlab {}", env!("CARGO_PKG_VERSION"));
        option(&mut body, SHB_USERAPPL, app.as_bytes());
        option(&mut body, OPT_END, &[]);
        w.block(SHB, &body)?;
        Ok(w)
    }

    /// Writes a block: type, total length, body, total length again.
    fn block(&mut self, kind: u32, body: &[u8]) -> io::Result<()> {
        let total = (12 + body.len()) as u32;
        self.out.write_all(&kind.to_le_bytes())?;
        self.out.write_all(&total.to_le_bytes())?;
        self.out.write_all(body)?;
        self.out.write_all(&total.to_le_bytes())?;
        self.bytes += u64::from(total);
        Ok(())
    }

    /// Describes an Ethernet interface; returns its id for [`Self::packet`].
    pub fn interface(&mut self, name: &str, description: &str, snaplen: u32) -> io::Result<u32> {
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        option(&mut body, IF_NAME, name.as_bytes());
        if !description.is_empty() {
            option(&mut body, IF_DESCRIPTION, description.as_bytes());
        }
        option(&mut body, IF_TSRESOL, &[9]);
        option(&mut body, OPT_END, &[]);
        self.block(IDB, &body)?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Writes one packet as an Enhanced Packet Block; `flags` is
    /// [`FLAG_INBOUND`] or [`FLAG_OUTBOUND`] (0: unknown).
    pub fn packet(
        &mut self,
        iface: u32,
        ts_ns: u64,
        data: &[u8],
        orig_len: u32,
        flags: u32,
    ) -> io::Result<()> {
        // Fixed fields (20) + data padded + epb_flags (8) + end (4).
        let padded = pad4(data.len());
        let total = (12 + 20 + padded + 12) as u32;
        let mut head = [0u8; 28];
        head[0..4].copy_from_slice(&EPB.to_le_bytes());
        head[4..8].copy_from_slice(&total.to_le_bytes());
        head[8..12].copy_from_slice(&iface.to_le_bytes());
        head[12..20].copy_from_slice(&ts_words(ts_ns));
        head[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        head[24..28].copy_from_slice(&orig_len.to_le_bytes());
        let mut tail = [0u8; 3 + 4 + 4 + 4 + 4];
        let pad = padded - data.len();
        tail[pad..pad + 2].copy_from_slice(&EPB_FLAGS.to_le_bytes());
        tail[pad + 2..pad + 4].copy_from_slice(&4u16.to_le_bytes());
        tail[pad + 4..pad + 8].copy_from_slice(&flags.to_le_bytes());
        // tail[pad+8..pad+12] stays zero: opt_endofopt.
        tail[pad + 12..pad + 16].copy_from_slice(&total.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        self.out.write_all(&tail[..pad + 16])?;
        self.bytes += u64::from(total);
        Ok(())
    }

    /// Writes an Interface Statistics Block for `iface` at `st.end_ns`.
    pub fn stats(&mut self, iface: u32, st: &IfStats) -> io::Result<()> {
        let mut body = Vec::with_capacity(80);
        body.extend_from_slice(&iface.to_le_bytes());
        body.extend_from_slice(&ts_words(st.end_ns));
        option(&mut body, ISB_STARTTIME, &ts_words(st.start_ns));
        option(&mut body, ISB_ENDTIME, &ts_words(st.end_ns));
        option(&mut body, ISB_IFRECV, &st.received.to_le_bytes());
        option(&mut body, ISB_IFDROP, &st.dropped.to_le_bytes());
        option(&mut body, OPT_END, &[]);
        self.block(ISB, &body)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (the buffered bytes flushed first).
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
