//! Reading a router's `ipv6_ra:` and a host's `ip6:` into the model
//! ([`Ra`], `Node::ip6_auto`). Only types are checked here; what the
//! values mean for the topology (a /64, lifetimes in order, interfaces the
//! router has) is checked in `validate::ra`, for every source.
//!
//! ```yaml
//! r1:
//!   kind: router
//!   ipv6_ra: true                  # every interface with a global IPv6 address
//!   # or:
//!   ipv6_ra:
//!     interfaces: [eth1, eth2]     # default: every interface with IPv6
//!     prefixes: ["fd00:1::/64"]    # default: each interface's own /64s
//!     valid_lifetime: 86400        # seconds (default 30 days)
//!     preferred_lifetime: 14400    # seconds (default 7 days)
//!     router_lifetime: 1800        # seconds, 0: not a default router
//!     rdnss: ["fd00:1::53"]        # RFC 8106 DNS servers
//!     mtu: 1500                    # MTU option (default: none)
//!     interval: 600                # MaxRtrAdvInterval, 4..1800 s
//! h1:
//!   ip6: auto                      # SLAAC from the routers' adverts
//! ```

use super::reader::Reader;
use super::yaml::{YNode, YVal};
use crate::topo::model::Loc;
use crate::topo::ra::Ra;
use std::net::IpAddr;

const RA_KEYS: &[&str] = &[
    "interfaces",
    "prefixes",
    "valid_lifetime",
    "preferred_lifetime",
    "router_lifetime",
    "rdnss",
    "mtu",
    "interval",
];

impl Reader<'_> {
    /// `ipv6_ra: true|false|{…}`.
    pub fn ipv6_ra(&mut self, n: &YNode) -> Option<Ra> {
        let mut ra = Ra::default();
        ra.locs.at = n.loc;
        match &n.val {
            YVal::Bool(false) | YVal::Null => return None,
            YVal::Bool(true) => return Some(ra),
            YVal::Map(_) => {}
            _ => {
                let found = n.text(self.src).unwrap_or_else(|| n.describe().into());
                self.err(
                    n.loc,
                    format!("`ipv6_ra` should be true, false or a mapping, found `{found}`"),
                    Some("e.g. `ipv6_ra: true` or `ipv6_ra: {rdnss: [\"fd00:1::53\"]}`".into()),
                );
                return None;
            }
        }
        let f = self.fields(n, "`ipv6_ra`", RA_KEYS);
        if let Some(v) = f.value("interfaces") {
            for i in self.list(v, "`interfaces`", true) {
                if let Some(s) = self.string(i, "an interface in `ipv6_ra`") {
                    ra.interfaces.push(s);
                    ra.locs.interfaces.push(i.loc);
                }
            }
        }
        if let Some(v) = f.value("prefixes") {
            for p in self.list(v, "`prefixes`", true) {
                if let Some(net) = self.net(p, "a prefix in `ipv6_ra`") {
                    ra.prefixes.push(net);
                    ra.locs.prefixes.push(p.loc);
                }
            }
        }
        if let Some(v) = f.value("rdnss") {
            for a in self.list(v, "`rdnss`", true) {
                ra.rdnss.extend(self.ipv6(a, "an `rdnss` server"));
            }
        }
        let mut secs = |key: &str, loc: &mut Loc| {
            let v = f.value(key)?;
            *loc = v.loc;
            self.seconds(v, &format!("`{key}`"))
        };
        let mut l = ra.locs.clone();
        ra.valid_lifetime = secs("valid_lifetime", &mut l.valid);
        ra.preferred_lifetime = secs("preferred_lifetime", &mut l.preferred);
        ra.router_lifetime = secs("router_lifetime", &mut l.router_lifetime);
        ra.interval = secs("interval", &mut l.interval);
        ra.mtu = f.value("mtu").and_then(|v| {
            l.mtu = v.loc;
            self.mtu(v, "`mtu`")
        });
        ra.locs = l;
        Some(ra)
    }

    /// `ip6: auto` (or `ip6: none`, the default).
    pub fn ip6_mode(&mut self, n: &YNode) -> bool {
        match n.text(self.src).as_deref() {
            Some("auto") | Some("slaac") => true,
            Some("none") | Some("") => false,
            other => {
                let found = other.map_or_else(|| n.describe().to_string(), |s| format!("`{s}`"));
                self.err(
                    n.loc,
                    format!("`ip6` should be `auto` (SLAAC from router advertisements), found {found}"),
                    Some(
                        "static IPv6 addresses go in `ip:` of an interface; stateful DHCPv6 is not supported"
                            .into(),
                    ),
                );
                false
            }
        }
    }

    fn ipv6(&mut self, n: &YNode, what: &str) -> Option<std::net::Ipv6Addr> {
        match self.ip(n, what)? {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(a) => {
                self.err(
                    n.loc,
                    format!("{what} must be an IPv6 address, not {a}"),
                    Some("RDNSS (RFC 8106) carries IPv6 servers only".into()),
                );
                None
            }
        }
    }

    /// A whole number of seconds (`600`, or `600s`).
    fn seconds(&mut self, n: &YNode, what: &str) -> Option<u32> {
        let text = self.string(n, what)?;
        let v = match n.val {
            YVal::Int(i) => u32::try_from(i).ok(),
            _ => text.trim().trim_end_matches('s').parse::<u32>().ok(),
        };
        if v.is_none() {
            self.err(
                n.loc,
                format!("{what} should be a whole number of seconds, found `{text}`"),
                None,
            );
        }
        v
    }
}

/// `ipv6_ra` as the flow mapping `parse` reads back (`true` when every
/// setting is the default), for writing a topology out as a file.
pub(super) fn ra_yaml(ra: &Ra) -> String {
    let quoted = |v: Vec<String>| {
        let items: Vec<String> = v.into_iter().map(|s| format!("\"{s}\"")).collect();
        format!("[{}]", items.join(", "))
    };
    let mut parts = Vec::new();
    if !ra.interfaces.is_empty() {
        parts.push(format!("interfaces: {}", quoted(ra.interfaces.clone())));
    }
    if !ra.prefixes.is_empty() {
        let p = ra.prefixes.iter().map(|p| p.to_string()).collect();
        parts.push(format!("prefixes: {}", quoted(p)));
    }
    if !ra.rdnss.is_empty() {
        let r = ra.rdnss.iter().map(|a| a.to_string()).collect();
        parts.push(format!("rdnss: {}", quoted(r)));
    }
    for (k, v) in [
        ("valid_lifetime", ra.valid_lifetime),
        ("preferred_lifetime", ra.preferred_lifetime),
        ("router_lifetime", ra.router_lifetime),
        ("mtu", ra.mtu),
        ("interval", ra.interval),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}: {v}"));
        }
    }
    if parts.is_empty() {
        "true".into()
    } else {
        format!("{{{}}}", parts.join(", "))
    }
}
