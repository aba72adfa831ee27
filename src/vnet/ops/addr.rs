//! Address arithmetic for subnets and ports: CIDRs, allocation pools,
//! the next free address, SLAAC addresses, Neutron-style MACs.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::vnet::model::Pool;
use crate::vnet::ops::{fill_random, Fault};

/// An address, or 400 `InvalidInput` naming `what`.
pub(crate) fn parse_ip(s: &str, what: &str) -> Result<IpAddr, Fault> {
    s.parse().map_err(|_| {
        Fault::invalid(
            "InvalidInput",
            format!("Invalid input for {what}. Reason: '{s}' is not a valid IP address."),
        )
    })
}

/// A CIDR whose host bits are zero, or 400 naming `what`.
pub(crate) fn parse_cidr(s: &str, what: &str) -> Result<IpNet, Fault> {
    let net: IpNet = s.parse().map_err(|_| {
        Fault::invalid(
            "InvalidInput",
            format!("Invalid input for {what}. Reason: '{s}' is not a valid IP subnet."),
        )
    })?;
    if net.trunc() != net {
        return Err(Fault::invalid(
            "InvalidInput",
            format!(
                "Invalid input for {what}. Reason: '{s}' isn't a recommended CIDR, '{}' is recommended.",
                net.trunc()
            ),
        ));
    }
    Ok(net)
}

/// The address as a number (IPv4 in the low 32 bits).
pub(crate) fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The number as an address of the family `v6` says.
pub(crate) fn ip(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    }
}

/// Neutron's default pool: the whole subnet but its network address (and
/// for IPv4 its broadcast address), split around the gateway.
pub(crate) fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Pool> {
    let v6 = matches!(net, IpNet::V6(_));
    let first = num(net.network()) + 1;
    let last = num(net.broadcast()) - u128::from(!v6);
    let full = net.prefix_len() >= net.max_prefix_len() - 1;
    let (first, last) = if full {
        (num(net.network()), num(net.broadcast()))
    } else {
        (first, last)
    };
    let mut ranges = vec![(first, last)];
    if let Some(g) = gateway.map(num) {
        ranges = ranges
            .into_iter()
            .flat_map(|(a, b)| {
                if g < a || g > b {
                    vec![(a, b)]
                } else {
                    let mut v = Vec::new();
                    if g > a {
                        v.push((a, g - 1));
                    }
                    if g < b {
                        v.push((g + 1, b));
                    }
                    v
                }
            })
            .collect();
    }
    ranges
        .into_iter()
        .map(|(a, b)| Pool {
            start: ip(a, v6).to_string(),
            end: ip(b, v6).to_string(),
        })
        .collect()
}

/// Checks `pools` against the subnet `net` and its gateway: each inside
/// the subnet, start ≤ end, no two overlapping, the gateway in none.
pub(crate) fn check_pools(
    net: &IpNet,
    pools: &[Pool],
    gateway: Option<IpAddr>,
) -> Result<Vec<(u128, u128)>, Fault> {
    let mut ranges = Vec::new();
    for p in pools {
        let a = parse_ip(&p.start, "allocation_pools")?;
        let b = parse_ip(&p.end, "allocation_pools")?;
        if !net.contains(&a) || !net.contains(&b) {
            return Err(Fault::invalid(
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {}-{} spans beyond the subnet cidr {net}.",
                    p.start, p.end
                ),
            ));
        }
        if num(a) > num(b) {
            return Err(Fault::invalid(
                "InvalidAllocationPool",
                format!(
                    "The allocation pool {}-{} is not valid: its start is after its end.",
                    p.start, p.end
                ),
            ));
        }
        ranges.push((num(a), num(b), p));
    }
    for (i, x) in ranges.iter().enumerate() {
        for y in &ranges[i + 1..] {
            if x.0 <= y.1 && y.0 <= x.1 {
                return Err(Fault::invalid(
                    "OverlappingAllocationPools",
                    format!(
                        "Found overlapping allocation pools: {}-{} and {}-{} for subnet {net}.",
                        x.2.start, x.2.end, y.2.start, y.2.end
                    ),
                ));
            }
        }
        if let Some(g) = gateway.map(num) {
            if x.0 <= g && g <= x.1 {
                return Err(Fault::conflict(
                    "GatewayConflictWithAllocationPools",
                    format!(
                        "Gateway ip {} conflicts with allocation pool {}-{}.",
                        ip(g, matches!(net, IpNet::V6(_))),
                        x.2.start,
                        x.2.end
                    ),
                ));
            }
        }
    }
    Ok(ranges.into_iter().map(|(a, b, _)| (a, b)).collect())
}

/// The pools of a stored subnet as number ranges.
pub(crate) fn pool_ranges(pools: &[Pool]) -> Vec<(u128, u128)> {
    pools
        .iter()
        .filter_map(|p| Some((num(p.start.parse().ok()?), num(p.end.parse().ok()?))))
        .collect()
}

/// The lowest address of `ranges` not in `used`.
pub(crate) fn first_free(ranges: &[(u128, u128)], used: &HashSet<u128>) -> Option<u128> {
    for &(a, b) in ranges {
        let mut n = a;
        while n <= b {
            if !used.contains(&n) {
                return Some(n);
            }
            if n == u128::MAX {
                break;
            }
            n += 1;
        }
    }
    None
}

/// The SLAAC (EUI-64) address of `mac` in the /64 `net`.
pub(crate) fn eui64(net: &IpNet, mac: &str) -> Option<IpAddr> {
    let b: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    if b.len() != 6 {
        return None;
    }
    let iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let iid = u128::from(u64::from_be_bytes(iid));
    Some(ip(num(net.network()) | iid, true))
}

/// A new MAC in Neutron's default base `fa:16:3e:..:..:..`.
pub(crate) fn new_mac() -> String {
    let mut b = [0u8; 3];
    fill_random(&mut b);
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// A MAC as Neutron stores it (lowercase, `:`-separated), or 400.
pub(crate) fn normalize_mac(s: &str) -> Result<String, Fault> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(Fault::invalid(
            "InvalidInput",
            format!("Invalid input for mac_address. Reason: '{s}' is not a valid MAC address."),
        ));
    }
    let first = u8::from_str_radix(parts[0], 16).unwrap_or(1);
    if first & 1 == 1 || parts.iter().all(|p| *p == "00") {
        return Err(Fault::invalid(
            "InvalidInput",
            format!(
                "Invalid input for mac_address. Reason: '{s}' is not a valid unicast MAC address."
            ),
        ));
    }
    Ok(parts.join(":").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("cidr")
    }

    #[test]
    fn default_pools_leave_out_network_broadcast_and_gateway() {
        let n = net("10.0.0.0/24");
        let g = Some("10.0.0.1".parse().expect("ip"));
        assert_eq!(
            default_pools(&n, g),
            [Pool {
                start: "10.0.0.2".into(),
                end: "10.0.0.254".into()
            }]
        );
        let g = Some("10.0.0.100".parse().expect("ip"));
        assert_eq!(default_pools(&n, g).len(), 2);
        let v6 = default_pools(&net("2001:db8::/64"), None);
        assert_eq!(v6[0].start, "2001:db8::1");
        assert_eq!(v6[0].end, "2001:db8::ffff:ffff:ffff:ffff");
    }

    #[test]
    fn pools_are_checked() {
        let n = net("10.0.0.0/24");
        let p = |a: &str, b: &str| Pool {
            start: a.into(),
            end: b.into(),
        };
        assert!(check_pools(
            &n,
            &[p("10.0.0.2", "10.0.0.9"), p("10.0.0.10", "10.0.0.20")],
            None
        )
        .is_ok());
        let kind = |r: Result<_, Fault>| r.map_err(|f| f.kind).err();
        assert_eq!(
            kind(check_pools(
                &n,
                &[p("10.0.0.2", "10.0.0.9"), p("10.0.0.9", "10.0.0.20")],
                None
            ))
            .as_deref(),
            Some("OverlappingAllocationPools")
        );
        assert_eq!(
            kind(check_pools(&n, &[p("10.0.0.2", "10.0.1.9")], None)).as_deref(),
            Some("OutOfBoundsAllocationPool")
        );
        assert_eq!(
            kind(check_pools(&n, &[p("10.0.0.9", "10.0.0.2")], None)).as_deref(),
            Some("InvalidAllocationPool")
        );
        let g = Some("10.0.0.5".parse().expect("ip"));
        assert_eq!(
            kind(check_pools(&n, &[p("10.0.0.2", "10.0.0.9")], g)).as_deref(),
            Some("GatewayConflictWithAllocationPools")
        );
    }

    #[test]
    fn cidrs_macs_and_slaac() {
        assert!(parse_cidr("10.0.0.1/24", "cidr").is_err());
        assert!(parse_cidr("10.0.0.0/24", "cidr").is_ok());
        assert!(parse_cidr("banana", "cidr").is_err());
        assert_eq!(
            normalize_mac("FA:16:3E:00:00:01").ok().as_deref(),
            Some("fa:16:3e:00:00:01")
        );
        assert!(normalize_mac("01:00:00:00:00:01").is_err());
        assert!(new_mac().starts_with("fa:16:3e:"));
        let a = eui64(&net("2001:db8::/64"), "fa:16:3e:00:00:01").expect("eui64");
        assert_eq!(a.to_string(), "2001:db8::f816:3eff:fe00:1");
        let used: HashSet<u128> = [1u128, 2].into_iter().collect();
        assert_eq!(first_free(&[(1, 3)], &used), Some(3));
        assert_eq!(first_free(&[(1, 2)], &used), None);
    }
}
