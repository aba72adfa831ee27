//! NAT nodes: their nftables table (masquerade toward the uplink, port
//! forwards, static NAT, hairpinning, filtering) and, for `uplink: host`,
//! the veth into the root namespace (`uplink`).
//!
//! Applied after the rest of the lab: the rules name interfaces and
//! addresses the earlier phases made. Each namespace's table is replaced in
//! one batch, so re-applying is safe.

pub mod rules;
pub mod uplink;

use super::{Error, Result};
use crate::kernel::netns::{self, NetNs};
use crate::kernel::nft;
use crate::topo::nat::{NatSpec, Uplink, UPLINK_IFACE};
use crate::topo::{NodeKind, Topology};
use rules::NatRules;
use std::net::{IpAddr, Ipv4Addr};

/// Applies every NAT node of `t`; returns warnings for the user.
pub fn apply(t: &Topology) -> Result<Vec<String>> {
    let nats: Vec<(&str, &NatSpec)> = t
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Nat)
        .filter_map(|n| Some((n.name.as_str(), n.nat.as_deref()?)))
        .collect();
    let hosts: Vec<String> = nats
        .iter()
        .filter(|(_, s)| s.uplink == Uplink::Host)
        .map(|(n, _)| n.to_string())
        .collect();
    let publish: Vec<(String, u16, crate::topo::nat::Proto)> = nats
        .iter()
        .filter(|(_, s)| s.uplink == Uplink::Host && s.publish)
        .flat_map(|(n, s)| s.forwards.iter().map(|f| (n.to_string(), f.port, f.proto)))
        .collect();
    let (recs, warnings) = if hosts.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        uplink::make(&t.name, &hosts, &publish)?
    };
    for (node, spec) in nats {
        let (uplink_if, public) = match &spec.uplink {
            Uplink::Host => {
                let rec = recs.iter().find(|r| r.node == node);
                (UPLINK_IFACE.to_string(), rec.map(|r| r.nat_addr))
            }
            Uplink::Node(up) => uplink_end(t, node, up)?,
        };
        let r = NatRules {
            lab: t.name.clone(),
            node: node.to_string(),
            uplink_if,
            public,
            forwards: spec
                .forwards
                .iter()
                .map(|f| Ok((f.port, f.proto, addr_of(t, &f.node)?, f.to_port)))
                .collect::<Result<_>>()?,
            static_nat: spec
                .static_nat
                .iter()
                .map(|s| Ok((s.public, s.ip.map_or_else(|| addr_of(t, &s.node), Ok)?)))
                .collect::<Result<_>>()?,
            hairpin: spec.hairpin,
            behaviour: spec.behaviour,
            masquerade: spec.masquerade,
            inner: inner_hosts(t, node, spec),
        };
        let ns_name = netns::ns_name(&t.name, node);
        let ns = NetNs::open(&ns_name)?;
        let what = format!("adding table {} to {ns_name}", rules::table_name(&t.name));
        nft::apply(Some(&ns), &rules::nat_batch(&r), &what)?;
    }
    Ok(warnings)
}

/// The IPv4 addresses a mapping of NAT `nat` may lead to: those of the
/// nodes on its inside (`topo::nat::inside`), except the inner ends of its
/// static NATs (they have their own public address). Hosts that get their
/// address by DHCP have none here.
fn inner_hosts(t: &Topology, nat: &str, spec: &NatSpec) -> Vec<Ipv4Addr> {
    let uplink_if = match &spec.uplink {
        Uplink::Node(up) => crate::topo::nat::uplink_end(t, nat, up).map(|e| e.iface.as_str()),
        Uplink::Host => Some(UPLINK_IFACE),
    };
    let statics: Vec<&str> = spec.static_nat.iter().map(|s| s.node.as_str()).collect();
    let mut out: Vec<Ipv4Addr> = crate::topo::nat::inside(t, nat, uplink_if)
        .iter()
        .filter(|n| !statics.contains(&n.as_str()))
        .flat_map(|n| t.endpoints_of(n).flat_map(|e| e.addrs.iter()))
        .filter_map(|a| match a.addr {
            IpAddr::V4(v) => Some(v),
            IpAddr::V6(_) => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a NAT node of `t` has its uplink into the root namespace.
pub fn has_host_uplink(t: &Topology) -> bool {
    t.nodes
        .values()
        .any(|n| n.nat.as_deref().is_some_and(|s| s.uplink == Uplink::Host))
}

/// The NAT's interface toward internet node `up`, and its address there.
fn uplink_end(t: &Topology, nat: &str, up: &str) -> Result<(String, Option<Ipv4Addr>)> {
    crate::topo::nat::uplink_end(t, nat, up)
        .map(|e| {
            let a = e.addrs.iter().find_map(|a| match a.addr {
                IpAddr::V4(v) => Some(v),
                IpAddr::V6(_) => None,
            });
            (e.iface.clone(), a)
        })
        .ok_or_else(|| Error::Internal(format!("NAT node {nat} has no link to its uplink {up}")))
}

/// The IPv4 address a forward or static NAT of the NAT reaches `node` at.
fn addr_of(t: &Topology, node: &str) -> Result<Ipv4Addr> {
    match t.primary_addr(node, false) {
        Some(IpAddr::V4(a)) => Ok(a),
        _ => Err(Error::Internal(format!(
            "{node} has no IPv4 address (validation lets no such forward through)"
        ))),
    }
}
