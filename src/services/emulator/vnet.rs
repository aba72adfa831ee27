//! The `virtio_net_hdr_v1` in front of every TAP frame, and corrupting a
//! frame so the receiver can tell.
//!
//! A frame the sending kernel left for checksum offload (NEEDS_CSUM) would
//! be accepted by the receiving kernel without checking, so before a bit is
//! flipped its checksum is completed in software and the flag cleared: the
//! flipped bit is then caught by the receiver, as on a real wire (netem
//! does the same with `skb_checksum_help`). GSO frames keep their header:
//! the flip lands in one segment's payload after segmentation computes the
//! checksums, so it reaches the application (see the README's limits).

use crate::kernel::tap::VNET_HDR_LEN;

const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const ETH_HLEN: usize = 14;

fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

/// Completes a pending (offloaded) checksum of a non-GSO frame in software.
fn finish_checksum(buf: &mut [u8]) {
    if buf.len() < VNET_HDR_LEN || buf[0] & F_NEEDS_CSUM == 0 || buf[1] != GSO_NONE {
        return;
    }
    let start = VNET_HDR_LEN + le16(buf, 6);
    let field = start + le16(buf, 8);
    if field + 2 > buf.len() {
        return;
    }
    let mut sum: u64 = 0;
    let data = &buf[start..];
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    buf[field..field + 2].copy_from_slice(&csum.to_be_bytes());
    buf[0] &= !F_NEEDS_CSUM;
}

/// Flips bit `bit` (modulo the packet's length) past the Ethernet header of
/// a vnet-prefixed frame.
pub fn corrupt(buf: &mut [u8], bit: u64) {
    let from = VNET_HDR_LEN + ETH_HLEN;
    if buf.len() <= from {
        return;
    }
    finish_checksum(buf);
    let bits = ((buf.len() - from) * 8) as u64;
    let b = bit % bits;
    buf[from + (b / 8) as usize] ^= 1 << (b % 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_checksum_is_completed_before_the_flip() {
        // vnet header asking for a checksum over 4 bytes stored at +2.
        let mut buf = vec![0u8; VNET_HDR_LEN + ETH_HLEN + 8];
        buf[0] = F_NEEDS_CSUM;
        let start = ETH_HLEN as u16;
        buf[6..8].copy_from_slice(&start.to_le_bytes());
        buf[8..10].copy_from_slice(&2u16.to_le_bytes());
        let p = VNET_HDR_LEN + ETH_HLEN;
        buf[p..p + 8].copy_from_slice(&[0x12, 0x34, 0, 0, 0x56, 0x78, 0x9a, 0xbc]);
        let mut clean = buf.clone();
        finish_checksum(&mut clean);
        assert_eq!(clean[0] & F_NEEDS_CSUM, 0);
        // Ones' complement sum of the packet including its checksum is 0xffff.
        let sum: u32 = clean[p..]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum();
        assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff);
        corrupt(&mut buf, 5);
        assert_eq!(buf[p] ^ clean[p], 1 << 5);
        assert_eq!(buf[p + 1..], clean[p + 1..]);
    }
}
