//! One line about a packet, in tcpdump's words where it has them:
//! `IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64`.
//! Ethernet, 802.1Q, ARP, IPv4, IPv6, ICMP, ICMPv6, TCP and UDP; anything
//! else by its EtherType or protocol number.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `HH:MM:SS.uuuuuu` (UTC) of a time in ns since the epoch.
pub fn clock(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        ts_ns % 1_000_000_000 / 1000
    )
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What the packet is; `orig_len` is its length on the wire.
pub fn describe(data: &[u8], orig_len: u32) -> String {
    let Some(mut ethertype) = be16(data, 12) else {
        return format!("truncated frame, length {orig_len}");
    };
    let mut at = 14;
    let mut out = String::new();
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        let (Some(tci), Some(next)) = (be16(data, at), be16(data, at + 2)) else {
            return format!("truncated 802.1Q frame, length {orig_len}");
        };
        let _ = write!(out, "vlan {}, ", tci & 0x0fff);
        ethertype = next;
        at += 4;
    }
    let rest = &data[at.min(data.len())..];
    let body = match ethertype {
        0x0806 => arp(rest),
        0x0800 => ipv4(rest),
        0x86dd => ipv6(rest),
        t => Some(format!("ethertype 0x{t:04x}, length {orig_len}")),
    };
    out.push_str(&body.unwrap_or_else(|| format!("truncated packet, length {orig_len}")));
    out
}

fn arp(b: &[u8]) -> Option<String> {
    let op = be16(b, 6)?;
    let sha = b.get(8..14)?;
    let spa = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(14..18)?).ok()?);
    let tpa = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(24..28)?).ok()?);
    Some(match op {
        1 => format!(
            "ARP, Request who-has {tpa} tell {spa}, length {}",
            b.len().min(28)
        ),
        2 => format!(
            "ARP, Reply {spa} is-at {}, length {}",
            mac(sha),
            b.len().min(28)
        ),
        o => format!("ARP, op {o}"),
    })
}

fn ipv4(b: &[u8]) -> Option<String> {
    let ihl = usize::from(b.first()? & 0x0f) * 4;
    let total = usize::from(be16(b, 2)?);
    let proto = *b.get(9)?;
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(16..20)?).ok()?);
    let l4 = b.get(ihl..)?;
    let len = total.saturating_sub(ihl);
    Some(transport(
        "IP",
        &src.to_string(),
        &dst.to_string(),
        proto,
        l4,
        len,
    ))
}

fn ipv6(b: &[u8]) -> Option<String> {
    let len = usize::from(be16(b, 4)?);
    let next = *b.get(6)?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(b.get(24..40)?).ok()?);
    Some(transport(
        "IP6",
        &src.to_string(),
        &dst.to_string(),
        next,
        b.get(40..)?,
        len,
    ))
}

fn transport(ip: &str, src: &str, dst: &str, proto: u8, l4: &[u8], len: usize) -> String {
    let ports = || Some((be16(l4, 0)?, be16(l4, 2)?));
    match (proto, ports()) {
        (6, Some((sp, dp))) => {
            let flags = l4.get(13).copied().unwrap_or(0);
            let off = usize::from(l4.get(12).copied().unwrap_or(0) >> 4) * 4;
            format!(
                "{ip} {src}.{sp} > {dst}.{dp}: Flags [{}], length {}",
                tcp_flags(flags),
                len.saturating_sub(off)
            )
        }
        (17, Some((sp, dp))) => {
            format!(
                "{ip} {src}.{sp} > {dst}.{dp}: UDP, length {}",
                len.saturating_sub(8)
            )
        }
        (1, _) => format!("{ip} {src} > {dst}: ICMP {}, length {len}", icmp(l4, false)),
        (58, _) => format!(
            "{ip} {src} > {dst}: ICMP6, {}, length {len}",
            icmp(l4, true)
        ),
        (2, _) => format!("{ip} {src} > {dst}: igmp, length {len}"),
        (p, _) => format!("{ip} {src} > {dst}: ip-proto-{p}, length {len}"),
    }
}

fn tcp_flags(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x20, 'U'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if f & 0x10 != 0 {
        s.push('.');
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

fn icmp(b: &[u8], v6: bool) -> String {
    let (Some(&t), id, seq) = (b.first(), be16(b, 4), be16(b, 6)) else {
        return "truncated".into();
    };
    let echo = |what: &str| match (id, seq) {
        (Some(id), Some(seq)) => format!("echo {what}, id {id}, seq {seq}"),
        _ => format!("echo {what}"),
    };
    match (v6, t) {
        (false, 8) | (true, 128) => echo("request"),
        (false, 0) | (true, 129) => echo("reply"),
        (false, 3) => "unreachable".into(),
        (false, 11) | (true, 3) => "time exceeded".into(),
        (true, 1) => "destination unreachable".into(),
        (true, 133) => "router solicitation".into(),
        (true, 134) => "router advertisement".into(),
        (true, 135) => "neighbor solicitation".into(),
        (true, 136) => "neighbor advertisement".into(),
        (true, 143) => "multicast listener report v2".into(),
        (_, t) => format!("type {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn says_what_tcpdump_says() {
        let mut ip = vec![
            0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend_from_slice(&[8, 0, 0, 0, 0, 7, 0, 1]);
        ip.resize(84, 0);
        assert_eq!(
            describe(&frame(0x0800, &ip), 98),
            "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64"
        );
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1];
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&[10, 0, 0, 2]);
        assert_eq!(
            describe(&frame(0x0806, &arp), 42),
            "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28"
        );
        let mut udp = vec![
            0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        udp.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 10, 0, 0, 1, 2]);
        assert_eq!(
            describe(&frame(0x0800, &udp), 44),
            "IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 2"
        );
        assert_eq!(
            describe(&frame(0x88cc, &[]), 60),
            "ethertype 0x88cc, length 60"
        );
        assert_eq!(describe(&[1, 2, 3], 3), "truncated frame, length 3");
        assert_eq!(clock(3_723_000_001_000), "01:02:03.000001");
    }
}
