//! DHCP: servers, their pools and reservations, relays, and hosts with
//! `ip: dhcp`. All of it before anything is built, each at its line.

use super::addrs::segments;
use super::Checker;
use crate::topo::dhcp::{DhcpClient, DhcpServer, Scope};
use crate::topo::model::{Endpoint, IpNet, Node, NodeKind};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn check(c: &mut Checker) {
    let t = c.t;
    let eps: Vec<&Endpoint> = t.links.iter().flat_map(|l| l.endpoints.iter()).collect();
    if !t.nodes.values().any(|n| n.dhcp.is_some() || n.dhcp_relay) && !eps.iter().any(|e| e.dhcp) {
        return;
    }
    let seg = segments(c, &eps);
    // Server endpoint index by segment.
    let mut server_in: HashMap<usize, usize> = HashMap::new();
    let mut subnets: Vec<(String, IpNet, bool)> = Vec::new();
    for node in t.nodes.values() {
        if node.dhcp_client != DhcpClient::Builtin {
            c.push(
                node.loc,
                format!(
                    "`{}` asks for `dhcp_client: {}`, but nlab runs only its built-in client",
                    node.name,
                    node.dhcp_client.key()
                ),
                Some("remove `dhcp_client` (or set `builtin`); to try dhclient or udhcpc, leave the interface without an address and run it with `nlab exec`".into()),
            );
        }
        if node.dhcp_relay && node.kind != NodeKind::Router {
            c.push(
                node.loc,
                format!(
                    "`dhcp_relay` is set on {} `{}`, but only routers relay DHCP",
                    node.kind, node.name
                ),
                Some("set `kind: router`, or remove `dhcp_relay`".into()),
            );
        }
        let Some(d) = &node.dhcp else { continue };
        let Some(i) = server_endpoint(c, node, d, &eps) else {
            continue;
        };
        if let Some(&first) = server_in.get(&seg[i]) {
            c.push(
                node.loc,
                format!(
                    "two DHCP servers on one segment: `{}` and `{}` both serve the segment of `{}`",
                    eps[first].node,
                    node.name,
                    eps[i].id()
                ),
                Some("keep one server per segment; serve other subnets with `relayed:` through a router".into()),
            );
        } else {
            server_in.insert(seg[i], i);
        }
        let own = eps[i].addrs.iter().find(|a| a.is_ipv4()).copied();
        if let Some(own) = own {
            let net = IpNet {
                addr: own.network(),
                prefix: own.prefix,
            };
            scopes(c, node, d, net, own.addr, &mut subnets);
        }
    }
    clients(c, &eps, &seg, &server_in, &subnets);
}

/// The index (in `eps`) of the interface the server listens on, after
/// checking it has a static IPv4 address.
fn server_endpoint(
    c: &mut Checker,
    node: &Node,
    d: &DhcpServer,
    eps: &[&Endpoint],
) -> Option<usize> {
    let mine: Vec<usize> = (0..eps.len())
        .filter(|&i| eps[i].node == node.name)
        .collect();
    if node.kind != NodeKind::Host {
        c.push(
            node.loc,
            format!(
                "`{}` is a {} with `dhcp:`; a DHCP server is a host",
                node.name, node.kind
            ),
            Some("use `kind: dhcp`".into()),
        );
        return None;
    }
    let i = match &d.iface {
        Some(want) => mine.iter().copied().find(|&i| eps[i].iface == *want),
        None if mine.len() == 1 => Some(mine[0]),
        None => None,
    };
    let Some(i) = i else {
        let (msg, hint) = match &d.iface {
            Some(want) => (
                format!("the DHCP server `{}` has no interface `{want}`", node.name),
                "name an interface one of its links uses".to_string(),
            ),
            None if mine.is_empty() => (
                format!("the DHCP server `{}` has no link", node.name),
                "link it to the segment it serves".to_string(),
            ),
            None => (
                format!(
                    "the DHCP server `{}` has {} interfaces",
                    node.name,
                    mine.len()
                ),
                "say which one it serves with `iface:` under `dhcp:`".to_string(),
            ),
        };
        c.push(node.loc, msg, Some(hint));
        return None;
    };
    if eps[i].dhcp || !eps[i].addrs.iter().any(|a| a.is_ipv4()) {
        c.push(
            eps[i].loc,
            format!(
                "the DHCP server's interface `{}` needs a static IPv4 address",
                eps[i].id()
            ),
            Some("give it `ip: <address>/<prefix>` in the subnet it serves".into()),
        );
        return None;
    }
    Some(i)
}

fn scopes(
    c: &mut Checker,
    node: &Node,
    d: &DhcpServer,
    own_net: IpNet,
    own: IpAddr,
    all: &mut Vec<(String, IpNet, bool)>,
) {
    for (k, s) in d.scopes.iter().enumerate() {
        let net = if k == 0 {
            own_net
        } else {
            let Some(n) = s.subnet else { continue };
            IpNet {
                addr: n.network(),
                prefix: n.prefix,
            }
        };
        // Servers of their own segments only never meet (two networks may
        // use the same subnet); a relayed scope is chosen by `giaddr`, so
        // it must not overlap any other.
        if let Some((who, other, _)) = all.iter().find(|(_, o, relayed)| {
            (k > 0 || *relayed) && (o.contains(&net.addr) || net.contains(&o.addr))
        }) {
            c.push(
                s.loc,
                format!(
                    "subnet {net} of `{}` overlaps subnet {other} served by `{who}`",
                    node.name
                ),
                Some("each subnet is served once".into()),
            );
        }
        all.push((node.name.clone(), net, k > 0));
        scope(c, node, s, net, (k == 0).then_some(own));
    }
}

fn scope(c: &mut Checker, node: &Node, s: &Scope, net: IpNet, own: Option<IpAddr>) {
    let v4 = |a: Ipv4Addr| IpAddr::V4(a);
    let (first, last) = s.pool;
    if !net.contains(&v4(first)) || !net.contains(&v4(last)) {
        c.push(
            s.pool_loc,
            format!(
                "pool {first}-{last} of `{}` is outside its subnet {net}",
                node.name
            ),
            Some(format!("hand out addresses of {net}")),
        );
    } else if net.prefix < 31 && (v4(first) == net.network() || last == broadcast(net)) {
        c.push(
            s.pool_loc,
            format!("pool {first}-{last} includes the network or broadcast address of {net}"),
            None,
        );
    }
    if let Some(IpAddr::V4(me)) = own.filter(|_| !s.reserved_only) {
        if s.in_pool(me) {
            c.push(
                s.pool_loc,
                format!("pool {first}-{last} includes the server's own address {me}"),
                Some("start or end the pool around it".into()),
            );
        }
    }
    if let Some(r) = s.router.filter(|r| !net.contains(&v4(*r))) {
        c.push(
            s.loc,
            format!("router {r} is outside the subnet {net}"),
            None,
        );
    }
    let mut macs = HashMap::new();
    let mut ips = HashMap::new();
    for r in &s.reservations {
        if !net.contains(&v4(r.ip)) {
            c.push(
                r.loc,
                format!(
                    "reservation {} for {} is outside the subnet {net}",
                    r.ip, r.mac
                ),
                None,
            );
        } else if s.in_pool(r.ip) && !s.reserved_only {
            c.push(
                r.loc,
                format!(
                    "reservation {} for {} overlaps the pool {first}-{last}",
                    r.ip, r.mac
                ),
                Some("reserve an address outside the pool, or shrink the pool".into()),
            );
        }
        if let Some(l) = macs.insert(r.mac, r.loc) {
            c.push(
                r.loc,
                format!("{} is reserved twice{}", r.mac, super::first_at(l)),
                None,
            );
        }
        if let Some(l) = ips.insert(r.ip, r.loc) {
            c.push(
                r.loc,
                format!("{} is reserved twice{}", r.ip, super::first_at(l)),
                None,
            );
        }
    }
}

fn broadcast(net: IpNet) -> Ipv4Addr {
    match net.network() {
        IpAddr::V4(n) => {
            Ipv4Addr::from(u32::from(n) | u32::MAX.checked_shr(u32::from(net.prefix)).unwrap_or(0))
        }
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// Hosts with `ip: dhcp` need a server on their segment, or a relaying
/// router whose address there falls in a subnet some server hands out.
fn clients(
    c: &mut Checker,
    eps: &[&Endpoint],
    seg: &[usize],
    server_in: &HashMap<usize, usize>,
    subnets: &[(String, IpNet, bool)],
) {
    let t = c.t;
    for (i, ep) in eps.iter().enumerate().filter(|(_, e)| e.dhcp) {
        let Some(node) = t.nodes.get(&ep.node) else {
            continue;
        };
        if node.kind != NodeKind::Host || node.dhcp.is_some() {
            c.push(ep.loc, format!("`ip: dhcp` on `{}`: only hosts that run no DHCP server take addresses from one", ep.id()), None);
            continue;
        }
        if ep.addrs.iter().any(|a| a.is_ipv4()) {
            c.push(
                ep.loc,
                format!("`{}` has both `dhcp` and a static IPv4 address", ep.id()),
                Some("keep one of them".into()),
            );
        }
        if let Some(gw) = node.gateway {
            c.push(
                node.loc,
                format!(
                    "`{}` takes its address from DHCP and also has `gateway` {gw}",
                    node.name
                ),
                Some("the DHCP server's `router` is its gateway; remove `gateway`".into()),
            );
        }
        if server_in.contains_key(&seg[i]) {
            continue;
        }
        let relay = (0..eps.len())
            .find(|&j| seg[j] == seg[i] && t.nodes.get(&eps[j].node).is_some_and(|n| n.dhcp_relay));
        let served = relay.is_some_and(|j| {
            eps[j]
                .addrs
                .iter()
                .any(|a| subnets.iter().any(|(_, n, _)| n.contains(&a.addr)))
        });
        if !served {
            let hint = match relay {
                Some(j) => format!(
                    "give a DHCP server a `relayed:` subnet holding the address of `{}`",
                    eps[j].id()
                ),
                None => {
                    "add a `kind: dhcp` node on this segment, or a router with `dhcp_relay: true`"
                        .to_string()
                }
            };
            c.push(
                ep.loc,
                format!(
                    "`{}` asks for an address by DHCP, but no DHCP server serves its segment",
                    ep.id()
                ),
                Some(hint),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// Two servers, each on a segment of its own, `net` the subnet of the
    /// second; `relayed` adds a relayed scope to the first.
    fn two_servers(net: &str, relayed: &str) -> String {
        format!(
            "name: t
topology:
  nodes:
    d1: {{kind: dhcp, dhcp: {{pool: 10.0.0.100-10.0.0.199{relayed}}}}}
    d2: {{kind: dhcp, dhcp: {{pool: {net}.100-{net}.199}}}}
    s1: {{kind: switch}}
    s2: {{kind: switch}}
  links:
    - endpoints: [{{node: d1, iface: eth0, ip: 10.0.0.2/24}}, \"s1:p1\"]
    - endpoints: [{{node: d2, iface: eth0, ip: {net}.2/24}}, \"s2:p1\"]
"
        )
    }

    #[test]
    fn the_same_subnet_on_two_segments_is_two_servers_own_business() {
        // Two virtual networks with the same CIDR, each with its server.
        crate::topo::file::parse(&two_servers("10.0.0", ""), None)
            .expect("the same own subnet on two segments is fine");
        // A relayed scope is chosen by `giaddr`: it must overlap nothing.
        let relayed = ", relayed: [{subnet: 10.0.5.0/24, pool: 10.0.5.100-10.0.5.199}]";
        let e = crate::topo::file::parse(&two_servers("10.0.5", relayed), None)
            .expect_err("a relayed scope overlapping another server's subnet");
        assert!(e.to_string().contains("overlaps subnet"), "{e}");
    }
}
