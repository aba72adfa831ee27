//! Mininet's `mn` flags on `nlab up --topo`: `--ipbase` (before the lab
//! is built), `--arp` and `--test` (after).

use super::output::BadInput;
use crate::lab::Lab;
use crate::topo::{IpNet, Topology};
use anyhow::Context;
use std::net::{IpAddr, Ipv4Addr};

/// Where generated hosts are numbered from without `--ipbase`.
const MININET_BASE: u32 = 0x0a00_0000; // 10.0.0.0
const MININET_PREFIX: u8 = 8;

/// `--ipbase NET`: renumbers a generated topology's addresses (every
/// address of 10.0.0.0/8, gateways and route next hops included) as
/// Mininet numbers them from NET: host n gets NET + n with NET's prefix.
pub fn ipbase(t: &mut Topology, spec: &str) -> Result<(), BadInput> {
    let net: IpNet = spec.parse().map_err(|e| {
        BadInput(format!(
            "--ipbase {spec}: {e} (give an IPv4 network like 192.168.0.0/24)"
        ))
    })?;
    let IpAddr::V4(a) = net.addr else {
        return Err(BadInput(format!(
            "--ipbase {spec}: not an IPv4 network (IPv6 hosts: use a topology file)"
        )));
    };
    if net.prefix > 30 {
        return Err(BadInput(format!(
            "--ipbase {spec}: a /{} has no room for hosts; use /30 or shorter",
            net.prefix
        )));
    }
    let mask = u32::MAX
        .checked_shl(32 - u32::from(net.prefix))
        .unwrap_or(0);
    let base = u32::from(a) & mask;
    let capacity = (1u64 << (32 - net.prefix)) - 2;
    let map = |ip: IpAddr| -> Result<IpAddr, BadInput> {
        let IpAddr::V4(v4) = ip else { return Ok(ip) };
        let n = u32::from(v4).wrapping_sub(MININET_BASE);
        if u32::from(v4) & 0xff00_0000 != MININET_BASE || n == 0 {
            return Ok(ip);
        }
        if u64::from(n) > capacity {
            return Err(BadInput(format!(
                "--ipbase {spec}: has room for {capacity} host addresses, the topology needs address number {n}; use a larger network"
            )));
        }
        Ok(IpAddr::V4(Ipv4Addr::from(base + n)))
    };
    for l in &mut t.links {
        for e in &mut l.endpoints {
            for addr in &mut e.addrs {
                if addr.addr.is_ipv4() && addr.prefix == MININET_PREFIX {
                    addr.addr = map(addr.addr)?;
                    addr.prefix = net.prefix;
                }
            }
        }
    }
    for n in t.nodes.values_mut() {
        if let Some(g) = n.gateway {
            n.gateway = Some(map(g)?);
        }
        for r in &mut n.routes {
            if let Some(v) = r.via {
                r.via = Some(map(v)?);
            }
        }
    }
    Ok(())
}

/// `--arp`: static ARP entries for every host pair; says how many.
pub fn arp(lab: &Lab, quiet: bool) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let n = lab
        .static_arp()
        .with_context(|| format!("setting static ARP entries in lab {}", lab.name()))?;
    if !quiet {
        println!(
            "*** Static ARP: {n} permanent neighbour entries in {}",
            super::output::secs(start.elapsed())
        );
    }
    Ok(())
}

/// `--test NAME`: runs the test on the lab that is up; the exit code.
pub fn test(lab: Lab, name: &str, json: bool) -> anyhow::Result<i32> {
    match name {
        "none" => Ok(0),
        "pingall" => super::run::pingall_lab(&lab, 2.0, false, json),
        other => super::console::run_one(lab, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::generate::from_spec;

    #[test]
    fn ipbase_renumbers_hosts_and_gateways() {
        let mut t = from_spec("single,3", "ib", false).unwrap();
        ipbase(&mut t, "192.168.5.0/24").unwrap();
        let addrs: Vec<String> = t
            .links
            .iter()
            .flat_map(|l| l.endpoints.iter().flat_map(|e| e.addrs.iter()))
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            addrs,
            ["192.168.5.1/24", "192.168.5.2/24", "192.168.5.3/24"]
        );
        let mut t = from_spec("single,3", "ib", false).unwrap();
        let e = ipbase(&mut t, "192.168.5.0/31").unwrap_err();
        assert!(e.0.contains("/30 or shorter"), "{}", e.0);
        let mut t = from_spec("single,5", "ib", false).unwrap();
        let e = ipbase(&mut t, "192.168.5.0/30").unwrap_err();
        assert!(e.0.contains("room for 2 host addresses"), "{}", e.0);
        assert!(ipbase(&mut t, "fd00::/64").is_err());
    }
}
