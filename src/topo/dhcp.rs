//! DHCPv4 in the model: what a DHCP server node hands out (`dhcp:` on a
//! node, or `kind: dhcp`), plain data for the parser, the validator, the
//! journal and the supervisor's server. IPv6 addressing is SLAAC (router
//! advertisements); stateful DHCPv6 is not part of nlab.

use super::model::{IpNet, Loc, MacAddr};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Lease time when a scope names none: one hour, as dnsmasq's default.
pub const DEFAULT_LEASE_SECS: u32 = 3600;

/// A DHCP server node's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhcpServer {
    /// The interface it listens on; `None`: the node's only interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// The first scope serves the server's own segment (its subnet is the
    /// interface's address); the others serve subnets behind relays
    /// (`giaddr`), each naming its `subnet`.
    pub scopes: Vec<Scope>,
}

/// One subnet's addresses and options.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scope {
    /// `None` for the server's own segment (taken from its interface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IpNet>,
    /// First and last address handed out, inclusive.
    pub pool: (Ipv4Addr, Ipv4Addr),
    /// How long a lease lasts, in seconds (the file's `lease: 1h`);
    /// [`DEFAULT_LEASE_SECS`] when not given.
    pub lease_secs: u32,
    /// The default gateway handed out (option 3, the file's `router`);
    /// `None` hands out none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Ipv4Addr>,
    /// Name servers handed out (option 6, the file's `dns`); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    /// The DNS domain handed out (option 15, the file's `domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The interface MTU handed out, in bytes (option 26, the file's
    /// `mtu`); `None`: clients keep their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Classless static routes (option 121): destination, next hop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<(IpNet, Ipv4Addr)>,
    /// Fixed addresses for given MACs (the file's `reservations`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<Reservation>,
    /// Serve only the MACs of `reservations` (dnsmasq's `static` mode, as
    /// Neutron runs it): the pool hands out nothing, and reservations may
    /// lie inside it. Set by virtual networks, not by files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reserved_only: bool,
    /// Where the scope was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
    /// Where its `pool` was written (file parser only), for errors.
    #[serde(default, skip)]
    pub pool_loc: Loc,
}

impl PartialEq for Scope {
    fn eq(&self, o: &Self) -> bool {
        self.subnet == o.subnet
            && self.pool == o.pool
            && self.lease_secs == o.lease_secs
            && self.router == o.router
            && self.dns == o.dns
            && self.domain == o.domain
            && self.mtu == o.mtu
            && self.routes == o.routes
            && self.reservations == o.reservations
            && self.reserved_only == o.reserved_only
    }
}

impl Scope {
    /// A scope handing out `first..=last` with default options.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Scope {
        Scope {
            subnet: None,
            pool: (first, last),
            lease_secs: DEFAULT_LEASE_SECS,
            router: None,
            dns: Vec::new(),
            domain: None,
            mtu: None,
            routes: Vec::new(),
            reservations: Vec::new(),
            reserved_only: false,
            loc: Loc::default(),
            pool_loc: Loc::default(),
        }
    }

    /// Whether `ip` is in the pool's range.
    pub fn in_pool(&self, ip: Ipv4Addr) -> bool {
        (self.pool.0..=self.pool.1).contains(&ip)
    }

    /// The number of addresses in the pool.
    pub fn pool_size(&self) -> u64 {
        u64::from(u32::from(self.pool.1)).saturating_sub(u64::from(u32::from(self.pool.0))) + 1
    }
}

/// A fixed address for one MAC.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    /// The client's hardware address.
    pub mac: MacAddr,
    /// The address it always gets: inside the scope's subnet, outside its
    /// pool.
    pub ip: Ipv4Addr,
    /// Where it was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

impl PartialEq for Reservation {
    fn eq(&self, o: &Self) -> bool {
        self.mac == o.mac && self.ip == o.ip
    }
}

/// How a host with `ip: dhcp` gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DhcpClient {
    /// nlab's own client, run by the lab's supervisor (no process per host).
    #[default]
    Builtin,
    /// ISC `dhclient`, started in the host's namespace.
    Dhclient,
    /// busybox `udhcpc`, started in the host's namespace.
    Udhcpc,
}

impl DhcpClient {
    /// How `dhcp_client:` spells it in a topology file.
    pub fn key(self) -> &'static str {
        match self {
            DhcpClient::Builtin => "builtin",
            DhcpClient::Dhclient => "dhclient",
            DhcpClient::Udhcpc => "udhcpc",
        }
    }
}

/// Parses `A-B` (an address range, both ends included).
pub fn parse_range(s: &str) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let (a, b) = s.split_once('-').ok_or_else(|| {
        format!("`{s}` is not an address range; write `FIRST-LAST`, e.g. `10.0.0.100-10.0.0.199`")
    })?;
    let ip = |t: &str| {
        t.trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("`{}` in range `{s}` is not an IPv4 address", t.trim()))
    };
    let (a, b) = (ip(a)?, ip(b)?);
    if a > b {
        return Err(format!(
            "range `{s}` ends before it starts; write `{b}-{a}`"
        ));
    }
    Ok((a, b))
}

/// Parses a lease time: seconds, or with a unit (`90s`, `10m`, `2h`, `1d`).
pub fn parse_duration_secs(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86_400),
        _ => (t, 1),
    };
    let n: u32 = num.trim().parse().map_err(|_| {
        format!("`{s}` is not a lease time; write seconds or e.g. `90s`, `10m`, `2h`")
    })?;
    let v = n
        .checked_mul(mul)
        .ok_or_else(|| format!("lease time `{s}` is too long"))?;
    if v < 10 {
        return Err(format!(
            "lease time `{s}` is shorter than 10 s; clients would do little but renew"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_durations_parse() {
        let (a, b) = parse_range("10.0.0.100-10.0.0.199").expect("range");
        assert_eq!(
            (a, b),
            ("10.0.0.100".parse().unwrap(), "10.0.0.199".parse().unwrap())
        );
        assert!(parse_range("10.0.0.9-10.0.0.1").is_err());
        assert!(parse_range("10.0.0.1").is_err());
        assert!(parse_range("10.0.0.1-x").is_err());
        assert_eq!(parse_duration_secs("2h"), Ok(7200));
        assert_eq!(parse_duration_secs("600"), Ok(600));
        assert_eq!(parse_duration_secs("1d"), Ok(86_400));
        assert!(parse_duration_secs("5s").is_err());
        assert!(parse_duration_secs("soon").is_err());
        let s = Scope::new(a, b);
        assert_eq!(s.pool_size(), 100);
        assert!(s.in_pool(a) && s.in_pool(b) && !s.in_pool("10.0.0.200".parse().unwrap()));
    }
}
