//! Which security-group rule of a port decides a packet, as the port's
//! nft table would (the rules are an allow list; no match is a drop).

use super::super::realize::{Direction, Port, SgRule};
use super::Packet;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// The protocols a trace can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP echo (ping).
    Icmp,
}

impl Proto {
    /// `tcp`, `udp`, `icmp` (also `ping`).
    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Some(Proto::Tcp),
            "udp" | "17" => Some(Proto::Udp),
            "icmp" | "ping" | "1" | "ipv6-icmp" | "58" => Some(Proto::Icmp),
            _ => None,
        }
    }
    fn matches(self, rule: Option<&str>, v4: bool) -> bool {
        let Some(r) = rule else { return true };
        match (self, r.to_ascii_lowercase().as_str()) {
            (_, "any") => true,
            (Proto::Tcp, "tcp" | "6") | (Proto::Udp, "udp" | "17") => true,
            (Proto::Icmp, "icmp" | "1") => v4,
            (Proto::Icmp, "ipv6-icmp" | "icmpv6" | "58") => !v4,
            _ => false,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        })
    }
}

/// The rule's port range (or ICMP type) admits the packet.
fn ports_match(rule: &SgRule, pkt: &Packet) -> bool {
    let (lo, hi) = (rule.port_range_min, rule.port_range_max);
    if lo.is_none() && hi.is_none() {
        return true;
    }
    // An echo request is ICMP type 8 (IPv6: 128); the rule's min is the type.
    let n = match pkt.proto {
        Proto::Icmp if pkt.dst.is_ipv4() => 8,
        Proto::Icmp => 128,
        _ => match pkt.dport {
            Some(p) => p,
            None => return false,
        },
    };
    if pkt.proto == Proto::Icmp {
        return lo.is_none_or(|t| t == n);
    }
    lo.is_none_or(|l| n >= l) && hi.or(lo).is_none_or(|h| n <= h)
}

fn remote_matches(rule: &SgRule, remote: &IpAddr) -> bool {
    rule.remote
        .as_ref()
        .is_none_or(|nets| nets.iter().any(|n| n.contains(remote)))
}

/// A rule in the words `nlab sg` uses to add it.
pub fn describe(rule: &SgRule) -> String {
    let mut s = format!(
        "{} {} {}",
        match rule.direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        },
        rule.ethertype,
        rule.protocol.as_deref().unwrap_or("any")
    );
    match (rule.port_range_min, rule.port_range_max) {
        (Some(a), Some(b)) if a != b => s.push_str(&format!(" port {a}-{b}")),
        (Some(a), _) => s.push_str(&format!(" port {a}")),
        _ => {}
    }
    match &rule.remote {
        None => s.push_str(" from anywhere"),
        Some(n) if n.is_empty() => s.push_str(" from an empty remote group"),
        Some(n) => s.push_str(&format!(
            " remote {}",
            n.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )),
    }
    s
}

/// What a port's security groups do with `pkt` going `dir`: `Ok` names
/// the deciding rule, `Err` says why it is dropped and what to add.
pub fn decide(port: &Port, dir: Direction, pkt: &Packet) -> Result<String, String> {
    if !port.port_security_enabled {
        return Ok("port security is off: no security group applies".into());
    }
    let v4 = pkt.dst.is_ipv4();
    let remote = match dir {
        Direction::Ingress => pkt.src,
        Direction::Egress => pkt.dst,
    };
    let hit = port.security_rules.iter().find(|r| {
        r.direction == dir
            && r.ethertype
                .eq_ignore_ascii_case(if v4 { "IPv4" } else { "IPv6" })
            && pkt.proto.matches(r.protocol.as_deref(), v4)
            && ports_match(r, pkt)
            && remote_matches(r, &remote)
    });
    match hit {
        Some(r) => Ok(format!("allowed by security-group rule `{}`", describe(r))),
        None => {
            let (word, flag) = match dir {
                Direction::Ingress => ("in", ""),
                Direction::Egress => ("out", " --egress"),
            };
            let port_flag = pkt
                .dport
                .map(|p| format!(" --port {p}"))
                .unwrap_or_default();
            Err(format!(
                "no security-group rule of port {} lets {} {}{} {word} (add one: \
                 nlab sg rule-add GROUP{flag} --protocol {}{port_flag})",
                port.id,
                pkt.proto,
                match dir {
                    Direction::Ingress => format!("from {}", pkt.src),
                    Direction::Egress => format!("to {}", pkt.dst),
                },
                pkt.dport.map(|p| format!(" port {p}")).unwrap_or_default(),
                pkt.proto,
            ))
        }
    }
}
