//! Checks of NAT nodes: what they forward to, which ports they use, and
//! what their uplink is. All before anything is built.

use super::Checker;
use crate::topo::nat::{NatSpec, Proto, Uplink};
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
                c.push(
                    node.loc,
                    format!("nat node `{name}` has no NAT settings"),
                    None,
                );
            }
            continue;
        };
        if node.kind != NodeKind::Nat {
            c.push(
                node.loc,
                format!(
                    "`{name}` is a {} but has NAT settings (`uplink`, `forward`, `nat`)",
                    node.kind
                ),
                Some("make it `kind: nat`, or remove them".into()),
            );
            continue;
        }
        uplink(c, name, nat);
        behaviour(c, name, node.loc, &nat.behaviour);
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
                    c.push(
                        loc,
                        format!(
                            "port forward `{f}` of `{name}` names unknown node `{}`",
                            f.node
                        ),
                        Some(hint),
                    );
                }
                Some(n)
                    if n.kind == NodeKind::Switch || t.primary_addr(&f.node, false).is_none() =>
                {
                    c.push(loc, format!("port forward `{f}` of `{name}`: `{}` has no IPv4 address to forward to", f.node), Some("forward to a host or router with an IPv4 address".into()));
                }
                Some(_) => {}
            }
            if let Some(first) = own.insert((f.proto, f.port), loc.line) {
                c.push(
                    loc,
                    format!(
                        "port {}/{} of `{name}` is forwarded twice (first on line {first})",
                        f.port,
                        f.proto.as_str()
                    ),
                    Some("each uplink port forwards to one place: pick another port".into()),
                );
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
        statics(c, name, node.loc, nat);
    }
}

/// Static 1:1 NAT: to a node of the lab with an IPv4 address, with a
/// public address in the uplink subnet (the NAT takes it there), each
/// public address and inner node once.
fn statics(c: &mut Checker<'_>, name: &str, node_loc: crate::topo::Loc, nat: &NatSpec) {
    let t = c.t;
    let mut seen_public = BTreeMap::new();
    let mut seen_node = BTreeMap::new();
    for s in &nat.static_nat {
        let loc = if s.loc.is_known() { s.loc } else { node_loc };
        let what = format!("static NAT `{}:{}` of `{name}`", s.public, s.node);
        match t.nodes.get(&s.node) {
            None => {
                let hint = did_you_mean(&s.node, t.nodes.keys().map(String::as_str));
                c.push(loc, format!("{what} names unknown node `{}`", s.node), hint);
            }
            Some(n)
                if n.kind == NodeKind::Switch
                    || (s.ip.is_none() && t.primary_addr(&s.node, false).is_none()) =>
            {
                c.push(
                    loc,
                    format!("{what}: `{}` has no IPv4 address", s.node),
                    Some("map a host or router with an IPv4 address".into()),
                );
            }
            Some(_) => {}
        }
        if let Some(line) = seen_public.insert(s.public, loc.line) {
            c.push(
                loc,
                format!(
                    "{what}: {} is mapped twice (first on line {line})",
                    s.public
                ),
                Some("give each inner node its own public address".into()),
            );
        }
        if let Some(line) = seen_node.insert(s.node.clone(), loc.line) {
            c.push(
                loc,
                format!(
                    "{what}: `{}` has a static NAT already (line {line})",
                    s.node
                ),
                Some("a 1:1 NAT maps one inner node to one public address".into()),
            );
        }
        static_public(c, name, loc, nat, s.public);
    }
}

/// The public address of a static NAT lies in the NAT's uplink subnet.
fn static_public(
    c: &mut Checker<'_>,
    name: &str,
    loc: crate::topo::Loc,
    nat: &NatSpec,
    public: std::net::Ipv4Addr,
) {
    let t = c.t;
    let Uplink::Node(up) = &nat.uplink else {
        c.push(
            loc,
            format!("static NAT {public} of `{name}`: a host uplink has no room for public addresses (its transfer subnet is a /30)"),
            Some("give the NAT an internet node as its uplink, or use port forwards".into()),
        );
        return;
    };
    let Some(end) = crate::topo::nat::uplink_end(t, name, up) else {
        return; // `uplink` reports the missing link
    };
    let ip = std::net::IpAddr::V4(public);
    let own = end.addrs.iter().find(|a| a.is_ipv4());
    let msg = match own {
        Some(o) if o.addr == ip => format!(
            "static NAT {public} of `{name}` is the NAT's own uplink address (masquerade uses it)"
        ),
        Some(_) if end.addrs.iter().any(|a| a.addr == ip) => return,
        Some(o) => format!(
            "static NAT {public} of `{name}` is not in its uplink subnet {}/{}",
            o.network(),
            o.prefix
        ),
        None => format!("static NAT {public} of `{name}`: its uplink has no IPv4 address"),
    };
    c.push(
        loc,
        msg,
        Some(format!(
            "pick a free address of the subnet between `{name}` and `{up}`"
        )),
    );
}

/// Behaviours this build can give. Linux masquerade either keeps the
/// source port (endpoint-independent mapping with port preservation) or
/// picks one per flow (`fully-random`: address-and-port-dependent mapping);
/// address-dependent mapping has no nftables form. Filtering looser than
/// conntrack's own is learned per mapping (`lab::nat::rules::cone`), which
/// needs the mapped port to be the inner one: endpoint-independent mapping
/// with port preservation.
fn behaviour(
    c: &mut Checker<'_>,
    name: &str,
    loc: crate::topo::Loc,
    b: &crate::topo::nat::Behaviour,
) {
    use crate::topo::nat::Dependence::*;
    let mut refuse =
        |msg: String, hint: &str| c.push(loc, format!("NAT `{name}`: {msg}"), Some(hint.into()));
    match (b.mapping, b.port_preservation) {
        (AddressDependent, _) => refuse(
            "address-dependent mapping has no nftables form".into(),
            "use endpoint-independent (`port-restricted`) or address-and-port-dependent (`symmetric`) mapping",
        ),
        (EndpointIndependent, false) => refuse(
            "endpoint-independent mapping needs port preservation (without it Linux picks a port per flow, which is address-and-port-dependent)".into(),
            "turn port preservation on, or use address-and-port-dependent mapping (`symmetric`)",
        ),
        (AddressAndPortDependent, _) if b.filtering != AddressAndPortDependent => refuse(
            format!("{} filtering needs endpoint-independent mapping (a mapping that changes per destination cannot be reached from others)", b.filtering),
            "use `full-cone` or `restricted-cone`, or address-and-port-dependent filtering",
        ),
        _ => {}
    }
}

/// The uplink is an internet node this NAT has a link to.
fn uplink(c: &mut Checker<'_>, name: &str, nat: &crate::topo::nat::NatSpec) {
    let t = c.t;
    let Uplink::Node(up) = &nat.uplink else {
        return;
    };
    let loc = if nat.uplink_loc.is_known() {
        nat.uplink_loc
    } else {
        t.nodes[name].loc
    };
    match t.nodes.get(up) {
        None => {
            let hint = did_you_mean(up, t.nodes.keys().map(String::as_str))
                .unwrap_or_else(|| "name a `kind: internet` node, or `host`".into());
            c.push(
                loc,
                format!("uplink `{up}` of `{name}` is no node of this lab"),
                Some(hint),
            );
        }
        Some(n) if n.kind != NodeKind::Internet => {
            c.push(
                loc,
                format!(
                    "uplink `{up}` of `{name}` is a {}, not an internet node",
                    n.kind
                ),
                Some(format!(
                    "give `{up}` `kind: internet`, or use `uplink: host`"
                )),
            );
        }
        Some(_) if crate::topo::nat::uplink_end(t, name, up).is_none() => {
            c.push(
                loc,
                format!("`{name}` has uplink `{up}` but no link to it"),
                Some(format!(
                    "add a link between `{name}` and `{up}` (or a switch `{up}` is on)"
                )),
            );
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::topo::file::parse;

    fn errors(yaml: &str) -> Vec<(u32, String)> {
        match parse(yaml, Some("lab.yaml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|e| (e.loc.line, e.msg.clone())).collect(),
        }
    }

    const BASE: &str = "name: n
topology:
  nodes:
    h1: {gateway: 192.168.1.1}
    inet: {kind: internet}
    r1: {kind: router}
    nat1:
      kind: nat
      uplink: UPLINK
      forward: [FORWARDS]
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 192.168.1.10/24}, {node: nat1, iface: lan, ip: 192.168.1.1/24}]
    - endpoints: [{node: nat1, iface: wan, ip: 203.0.113.2/24}, {node: inet, iface: n1, ip: 203.0.113.1/24}]
    - endpoints: [{node: nat1, iface: r, ip: 10.9.0.1/24}, {node: r1, iface: n, ip: 10.9.0.2/24}]
";

    fn file(uplink: &str, forwards: &str) -> String {
        BASE.replace("UPLINK", uplink).replace("FORWARDS", forwards)
    }

    #[test]
    fn a_good_nat_file_parses_with_its_forwards() {
        let t = parse(
            &file("inet", "\"8080:h1:80/tcp\", \"5353:h1:53/udp\""),
            None,
        )
        .expect("valid");
        let nat = t.nodes["nat1"].nat.as_deref().expect("nat spec");
        assert_eq!(nat.forwards.len(), 2);
        assert_eq!(
            t.nodes["nat1"].gateway.map(|g| g.to_string()).as_deref(),
            Some("203.0.113.1")
        );
    }

    #[test]
    fn a_forward_to_an_unknown_node_is_an_error_at_its_line() {
        let e = errors(&file("inet", "\"8080:h9:80/tcp\""));
        assert!(
            e.iter()
                .any(|(l, m)| *l == 10 && m.contains("unknown node `h9`")),
            "{e:?}"
        );
    }

    #[test]
    fn a_port_forwarded_twice_is_an_error() {
        let e = errors(&file("inet", "\"8080:h1:80/tcp\", \"8080:h1:81/tcp\""));
        assert!(
            e.iter()
                .any(|(l, m)| *l == 10 && m.contains("forwarded twice")),
            "{e:?}"
        );
        // The same number over UDP is another port.
        assert!(errors(&file("inet", "\"53:h1:53/tcp\", \"53:h1:53/udp\"")).is_empty());
    }

    /// `publish_host: true` (the forwards on the host's own addresses) is for
    /// a NAT whose uplink is the host; parsed into the spec there.
    #[test]
    fn publish_needs_the_host_uplink() {
        let f = file("inet", "\"8080:h1:80/tcp\"")
            .replace("      forward:", "      publish_host: true\n      forward:");
        let e = errors(&f);
        assert!(
            e.iter()
                .any(|(l, m)| *l == 10 && m.contains("needs `uplink: host`")),
            "{e:?}"
        );
        let t = parse(&f.replace("uplink: inet", "uplink: host"), Some("lab.yaml"));
        let t = t.unwrap_or_else(|e| panic!("{e:?}"));
        let nat = t.nodes["nat1"].nat.as_deref().expect("nat spec");
        assert!(nat.publish);
    }

    #[test]
    fn an_uplink_that_is_no_internet_node_is_an_error() {
        let e = errors(&file("r1", "\"8080:h1:80/tcp\""));
        assert!(
            e.iter()
                .any(|(l, m)| *l == 9 && m.contains("not an internet node")),
            "{e:?}"
        );
        let e = errors(&file("nowhere", "\"8080:h1:80/tcp\""));
        assert!(
            e.iter()
                .any(|(l, m)| *l == 9 && m.contains("no node of this lab")),
            "{e:?}"
        );
    }

    #[test]
    fn two_nats_on_one_uplink_may_not_forward_the_same_port() {
        let two = file("inet", "\"8080:h1:80/tcp\"").replace(
            "  links:\n",
            "    nat2: {kind: nat, uplink: inet, forward: [\"8080:h1:80/tcp\"]}\n  links:\n",
        ) + "    - endpoints: [{node: nat2, iface: wan, ip: 198.51.100.2/24}, {node: inet, iface: n2, ip: 198.51.100.1/24}]\n";
        let e = errors(&two);
        assert!(
            e.iter()
                .any(|(_, m)| m.contains("forwarded by both `nat1`")),
            "{e:?}"
        );
    }

    #[test]
    fn nat_keys_on_other_kinds_and_bad_forwards_are_errors() {
        let e = errors(
            &file("inet", "\"8080:h1\"")
                .replace("r1: {kind: router}", "r1: {kind: router, uplink: inet}"),
        );
        assert!(
            e.iter()
                .any(|(l, m)| *l == 6 && m.contains("only nat nodes")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|(l, m)| *l == 10 && m.contains("PORT:NODE:PORT")),
            "{e:?}"
        );
    }

    #[test]
    fn every_preset_is_accepted_and_unknown_ones_refused() {
        let with = |p: &str| {
            errors(&file("inet", "\"8080:h1:80/tcp\"").replace(
                "      uplink: inet\n",
                &format!("      uplink: inet\n      nat: {p}\n"),
            ))
        };
        for p in crate::topo::nat::PRESETS {
            assert!(with(p).is_empty(), "{p}: {:?}", with(p));
        }
        assert!(with("cone")
            .iter()
            .any(|(_, m)| m.contains("unknown NAT behaviour")));
    }

    #[test]
    fn a_static_nat_takes_its_public_address_on_the_uplink() {
        let with = |list: &str| {
            file("inet", "\"8080:h1:80/tcp\"").replace(
                "      uplink: inet\n",
                &format!("      uplink: inet\n      static: [{list}]\n"),
            )
        };
        let t = parse(&with("\"203.0.113.10:h1\""), None).expect("valid");
        let wan = t
            .links
            .iter()
            .flat_map(|l| &l.endpoints)
            .find(|e| e.node == "nat1" && e.iface == "wan")
            .expect("uplink end");
        let addrs: Vec<String> = wan.addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["203.0.113.2/24", "203.0.113.10/24"]);
        for (list, want) in [
            (
                "\"198.18.0.10:h1\"",
                "not in its uplink subnet 203.0.113.0/24",
            ),
            ("\"203.0.113.2:h1\"", "the NAT's own uplink address"),
            ("\"203.0.113.10:h9\"", "unknown node `h9`"),
            (
                "\"203.0.113.10:h1\", \"203.0.113.11:h1\"",
                "has a static NAT already",
            ),
            ("\"203.0.113.10:h1\", \"203.0.113.10:r1\"", "mapped twice"),
            ("\"203.0.113.10\"", "not `PUBLIC-IPV4:NODE`"),
        ] {
            let e = errors(&with(list));
            assert!(
                e.iter().any(|(l, m)| *l == 10 && m.contains(want)),
                "{list}: {e:?}"
            );
        }
    }

    #[test]
    fn behaviour_keys_name_rfc_4787_classes() {
        use crate::topo::nat::Dependence::*;
        let with = |nat: &str| {
            file("inet", "\"8080:h1:80/tcp\"").replace(
                "      uplink: inet\n",
                &format!("      uplink: inet\n      nat: {nat}\n"),
            )
        };
        let t = parse(
            &with("{preset: symmetric, filtering: address-and-port-dependent}"),
            None,
        )
        .expect("valid");
        let b = t.nodes["nat1"].nat.as_deref().expect("spec").behaviour;
        assert_eq!(
            (b.mapping, b.port_preservation),
            (AddressAndPortDependent, false)
        );
        let t = parse(&with("{filtering: endpoint-independent}"), None).expect("valid");
        let b = t.nodes["nat1"].nat.as_deref().expect("spec").behaviour;
        assert_eq!(b, crate::topo::nat::preset("full-cone").expect("preset"));
        for (nat, want) in [
            (
                "{mapping: address-dependent}",
                "address-dependent mapping has no nftables form",
            ),
            ("{port_preservation: false}", "needs port preservation"),
            (
                "{preset: symmetric, filtering: address-dependent}",
                "address-dependent filtering needs endpoint-independent mapping",
            ),
            ("{mapping: cone}", "`mapping`: `cone` is not one of"),
            ("{filter: address-dependent}", "unknown key `filter`"),
        ] {
            let e = errors(&with(nat));
            assert!(e.iter().any(|(_, m)| m.contains(want)), "{nat}: {e:?}");
        }
    }

    #[test]
    fn a_nat_without_uplink_gets_an_internet_node() {
        let t = parse(&file("inet", "\"8080:h1:80/tcp\"").replace("      uplink: inet\n", "").replace("    inet: {kind: internet}\n", "").replace("    - endpoints: [{node: nat1, iface: wan, ip: 203.0.113.2/24}, {node: inet, iface: n1, ip: 203.0.113.1/24}]\n", ""), None).expect("valid");
        assert_eq!(t.nodes["internet"].kind, crate::topo::NodeKind::Internet);
        let nat = t.nodes["nat1"].nat.as_deref().expect("spec");
        assert_eq!(
            nat.uplink,
            crate::topo::nat::Uplink::Node("internet".into())
        );
        assert_eq!(
            t.nodes["nat1"].gateway.map(|g| g.to_string()).as_deref(),
            Some("203.0.113.1")
        );
    }
}
