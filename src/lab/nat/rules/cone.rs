//! Filtering looser than conntrack's own (RFC 4787 section 5):
//! endpoint-independent (`full-cone`) and address-dependent
//! (`restricted-cone`, `cgnat`).
//!
//! Conntrack lets in only replies from the endpoint a flow was sent to. To
//! let others reach a mapping, the NAT learns each mapping from the packet
//! path into a dynamic set per inner host, and a prerouting rule per inner
//! host sends new inbound flows that hit a learned mapping to that host:
//!
//! - a filter chain on postrouting after source NAT (priority 200) sees
//!   each outbound packet with its translation done; a verdict map on the
//!   original source jumps to the inner host's chain, which updates its set
//!   with `proto . mapped port . inner port` (and the remote address, for
//!   address-dependent filtering). Each outbound packet refreshes the
//!   element's timer (RFC 4787 REQ-6);
//! - prerouting matches `proto . dport . dport [. saddr]` against the set
//!   and DNATs to the inner host, keeping the port. Asking for the
//!   destination port twice only matches mappings whose port was
//!   preserved: the one case where the mapped port tells the inner port
//!   too. (nft 1.0.6, Debian 12's, has no JSON form of the map statement
//!   that could record the inner port as data.)
//!
//! Conntrack still carries every flow once it exists; these rules only
//! decide which new inbound flows reach a mapping.

use super::{eq, field, meta, Batch};
use crate::topo::nat::Dependence;
use serde_json::{json, Value};
use std::net::Ipv4Addr;

/// How long a learned mapping stays without outbound traffic: RFC 4787
/// REQ-5 asks for at least two minutes.
pub const MAPPING_TIMEOUT_S: u32 = 120;

fn ct_dir(key: &str, dir: &str) -> Value {
    json!({"ct": {"key": key, "dir": dir}})
}

fn l4_tcp_udp() -> Value {
    eq(meta("l4proto"), json!({"set": ["tcp", "udp"]}))
}

/// Adds the sets, the learning chains and the inbound rules for
/// `filtering` (endpoint-independent or address-dependent) of the inner
/// hosts `inner`. `reach` selects the inbound packets aimed at the NAT's
/// mappings (its public address, or its uplink).
pub(super) fn add(
    b: &mut Batch,
    filtering: Dependence,
    inner: &[Ipv4Addr],
    up: &Value,
    reach: &[Value],
) {
    let by_addr = filtering == Dependence::AddressDependent;
    let mut set_type = vec!["inet_proto", "inet_service", "inet_service"];
    if by_addr {
        set_type.push("ipv4_addr");
    }
    b.chain("learn", "filter", "postrouting", 200);
    let mut jumps = Vec::new();
    for (i, host) in inner.iter().enumerate() {
        let (set, chain) = (format!("mapped_{i}"), format!("learn_{i}"));
        b.items.push(json!({"add": {"set": {
            "family": "ip", "table": b.table, "name": set, "type": set_type,
            "flags": ["timeout"], "timeout": MAPPING_TIMEOUT_S
        }}}));
        b.items.push(json!({"add": {"chain": {
            "family": "ip", "table": b.table, "name": chain
        }}}));
        let mut learned = vec![
            meta("l4proto"),
            ct_dir("proto-dst", "reply"),
            ct_dir("proto-src", "original"),
        ];
        let mut inbound = vec![meta("l4proto"), field("th", "dport"), field("th", "dport")];
        if by_addr {
            learned.push(field("ip", "daddr"));
            inbound.push(field("ip", "saddr"));
        }
        b.rule(
            &chain,
            vec![
                l4_tcp_udp(),
                json!({"set": {"op": "update", "elem": {"concat": learned}, "set": format!("@{set}")}}),
            ],
        );
        let mut e = reach.to_vec();
        e.push(l4_tcp_udp());
        e.push(eq(json!({"concat": inbound}), json!(format!("@{set}"))));
        e.push(json!({"dnat": {"addr": host.to_string()}}));
        b.rule("prerouting", e);
        jumps.push(json!([host.to_string(), {"jump": {"target": chain}}]));
    }
    if jumps.is_empty() {
        return;
    }
    b.rule(
        "learn",
        vec![
            eq(meta("oifname"), up.clone()),
            eq(json!({"ct": {"key": "direction"}}), json!("original")),
            l4_tcp_udp(),
            json!({"vmap": {
                // `ct original ip saddr`, as nft 1.0.6 spells it in JSON
                // (with `"family": "ip"` it refuses the key).
                "key": {"ct": {"key": "ip saddr", "dir": "original"}},
                "data": {"set": jumps}
            }}),
        ],
    );
}
