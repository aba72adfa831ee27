//! Addresses, L2 segments, gateways and routes.
//!
//! An L2 segment is what one broadcast reaches: links join their two ends,
//! a switch joins all its ports, a host or router ends the segment at each of
//! its interfaces. The same address in two segments is fine (two tenants may
//! both use 10.0.0.1); twice in one segment it is a conflict.

use super::{first_at, Checker};
use crate::topo::model::{Endpoint, IpNet, Loc, Node, NodeKind, Route};
use crate::topo::suggest::did_you_mean;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

pub(super) fn check(c: &mut Checker) {
    let eps: Vec<&Endpoint> = c.t.links.iter().flat_map(|l| l.endpoints.iter()).collect();
    let seg = segments(c, &eps);
    addresses(c, &eps, &seg);
    macs(c, &eps, &seg);
    // Grouped once: asking `endpoints_of` per node is quadratic in big labs.
    let mut by_node: HashMap<&str, Vec<&Endpoint>> = HashMap::new();
    for ep in &eps {
        by_node.entry(ep.node.as_str()).or_default().push(ep);
    }
    // Interfaces on host NICs can hold a node's gateway too.
    for node in c.t.nodes.values() {
        let nics = node.macvlans.iter().map(|m| &m.end);
        by_node.entry(node.name.as_str()).or_default().extend(nics);
    }
    for node in c.t.nodes.values() {
        if node.kind == NodeKind::Switch {
            switch_takes_no_routes(c, node);
        } else {
            let mine = by_node
                .get(node.name.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            Routing::new(node, mine).check(c);
        }
    }
}

/// The segment number of every endpoint (index into `eps`).
pub(super) fn segments(c: &Checker, eps: &[&Endpoint]) -> Vec<usize> {
    let mut uf = UnionFind::new(eps.len());
    // Ends of one link share a segment: links are eps[2k] and eps[2k + 1].
    for k in 0..eps.len() / 2 {
        uf.union(2 * k, 2 * k + 1);
    }
    let mut first_port: HashMap<&str, usize> = HashMap::new();
    for (i, ep) in eps.iter().enumerate() {
        if c.t.nodes.get(&ep.node).map(|n| n.kind) == Some(NodeKind::Switch) {
            match first_port.get(ep.node.as_str()) {
                Some(&j) => uf.union(i, j),
                None => {
                    first_port.insert(&ep.node, i);
                }
            }
        }
    }
    (0..eps.len()).map(|i| uf.find(i)).collect()
}

fn addresses(c: &mut Checker, eps: &[&Endpoint], seg: &[usize]) {
    let mut on_node: HashMap<(&str, IpAddr), usize> = HashMap::new();
    let mut in_seg: HashMap<(usize, IpAddr), usize> = HashMap::new();
    for (i, ep) in eps.iter().enumerate() {
        // Switch ports with addresses are reported on their own.
        if c.t.nodes.get(&ep.node).map(|n| n.kind) == Some(NodeKind::Switch) {
            continue;
        }
        let mtu = link_mtu(c, i, ep);
        let mut has_v6 = false;
        for a in &ep.addrs {
            has_v6 |= !a.is_ipv4();
            if a.prefix > a.max_prefix() {
                c.push(
                    ep.loc,
                    format!(
                        "address {a} on `{}`: the prefix is longer than /{}",
                        ep.id(),
                        a.max_prefix()
                    ),
                    None,
                );
                continue;
            }
            if let Some(why) = unusable(&a.addr) {
                c.push(
                    ep.loc,
                    format!(
                        "address {a} on `{}` is {why}; it cannot be an interface address",
                        ep.id()
                    ),
                    None,
                );
                continue;
            }
            if let Some((why, hint)) = not_a_host_address(a) {
                c.push(
                    ep.loc,
                    format!(
                        "address {a} on `{}` is {why}; it cannot be a host address",
                        ep.id()
                    ),
                    Some(hint),
                );
                continue;
            }
            if let Some(&j) = on_node.get(&(ep.node.as_str(), a.addr)) {
                let other = eps[j];
                let msg = if j == i {
                    format!("address {} is listed twice on `{}`", a.addr, ep.id())
                } else {
                    format!(
                        "address {} is set twice on node `{}`: on `{}`{} and on `{}`",
                        a.addr,
                        ep.node,
                        other.id(),
                        first_at(other.loc),
                        ep.id()
                    )
                };
                c.push(
                    ep.loc,
                    msg,
                    Some("an address belongs to one interface".into()),
                );
                continue;
            }
            on_node.insert((&ep.node, a.addr), i);
            if let Some(&j) = in_seg.get(&(seg[i], a.addr)) {
                let other = eps[j];
                c.push(
                    ep.loc,
                    format!(
                        "address {} is on both `{}`{} and `{}`, which are in the same L2 segment",
                        a.addr,
                        other.id(),
                        first_at(other.loc),
                        ep.id()
                    ),
                    Some("give every interface in a segment its own address".into()),
                );
                continue;
            }
            in_seg.insert((seg[i], a.addr), i);
        }
        if let Some(m) = mtu.filter(|m| has_v6 && *m < 1280) {
            c.push(
                ep.loc,
                format!(
                    "`{}` has an IPv6 address but MTU {m}; IPv6 needs at least 1280",
                    ep.id()
                ),
                Some("raise the MTU to 1280 or drop the IPv6 address".into()),
            );
        }
    }
}

/// The MTU endpoint `i` will get: its own, else its link's.
fn link_mtu(c: &Checker, i: usize, ep: &Endpoint) -> Option<u32> {
    ep.mtu.or_else(|| c.t.links.get(i / 2).and_then(|l| l.mtu))
}

fn unusable(a: &IpAddr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_loopback() {
        Some("a loopback address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else if *a == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        Some("the broadcast address")
    } else {
        None
    }
}

/// The network and broadcast addresses of an IPv4 subnet name the subnet
/// and all of its hosts; the kernel accepts them on an interface, and the
/// lab then silently fails to reach (or answers for) every host. /31 and
/// /32 have no such addresses (RFC 3021). On error: why, and a usable
/// address to suggest.
fn not_a_host_address(a: &IpNet) -> Option<(String, String)> {
    let (IpAddr::V4(v4), IpAddr::V4(net_s)) = (a.addr, a.network()) else {
        return None;
    };
    if a.prefix >= 31 {
        return None;
    }
    let (ip, net) = (u32::from(v4), u32::from(net_s));
    let host_mask = u32::MAX >> a.prefix;
    if ip == net {
        let first = std::net::Ipv4Addr::from(net + 1);
        return Some((
            format!("the network address of {net_s}/{}", a.prefix),
            format!("use a host address such as {first}/{}", a.prefix),
        ));
    }
    if ip & host_mask == host_mask {
        let last = std::net::Ipv4Addr::from(ip - 1);
        return Some((
            format!("the broadcast address of {net_s}/{}", a.prefix),
            format!("use a host address such as {last}/{}", a.prefix),
        ));
    }
    None
}

fn macs(c: &mut Checker, eps: &[&Endpoint], seg: &[usize]) {
    let mut seen: HashMap<(usize, [u8; 6]), usize> = HashMap::new();
    for (i, ep) in eps.iter().enumerate() {
        let Some(mac) = ep.mac else { continue };
        match seen.get(&(seg[i], mac.0)) {
            Some(&j) => c.push(
                ep.loc,
                format!(
                    "MAC {mac} is on both `{}`{} and `{}`, which are in the same L2 segment",
                    eps[j].id(),
                    first_at(eps[j].loc),
                    ep.id()
                ),
                None,
            ),
            None => {
                seen.insert((seg[i], mac.0), i);
            }
        }
    }
}

fn switch_takes_no_routes(c: &mut Checker, node: &Node) {
    let hint =
        Some("a switch is a bridge without addresses; put routes on hosts or routers".into());
    for (what, set) in [
        ("gateway", node.gateway.is_some()),
        ("gateway6", node.gateway6.is_some()),
        ("routes", !node.routes.is_empty()),
    ] {
        if set {
            c.push(
                node.loc,
                format!("switch `{}` has `{what}`; switches take none", node.name),
                hint.clone(),
            );
        }
    }
}

/// What a host or router can reach directly: its own prefixes.
struct Routing<'t> {
    node: &'t Node,
    /// (interface, address) for every address on the node.
    addrs: Vec<(&'t str, IpNet)>,
    ifaces: Vec<&'t str>,
}

impl<'t> Routing<'t> {
    fn new(node: &'t Node, eps: &[&'t Endpoint]) -> Self {
        let mut addrs = Vec::new();
        let mut ifaces = Vec::new();
        for ep in eps {
            ifaces.push(ep.iface.as_str());
            addrs.extend(ep.addrs.iter().map(|a| (ep.iface.as_str(), *a)));
        }
        Routing {
            node,
            addrs,
            ifaces,
        }
    }

    fn check(&self, c: &mut Checker) {
        let n = self.node;
        for (key, gw, v4) in [
            ("gateway", n.gateway, true),
            ("gateway6", n.gateway6, false),
        ] {
            let Some(gw) = gw else { continue };
            if gw.is_ipv4() != v4 {
                let (want, other) = if v4 {
                    ("IPv4", "gateway6")
                } else {
                    ("IPv6", "gateway")
                };
                c.push(
                    n.loc,
                    format!(
                        "`{key}` of `{}` is {gw}, but `{key}` takes an {want} address",
                        n.name
                    ),
                    Some(format!("use `{other}` for {gw}")),
                );
                continue;
            }
            if let Err((msg, hint)) = self.reachable(gw, None) {
                c.push(
                    n.loc,
                    format!("`{key}` {gw} of `{}`: {msg}", n.name),
                    Some(hint),
                );
            }
            let default = n
                .routes
                .iter()
                .find(|r| r.dst.is_default() && r.dst.is_ipv4() == v4);
            if let Some(r) = default {
                c.push(
                    r.loc,
                    format!(
                        "`{}` has both `{key}` and a default route in `routes`",
                        n.name
                    ),
                    Some("keep one of them".into()),
                );
            }
        }
        let mut dsts: BTreeMap<(IpAddr, u8), Loc> = BTreeMap::new();
        for r in &n.routes {
            let net = IpNet {
                addr: r.dst.network(),
                prefix: r.dst.prefix,
            };
            if let Some(first) = dsts.insert((net.addr, net.prefix), r.loc) {
                c.push(
                    r.loc,
                    format!("`{}` has two routes to {net}{}", n.name, first_at(first)),
                    Some("a node has one route per destination".into()),
                );
            }
            self.route(c, r, net);
        }
    }

    fn route(&self, c: &mut Checker, r: &Route, net: IpNet) {
        let name = &self.node.name;
        let what = format!("route to {} on `{name}`", r.dst);
        if r.dst.prefix > r.dst.max_prefix() {
            let msg = format!("{what}: the prefix is longer than /{}", r.dst.max_prefix());
            c.push(r.loc, msg, None);
            return;
        }
        if net.addr != r.dst.addr {
            c.push(
                r.loc,
                format!("{what}: the destination has host bits set"),
                Some(format!("did you mean {net}?")),
            );
        }
        if let Some(dev) = &r.dev {
            if !self.ifaces.contains(&dev.as_str()) {
                let hint = did_you_mean(dev, self.ifaces.iter().copied())
                    .unwrap_or_else(|| format!("`{name}` has: {}", list_or_none(&self.ifaces)));
                c.push(
                    r.loc,
                    format!("{what}: `{name}` has no interface `{dev}`"),
                    Some(hint),
                );
                return;
            }
        }
        let Some(via) = r.via else {
            if r.dev.is_none() {
                c.push(
                    r.loc,
                    format!("{what} has neither `via` nor `dev`"),
                    Some("give the next hop (`via`) or the outgoing interface (`dev`)".into()),
                );
            }
            return;
        };
        if via.is_ipv4() != r.dst.is_ipv4() {
            c.push(
                r.loc,
                format!(
                    "{what}: `via` {via} is {} but the destination is {}",
                    family(&via),
                    family(&r.dst.addr)
                ),
                Some("a route and its gateway are of one family".into()),
            );
            return;
        }
        if let Err((msg, hint)) = self.reachable(via, r.dev.as_deref()) {
            c.push(r.loc, format!("{what} via {via}: {msg}"), Some(hint));
        }
    }

    /// A gateway must be a neighbour: inside one of our prefixes (on `dev`
    /// when given), and not one of our own addresses.
    fn reachable(&self, gw: IpAddr, dev: Option<&str>) -> Result<(), (String, String)> {
        let name = &self.node.name;
        if self.addrs.iter().any(|(_, a)| a.addr == gw) {
            return Err((
                format!("{gw} is an address of `{name}` itself"),
                "the gateway is the next hop, another node's address".into(),
            ));
        }
        if is_v6_link_local(&gw) {
            return match dev {
                Some(_) => Ok(()),
                None => Err((
                    format!("{gw} is link-local, so the kernel needs the interface too"),
                    format!(
                        "use a route with `dev`: {{dst: default, via: {gw}, dev: <interface>}}"
                    ),
                )),
            };
        }
        let mine: Vec<IpNet> = self
            .addrs
            .iter()
            .filter(|(i, a)| a.is_ipv4() == gw.is_ipv4() && dev.is_none_or(|d| d == *i))
            .map(|(_, a)| *a)
            .collect();
        if mine.iter().any(|a| a.contains(&gw)) {
            return Ok(());
        }
        let on = match dev {
            Some(d) => format!("`{name}:{d}`"),
            None => format!("`{name}`"),
        };
        let msg = if mine.is_empty() {
            format!("{on} has no {} address, so it cannot reach it", family(&gw))
        } else {
            let list: Vec<String> = mine.iter().map(|a| a.to_string()).collect();
            format!("not in any subnet of {on} ({})", list.join(", "))
        };
        Err((
            msg,
            format!("a gateway must be directly reachable: give {on} an address in the gateway's subnet, or fix the gateway"),
        ))
    }
}

fn is_v6_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

fn family(a: &IpAddr) -> &'static str {
    if a.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

fn list_or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "no interfaces".into()
    } else {
        v.join(", ")
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            // Path halving keeps chains short without recursion.
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra] = rb;
        }
    }
}
