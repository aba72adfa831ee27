//! The nftables batch of one namespace of a lab, as nft's JSON: a table
//! `nlab-<lab>` (the owner tag), its chains and rules, each rule with the
//! comment `nlab:<lab>:<node>`. A batch first adds the table (so deleting
//! it cannot fail), deletes it and builds it again: one transaction
//! replaces whatever an earlier `up` left there.

mod cone;

use crate::kernel::nft_expr::{ct, eq, field, meta, ne};
use crate::topo::nat::{Behaviour, Dependence, Proto};
use serde_json::{json, Value};
use std::net::Ipv4Addr;

/// The owner-tagged table of lab `lab` (in every namespace it uses).
pub fn table_name(lab: &str) -> String {
    format!("nlab-{lab}")
}

/// What the NAT node's batch is built from.
#[derive(Debug, Clone)]
pub struct NatRules {
    pub lab: String,
    pub node: String,
    /// The interface toward the uplink, inside the NAT's namespace.
    pub uplink_if: String,
    /// The NAT's own address on the uplink (the public address).
    pub public: Option<Ipv4Addr>,
    /// `(uplink port, proto, internal address, internal port)`.
    pub forwards: Vec<(u16, Proto, Ipv4Addr, u16)>,
    /// `(public address, internal address)`.
    pub static_nat: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub hairpin: bool,
    pub behaviour: Behaviour,
    /// Masquerade what leaves by the uplink without a static NAT.
    pub masquerade: bool,
    /// Addresses of the hosts behind the NAT that its mappings may lead
    /// to (for filtering looser than address-and-port-dependent).
    pub inner: Vec<Ipv4Addr>,
}

/// Builds batches for one table in one namespace.
struct Batch {
    table: String,
    comment: String,
    items: Vec<Value>,
}

impl Batch {
    fn new(lab: &str, owner: &str) -> Self {
        let table = table_name(lab);
        let t = json!({"family": "ip", "name": table});
        Batch {
            comment: owner.to_string(),
            items: vec![
                json!({"add": {"table": t}}),
                json!({"delete": {"table": t}}),
                json!({"add": {"table": t}}),
            ],
            table,
        }
    }

    fn chain(&mut self, name: &str, kind: &str, hook: &str, prio: i32) {
        self.items.push(json!({"add": {"chain": {
            "family": "ip", "table": self.table, "name": name,
            "type": kind, "hook": hook, "prio": prio, "policy": "accept"
        }}}));
    }

    fn rule(&mut self, chain: &str, expr: Vec<Value>) {
        self.items.push(json!({"add": {"rule": {
            "family": "ip", "table": self.table, "chain": chain,
            "expr": expr, "comment": self.comment
        }}}));
    }

    fn finish(self) -> Value {
        json!({"nftables": self.items})
    }
}

/// The NAT node's batch: port forwards and static NAT in prerouting,
/// masquerade (and hairpin) in postrouting, filtering in forward.
pub fn nat_batch(r: &NatRules) -> Value {
    let owner = format!("nlab:{}:{}", r.lab, r.node);
    let mut b = Batch::new(&r.lab, &owner);
    b.chain("prerouting", "nat", "prerouting", -100);
    b.chain("postrouting", "nat", "postrouting", 100);
    b.chain("forward", "filter", "forward", 0);
    let up = json!(r.uplink_if);
    // Where a forwarded port is reached: from the uplink, and with
    // hairpinning also from inside, at the public address.
    let reach: Vec<Value> = match (r.hairpin, r.public) {
        (true, Some(p)) => vec![eq(field("ip", "daddr"), json!(p.to_string()))],
        _ => vec![eq(meta("iifname"), up.clone())],
    };
    for (port, proto, to, to_port) in &r.forwards {
        let mut e = reach.clone();
        e.push(eq(field(proto.as_str(), "dport"), json!(port)));
        e.push(json!({"dnat": {"addr": to.to_string(), "port": to_port}}));
        b.rule("prerouting", e);
    }
    for (public, private) in &r.static_nat {
        let mut e = if r.hairpin {
            vec![]
        } else {
            vec![eq(meta("iifname"), up.clone())]
        };
        e.push(eq(field("ip", "daddr"), json!(public.to_string())));
        e.push(json!({"dnat": {"addr": private.to_string()}}));
        b.rule("prerouting", e);
        b.rule(
            "postrouting",
            vec![
                eq(meta("oifname"), up.clone()),
                eq(field("ip", "saddr"), json!(private.to_string())),
                json!({"snat": {"addr": public.to_string()}}),
            ],
        );
    }
    if r.behaviour.filtering != Dependence::AddressAndPortDependent {
        let mut reach = reach.clone();
        if let Some(p) = r.public.filter(|_| !r.hairpin) {
            reach.push(eq(field("ip", "daddr"), json!(p.to_string())));
        }
        cone::add(&mut b, r.behaviour.filtering, &r.inner, &up, &reach);
    }
    if r.hairpin {
        // A hairpinned connection goes back out inside: without its own
        // source rewritten, the reply would skip the NAT (RFC 4787 REQ-9).
        b.rule(
            "postrouting",
            vec![
                ne(meta("iifname"), up.clone()),
                ne(meta("oifname"), up.clone()),
                json!({"match": {"op": "in", "left": ct("status"), "right": "dnat"}}),
                json!({"masquerade": null}),
            ],
        );
    }
    if r.masquerade {
        b.rule(
            "postrouting",
            vec![eq(meta("oifname"), up.clone()), masquerade(&r.behaviour)],
        );
    }
    filtering(&mut b, &up);
    b.finish()
}

/// Masquerade with the flags that give the mapping asked for: Linux
/// keeps the source port when free and reuses a mapping per internal
/// endpoint; `fully-random` gives each new flow its own port, which makes
/// the mapping address-and-port-dependent and turns port preservation off.
fn masquerade(beh: &Behaviour) -> Value {
    let random = beh.mapping == Dependence::AddressAndPortDependent || !beh.port_preservation;
    if random {
        json!({"masquerade": {"flags": ["fully-random"]}})
    } else {
        json!({"masquerade": null})
    }
}

/// Inbound from the uplink: replies to what went out and forwarded ports
/// pass, anything else is dropped (conntrack's own filtering is
/// address-and-port-dependent: a reply must come from the endpoint the
/// flow was sent to).
fn filtering(b: &mut Batch, up: &Value) {
    b.rule("forward", vec![
        eq(meta("iifname"), up.clone()),
        json!({"match": {"op": "in", "left": ct("state"), "right": ["established", "related"]}}),
        json!({"accept": null}),
    ]);
    b.rule(
        "forward",
        vec![
            eq(meta("iifname"), up.clone()),
            json!({"match": {"op": "in", "left": ct("status"), "right": "dnat"}}),
            json!({"accept": null}),
        ],
    );
    b.rule(
        "forward",
        vec![eq(meta("iifname"), up.clone()), json!({"drop": null})],
    );
}

/// A NAT node's forwarded port published on the host's own addresses:
/// `(node, port, proto, the NAT's uplink address)`.
pub type Published = (String, u16, Proto, Ipv4Addr);

/// The root namespace's batch for the lab's host uplinks, each
/// `(node, root interface, transfer subnet)`: masquerade what comes from
/// a transfer subnet (a NAT node of the lab) toward any other interface,
/// and let it through the forward hook. Published ports: a connection to
/// any of the host's own addresses (`fib daddr type local`) on the port,
/// from another machine (prerouting) or from the host itself (output),
/// goes to the NAT's uplink address, whose own forward takes it on.
/// Not 127.0.0.0/8: a loopback source cannot be routed out of the host
/// without `route_localnet`, which nlab does not turn on.
pub fn host_batch(
    lab: &str,
    ifs: &[(String, String, (Ipv4Addr, u8))],
    published: &[Published],
) -> Value {
    let mut b = Batch::new(lab, &format!("nlab:{lab}"));
    b.chain("postrouting", "nat", "postrouting", 100);
    b.chain("forward", "filter", "forward", 0);
    if !published.is_empty() {
        b.chain("prerouting", "nat", "prerouting", -100);
        b.chain("output", "nat", "output", -100);
    }
    let local = eq(
        json!({"fib": {"result": "type", "flags": ["daddr"]}}),
        json!("local"),
    );
    let loopback = json!({"prefix": {"addr": "127.0.0.0", "len": 8}});
    for (node, port, proto, nat_addr) in published {
        b.comment = format!("nlab:{lab}:{node}");
        let to = json!({"dnat": {"addr": nat_addr.to_string(), "port": port}});
        let dport = eq(field(proto.as_str(), "dport"), json!(port));
        // Not what the lab's own uplinks send: that already went through
        // the NAT and would loop back into it.
        let mut pre = vec![local.clone()];
        for (_, root_if, _) in ifs {
            pre.push(ne(meta("iifname"), json!(root_if)));
        }
        pre.extend([dport.clone(), to.clone()]);
        b.rule("prerouting", pre);
        b.rule(
            "output",
            vec![
                local.clone(),
                ne(field("ip", "daddr"), loopback.clone()),
                dport,
                to,
            ],
        );
    }
    for (node, root_if, (net, len)) in ifs {
        b.comment = format!("nlab:{lab}:{node}");
        let net = json!({"prefix": {"addr": net.to_string(), "len": len}});
        b.rule(
            "postrouting",
            vec![
                eq(field("ip", "saddr"), net),
                ne(meta("oifname"), json!(root_if)),
                json!({"masquerade": null}),
            ],
        );
        b.rule(
            "forward",
            vec![eq(meta("iifname"), json!(root_if)), json!({"accept": null})],
        );
        b.rule("forward", vec![
            eq(meta("oifname"), json!(root_if)),
            json!({"match": {"op": "in", "left": ct("state"), "right": ["established", "related"]}}),
            json!({"accept": null}),
        ]);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nftables::schema::Nftables;

    fn rules(hairpin: bool, beh: &str) -> NatRules {
        NatRules {
            lab: "demo".into(),
            node: "nat1".into(),
            uplink_if: "uplink".into(),
            public: Some(Ipv4Addr::new(203, 0, 113, 2)),
            forwards: vec![(8080, Proto::Tcp, Ipv4Addr::new(192, 168, 1, 10), 80)],
            static_nat: vec![(
                Ipv4Addr::new(203, 0, 113, 10),
                Ipv4Addr::new(192, 168, 1, 11),
            )],
            hairpin,
            behaviour: crate::topo::nat::preset(beh).expect("preset"),
            masquerade: true,
            inner: vec![
                Ipv4Addr::new(192, 168, 1, 10),
                Ipv4Addr::new(192, 168, 1, 12),
            ],
        }
    }

    /// Every batch must be what the crate's schema accepts: nlab never
    /// hands nft a document it could not have typed.
    #[test]
    fn batches_fit_the_nftables_schema() {
        for (h, beh) in [
            (true, "port-restricted"),
            (false, "symmetric"),
            (true, "full-cone"),
            (false, "restricted-cone"),
        ] {
            let v = nat_batch(&rules(h, beh));
            serde_json::from_value::<Nftables>(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"));
        }
        let ifs = [(
            "nat0".to_string(),
            "nlu-1234abcd".to_string(),
            (Ipv4Addr::new(100, 127, 0, 0), 30),
        )];
        let v = host_batch("demo", &ifs, &[]);
        serde_json::from_value::<Nftables>(v).expect("host batch");
        let published = [(
            "nat0".to_string(),
            8080,
            Proto::Tcp,
            Ipv4Addr::new(100, 127, 0, 2),
        )];
        let v = host_batch("demo", &ifs, &published);
        let text = v.to_string();
        assert!(
            text.contains("\"dnat\":{\"addr\":\"100.127.0.2\",\"port\":8080}"),
            "{text}"
        );
        assert!(
            text.contains("\"output\"") && text.contains("127.0.0.0"),
            "{text}"
        );
        serde_json::from_value::<Nftables>(v).expect("host batch with published ports");
    }

    #[test]
    fn one_table_replaced_in_one_batch_and_owner_tagged() {
        let v = nat_batch(&rules(true, "port-restricted"));
        let items = v["nftables"].as_array().expect("array");
        assert!(items[0]["add"]["table"]["name"] == "nlab-demo");
        assert!(items[1]["delete"]["table"]["name"] == "nlab-demo");
        let added: Vec<&Value> = items.iter().filter_map(|i| i["add"].get("rule")).collect();
        assert!(added.iter().all(|r| r["comment"] == "nlab:demo:nat1"));
        let text = v.to_string();
        assert!(
            text.contains("\"dnat\":{\"addr\":\"192.168.1.10\",\"port\":80}"),
            "{text}"
        );
        assert!(!text.contains("fully-random"));
        // Port-restricted is conntrack's own filtering: nothing learned.
        assert!(!text.contains("\"learn\""));
        assert!(nat_batch(&rules(false, "symmetric"))
            .to_string()
            .contains("fully-random"));
    }

    /// Without masquerade (a Neutron gateway with `enable_snat: false`)
    /// only the static 1:1 NAT rewrites what leaves by the uplink.
    #[test]
    fn no_masquerade_keeps_only_the_static_nat() {
        let masq = |v: &Value| {
            v["nftables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["add"].get("rule"))
                .filter(|r| r.to_string().contains("masquerade"))
                .count()
        };
        let mut r = rules(false, "port-restricted");
        assert_eq!(masq(&nat_batch(&r)), 1);
        r.masquerade = false;
        let v = nat_batch(&r);
        assert_eq!(masq(&v), 0, "{v:#}");
        assert!(
            v.to_string()
                .contains("\"snat\":{\"addr\":\"203.0.113.10\"}"),
            "{v:#}"
        );
        serde_json::from_value::<Nftables>(v).expect("schema");
    }

    /// Looser filtering learns each mapping per inner host and lets new
    /// inbound flows that hit one through to that host.
    #[test]
    fn cone_filtering_learns_mappings_per_inner_host() {
        let full = nat_batch(&rules(false, "full-cone")).to_string();
        for name in ["mapped_0", "mapped_1", "learn_0", "learn_1"] {
            assert!(full.contains(name), "{name}: {full}");
        }
        assert!(
            full.contains("\"dnat\":{\"addr\":\"192.168.1.12\"}"),
            "{full}"
        );
        let restricted = nat_batch(&rules(false, "restricted-cone")).to_string();
        assert!(restricted.contains("\"ipv4_addr\""), "{restricted}");
        assert!(!full.contains("\"ipv4_addr\""), "{full}");
    }
}
