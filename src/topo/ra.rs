//! IPv6 router advertisements as the topology asks for them: a router's
//! `ipv6_ra:` settings ([`Ra`]) and what they mean per interface
//! ([`Advert`], resolved by [`adverts`]). Plain data: the sender lives in
//! `services::ra`, the checks in `validate::ra`.
//!
//! Defaults are RFC 4861's (section 6.2.1) and RFC 8106's: adverts every
//! 198..600 s, router lifetime 1800 s, prefixes valid 30 days and
//! preferred 7 days, RDNSS lifetime 3 × the interval.

use super::model::{IpNet, Loc, Topology};
use serde::{Deserialize, Serialize};
use std::net::Ipv6Addr;

/// RFC 4861's MaxRtrAdvInterval default, seconds.
pub const DEFAULT_INTERVAL: u32 = 600;
/// AdvValidLifetime default: 30 days.
pub const DEFAULT_VALID: u32 = 2_592_000;
/// AdvPreferredLifetime default: 7 days.
pub const DEFAULT_PREFERRED: u32 = 604_800;
/// Largest router lifetime RFC 4861 allows.
pub const MAX_ROUTER_LIFETIME: u32 = 9000;
/// The interval's range in RFC 4861 (MaxRtrAdvInterval 4..1800 s).
pub const INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 4..=1800;

/// A router's `ipv6_ra:` (`true` is every field at its default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ra {
    /// Interfaces that send RAs; empty: every interface with a global
    /// IPv6 address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    /// Prefixes to advertise, each on the interface that has an address
    /// inside it; empty: every interface's own /64s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<IpNet>,
    /// Seconds; `None`: [`DEFAULT_VALID`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_lifetime: Option<u32>,
    /// Seconds; `None`: [`DEFAULT_PREFERRED`], or the valid lifetime if
    /// that is shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_lifetime: Option<u32>,
    /// Seconds hosts keep the router as a default router (0: not a
    /// default router); `None`: 3 × the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_lifetime: Option<u32>,
    /// Recursive DNS servers (RFC 8106).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdnss: Vec<Ipv6Addr>,
    /// The MTU option; `None`: no MTU option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// MaxRtrAdvInterval, seconds; `None`: [`DEFAULT_INTERVAL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// Where each setting was written (file parser only), for errors.
    #[serde(default, skip)]
    pub locs: RaLocs,
}

/// Where the settings of an [`Ra`] were written.
#[derive(Debug, Clone, Default)]
pub struct RaLocs {
    /// The `ipv6_ra` key.
    pub at: Loc,
    /// Each entry of `interfaces`.
    pub interfaces: Vec<Loc>,
    /// Each entry of `prefixes`.
    pub prefixes: Vec<Loc>,
    /// `valid_lifetime`.
    pub valid: Loc,
    /// `preferred_lifetime`.
    pub preferred: Loc,
    /// `router_lifetime`.
    pub router_lifetime: Loc,
    /// `mtu`.
    pub mtu: Loc,
    /// `interval`.
    pub interval: Loc,
}

/// Locations are not part of what is built (see `Topology`'s equality).
impl PartialEq for RaLocs {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Ra {
    /// MaxRtrAdvInterval in seconds, default filled in.
    pub fn interval(&self) -> u32 {
        self.interval.unwrap_or(DEFAULT_INTERVAL)
    }
    /// The prefixes' valid lifetime in seconds, default filled in.
    pub fn valid(&self) -> u32 {
        self.valid_lifetime.unwrap_or(DEFAULT_VALID)
    }
    /// The prefixes' preferred lifetime in seconds, default filled in
    /// (never longer than [`valid`](Self::valid) unless set so).
    pub fn preferred(&self) -> u32 {
        self.preferred_lifetime
            .unwrap_or(DEFAULT_PREFERRED.min(self.valid()))
    }
    /// The router lifetime in seconds, default filled in (3 × the
    /// interval, at most [`MAX_ROUTER_LIFETIME`]).
    pub fn router_lifetime(&self) -> u32 {
        self.router_lifetime
            .unwrap_or_else(|| (3 * self.interval()).min(MAX_ROUTER_LIFETIME))
    }
}

/// What one interface of a router advertises: everything the sender
/// needs, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advert {
    /// The router sending it.
    pub node: String,
    /// The interface it is sent on.
    pub iface: String,
    /// The prefixes advertised (networks, host bits cleared); may be
    /// empty: the advert then only announces a default router.
    pub prefixes: Vec<IpNet>,
    /// Seconds (see [`Ra::valid`]).
    pub valid_lifetime: u32,
    /// Seconds (see [`Ra::preferred`]).
    pub preferred_lifetime: u32,
    /// Seconds; 0: not a default router (see [`Ra::router_lifetime`]).
    pub router_lifetime: u32,
    /// Recursive DNS servers (RFC 8106); empty: no RDNSS option.
    pub rdnss: Vec<Ipv6Addr>,
    /// Lifetime of the RDNSS option, seconds.
    pub rdnss_lifetime: u32,
    /// The MTU option, bytes; `None`: no MTU option.
    pub mtu: Option<u32>,
    /// MaxRtrAdvInterval, seconds.
    pub interval: u32,
}

/// The interfaces of `node` that send RAs under `ra`, each with the
/// prefixes it advertises (networks, host bits cleared).
pub fn interfaces_of(t: &Topology, node: &str, ra: &Ra) -> Vec<(String, Vec<IpNet>)> {
    let mut out = Vec::new();
    for e in t.endpoints_of(node) {
        if !ra.interfaces.is_empty() && !ra.interfaces.contains(&e.iface) {
            continue;
        }
        let v6: Vec<&IpNet> = e
            .addrs
            .iter()
            .filter(|a| a.addr.is_ipv6() && !is_link_local(a))
            .collect();
        if ra.interfaces.is_empty() && v6.is_empty() {
            continue;
        }
        let mut prefixes: Vec<IpNet> = if ra.prefixes.is_empty() {
            v6.iter()
                .filter(|a| a.prefix == 64)
                .map(|a| network(a))
                .collect()
        } else {
            ra.prefixes
                .iter()
                .filter(|p| v6.iter().any(|a| p.contains(&a.addr)))
                .map(network)
                .collect()
        };
        prefixes.dedup();
        out.push((e.iface.clone(), prefixes));
    }
    out
}

/// Every interface of every router that sends RAs, in node order.
pub fn adverts(t: &Topology) -> Vec<Advert> {
    let mut out = Vec::new();
    for n in t.nodes.values() {
        let Some(ra) = &n.ipv6_ra else { continue };
        for (iface, prefixes) in interfaces_of(t, &n.name, ra) {
            out.push(Advert {
                node: n.name.clone(),
                iface,
                prefixes,
                valid_lifetime: ra.valid(),
                preferred_lifetime: ra.preferred(),
                router_lifetime: ra.router_lifetime(),
                rdnss: ra.rdnss.clone(),
                rdnss_lifetime: 3 * ra.interval(),
                mtu: ra.mtu,
                interval: ra.interval(),
            });
        }
    }
    out
}

/// An `ip6: auto` host's interface and the prefixes it should take an
/// address from: those advertised on its segment (across switches, over
/// links that are up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The host.
    pub node: String,
    /// Its interface.
    pub iface: String,
    /// The prefixes advertised on its segment; the host should have an
    /// address in each.
    pub prefixes: Vec<IpNet>,
}

/// What every `ip6: auto` host should get from the lab's routers.
pub fn expected_slaac(t: &Topology) -> Vec<Expected> {
    use super::model::NodeKind;
    let adverts = adverts(t);
    if adverts.is_empty() {
        return Vec::new();
    }
    // The far end of each up link, by near end.
    let mut peers: std::collections::BTreeMap<(&str, &str), Vec<(&str, &str)>> =
        std::collections::BTreeMap::new();
    for l in t.links.iter().filter(|l| l.up) {
        let [a, b] = &l.endpoints;
        peers
            .entry((&a.node, &a.iface))
            .or_default()
            .push((&b.node, &b.iface));
        peers
            .entry((&b.node, &b.iface))
            .or_default()
            .push((&a.node, &a.iface));
    }
    let is_switch = |n: &str| t.nodes.get(n).is_some_and(|n| n.kind == NodeKind::Switch);
    let mut out = Vec::new();
    for host in t.nodes.values().filter(|n| n.ip6_auto) {
        for e in t.endpoints_of(&host.name) {
            // Walk the segment: switches pass it on to all their ports.
            let mut seen = std::collections::BTreeSet::new();
            let mut todo: Vec<(&str, &str)> = peers
                .get(&(&*e.node, &*e.iface))
                .cloned()
                .unwrap_or_default();
            let mut prefixes = Vec::new();
            while let Some((n, i)) = todo.pop() {
                if !seen.insert((n, i)) {
                    continue;
                }
                if is_switch(n) {
                    for p in t.endpoints_of(n) {
                        todo.extend(peers.get(&(&*p.node, &*p.iface)).into_iter().flatten());
                    }
                    continue;
                }
                for a in adverts.iter().filter(|a| a.node == n && a.iface == i) {
                    prefixes.extend(a.prefixes.iter().copied());
                }
            }
            prefixes.sort();
            prefixes.dedup();
            if !prefixes.is_empty() {
                out.push(Expected {
                    node: host.name.clone(),
                    iface: e.iface.clone(),
                    prefixes,
                });
            }
        }
    }
    out
}

fn network(a: &IpNet) -> IpNet {
    IpNet {
        addr: a.network(),
        prefix: a.prefix,
    }
}

fn is_link_local(a: &IpNet) -> bool {
    matches!(a.addr, std::net::IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::file::parse;

    const TWO_NETS: &str = r#"
name: ra
topology:
  nodes:
    r1: {kind: router, ipv6_ra: true}
    h1: {ip6: auto}
    h2: {ip6: auto}
  links:
    - endpoints: [{node: r1, iface: eth1, ip: "fd00:1::1/64"}, "h1:eth0"]
    - endpoints: [{node: r1, iface: eth2, ip: ["fd00:2::1/64", "10.0.2.1/24"]}, "h2:eth0"]
"#;

    #[test]
    fn defaults_advertise_each_interfaces_own_64() {
        let t = parse(TWO_NETS, None).expect("valid");
        let a = adverts(&t);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].iface, "eth1");
        assert_eq!(a[0].prefixes, vec!["fd00:1::/64".parse().expect("net")]);
        assert_eq!(a[1].prefixes, vec!["fd00:2::/64".parse().expect("net")]);
        assert_eq!(a[0].router_lifetime, 1800);
        assert_eq!(a[0].valid_lifetime, DEFAULT_VALID);
        assert_eq!(a[0].preferred_lifetime, DEFAULT_PREFERRED);
        assert!(t.nodes["h1"].ip6_auto);
    }

    #[test]
    fn listed_interfaces_and_prefixes_narrow_it() {
        let text = TWO_NETS.replace(
            "ipv6_ra: true",
            "ipv6_ra: {interfaces: [eth2], prefixes: [\"fd00:2::/64\"], rdnss: [\"fd00:2::53\"], \
             valid_lifetime: 600, preferred_lifetime: 300, router_lifetime: 0, mtu: 1400, interval: 10}",
        );
        let t = parse(&text, None).expect("valid");
        let a = adverts(&t);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].iface, "eth2");
        assert_eq!(
            a[0].rdnss,
            vec!["fd00:2::53".parse::<Ipv6Addr>().expect("ip")]
        );
        assert_eq!(
            (
                a[0].valid_lifetime,
                a[0].preferred_lifetime,
                a[0].router_lifetime
            ),
            (600, 300, 0)
        );
        assert_eq!(
            (a[0].mtu, a[0].interval, a[0].rdnss_lifetime),
            (Some(1400), 10, 30)
        );
    }

    /// Each bad value is reported at its own line, with the fix.
    fn bad(settings: &str, line: u32, needle: &str) -> String {
        let text = format!(
            "name: ra\ntopology:\n  nodes:\n    r1:\n      kind: router\n      ipv6_ra:\n{settings}\n    h1: {{ip6: auto}}\n  links:\n    - endpoints: [{{node: r1, iface: eth1, ip: \"fd00:1::1/64\"}}, \"h1:eth0\"]\n"
        );
        let errs = parse(&text, Some("t.yaml")).expect_err("invalid");
        let Some(e) = errs.0.iter().find(|e| e.msg.contains(needle)) else {
            panic!("no error with {needle:?} in:\n{errs}");
        };
        assert_eq!(e.loc.line, line, "{needle}: {errs}");
        e.to_string()
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let e = bad("        prefixes: [\"fd00:1::/48\"]", 7, "is a /48");
        assert!(e.starts_with("t.yaml:7:"), "{e}");
        assert!(e.contains("advertise fd00:1::/64"), "{e}");
        bad(
            "        valid_lifetime: 100\n        preferred_lifetime: 200",
            8,
            "longer than `valid_lifetime`",
        );
        bad("        rdnss: [10.0.0.53]", 7, "must be an IPv6 address");
        bad("        rdnss: [nope]", 7, "is not an IPv4 or IPv6 address");
        bad("        interfaces: [eth9]", 7, "does not have");
        bad("        prefixes: [\"fd00:9::/64\"]", 7, "on no interface");
        bad("        mtu: 1000", 7, "below IPv6's minimum");
        bad("        router_lifetime: 10000", 7, "must be 0");
        bad("        interval: 2", 7, "outside RFC 4861");
        bad("        valid_lifetime: soon", 7, "whole number of seconds");
        bad(
            "        colour: red",
            7,
            "unknown key `colour` in `ipv6_ra`",
        );
    }

    #[test]
    fn ra_on_a_host_and_auto_on_a_router_are_refused() {
        let text = TWO_NETS
            .replace(
                "r1: {kind: router, ipv6_ra: true}",
                "r1: {kind: router, ip6: auto}",
            )
            .replace("h1: {ip6: auto}", "h1: {ipv6_ra: true}");
        let errs = parse(&text, Some("t.yaml"))
            .expect_err("invalid")
            .to_string();
        assert!(
            errs.contains("t.yaml:6:") && errs.contains("only routers send router advertisements"),
            "{errs}"
        );
        assert!(
            errs.contains("t.yaml:5:") && errs.contains("only hosts take addresses"),
            "{errs}"
        );
        let text = TWO_NETS.replace("h2: {ip6: auto}", "h2: {ip6: dhcp6}");
        let errs = parse(&text, Some("t.yaml"))
            .expect_err("invalid")
            .to_string();
        assert!(
            errs.contains("t.yaml:7:") && errs.contains("stateful DHCPv6 is not supported"),
            "{errs}"
        );
    }

    #[test]
    fn a_router_without_ipv6_has_nothing_to_advertise() {
        let text = TWO_NETS
            .replace("ip: \"fd00:1::1/64\"", "ip: 10.0.1.1/24")
            .replace("ip: [\"fd00:2::1/64\", \"10.0.2.1/24\"]", "ip: 10.0.2.1/24");
        let errs = parse(&text, Some("t.yaml"))
            .expect_err("invalid")
            .to_string();
        assert!(
            errs.contains("no interface with a global IPv6 address"),
            "{errs}"
        );
    }

    #[test]
    fn hosts_expect_the_prefixes_of_their_segment_across_switches() {
        let text = r#"
name: ra
topology:
  nodes:
    r1: {kind: router, ipv6_ra: true}
    s1: {kind: switch}
    h1: {ip6: auto}
    h2: {ip6: auto}
    h3: {ip6: auto}
  links:
    - endpoints: [{node: r1, iface: eth1, ip: "fd00:1::1/64"}, "s1:p1"]
    - endpoints: ["s1:p2", "h1:eth0"]
    - endpoints: [{node: r1, iface: eth2, ip: "fd00:2::1/64"}, "h2:eth0"]
    - endpoints: [{node: r1, iface: eth3, ip: "10.0.3.1/24"}, "h3:eth0"]
    - endpoints: ["s1:p3", "h2:eth1"]
      up: false
"#;
        let t = parse(text, None).expect("valid");
        let e = expected_slaac(&t);
        let got: Vec<(&str, &str, String)> = e
            .iter()
            .map(|x| {
                let p: Vec<String> = x
                    .prefixes
                    .iter()
                    .map(|p| format!("{}/{}", p.addr, p.prefix))
                    .collect();
                (
                    x.node.as_str(),
                    x.iface.as_str(),
                    format!("[{}]", p.join(", ")),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("h1", "eth0", "[fd00:1::/64]".to_string()),
                ("h2", "eth0", "[fd00:2::/64]".to_string()),
            ],
            "h3's segment has no IPv6, h2:eth1's link is down"
        );
    }

    #[test]
    fn the_journal_round_trip_keeps_the_settings() {
        let t = parse(TWO_NETS, None).expect("valid");
        let json = serde_json::to_string(&t).expect("json");
        let back: Topology = serde_json::from_str(&json).expect("back");
        assert_eq!(back, t);
        assert!(back.nodes["r1"].ipv6_ra.is_some());
        assert!(back.nodes["h2"].ip6_auto);
        // And written out as a file: it reads back the same.
        for text in [TWO_NETS.to_string(), TWO_NETS.replace("ipv6_ra: true", "ipv6_ra: {interfaces: [eth2], prefixes: [\"fd00:2::/64\"], rdnss: [\"fd00:2::53\"], valid_lifetime: 600, preferred_lifetime: 300, router_lifetime: 0, mtu: 1400, interval: 10}")] {
            let t = parse(&text, None).expect("valid");
            let yaml = crate::topo::file::to_yaml(&t);
            assert_eq!(parse(&yaml, None).expect(&yaml), t, "{yaml}");
        }
    }
}
