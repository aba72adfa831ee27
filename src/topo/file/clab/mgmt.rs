//! containerlab's management network: a switch node `mgmt-net` with each
//! container-like node's `eth0` on it (addresses from `mgmt-ipv4/6` or
//! handed out in node order), reachable from the host through a `host:`
//! end that carries the gateway addresses and that `down` removes.

use super::{get, key, map, s, text, Rewrite, MGMT_KEYS, MGMT_NODE};
use crate::topo::file::yaml::{YNode, YVal};
use crate::topo::model::{IpNet, Loc};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// containerlab's default management subnets.
const V4_SUBNET: &str = "172.20.20.0/24";
const V6_SUBNET: &str = "3fff:172:20:20::/64";
/// The switch's port toward the host.
const HOST_PORT: &str = "nlab-host";
/// Kinds whose nodes get an `eth0` on the management network.
const MGMT_KINDS: &[&str] = &["linux", "host", "router"];

/// The `n`th address of `net` (0 is the network itself).
pub(super) fn nth(net: &IpNet, n: u128) -> IpAddr {
    match net.addr {
        IpAddr::V4(a) => {
            let base = u32::from(a)
                & (u32::MAX
                    .checked_shl(32 - u32::from(net.prefix))
                    .unwrap_or(0));
            IpAddr::V4(Ipv4Addr::from(base.wrapping_add(n as u32)))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(net.prefix))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from((u128::from(a) & mask).wrapping_add(n)))
        }
    }
}

fn contains(net: &IpNet, a: IpAddr) -> bool {
    a.is_ipv4() == net.addr.is_ipv4()
        && nth(
            &IpNet {
                addr: a,
                prefix: net.prefix,
            },
            0,
        ) == nth(net, 0)
}

/// A short stable name for the root end: `nlm-` and 8 hex digits of the lab's name.
fn root_name(lab: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in lab.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("nlm-{h:08x}")
}

pub(super) struct Net {
    pub v4: IpNet,
    v6: IpNet,
    gw4: IpAddr,
    gw6: IpAddr,
    root: Option<String>,
}

impl Rewrite<'_> {
    fn mgmt_block(&mut self, mgmt: Option<&YNode>) -> Option<Net> {
        let src = self.src;
        let mut net = Net {
            v4: V4_SUBNET.parse().ok()?,
            v6: V6_SUBNET.parse().ok()?,
            gw4: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            gw6: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            root: None,
        };
        if let Some(YVal::Map(es)) = mgmt.map(|m| &m.val) {
            for (k, v) in es {
                let name = key(k, src);
                match name.as_str() {
                    "network" | "driver" | "driver-opts" | "skip-when-unused" | "ipv4-range"
                    | "ipv6-range" | "mtu" | "external-access" => {
                        let msg = format!(
                            "`mgmt.{name}` is not honoured: nlab's management network is a bridge \
                             in its own namespace (`{MGMT_NODE}`), reached through one veth from the host"
                        );
                        self.c.note(k.loc, msg);
                    }
                    "bridge" => net.root = text(Some(v), src),
                    _ if !MGMT_KEYS.contains(&name.as_str()) => {
                        self.c.err(
                            k.loc,
                            format!("unknown key `mgmt.{name}`"),
                            "use one of: bridge, ipv4-subnet, ipv6-subnet, ipv4-gw, ipv6-gw",
                        );
                    }
                    _ => {}
                }
            }
        }
        for (k, slot) in [("ipv4-subnet", &mut net.v4), ("ipv6-subnet", &mut net.v6)] {
            if let Some(v) = mgmt.and_then(|m| get(m, src, k)) {
                match text(Some(v), src).unwrap_or_default().parse::<IpNet>() {
                    Ok(n) => *slot = n,
                    Err(e) => self
                        .c
                        .err(v.loc, format!("`mgmt.{k}`: {e}"), "e.g. 172.20.20.0/24"),
                }
            }
        }
        net.gw4 = nth(&net.v4, 1);
        net.gw6 = nth(&net.v6, 1);
        for (k, slot) in [("ipv4-gw", &mut net.gw4), ("ipv6-gw", &mut net.gw6)] {
            if let Some(v) = mgmt.and_then(|m| get(m, src, k)) {
                match text(Some(v), src).unwrap_or_default().parse::<IpAddr>() {
                    Ok(a) => *slot = a,
                    Err(e) => self.c.err(
                        v.loc,
                        format!("`mgmt.{k}`: {e}"),
                        "give an address of the subnet",
                    ),
                }
            }
        }
        Some(net)
    }

    /// Nodes that get an `eth0` on the management network, in name order.
    fn mgmt_nodes(&mut self, topo: &YNode) -> Vec<(String, Loc)> {
        let src = self.src;
        let mut used_eth0 = Vec::new();
        if let Some(YVal::Seq(ls)) = get(topo, src, "links").map(|l| &l.val) {
            for l in ls {
                let Some(YVal::Seq(eps)) = get(l, src, "endpoints").map(|e| &e.val) else {
                    continue;
                };
                for ep in eps {
                    let (n, i) = match &ep.val {
                        YVal::Map(_) => (
                            text(get(ep, src, "node"), src),
                            text(get(ep, src, "iface"), src),
                        ),
                        _ => {
                            let t = ep.text(src).unwrap_or_default();
                            let (n, i) = t.split_once(':').unwrap_or(("", ""));
                            (Some(n.to_string()), Some(i.to_string()))
                        }
                    };
                    if i.as_deref() == Some("eth0") {
                        used_eth0.extend(n.map(|n| (n, ep.loc)));
                    }
                }
            }
        }
        let mut out = Vec::new();
        let Some(YVal::Map(ns)) = get(topo, src, "nodes").map(|n| &n.val) else {
            return out;
        };
        for (k, v) in ns {
            let name = key(k, src);
            let kind = text(get(v, src, "kind"), src);
            if !kind.as_deref().is_none_or(|k| MGMT_KINDS.contains(&k)) {
                continue;
            }
            if let Some((_, at)) = used_eth0.iter().find(|(n, _)| *n == name) {
                let msg = format!(
                    "node `{name}` gets no management interface: its `eth0` is on a link here \
                     (containerlab keeps eth0 for management; use eth1 and up)"
                );
                self.c.note(*at, msg);
                continue;
            }
            out.push((name, k.loc));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The management network, added to `topo`.
    pub(super) fn mgmt(&mut self, topo: &mut YNode, mgmt: Option<&YNode>, lab: &str) {
        let src = self.src;
        let nodes = self.mgmt_nodes(topo);
        if nodes.is_empty() && self.mgmt_ifaces.is_empty() {
            return;
        }
        let Some(net) = self.mgmt_block(mgmt) else {
            return;
        };
        if let Some(YVal::Map(ns)) = get(topo, src, "nodes").map(|n| &n.val) {
            if let Some((k, _)) = ns.iter().find(|(k, _)| key(k, src) == MGMT_NODE) {
                let msg = format!("node name `{MGMT_NODE}` is the management network's");
                self.c
                    .err(k.loc, msg, "rename the node, or deploy with --no-mgmt");
                return;
            }
        }
        let addrs = self.mgmt_addresses(&nodes, &net);
        let mut links = Vec::new();
        for (i, ((name, at), (a4, a6))) in nodes.iter().zip(addrs).enumerate() {
            let ip = YNode::made(
                *at,
                YVal::Seq(vec![
                    s(*at, &format!("{a4}/{}", net.v4.prefix)),
                    s(*at, &format!("{a6}/{}", net.v6.prefix)),
                ]),
            );
            let ep = map(
                *at,
                vec![
                    ("node", s(*at, name)),
                    ("iface", s(*at, "eth0")),
                    ("ip", ip),
                ],
            );
            let port = s(*at, &format!("{MGMT_NODE}:m{i}"));
            links.push(map(
                *at,
                vec![("endpoints", YNode::made(*at, YVal::Seq(vec![ep, port])))],
            ));
        }
        let at = mgmt.map(|m| m.loc).unwrap_or(topo.loc);
        let root = net.root.clone().unwrap_or_else(|| root_name(lab));
        let ends = vec![
            s(at, &format!("{MGMT_NODE}:{HOST_PORT}")),
            s(at, &format!("host:{root}")),
        ];
        links.push(map(
            at,
            vec![("endpoints", YNode::made(at, YVal::Seq(ends)))],
        ));
        let gw = [
            IpNet {
                addr: net.gw4,
                prefix: net.v4.prefix,
            },
            IpNet {
                addr: net.gw6,
                prefix: net.v6.prefix,
            },
        ];
        self.c.mgmt_host = Some((root, gw.to_vec()));
        let nat = self.ports_nat(topo, &nodes, &net, at);
        links.extend(nat.iter().map(|(_, l)| l.clone()));
        let switch = map(
            at,
            vec![
                ("kind", s(at, "switch")),
                ("stp", YNode::made(at, YVal::Bool(false))),
            ],
        );
        let YVal::Map(es) = &mut topo.val else { return };
        if !es.iter().any(|(k, _)| key(k, src) == "links") {
            es.push((s(at, "links"), YNode::made(at, YVal::Seq(Vec::new()))));
        }
        for (k, v) in es.iter_mut() {
            match (key(k, src).as_str(), &mut v.val) {
                ("nodes", YVal::Map(ns)) => {
                    ns.push((s(at, MGMT_NODE), switch.clone()));
                    if let Some((n, _)) = &nat {
                        ns.push((s(at, super::ports::NAT_NODE), n.clone()));
                    }
                }
                // First, so a node's management address is its primary one
                // (names in /etc/hosts, forwards of `ports:`), as in containerlab.
                ("links", YVal::Seq(ls)) => {
                    ls.splice(0..0, std::mem::take(&mut links));
                }
                _ => {}
            }
        }
    }

    /// Each node's management addresses: its `mgmt-ipv4/6`, else the
    /// next free ones after the gateway.
    fn mgmt_addresses(&mut self, nodes: &[(String, Loc)], net: &Net) -> Vec<(IpAddr, IpAddr)> {
        let src = self.src;
        let mut fixed = std::collections::BTreeMap::new();
        let mut taken = vec![net.gw4, net.gw6];
        for (name, list) in &self.mgmt_addrs {
            for (a, v6) in list {
                let t = a.text(src).unwrap_or_default();
                let sub = if *v6 { &net.v6 } else { &net.v4 };
                match t.parse::<IpAddr>() {
                    Ok(ip) if contains(sub, ip) => {
                        taken.push(ip);
                        fixed.insert((name.clone(), *v6), ip);
                    }
                    Ok(ip) => self.c.err(a.loc, format!("management address {ip} of node `{name}` is not in the management subnet {sub}"), "give an address of `mgmt.ipv4-subnet`/`ipv6-subnet` (default 172.20.20.0/24, 3fff:172:20:20::/64)"),
                    Err(e) => self.c.err(a.loc, format!("`mgmt-ipv{}` of node `{name}`: {e}", if *v6 { 6 } else { 4 }), "e.g. 172.20.20.10"),
                }
            }
        }
        let mut next = [2u128, 2u128];
        let mut pick = |v6: bool, net: &IpNet, taken: &mut Vec<IpAddr>| loop {
            let n = &mut next[usize::from(v6)];
            let a = nth(net, *n);
            *n += 1;
            if !taken.contains(&a) {
                taken.push(a);
                return a;
            }
        };
        nodes
            .iter()
            .map(|(name, _)| {
                let a4 = fixed
                    .get(&(name.clone(), false))
                    .copied()
                    .unwrap_or_else(|| pick(false, &net.v4, &mut taken));
                let a6 = fixed
                    .get(&(name.clone(), true))
                    .copied()
                    .unwrap_or_else(|| pick(true, &net.v6, &mut taken));
                (a4, a6)
            })
            .collect()
    }
}
