//! Which flow a frame belongs to, and each flow's own counters.
//!
//! A flow is the IPv4/IPv6 5-tuple (protocol, addresses, ports); for ICMP
//! and ICMPv6 it is the protocol and the addresses only. The echo
//! identifier is left out on purpose: `ping` picks a new one every run (its
//! pid, or the port the kernel gives its ICMP socket), and two runs of the
//! same ping under the same seed must meet the same fates. Anything that is
//! not IP (ARP, LLDP, …) is keyed by ethertype and MAC addresses.
//! Parsing is by hand over the frame: a few bounds-checked reads, no
//! allocation.

use super::fate::{hash_bytes, mix64};
use super::jitter::JitterState;
use super::loss::LossState;
use std::collections::HashMap;

const ETH_HLEN: usize = 14;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn ports(b: &[u8], l4: usize, proto: u8) -> u64 {
    match proto {
        // TCP, UDP, UDP-Lite, SCTP: two 16-bit ports first.
        6 | 17 | 136 | 132 => be16(b, l4)
            .zip(be16(b, l4 + 2))
            .map(|(s, d)| ((s as u64) << 16) | d as u64)
            .unwrap_or(0),
        _ => 0,
    }
}

/// The flow id of an Ethernet frame (no vnet header in front).
pub fn flow_id(frame: &[u8]) -> u64 {
    let Some(mut ethertype) = be16(frame, 12) else {
        return hash_bytes(frame);
    };
    let mut l3 = ETH_HLEN;
    // 802.1Q / 802.1ad tags.
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        match be16(frame, l3 + 2) {
            Some(t) => ethertype = t,
            None => break,
        }
        l3 += 4;
    }
    let tuple = match ethertype {
        0x0800 => ipv4(frame, l3),
        0x86dd => ipv6(frame, l3),
        _ => None,
    };
    match tuple {
        Some(h) => h,
        None => {
            let macs = frame.get(..12).unwrap_or(frame);
            mix64(hash_bytes(macs) ^ ethertype as u64)
        }
    }
}

fn ipv4(b: &[u8], l3: usize) -> Option<u64> {
    let ihl = (*b.get(l3)? & 0x0f) as usize * 4;
    let proto = *b.get(l3 + 9)?;
    let addrs = b.get(l3 + 12..l3 + 20)?;
    let frag_off = be16(b, l3 + 6)? & 0x1fff;
    let p = if frag_off == 0 {
        ports(b, l3 + ihl, proto)
    } else {
        0
    };
    Some(mix64(hash_bytes(addrs) ^ ((proto as u64) << 40) ^ p ^ 4))
}

fn ipv6(b: &[u8], l3: usize) -> Option<u64> {
    let mut next = *b.get(l3 + 6)?;
    let addrs = b.get(l3 + 8..l3 + 40)?;
    let mut at = l3 + 40;
    let mut p = 0;
    // Skip extension headers to reach the ports; bounded, never loops.
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                let nh = *b.get(at)?;
                let len = (*b.get(at + 1)? as usize + 1) * 8;
                next = nh;
                at += len;
            }
            44 => {
                let nh = *b.get(at)?;
                let first = be16(b, at + 2)? & 0xfff8 == 0;
                next = nh;
                at += 8;
                if !first {
                    break;
                }
            }
            proto => {
                p = ports(b, at, proto);
                break;
            }
        }
    }
    Some(mix64(hash_bytes(addrs) ^ ((next as u64) << 40) ^ p ^ 6))
}

/// What the engine remembers per flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowState {
    /// Packets of this flow seen so far in this direction.
    pub next_index: u64,
    pub loss: LossState,
    pub jitter: JitterState,
    /// netem's reorder gap counter.
    pub since_reorder: u32,
}

/// Flow states, bounded: past `MAX_FLOWS` the table is cleared (indices
/// restart), which only a scan over many thousand flows can trigger.
#[derive(Debug, Default)]
pub struct FlowTable {
    flows: HashMap<u64, FlowState>,
}

pub const MAX_FLOWS: usize = 65_536;

impl FlowTable {
    pub fn get(&mut self, id: u64) -> &mut FlowState {
        if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&id) {
            self.flows.clear();
        }
        self.flows.entry(id).or_default()
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An Ethernet + IPv4 + UDP frame.
    pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; ETH_HLEN + 28 + len];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = ETH_HLEN;
        f[ip] = 0x45;
        f[ip + 9] = 17;
        f[ip + 12..ip + 16].copy_from_slice(&src);
        f[ip + 16..ip + 20].copy_from_slice(&dst);
        f[ip + 20..ip + 22].copy_from_slice(&sport.to_be_bytes());
        f[ip + 22..ip + 24].copy_from_slice(&dport.to_be_bytes());
        f
    }

    pub fn arp() -> Vec<u8> {
        let mut f = vec![0u8; 42];
        f[..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        f
    }

    #[test]
    fn the_five_tuple_decides_the_flow() {
        let a = flow_id(&udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000, 10));
        assert_eq!(
            a,
            flow_id(&udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 2000, 500))
        );
        assert_ne!(
            a,
            flow_id(&udp4([10, 0, 0, 1], [10, 0, 0, 2], 1001, 2000, 10))
        );
        assert_ne!(
            a,
            flow_id(&udp4([10, 0, 0, 1], [10, 0, 0, 3], 1000, 2000, 10))
        );
        assert_ne!(a, flow_id(&arp()));
        // Truncated frames still get an id, without panicking.
        for n in 0..40 {
            let _ = flow_id(&udp4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 0)[..n]);
        }
    }

    #[test]
    fn icmp_echo_id_does_not_change_the_flow() {
        let mut f = udp4([10, 0, 0, 1], [10, 0, 0, 2], 0, 0, 10);
        f[ETH_HLEN + 9] = 1;
        f[ETH_HLEN + 20] = 8;
        let a = flow_id(&f);
        f[ETH_HLEN + 24] = 0x12; // echo identifier
        assert_eq!(a, flow_id(&f));
    }
}
