//! Checks of NAT nodes: what they forward to, which ports they use, and
//! what their uplink is. All before anything is built.

use super::Checker;
use crate::topo::nat::{Proto, Uplink};
use crate::topo::suggest::did_you_mean;
use crate::topo::NodeKind;
use std::collections::BTreeMap;

pub(super) fn check(c: &mut Checker<'_>) {
    let t = c.t;
    // (uplink, proto, port) → the NAT node that forwards it and where.
    let mut on_uplink: BTreeMap<(String, Proto, u16), (String, u32)> = BTreeMap::new();
    for (name, node) in &t.nodes {
        let Some(nat) = node.nat.as_deref() else {
            if node.kind == NodeKind::Nat {
                c.push(node.loc, format!("nat node `{name}` has no NAT settings"), None);
            }
            continue;
        };
        if node.kind != NodeKind::Nat {
            c.push(
                node.loc,
                format!("`{name}` is a {} but has NAT settings (`uplink`, `forward`, `nat`)", node.kind),
                Some("make it `kind: nat`, or remove them".into()),
            );
            continue;
        }
        uplink(c, name, nat);
        let uplink_key = match &nat.uplink {
            Uplink::Host => format!("host:{name}"),
            Uplink::Node(n) => n.clone(),
        };
        let mut own: BTreeMap<(Proto, u16), u32> = BTreeMap::new();
        for f in &nat.forwards {
            let loc = if f.loc.is_known() { f.loc } else { node.loc };
            match t.nodes.get(&f.node) {
                None => {
                    let hint = did_you_mean(&f.node, t.nodes.keys().map(String::as_str))
                        .unwrap_or_else(|| "forward to a host of this lab".into());
                    c.push(loc, format!("port forward `{f}` of `{name}` names unknown node `{}`", f.node), Some(hint));
                }
                Some(n) if n.kind == NodeKind::Switch || t.primary_addr(&f.node, false).is_none() => {
                    c.push(loc, format!("port forward `{f}` of `{name}`: `{}` has no IPv4 address to forward to", f.node), Some("forward to a host or router with an IPv4 address".into()));
                }
                Some(_) => {}
            }
            if let Some(first) = own.insert((f.proto, f.port), loc.line) {
                c.push(loc, format!("port {}/{} of `{name}` is forwarded twice (first on line {first})", f.port, f.proto.as_str()), Some("each uplink port forwards to one place: pick another port".into()));
                continue;
            }
            let key = (uplink_key.clone(), f.proto, f.port);
            if let Some((other, line)) = on_uplink.get(&key) {
                if other != name {
                    c.push(loc, format!("port {}/{} is forwarded by both `{other}` (line {line}) and `{name}` on uplink `{uplink_key}`", f.port, f.proto.as_str()), Some("two NAT nodes on one uplink must forward different ports".into()));
                }
            } else {
                on_uplink.insert(key, (name.clone(), loc.line));
            }
        }
        for s in &nat.static_nat {
            if !t.nodes.contains_key(&s.node) {
                let loc = if s.loc.is_known() { s.loc } else { node.loc };
                c.push(loc, format!("static NAT `{}:{}` of `{name}` names unknown node `{}`", s.public, s.node, s.node), None);
            }
        }
    }
}

/// The uplink is an internet node this NAT has a link to.
fn uplink(c: &mut Checker<'_>, name: &str, nat: &crate::topo::nat::NatSpec) {
    let t = c.t;
    let Uplink::Node(up) = &nat.uplink else { return };
    let loc = if nat.uplink_loc.is_known() { nat.uplink_loc } else { t.nodes[name].loc };
    match t.nodes.get(up) {
        None => {
            let hint = did_you_mean(up, t.nodes.keys().map(String::as_str))
                .unwrap_or_else(|| "name a `kind: internet` node, or `host`".into());
            c.push(loc, format!("uplink `{up}` of `{name}` is no node of this lab"), Some(hint));
        }
        Some(n) if n.kind != NodeKind::Internet => {
            c.push(loc, format!("uplink `{up}` of `{name}` is a {}, not an internet node", n.kind), Some(format!("give `{up}` `kind: internet`, or use `uplink: host`")));
        }
        Some(_) => {
            let linked = t.links.iter().any(|l| {
                let ns = [&l.endpoints[0].node, &l.endpoints[1].node];
                ns.contains(&&name.to_string()) && ns.contains(&up)
            });
            if !linked {
                c.push(loc, format!("`{name}` has uplink `{up}` but no link to it"), Some(format!("add a link between `{name}` and `{up}`")));
            }
        }
    }
}
