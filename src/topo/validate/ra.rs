//! Checks of `ipv6_ra` and `ip6: auto`: what would make a router send
//! adverts hosts ignore (a prefix that is not a /64, a preferred lifetime
//! past the valid one), or send nothing where the user expects it.

use super::Checker;
use crate::topo::model::{Loc, NodeKind};
use crate::topo::ra::{self, Ra, INTERVAL_RANGE, MAX_ROUTER_LIFETIME};

/// The smallest MTU IPv6 allows (RFC 8200).
const IPV6_MIN_MTU: u32 = 1280;

pub(super) fn check(c: &mut Checker) {
    let t = c.t;
    for n in t.nodes.values() {
        if n.ip6_auto && n.kind != NodeKind::Host {
            c.push(
                n.loc,
                format!("`ip6: auto` is set on {} `{}`, but only hosts take addresses from router advertisements", n.kind, n.name),
                Some("remove `ip6`, or give it static addresses under `ip:`".into()),
            );
        }
        let Some(r) = &n.ipv6_ra else { continue };
        let at = pick(r.locs.at, n.loc);
        if n.kind != NodeKind::Router {
            c.push(
                at,
                format!(
                    "`ipv6_ra` is set on {} `{}`, but only routers send router advertisements",
                    n.kind, n.name
                ),
                Some(format!(
                    "make `{}` `kind: router`, or move `ipv6_ra` to the router of its subnet",
                    n.name
                )),
            );
            continue;
        }
        values(c, r, at);
        interfaces(c, &n.name, r, at);
    }
}

fn pick(loc: Loc, fallback: Loc) -> Loc {
    if loc.is_known() {
        loc
    } else {
        fallback
    }
}

/// The numbers, each against RFC 4861's limits.
fn values(c: &mut Checker, r: &Ra, at: Loc) {
    if r.preferred() > r.valid() {
        c.push(
            pick(r.locs.preferred, at),
            format!(
                "`preferred_lifetime` {} s is longer than `valid_lifetime` {} s; hosts would ignore the prefix (RFC 4862 5.5.3)",
                r.preferred(),
                r.valid()
            ),
            Some("make `preferred_lifetime` at most `valid_lifetime`".into()),
        );
    }
    if !INTERVAL_RANGE.contains(&r.interval()) {
        c.push(
            pick(r.locs.interval, at),
            format!(
                "`interval` {} s is outside RFC 4861's {}..={} s",
                r.interval(),
                INTERVAL_RANGE.start(),
                INTERVAL_RANGE.end()
            ),
            None,
        );
    }
    let life = r.router_lifetime();
    if life != 0 && !(r.interval()..=MAX_ROUTER_LIFETIME).contains(&life) {
        c.push(
            pick(r.locs.router_lifetime, at),
            format!(
                "`router_lifetime` {life} s must be 0 (not a default router) or between the interval ({} s) and {MAX_ROUTER_LIFETIME} s (RFC 4861 6.2.1)",
                r.interval()
            ),
            None,
        );
    }
    if let Some(m) = r.mtu.filter(|m| *m < IPV6_MIN_MTU) {
        c.push(
            pick(r.locs.mtu, at),
            format!("`mtu` {m} is below IPv6's minimum of {IPV6_MIN_MTU}"),
            None,
        );
    }
    for (i, p) in r.prefixes.iter().enumerate() {
        let loc = pick(r.locs.prefixes.get(i).copied().unwrap_or_default(), at);
        if p.is_ipv4() {
            c.push(
                loc,
                format!("prefix {}/{} is not IPv6", p.addr, p.prefix),
                None,
            );
        } else if p.prefix != 64 {
            c.push(
                loc,
                format!(
                    "prefix {}/{} is a /{}: SLAAC forms addresses only from a /64 (RFC 4862)",
                    p.addr, p.prefix, p.prefix
                ),
                Some(format!("advertise {}/64", p.network())),
            );
        }
    }
}

/// Every named interface exists on the router, every prefix lies on one
/// of its advertising interfaces, and something is advertised at all.
fn interfaces(c: &mut Checker, node: &str, r: &Ra, at: Loc) {
    let t = c.t;
    let have: Vec<&str> = t.endpoints_of(node).map(|e| e.iface.as_str()).collect();
    for (i, name) in r.interfaces.iter().enumerate() {
        if !have.contains(&name.as_str()) {
            let loc = pick(r.locs.interfaces.get(i).copied().unwrap_or_default(), at);
            c.push(
                loc,
                format!("`ipv6_ra` names interface `{name}`, which router `{node}` does not have"),
                Some(format!("its interfaces: {}", have.join(", "))),
            );
        }
    }
    let sending = ra::interfaces_of(t, node, r);
    for (i, p) in r.prefixes.iter().enumerate() {
        if p.is_ipv4() || p.prefix != 64 {
            continue;
        }
        if !sending
            .iter()
            .any(|(_, ps)| ps.iter().any(|x| x.addr == p.network()))
        {
            let loc = pick(r.locs.prefixes.get(i).copied().unwrap_or_default(), at);
            c.push(
                loc,
                format!("prefix {}/64 is on no interface of `{node}` that sends adverts", p.network()),
                Some("give one of its advertising interfaces an address in it, e.g. `ip: <prefix>::1/64`".into()),
            );
        }
    }
    for (iface, prefixes) in &sending {
        if prefixes.is_empty() && r.prefixes.is_empty() {
            c.push(
                at,
                format!(
                    "`{node}:{iface}` sends router advertisements but has no IPv6 /64 to advertise"
                ),
                Some(format!(
                    "give `{node}:{iface}` an address like `fd00:1::1/64`, or list `prefixes`"
                )),
            );
        }
    }
    if sending.is_empty() {
        c.push(
            at,
            format!("router `{node}` has `ipv6_ra` but no interface with a global IPv6 address"),
            Some("give the interface facing the hosts an address like `fd00:1::1/64`".into()),
        );
    }
}
