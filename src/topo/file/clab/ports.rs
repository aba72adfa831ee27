//! containerlab's `ports:` (`HOSTPORT:PORT[/tcp|/udp]`): port forwards
//! of a NAT node on the management network, `mgmt-nat`, whose uplink is
//! the host (nlab's `kind: nat` with `uplink: host` and `publish_host: true`).
//! The forwarded ports are on the host's own addresses, as Docker
//! publishes them (DNAT in the lab's table of the root namespace), except
//! 127.0.0.1, and on that NAT's uplink address (see `nlab inspect`); each
//! node with ports takes its default route through the NAT, so the
//! answers go back the way the connection came.

use super::mgmt::{nth, Net};
use super::{key, map, s, Rewrite, MGMT_NODE};
use crate::topo::file::yaml::{YNode, YVal};
use crate::topo::model::Loc;

/// The NAT node `ports:` adds.
pub const NAT_NODE: &str = "mgmt-nat";

/// `HOSTPORT:PORT[/proto]` (a leading `IP:` is dropped with a note) as
/// nlab's forward of `node`.
fn forward(text: &str, node: &str) -> Result<(String, bool), String> {
    let (spec, proto) = match text.rsplit_once('/') {
        Some((sp, p @ ("tcp" | "udp"))) => (sp, p),
        Some((_, p)) => return Err(format!("unknown protocol `{p}` (tcp or udp)")),
        None => (text, "tcp"),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, port, had_ip) = match parts[..] {
        [h, p] => (h, p, false),
        [_, h, p] => (h, p, true),
        _ => return Err("write it as HOSTPORT:PORT, e.g. 8080:80".into()),
    };
    for p in [host, port] {
        if p.parse::<u16>().map_or(true, |n| n == 0) {
            return Err(format!("`{p}` is not a port (1-65535)"));
        }
    }
    Ok((format!("{host}:{node}:{port}/{proto}"), had_ip))
}

impl Rewrite<'_> {
    /// The NAT node and its link, when some node has `ports:`; the
    /// forwards' nodes get their default route through it.
    pub(super) fn ports_nat(
        &mut self,
        topo: &mut YNode,
        mgmt_nodes: &[(String, Loc)],
        net: &Net,
        at: Loc,
    ) -> Option<(YNode, YNode)> {
        let src = self.src;
        let ports = std::mem::take(&mut self.ports);
        let mut forwards = Vec::new();
        let mut routed = Vec::new();
        for (name, list) in ports {
            if !mgmt_nodes.iter().any(|(n, _)| *n == name) {
                let msg = format!(
                    "`ports` of node `{name}` is not honoured: the node is not on the \
                     management network"
                );
                self.c.note(list.loc, msg);
                continue;
            }
            let items = match &list.val {
                YVal::Seq(items) => items.clone(),
                _ => vec![list.clone()],
            };
            for item in items {
                let text = item.text(src).unwrap_or_default();
                match forward(&text, &name) {
                    Ok((f, had_ip)) => {
                        if had_ip {
                            let msg = format!(
                                "the address in port `{text}` of node `{name}` is not honoured: \
                                 the port is on every address of the host (but 127.0.0.1)"
                            );
                            self.c.note(item.loc, msg);
                        }
                        forwards.push(s(item.loc, &f));
                        routed.push(name.clone());
                    }
                    Err(e) => self.c.err(
                        item.loc,
                        format!("port `{text}` of node `{name}`: {e}"),
                        "e.g. `56180:80` or `5353:53/udp`",
                    ),
                }
            }
        }
        if forwards.is_empty() {
            return None;
        }
        let msg = format!(
            "`ports` are published on the host's own addresses and on the uplink address of \
             the NAT node `{NAT_NODE}` (the `uplink` row of `nlab inspect`), but not on \
             127.0.0.1 (that would need the host's route_localnet, which nlab leaves off): \
             from the host itself, connect to one of its other addresses"
        );
        self.c.note(forwards[0].loc, msg);
        // The subnet's last host address (.254 of a /24).
        let size = 1u128 << (32 - u32::from(net.v4.prefix));
        let addr = nth(&net.v4, size - 2);
        self.route_through(topo, &routed, &addr.to_string(), at);
        let spec = vec![
            ("kind", s(at, "nat")),
            ("uplink", s(at, "host")),
            ("publish_host", YNode::made(at, YVal::Bool(true))),
            ("forward", YNode::made(at, YVal::Seq(forwards))),
        ];
        let ep = map(
            at,
            vec![
                ("node", s(at, NAT_NODE)),
                ("iface", s(at, "lan")),
                ("ip", s(at, &format!("{addr}/{}", net.v4.prefix))),
            ],
        );
        let port = s(at, &format!("{MGMT_NODE}:nat"));
        let link = map(
            at,
            vec![("endpoints", YNode::made(at, YVal::Seq(vec![ep, port])))],
        );
        Some((map(at, spec), link))
    }

    /// `gateway: VIA` on each of `nodes` that has none.
    fn route_through(&mut self, topo: &mut YNode, nodes: &[String], via: &str, at: Loc) {
        let src = self.src;
        let YVal::Map(es) = &mut topo.val else { return };
        let Some((_, ns)) = es.iter_mut().find(|(k, _)| key(k, src) == "nodes") else {
            return;
        };
        let YVal::Map(ns) = &mut ns.val else { return };
        for (k, v) in ns.iter_mut() {
            if !nodes.contains(&key(k, src)) {
                continue;
            }
            if let YVal::Map(fields) = &mut v.val {
                if !fields.iter().any(|(f, _)| key(f, src) == "gateway") {
                    fields.push((s(at, "gateway"), s(at, via)));
                }
            }
        }
    }
}
