//! Security groups and port security of one port as one nftables batch
//! for the port's own namespace (`docs/vnet.md`, "Security groups"):
//!
//! - table `inet nlab-sg`: stateful filtering of the port's interface,
//!   `ingress` on the input hook and `egress` on the output hook; replies
//!   of allowed connections pass (`ct state established,related`), DHCP
//!   and IPv6 neighbour discovery pass (Neutron allows them too), the
//!   rules' traffic passes, the rest of the interface's traffic is dropped.
//! - table `netdev nlab-sg`: anti-spoofing on the interface's egress hook,
//!   which sees every frame the namespace sends, packet sockets included:
//!   source MAC, IPv4/ARP and IPv6 source addresses must be the port's
//!   own or an allowed address pair's.
//!
//! A VM's TAP port (`{"nlab": "tap"}`) is filtered where its guest's
//! frames are bridged (`vtap0` ↔ `vbr0` ↔ `eth0` in the VM's node): the
//! node's `br_netfilter` hands them, with conntrack, to the inet family's
//! forward hook, where both chains sit. There the interfaces are the
//! bridge's (`iifname`/`oifname` say `vbr0`, not the port), so the
//! direction comes from a mark: the anti-spoofing chain, on `vtap0`'s
//! ingress hook (every frame the guest sends), marks what it lets
//! through; the veth clears marks when a frame crosses namespaces, so
//! an unmarked forwarded packet is going to the guest.
//!
//! Each batch first adds and deletes both tables, so one transaction
//! replaces whatever was there, and a port with port security off gets
//! a batch that only removes them. Each table holds an empty set named
//! `nlab-<lab>`, the owner mark: in a namespace nlab attaches but does
//! not own, that is how its teardown knows which tables are its.

use super::desired::{Direction, Port, SgRule};
use crate::kernel::nft_expr::{eq, field, meta, ne};
use crate::topo::IpNet;
use serde_json::{json, Value};

/// The name of both tables, in every port namespace.
pub const TABLE: &str = "nlab-sg";

/// Changes whenever [`batch`] builds something else from the same port,
/// so tables applied by an older nlab are replaced.
pub const VERSION: u32 = 3;

/// The mark of a TAP port's packets that come from its guest.
pub const FROM_GUEST: u32 = 0x6e6c_6731;

/// Where a port's traffic passes in its namespace.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    /// The namespace's own interface (an instance's `eth0`, a namespace
    /// nlab attaches' `ns-<id10>`): traffic to and from the namespace.
    Iface(&'a str),
    /// A VM's TAP, bridged in the node to the port's veth: traffic
    /// between the guest and the network.
    Tap(&'a str),
}

impl At<'_> {
    /// Each direction's chain: its hook and the match of its packets.
    fn chains(self) -> [(&'static str, &'static str, Direction, Value); 2] {
        match self {
            At::Iface(i) => [
                (
                    "ingress",
                    "input",
                    Direction::Ingress,
                    eq(meta("iifname"), json!(i)),
                ),
                (
                    "egress",
                    "output",
                    Direction::Egress,
                    eq(meta("oifname"), json!(i)),
                ),
            ],
            At::Tap(_) => [
                (
                    "ingress",
                    "forward",
                    Direction::Ingress,
                    ne(meta("mark"), json!(FROM_GUEST)),
                ),
                (
                    "egress",
                    "forward",
                    Direction::Egress,
                    eq(meta("mark"), json!(FROM_GUEST)),
                ),
            ],
        }
    }
}

/// `m` negated (`==` ↔ `!=`).
fn negate(mut m: Value) -> Value {
    let op = &mut m["match"]["op"];
    *op = json!(if *op == json!("==") { "!=" } else { "==" });
    m
}

fn addr(n: &IpNet) -> Value {
    if n.prefix == n.max_prefix() {
        json!(n.addr.to_string())
    } else {
        json!({"prefix": {"addr": n.network().to_string(), "len": n.prefix}})
    }
}
fn set(v: Vec<Value>) -> Value {
    json!({"set": v})
}

struct Batch {
    items: Vec<Value>,
    comment: String,
    owner_set: String,
}

impl Batch {
    /// Table `family nlab-sg` with its owner mark: an empty set named
    /// after the lab, which `lab::detach` looks for before it removes the
    /// table from a namespace nlab does not own (a set stays when the
    /// kernel drops a netdev chain whose device went; nft 1.0.6 keeps no
    /// set comment, so the name carries the mark).
    fn table(&mut self, family: &str) {
        self.items
            .push(json!({"add": {"table": {"family": family, "name": TABLE}}}));
        self.items.push(json!({"add": {"set": {
            "family": family, "table": TABLE, "name": self.owner_set,
            "type": "ipv4_addr"
        }}}));
    }
    fn chain(&mut self, family: &str, name: &str, hook: &str, dev: Option<&str>) {
        let mut c = json!({
            "family": family, "table": TABLE, "name": name,
            "type": "filter", "hook": hook, "prio": 0, "policy": "accept"
        });
        if let Some(d) = dev {
            c["dev"] = json!(d);
        }
        self.items.push(json!({"add": {"chain": c}}));
    }
    fn rule(&mut self, family: &str, chain: &str, mut expr: Vec<Value>, verdict: &str) {
        expr.push(json!({ verdict: null }));
        self.items.push(json!({"add": {"rule": {
            "family": family, "table": TABLE, "chain": chain,
            "expr": expr, "comment": self.comment
        }}}));
    }
}

/// The batch for `port` of lab `lab`, whose traffic passes `at` in its
/// namespace; every rule's comment is `nlab:<lab>:<port id>`.
pub fn batch(port: &Port, at: At<'_>, lab: &str) -> Value {
    let mut b = Batch {
        items: Vec::new(),
        comment: format!("nlab:{lab}:{}", port.id),
        owner_set: crate::lab::sg::owner_set(lab),
    };
    for family in ["inet", "netdev"] {
        let t = json!({"family": family, "name": TABLE});
        b.items.push(json!({"add": {"table": t}}));
        b.items.push(json!({"delete": {"table": t}}));
    }
    if port.port_security_enabled {
        filter(&mut b, port, at);
        anti_spoofing(&mut b, port, at);
    }
    json!({"nftables": b.items})
}

fn filter(b: &mut Batch, port: &Port, at: At<'_>) {
    b.table("inet");
    for (chain, hook, dir, this) in at.chains() {
        b.chain("inet", chain, hook, None);
        b.rule("inet", chain, vec![negate(this.clone())], "accept");
        let state = json!({"ct": {"key": "state"}});
        // `in`: either bit set (`==` on a list would want both).
        let est = json!({"match": {"op": "in", "left": state.clone(), "right": ["established", "related"]}});
        b.rule("inet", chain, vec![est], "accept");
        b.rule("inet", chain, vec![eq(state, json!("invalid"))], "drop");
        // DHCP (client side) and IPv6 neighbour discovery, as Neutron.
        let (sport, dport) = match dir {
            Direction::Ingress => (67, 68),
            Direction::Egress => (68, 67),
        };
        b.rule(
            "inet",
            chain,
            vec![
                eq(field("udp", "sport"), json!(sport)),
                eq(field("udp", "dport"), json!(dport)),
            ],
            "accept",
        );
        let nd = [
            "nd-router-solicit",
            "nd-router-advert",
            "nd-neighbor-solicit",
            "nd-neighbor-advert",
        ];
        b.rule(
            "inet",
            chain,
            vec![eq(
                field("icmpv6", "type"),
                set(nd.iter().map(|t| json!(t)).collect()),
            )],
            "accept",
        );
        for r in port.security_rules.iter().filter(|r| r.direction == dir) {
            if let Some(expr) = rule_expr(r, dir) {
                b.rule("inet", chain, expr, "accept");
            }
        }
        b.rule("inet", chain, vec![this], "drop");
    }
}

/// The match of one rule; `None` when it can match nothing (a remote
/// group with no members).
fn rule_expr(r: &SgRule, dir: Direction) -> Option<Vec<Value>> {
    let v6 = r.ethertype.eq_ignore_ascii_case("ipv6");
    let (ipf, nfproto) = if v6 { ("ip6", "ipv6") } else { ("ip", "ipv4") };
    let mut e = vec![eq(meta("nfproto"), json!(nfproto))];
    if let Some(remote) = &r.remote {
        let nets: Vec<Value> = remote
            .iter()
            .filter(|n| n.addr.is_ipv6() == v6)
            .map(addr)
            .collect();
        if nets.is_empty() {
            return None;
        }
        let side = if dir == Direction::Ingress {
            "saddr"
        } else {
            "daddr"
        };
        e.push(eq(field(ipf, side), set(nets)));
    }
    let proto = r.protocol.as_deref().map(|p| match p {
        "icmp" if v6 => "ipv6-icmp".to_string(),
        "icmpv6" | "ipv6-icmp" => "ipv6-icmp".to_string(),
        other => other.to_string(),
    });
    let Some(proto) = proto.filter(|p| p != "any") else {
        return Some(e);
    };
    let l4 = match proto.parse::<u8>() {
        Ok(n) => json!(n),
        Err(_) => json!(proto.as_str()),
    };
    e.push(eq(meta("l4proto"), l4));
    match proto.as_str() {
        "tcp" | "udp" | "sctp" | "6" | "17" | "132" => {
            if let Some(lo) = r.port_range_min {
                let hi = r.port_range_max.unwrap_or(lo);
                let range = if lo == hi {
                    json!(lo)
                } else {
                    json!({"range": [lo, hi]})
                };
                e.push(eq(
                    json!({"payload": {"protocol": "th", "field": "dport"}}),
                    range,
                ));
            }
        }
        "icmp" | "ipv6-icmp" | "1" | "58" => {
            let f = if proto == "icmp" || proto == "1" {
                "icmp"
            } else {
                "icmpv6"
            };
            if let Some(t) = r.port_range_min {
                e.push(eq(field(f, "type"), json!(t)));
                if let Some(c) = r.port_range_max {
                    e.push(eq(field(f, "code"), json!(c)));
                }
            }
        }
        _ => {}
    }
    Some(e)
}

fn anti_spoofing(b: &mut Batch, port: &Port, at: At<'_>) {
    b.table("netdev");
    match at {
        At::Iface(iface) => b.chain("netdev", "spoof", "egress", Some(iface)),
        At::Tap(tap) => {
            b.chain("netdev", "spoof", "ingress", Some(tap));
            // First: the chain's accepts end it.
            let mark = json!({"mangle": {"key": meta("mark"), "value": FROM_GUEST}});
            b.items.push(json!({"add": {"rule": {
                "family": "netdev", "table": TABLE, "chain": "spoof",
                "expr": [mark], "comment": b.comment
            }}}));
        }
    }
    let mut macs = vec![json!(port.mac.to_string())];
    macs.extend(
        port.allowed_address_pairs
            .iter()
            .filter_map(|p| p.mac_address)
            .map(|m| json!(m.to_string())),
    );
    b.rule(
        "netdev",
        "spoof",
        vec![ne(field("ether", "saddr"), set(macs))],
        "drop",
    );
    let own = |v6: bool| -> Vec<Value> {
        let fixed = port
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .filter(|a| a.is_ipv6() == v6)
            .map(|a| json!(a.to_string()));
        let pairs = port
            .allowed_address_pairs
            .iter()
            .filter(|p| p.ip_address.addr.is_ipv6() == v6)
            .map(|p| addr(&p.ip_address));
        fixed.chain(pairs).collect()
    };
    let proto = |p: &str| eq(meta("protocol"), json!(p));
    // A DHCP client has no address yet.
    b.rule(
        "netdev",
        "spoof",
        vec![
            proto("ip"),
            eq(field("ip", "saddr"), json!("0.0.0.0")),
            eq(field("udp", "dport"), json!(67)),
        ],
        "accept",
    );
    let mut v4 = own(false);
    v4.push(json!("0.0.0.0"));
    let v4_ip: Vec<Value> = own(false);
    if v4_ip.is_empty() {
        b.rule("netdev", "spoof", vec![proto("ip")], "drop");
    } else {
        b.rule(
            "netdev",
            "spoof",
            vec![proto("ip"), ne(field("ip", "saddr"), set(v4_ip))],
            "drop",
        );
    }
    b.rule(
        "netdev",
        "spoof",
        vec![proto("arp"), ne(field("arp", "saddr ip"), set(v4))],
        "drop",
    );
    let mut v6 = own(true);
    v6.push(json!({"prefix": {"addr": "fe80::", "len": 10}}));
    v6.push(json!("::"));
    b.rule(
        "netdev",
        "spoof",
        vec![proto("ip6"), ne(field("ip6", "saddr"), set(v6))],
        "drop",
    );
}
