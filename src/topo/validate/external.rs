//! Rules for attached nodes (`kind: external`, `image:`) and `host:`
//! links. What only the running system can tell (does the process, the
//! namespace, the container exist?) is checked by the lab layer before it
//! touches anything.

use super::{check_iface_name, first_at, Checker};
use crate::topo::external::{Attach, HOST_NODE};
use crate::topo::model::{Endpoint, Loc, NodeKind};
use std::collections::HashMap;

pub(super) fn check(c: &mut Checker) {
    let t = c.t;
    let mut sources: HashMap<String, (&str, Loc)> = HashMap::new();
    for (name, n) in &t.nodes {
        let Some(a) = &n.attach else { continue };
        if n.kind != NodeKind::Host {
            let msg = format!("node `{name}` is a {} with `{a}`", n.kind);
            let hint = "an attached namespace or container is a host: drop `kind`, \
                        or put a switch or router between it and the lab";
            c.push(n.loc, msg, Some(hint.into()));
        }
        if !matches!(a, Attach::Image(_)) {
            if let Some((first, loc)) = sources.insert(a.to_string(), (name, n.loc)) {
                let msg = format!("nodes `{first}` and `{name}` both attach {a}");
                c.push(n.loc, format!("{msg}{}", first_at(loc)), None);
            }
        }
        services(c, name, n, a);
    }
    host_links(c);
}

/// What an attached node cannot have: nlab would have to change the
/// namespace's own settings, or run a service that needs it.
fn services(c: &mut Checker, name: &str, n: &crate::topo::Node, a: &Attach) {
    let dhcp_end = c.t.endpoints_of(name).any(|e| e.dhcp);
    let mut refuse = |what: &str, hint: &str| {
        let msg = format!("node `{name}` ({a}) cannot have {what}");
        c.push(n.loc, msg, Some(hint.into()));
    };
    if a.is_external() && (n.gateway.is_some() || n.gateway6.is_some()) {
        refuse(
            "a default gateway",
            "the namespace keeps its own default route; add `routes:` with specific \
             destinations (they go away with the lab's interfaces)",
        );
    }
    if n.dhcp.is_some() || n.dhcp_relay || n.ipv6_ra.is_some() || n.ip6_auto {
        refuse(
            "DHCP, router advertisements or `ip6: auto`",
            "give its interfaces static addresses",
        );
    }
    if dhcp_end {
        refuse("`ip: dhcp`", "give its interfaces static addresses");
    }
}

fn host_links(c: &mut Checker) {
    let t = c.t;
    let mut host_names: HashMap<&str, Loc> = HashMap::new();
    let mut used: HashMap<(&str, &str), Loc> = t
        .links
        .iter()
        .flat_map(|l| l.endpoints.iter())
        .map(|e| ((e.node.as_str(), e.iface.as_str()), e.loc))
        .collect();
    for h in &t.host_links {
        let mut ep = Endpoint::new(h.node.clone(), h.iface.clone());
        ep.addrs = h.addrs.clone();
        ep.mac = h.mac;
        ep.mtu = h.mtu;
        ep.loc = h.loc;
        c.endpoint(&ep);
        if let Err(msg) = check_iface_name(&h.host_iface) {
            c.push(
                h.loc,
                format!("interface `{HOST_NODE}:{}`: {msg}", h.host_iface),
                None,
            );
        }
        if let Some(first) = host_names.insert(&h.host_iface, h.loc) {
            let msg = format!(
                "two links use `{HOST_NODE}:{}`{}",
                h.host_iface,
                first_at(first)
            );
            c.push(
                h.loc,
                msg,
                Some("each host interface is one end of one link".into()),
            );
        }
        if let Some(first) = used.insert((&h.node, &h.iface), h.loc) {
            let msg = format!(
                "interface `{}:{}` is used by two links{}",
                h.node,
                h.iface,
                first_at(first)
            );
            c.push(h.loc, msg, Some("pick another interface name".into()));
        }
    }
}
