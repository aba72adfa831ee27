//! The NAT keys of a node (`uplink`, `forward`, `static`, `hairpin`,
//! `nat`, `publish_host`) and the internet node a NAT gets when the file names none.

use super::reader::{Fields, Reader};
use super::yaml::{YNode, YVal};
use crate::topo::model::{Endpoint, IpNet, Link, Node, NodeKind, Topology};
use crate::topo::nat::{self, Forward, NatSpec, StaticNat, Uplink, UPLINK_IFACE};
use crate::topo::suggest::did_you_mean;
use std::net::{IpAddr, Ipv4Addr};

/// Keys only a NAT node takes.
pub(super) const NAT_KEYS: &[&str] = &[
    "uplink",
    "forward",
    "static",
    "hairpin",
    "nat",
    "publish_host",
];

/// The NAT settings of node `name` of `kind`; `None` for other kinds
/// (an error if any NAT key is there).
pub(super) fn spec(
    r: &mut Reader<'_>,
    name: &str,
    kind: NodeKind,
    f: &Fields<'_>,
    node_loc: crate::topo::Loc,
) -> Option<Box<NatSpec>> {
    if kind != NodeKind::Nat {
        for k in NAT_KEYS {
            if let Some(v) = f.get(k) {
                r.err(
                    v.loc,
                    format!("`{k}` is set on {kind} `{name}`, but only nat nodes take it"),
                    Some("make the node `kind: nat`".into()),
                );
            }
        }
        return None;
    }
    let mut s = NatSpec::new(Uplink::Node(String::new()));
    s.uplink_loc = node_loc;
    if let Some(u) = f.value("uplink") {
        s.uplink_loc = u.loc;
        if let Some(text) = r.string(u, "`uplink`") {
            s.uplink = if text == "host" {
                Uplink::Host
            } else {
                Uplink::Node(text)
            };
        }
    }
    if let Some(list) = f.value("forward") {
        for n in r.list(list, "`forward`", true) {
            if let Some(fw) = forward(r, n) {
                s.forwards.push(fw);
            }
        }
    }
    if let Some(list) = f.value("static") {
        for n in r.list(list, "`static`", true) {
            if let Some(st) = static_nat(r, n) {
                s.static_nat.push(st);
            }
        }
    }
    if let Some(h) = f.value("hairpin") {
        s.hairpin = r.bool(h, "`hairpin`").unwrap_or(true);
    }
    if let Some(b) = f.value("nat") {
        if let Some(beh) = behaviour(r, b) {
            s.behaviour = beh;
        }
    }
    if let Some(p) = f.value("publish_host") {
        s.publish = r.bool(p, "`publish_host`").unwrap_or(false);
        if s.publish && s.uplink != Uplink::Host {
            r.err(
                p.loc,
                format!(
                    "`publish_host` on nat `{name}` needs `uplink: host`: only then are its forwards \
                     reachable from the host"
                ),
                Some("set `uplink: host`, or drop `publish_host`".into()),
            );
        }
    }
    Some(Box::new(s))
}

/// Keys of `nat:` written as a mapping.
const BEHAVIOUR_KEYS: &[&str] = &["preset", "mapping", "filtering", "port_preservation"];

/// `nat: PRESET`, or `nat: {preset, mapping, filtering, port_preservation}`
/// (each key optional; the preset, `port-restricted` unless named, gives
/// what the others leave out).
fn behaviour(r: &mut Reader<'_>, n: &YNode) -> Option<nat::Behaviour> {
    if !matches!(n.val, YVal::Map(_)) {
        let text = r.string(n, "`nat`")?;
        return preset(r, n, &text);
    }
    let f = r.fields(n, "`nat`", BEHAVIOUR_KEYS);
    let mut b = match f.value("preset") {
        Some(p) => {
            let text = r.string(p, "`preset`")?;
            preset(r, p, &text)?
        }
        None => nat::Behaviour::default(),
    };
    for (key, slot) in [("mapping", &mut b.mapping), ("filtering", &mut b.filtering)] {
        let Some(v) = f.value(key) else { continue };
        let text = r.string(v, &format!("`{key}`"))?;
        match text.parse::<nat::Dependence>() {
            Ok(d) => *slot = d,
            Err(msg) => {
                let hint = did_you_mean(&text, nat::DEPENDENCES.iter().copied());
                r.err(v.loc, format!("`{key}`: {msg}"), hint);
                return None;
            }
        }
    }
    if let Some(v) = f.value("port_preservation") {
        b.port_preservation = r.bool(v, "`port_preservation`")?;
    }
    Some(b)
}

fn preset(r: &mut Reader<'_>, n: &YNode, text: &str) -> Option<nat::Behaviour> {
    let p = nat::preset(text);
    if p.is_none() {
        let hint = did_you_mean(text, nat::PRESETS.iter().copied())
            .unwrap_or_else(|| format!("one of {}", nat::PRESETS.join(", ")));
        r.err(n.loc, format!("unknown NAT behaviour `{text}`"), Some(hint));
    }
    p
}

fn forward(r: &mut Reader<'_>, n: &YNode) -> Option<Forward> {
    let text = r.string(n, "a port forward")?;
    match text.parse::<Forward>() {
        Ok(mut f) => {
            f.loc = n.loc;
            Some(f)
        }
        Err(msg) => {
            r.err(n.loc, msg, Some("e.g. `8080:h1:80/tcp`".into()));
            None
        }
    }
}

fn static_nat(r: &mut Reader<'_>, n: &YNode) -> Option<StaticNat> {
    let text = r.string(n, "a static NAT")?;
    let parsed = text
        .split_once(':')
        .and_then(|(a, node)| Some((a.parse::<Ipv4Addr>().ok()?, node)));
    match parsed {
        Some((public, node)) if !node.is_empty() => Some(StaticNat {
            public,
            node: node.to_string(),
            ip: None,
            loc: n.loc,
        }),
        _ => {
            r.err(
                n.loc,
                format!("static NAT `{text}` is not `PUBLIC-IPV4:NODE`"),
                Some("e.g. `203.0.113.10:h1`".into()),
            );
            None
        }
    }
}

/// Gives each NAT node without `uplink:` its uplink: the one internet node
/// it has a link to, or (none linked) an internet node made for it on a
/// link of its own, with addresses from the documentation ranges. Also the
/// NAT's default route toward the uplink when the file gives none.
pub fn finish(t: &mut Topology) {
    let nats: Vec<String> = t
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Nat && n.nat.is_some())
        .map(|n| n.name.clone())
        .collect();
    let mut made = 0u8;
    for name in nats {
        let unnamed = matches!(t.nodes[&name].nat.as_deref(), Some(NatSpec { uplink: Uplink::Node(u), .. }) if u.is_empty());
        if unnamed {
            let linked: Vec<String> = linked_internet(t, &name);
            let up = match linked.as_slice() {
                [one] => one.clone(),
                _ => {
                    made += 1;
                    make_internet(t, &name, made)
                }
            };
            if let Some(s) = t.nodes.get_mut(&name).and_then(|n| n.nat.as_deref_mut()) {
                s.uplink = Uplink::Node(up);
            }
        }
        default_route(t, &name);
        static_addrs(t, &name);
    }
}

/// Each static NAT's public address goes on the NAT's uplink interface
/// (with the uplink subnet's prefix), so the NAT answers ARP for it and
/// its prerouting rule sees the packets. One outside the uplink subnet is
/// left alone: validation reports it.
fn static_addrs(t: &mut Topology, nat: &str) {
    let Some(spec) = t.nodes[nat].nat.as_deref() else {
        return;
    };
    let Uplink::Node(up) = &spec.uplink else {
        return;
    };
    let publics: Vec<IpAddr> = spec.static_nat.iter().map(|s| s.public.into()).collect();
    let Some(end) = nat::uplink_end(t, nat, up).cloned() else {
        return;
    };
    let Some(ep) = t
        .links
        .iter_mut()
        .flat_map(|l| l.endpoints.iter_mut())
        .find(|e| e.node == end.node && e.iface == end.iface)
    else {
        return;
    };
    for public in publics {
        let net = ep.addrs.iter().find(|a| a.contains(&public)).copied();
        if let Some(net) = net.filter(|_| !ep.addrs.iter().any(|a| a.addr == public)) {
            ep.addrs.push(IpNet {
                addr: public,
                prefix: net.prefix,
            });
        }
    }
}

fn linked_internet(t: &Topology, nat: &str) -> Vec<String> {
    let mut out: Vec<String> = t
        .links
        .iter()
        .filter_map(|l| {
            let i = l.end_index_of_node(nat)?;
            let other = &l.endpoints[1 - i].node;
            (t.nodes.get(other).map(|n| n.kind) == Some(NodeKind::Internet)).then(|| other.clone())
        })
        .collect();
    out.dedup();
    out
}

/// An internet node `internet` (or `internet<N>` when taken) linked to
/// `nat`, on transfer subnet number `n`.
fn make_internet(t: &mut Topology, nat: &str, n: u8) -> String {
    let mut name = "internet".to_string();
    let mut i = 1;
    while t.nodes.contains_key(&name) {
        i += 1;
        name = format!("internet{i}");
    }
    let mut node = Node::new(&name, NodeKind::Internet);
    node.loc = t.nodes[nat].loc;
    t.nodes.insert(name.clone(), node);
    let (inet, nat_addr) = transfer_addrs(n);
    let mut a = Endpoint::new(nat, UPLINK_IFACE);
    a.addrs = vec![nat_addr];
    let mut b = Endpoint::new(&name, nat);
    b.addrs = vec![inet];
    t.links.push(Link::new(a, b));
    name
}

/// The internet's and the NAT's address on made uplink number `n`:
/// 203.0.113.0/24 (TEST-NET-3) first, then 198.51.100.0/24 (TEST-NET-2),
/// then 100.64.N.0/24: never a range a real network routes.
pub fn transfer_addrs(n: u8) -> (IpNet, IpNet) {
    let base = match n {
        0 | 1 => [203, 0, 113],
        2 => [198, 51, 100],
        k => [100, 64, k],
    };
    let ip = |last| IpNet {
        addr: IpAddr::V4(Ipv4Addr::new(base[0], base[1], base[2], last)),
        prefix: 24,
    };
    (ip(1), ip(2))
}

/// A NAT without a gateway routes its default toward the internet end of
/// its uplink link (a direct link only: on a shared segment the file says).
fn default_route(t: &mut Topology, nat: &str) {
    if t.nodes[nat].gateway.is_some() {
        return;
    }
    let Some(Uplink::Node(up)) = t.nodes[nat].nat.as_deref().map(|s| s.uplink.clone()) else {
        return;
    };
    let gw = t.links.iter().find_map(|l| {
        let i = l.end_index_of_node(nat)?;
        let other = &l.endpoints[1 - i];
        (other.node == up).then(|| other.addrs.iter().find(|a| a.is_ipv4()).map(|a| a.addr))?
    });
    if let Some(n) = t.nodes.get_mut(nat) {
        n.gateway = gw;
    }
}
