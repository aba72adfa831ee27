//! Router advertisement and solicitation messages (RFC 4861 4.1, 4.2,
//! 4.6; RDNSS from RFC 8106 5.1): building and reading the ICMPv6 body.
//! The reader serves the tests, which check what we build against RFC 4861.
//! Pure: the checksum is left 0 because the kernel fills it in for raw
//! ICMPv6 sockets (RFC 3542 3.1).

use crate::topo::ra::Advert;
#[cfg(test)]
use crate::topo::IpNet;
use crate::topo::MacAddr;
use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv6Addr;

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;
const OPT_SOURCE_LL: u8 = 1;
const OPT_PREFIX: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
/// Prefix flags: on-link (L) and autonomous address configuration (A).
const FLAG_ON_LINK: u8 = 0x80;
const FLAG_AUTONOMOUS: u8 = 0x40;
/// AdvCurHopLimit: what hosts use for their own packets (the Internet's
/// usual 64, RFC 4861 6.2.1 suggests the IANA default).
const CUR_HOP_LIMIT: u8 = 64;

/// An advertisement as read back from the wire.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub cur_hop_limit: u8,
    pub managed: bool,
    pub other: bool,
    pub router_lifetime: u16,
    pub reachable_time: u32,
    pub retrans_timer: u32,
    pub source_ll: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub prefixes: Vec<DecodedPrefix>,
    /// (lifetime, servers) of each RDNSS option.
    pub rdnss: Vec<(u32, Vec<Ipv6Addr>)>,
}

#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPrefix {
    pub prefix: IpNet,
    pub on_link: bool,
    pub autonomous: bool,
    pub valid: u32,
    pub preferred: u32,
}

/// The ICMPv6 body of `a`'s advertisement sent from an interface with
/// MAC `mac`. `router_lifetime` overrides the advert's (0 in a final
/// advertisement, RFC 4861 6.2.5).
pub fn advertisement(a: &Advert, mac: Option<MacAddr>, router_lifetime: Option<u32>) -> Vec<u8> {
    let life = router_lifetime.unwrap_or(a.router_lifetime);
    let life = u16::try_from(life).unwrap_or(u16::MAX);
    let mut b = vec![ROUTER_ADVERTISEMENT, 0, 0, 0, CUR_HOP_LIMIT, 0];
    b.extend_from_slice(&life.to_be_bytes());
    // Reachable time and retrans timer: 0 = unspecified, hosts keep theirs.
    b.extend_from_slice(&[0; 8]);
    if let Some(m) = mac {
        b.extend_from_slice(&[OPT_SOURCE_LL, 1]);
        b.extend_from_slice(&m.0);
    }
    if let Some(mtu) = a.mtu {
        b.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
        b.extend_from_slice(&mtu.to_be_bytes());
    }
    for p in &a.prefixes {
        let IpAddr::V6(net) = p.network() else {
            continue;
        };
        b.extend_from_slice(&[OPT_PREFIX, 4, p.prefix, FLAG_ON_LINK | FLAG_AUTONOMOUS]);
        b.extend_from_slice(&a.valid_lifetime.to_be_bytes());
        b.extend_from_slice(&a.preferred_lifetime.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&net.octets());
    }
    if !a.rdnss.is_empty() {
        // Length in units of 8 octets: 8 of header and 16 per server.
        let len = u8::try_from(1 + 2 * a.rdnss.len()).unwrap_or(u8::MAX);
        b.extend_from_slice(&[OPT_RDNSS, len, 0, 0]);
        b.extend_from_slice(&a.rdnss_lifetime.to_be_bytes());
        for s in a.rdnss.iter().take(usize::from((u8::MAX - 1) / 2)) {
            b.extend_from_slice(&s.octets());
        }
    }
    b
}

/// Walks the options after a fixed header of `fixed` bytes: (type, body
/// without type and length). An option of length 0 makes the message
/// invalid (RFC 4861 4.6).
fn options(b: &[u8], fixed: usize) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    let mut at = fixed;
    while at < b.len() {
        let (Some(&t), Some(&len)) = (b.get(at), b.get(at + 1)) else {
            return Err(format!("option header cut short at byte {at}"));
        };
        let end = at + 8 * usize::from(len);
        if len == 0 || end > b.len() {
            return Err(format!("option {t} at byte {at} has a bad length {len}"));
        }
        out.push((t, &b[at + 2..end]));
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

#[cfg(test)]
fn v6(b: &[u8], at: usize) -> Ipv6Addr {
    let mut w = [0; 16];
    w.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(w)
}

/// Reads an advertisement's ICMPv6 body, checking what RFC 4861 4.2 and
/// 6.1.2 ask of it (type, code, length, option lengths).
#[cfg(test)]
pub fn decode(b: &[u8]) -> Result<Decoded, String> {
    if b.len() < 16 {
        return Err(format!(
            "{} bytes is too short for an advertisement",
            b.len()
        ));
    }
    if b[0] != ROUTER_ADVERTISEMENT || b[1] != 0 {
        return Err(format!(
            "type {} code {} is no router advertisement",
            b[0], b[1]
        ));
    }
    let mut d = Decoded {
        cur_hop_limit: b[4],
        managed: b[5] & 0x80 != 0,
        other: b[5] & 0x40 != 0,
        router_lifetime: u16::from_be_bytes([b[6], b[7]]),
        reachable_time: be32(b, 8),
        retrans_timer: be32(b, 12),
        ..Decoded::default()
    };
    for (t, body) in options(b, 16)? {
        match t {
            OPT_SOURCE_LL if body.len() >= 6 => {
                let mut m = [0; 6];
                m.copy_from_slice(&body[..6]);
                d.source_ll = Some(m);
            }
            OPT_MTU => d.mtu = Some(be32(body, 2)),
            OPT_PREFIX if body.len() == 30 => d.prefixes.push(DecodedPrefix {
                prefix: IpNet {
                    addr: IpAddr::V6(v6(body, 14)),
                    prefix: body[0],
                },
                on_link: body[1] & FLAG_ON_LINK != 0,
                autonomous: body[1] & FLAG_AUTONOMOUS != 0,
                valid: be32(body, 2),
                preferred: be32(body, 6),
            }),
            OPT_PREFIX => return Err(format!("prefix option of {} bytes", body.len() + 2)),
            OPT_RDNSS if body.len() >= 22 => {
                let servers = body[6..].chunks_exact(16).map(|c| v6(c, 0)).collect();
                d.rdnss.push((be32(body, 2), servers));
            }
            OPT_RDNSS => return Err("RDNSS option without a server".into()),
            // Unknown options are skipped (RFC 4861 4.6).
            _ => {}
        }
    }
    Ok(d)
}

/// Whether `b` is a valid router solicitation (RFC 4861 6.1.1: type,
/// code 0, at least 8 bytes, every option with a nonzero length). The
/// hop limit of 255 is checked by the caller, which has the header.
pub fn is_solicitation(b: &[u8]) -> bool {
    b.len() >= 8 && b[0] == ROUTER_SOLICITATION && b[1] == 0 && options(b, 8).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert() -> Advert {
        Advert {
            node: "r1".into(),
            iface: "eth1".into(),
            prefixes: vec!["fd00:1::/64".parse().expect("net")],
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
            router_lifetime: 1800,
            rdnss: vec![
                "fd00:1::53".parse().expect("ip"),
                "fd00:1::54".parse().expect("ip"),
            ],
            rdnss_lifetime: 1800,
            mtu: Some(1400),
            interval: 600,
        }
    }

    #[test]
    fn an_advertisement_reads_back_field_by_field() {
        let mac: MacAddr = "02:00:00:00:00:01".parse().expect("mac");
        let b = advertisement(&advert(), Some(mac), None);
        // 16 header + 8 SLLA + 8 MTU + 32 prefix + 8 + 2×16 RDNSS.
        assert_eq!(b.len(), 16 + 8 + 8 + 32 + 40);
        let d = decode(&b).expect("decodes");
        assert_eq!(d.cur_hop_limit, 64);
        assert!(!d.managed && !d.other, "SLAAC only: no DHCPv6 flags");
        assert_eq!(d.router_lifetime, 1800);
        assert_eq!(d.source_ll, Some(mac.0));
        assert_eq!(d.mtu, Some(1400));
        assert_eq!(
            d.prefixes,
            vec![DecodedPrefix {
                prefix: "fd00:1::/64".parse().expect("net"),
                on_link: true,
                autonomous: true,
                valid: 86400,
                preferred: 14400,
            }]
        );
        assert_eq!(d.rdnss, vec![(1800, advert().rdnss)]);
    }

    #[test]
    fn exact_bytes_of_a_minimal_advertisement() {
        let mut a = advert();
        a.rdnss.clear();
        a.mtu = None;
        let b = advertisement(&a, None, Some(0));
        let mut want = vec![134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&[3, 4, 64, 0xc0]);
        want.extend_from_slice(&86400u32.to_be_bytes());
        want.extend_from_slice(&14400u32.to_be_bytes());
        want.extend_from_slice(&[0; 4]);
        want.extend_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(b, want, "a final advertisement has router lifetime 0");
    }

    #[test]
    fn host_bits_of_a_prefix_are_cleared() {
        let mut a = advert();
        a.prefixes = vec!["fd00:1::1/64".parse().expect("net")];
        let d = decode(&advertisement(&a, None, None)).expect("decodes");
        assert_eq!(d.prefixes[0].prefix, "fd00:1::/64".parse().expect("net"));
    }

    #[test]
    fn bad_messages_are_refused() {
        let good = advertisement(&advert(), None, None);
        assert!(decode(&good[..10]).is_err());
        let mut zero_len = good.clone();
        zero_len[17] = 0;
        assert!(decode(&zero_len).unwrap_err().contains("bad length 0"));
        let mut long = good.clone();
        long[17] = 200;
        assert!(decode(&long).is_err());
        let mut rs = good;
        rs[0] = ROUTER_SOLICITATION;
        assert!(decode(&rs).is_err());
    }

    #[test]
    fn solicitations_are_recognised() {
        let mut rs = vec![133, 0, 0, 0, 0, 0, 0, 0];
        assert!(is_solicitation(&rs));
        rs.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 9]);
        assert!(is_solicitation(&rs));
        rs[9] = 0;
        assert!(!is_solicitation(&rs), "an option of length 0");
        assert!(!is_solicitation(&[133, 1, 0, 0, 0, 0, 0, 0]), "code 1");
        assert!(!is_solicitation(&[133, 0, 0, 0]), "too short");
        assert!(!is_solicitation(&[134, 0, 0, 0, 0, 0, 0, 0]));
    }
}
