//! Reading a DHCP server's `dhcp:` mapping (on a node of `kind: dhcp`,
//! or any host) into a [`DhcpServer`].
//!
//! ```yaml
//! dhcp1:
//!   kind: dhcp                     # a host that runs nlab's DHCP server
//!   dhcp:
//!     iface: eth0                  # optional: the node's only interface
//!     pool: 10.0.0.100-10.0.0.199  # inside the interface's subnet
//!     lease: 1h                    # seconds or 90s/10m/2h/1d (default 1h)
//!     router: 10.0.0.1             # option 3
//!     dns: [10.0.0.53]             # option 6
//!     domain: lab.test             # option 15
//!     mtu: 1400                    # option 26
//!     routes:                      # option 121 (classless static routes)
//!       - {dst: 10.9.0.0/16, via: 10.0.0.254}
//!     reservations:
//!       - {mac: "02:00:00:00:01:01", ip: 10.0.0.10}   # outside the pool
//!     relayed:                     # subnets behind routers with dhcp_relay: true
//!       - {subnet: 10.0.2.0/24, pool: 10.0.2.100-10.0.2.199, router: 10.0.2.1}
//! ```

use super::reader::Reader;
use super::yaml::YNode;
use crate::topo::dhcp::{
    parse_duration_secs, parse_range, DhcpClient, DhcpServer, Reservation, Scope,
};
use std::net::{IpAddr, Ipv4Addr};

const SERVER_KEYS: &[&str] = &[
    "iface",
    "pool",
    "lease",
    "router",
    "dns",
    "domain",
    "mtu",
    "routes",
    "reservations",
    "relayed",
];
const SCOPE_KEYS: &[&str] = &[
    "subnet",
    "pool",
    "lease",
    "router",
    "dns",
    "domain",
    "mtu",
    "routes",
    "reservations",
];
const RESERVATION_KEYS: &[&str] = &["mac", "ip"];
const ROUTE_KEYS: &[&str] = &["dst", "via"];

impl Reader<'_> {
    pub fn dhcp_server(&mut self, n: &YNode, node: &str) -> Option<DhcpServer> {
        let what = format!("`dhcp` of `{node}`");
        let f = self.fields(n, &what, SERVER_KEYS);
        let iface = f.value("iface").and_then(|v| self.string(v, "`iface`"));
        let own = self.scope_fields(n, &f, &what, false)?;
        let mut scopes = vec![own];
        if let Some(list) = f.value("relayed") {
            for s in self.list(list, "`relayed`", false) {
                let f = self.fields(s, "a relayed subnet", SCOPE_KEYS);
                if let Some(sc) = self.scope_fields(s, &f, "a relayed subnet", true) {
                    scopes.push(sc);
                }
            }
        }
        Some(DhcpServer { iface, scopes })
    }

    fn scope_fields(
        &mut self,
        n: &YNode,
        f: &super::reader::Fields,
        what: &str,
        relayed: bool,
    ) -> Option<Scope> {
        let subnet = match f.value("subnet") {
            Some(v) => self.net(v, "`subnet`"),
            None if relayed && !f.misspelled("subnet") => {
                self.err(
                    n.loc,
                    format!("{what} needs `subnet`"),
                    Some("e.g. `subnet: 10.0.2.0/24`".into()),
                );
                None
            }
            None => None,
        };
        let Some(pool_node) = f.value("pool") else {
            if !f.misspelled("pool") {
                self.err(
                    n.loc,
                    format!("{what} needs `pool`"),
                    Some("e.g. `pool: 10.0.0.100-10.0.0.199`".into()),
                );
            }
            return None;
        };
        let text = self.string(pool_node, "`pool`")?;
        let pool = match parse_range(&text) {
            Ok(p) => p,
            Err(e) => {
                self.err(pool_node.loc, format!("`pool`: {e}"), None);
                return None;
            }
        };
        let mut s = Scope::new(pool.0, pool.1);
        s.subnet = subnet;
        s.loc = n.loc;
        s.pool_loc = pool_node.loc;
        if let Some(v) = f.value("lease") {
            let t = self.string(v, "`lease`").unwrap_or_default();
            match parse_duration_secs(&t) {
                Ok(secs) => s.lease_secs = secs,
                Err(e) => self.err(v.loc, format!("`lease`: {e}"), None),
            }
        }
        s.router = f.value("router").and_then(|v| self.v4(v, "`router`"));
        if let Some(v) = f.value("dns") {
            s.dns = self
                .list(v, "`dns`", true)
                .into_iter()
                .filter_map(|d| self.v4(d, "`dns`"))
                .collect();
        }
        s.domain = f.value("domain").and_then(|v| self.string(v, "`domain`"));
        s.mtu = f
            .value("mtu")
            .and_then(|v| self.mtu(v, "`mtu`"))
            .and_then(|m| u16::try_from(m).ok());
        if let Some(v) = f.value("routes") {
            for r in self.list(v, "`routes`", false) {
                let rf = self.fields(r, "a DHCP route", ROUTE_KEYS);
                let dst = rf.value("dst").and_then(|d| self.net(d, "`dst`"));
                let via = rf.value("via").and_then(|d| self.v4(d, "`via`"));
                match (dst, via) {
                    (Some(d), Some(v)) if d.is_ipv4() => s.routes.push((d, v)),
                    (Some(_), Some(_)) => {
                        self.err(r.loc, "DHCPv4 routes are IPv4 only".to_string(), None)
                    }
                    _ => self.err(
                        r.loc,
                        "a DHCP route needs `dst` and `via`".to_string(),
                        Some("e.g. {dst: 10.9.0.0/16, via: 10.0.0.254}".into()),
                    ),
                }
            }
        }
        if let Some(v) = f.value("reservations") {
            for r in self.list(v, "`reservations`", false) {
                let rf = self.fields(r, "a reservation", RESERVATION_KEYS);
                let mac = rf
                    .value("mac")
                    .and_then(|m| self.mac(m, "reservation `mac`"));
                let ip = rf.value("ip").and_then(|i| self.v4(i, "reservation `ip`"));
                match (mac, ip) {
                    (Some(mac), Some(ip)) => s.reservations.push(Reservation {
                        mac,
                        ip,
                        loc: r.loc,
                    }),
                    (None, _) if rf.value("mac").is_some() => {}
                    (_, None) if rf.value("ip").is_some() => {}
                    _ => self.err(
                        r.loc,
                        "a reservation needs `mac` and `ip`".to_string(),
                        Some(r#"e.g. {mac: "02:00:00:00:01:01", ip: 10.0.0.10}"#.into()),
                    ),
                }
            }
        }
        Some(s)
    }

    /// A plain IPv4 address.
    fn v4(&mut self, n: &YNode, what: &str) -> Option<Ipv4Addr> {
        match self.ip(n, what)? {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => {
                self.err(
                    n.loc,
                    format!(
                        "{what} takes an IPv4 address, not {a} (DHCPv4 only; IPv6 hosts use SLAAC)"
                    ),
                    None,
                );
                None
            }
        }
    }

    /// `dhcp_client: builtin | dhclient | udhcpc`.
    pub fn dhcp_client(&mut self, n: &YNode) -> Option<DhcpClient> {
        let t = self.string(n, "`dhcp_client`")?;
        match t.as_str() {
            "builtin" | "nlab" => Some(DhcpClient::Builtin),
            "dhclient" => Some(DhcpClient::Dhclient),
            "udhcpc" => Some(DhcpClient::Udhcpc),
            other => {
                self.err(
                    n.loc,
                    format!("unknown `dhcp_client` `{other}`"),
                    Some("use builtin (nlab's own), dhclient or udhcpc".into()),
                );
                None
            }
        }
    }
}
