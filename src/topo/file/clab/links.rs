//! Links: the extended form (`type:` with `endpoint`/`host-interface`),
//! endpoint objects with `interface`, and the endpoints that are not a
//! node's (`host:`, `macvlan:`, `mgmt-net:`, a `kind: host` node's).

use super::{get, key, map, s, take, text, Rewrite, MGMT_NODE};
use crate::topo::file::yaml::{YNode, YVal};

const LINK_TYPES: &[&str] = &[
    "veth",
    "host",
    "mgmt-net",
    "macvlan",
    "dummy",
    "vxlan",
    "vxlan-stitch",
];

impl Rewrite<'_> {
    pub(super) fn links(&mut self, topo: &mut YNode) {
        let src = self.src;
        let YVal::Map(es) = &mut topo.val else { return };
        let Some((_, links)) = es.iter_mut().find(|(k, _)| key(k, src) == "links") else {
            return;
        };
        let YVal::Seq(links) = &mut links.val else {
            return;
        };
        let mut keep = Vec::new();
        for mut l in std::mem::take(links) {
            if self.clab {
                self.link_vars(&mut l);
            }
            if self.extended(&mut l) && self.endpoints(&mut l) {
                keep.push(l);
            }
        }
        *links = keep;
    }

    /// `type: …` links in nlab's shape; false when the link goes (a
    /// dummy interface, or a form nlab refuses).
    fn extended(&mut self, l: &mut YNode) -> bool {
        let src = self.src;
        let Some((tk, tv)) = take(l, src, "type") else {
            return true;
        };
        let ty = tv.text(src).unwrap_or_default();
        match ty.as_str() {
            "veth" => true,
            "host" | "mgmt-net" | "macvlan" => {
                let hi = take(l, src, "host-interface").map(|(_, v)| v);
                let ep = take(l, src, "endpoint").map(|(_, v)| v);
                if let Some((mk, mv)) = take(l, src, "mode") {
                    if mv.text(src).as_deref() != Some("bridge") {
                        let msg = "macvlan `mode` other than `bridge` is not honoured: nlab \
                                   makes bridge-mode macvlans"
                            .to_string();
                        self.c.note(mk.loc, msg);
                    }
                }
                let (Some(hi), Some(ep)) = (hi, ep) else {
                    self.c.err(
                        tk.loc,
                        format!("a `type: {ty}` link needs `host-interface` and `endpoint`"),
                        "e.g. {type: host, host-interface: veth-h1, endpoint: {node: h1, interface: eth1}}",
                    );
                    return false;
                };
                let other = format!("{ty}:{}", hi.text(src).unwrap_or_default());
                let eps = YNode::made(l.loc, YVal::Seq(vec![ep, s(hi.loc, &other)]));
                if let YVal::Map(es) = &mut l.val {
                    es.push((s(tk.loc, "endpoints"), eps));
                }
                true
            }
            "dummy" => {
                let msg = "a `type: dummy` link is not made: nlab has no dummy interfaces; \
                           link the node to a switch or another node instead";
                self.c.note(tk.loc, msg.into());
                false
            }
            _ => {
                let hint = if LINK_TYPES.contains(&ty.as_str()) {
                    "nlab links nodes on this host only: use a `veth` link"
                } else {
                    "use `veth`, `host`, `mgmt-net` or `macvlan`"
                };
                self.c.err(
                    tv.loc,
                    format!("links of `type: {ty}` are not supported"),
                    hint,
                );
                false
            }
        }
    }

    /// Rewrites the endpoints; false when the link became something else
    /// (a macvlan interface of its node).
    fn endpoints(&mut self, l: &mut YNode) -> bool {
        let src = self.src;
        let YVal::Map(es) = &mut l.val else {
            return true;
        };
        let Some((_, eps)) = es.iter_mut().find(|(k, _)| key(k, src) == "endpoints") else {
            return true;
        };
        let YVal::Seq(eps) = &mut eps.val else {
            return true;
        };
        for ep in eps.iter_mut() {
            if let YVal::Map(m) = &mut ep.val {
                // containerlab's `interface` is nlab's `iface`.
                for (k, _) in m.iter_mut() {
                    if key(k, src) == "interface" {
                        *k = s(k.loc, "iface");
                    }
                }
                if self.clab {
                    self.endpoint_addrs(ep);
                }
                continue;
            }
            let Some(t) = ep.text(src) else { continue };
            let Some((node, iface)) = t.split_once(':') else {
                continue;
            };
            if self.host_nodes.iter().any(|h| h == node) {
                *ep = s(ep.loc, &format!("host:{iface}"));
            } else if node == MGMT_NODE {
                self.mgmt_ifaces.push(ep.loc);
            }
        }
        let macvlan = eps
            .iter()
            .position(|e| e.text(src).is_some_and(|t| t.starts_with("macvlan:")));
        let (Some(i), 2) = (macvlan, eps.len()) else {
            return true;
        };
        let parent = eps[i].text(src).unwrap_or_default()["macvlan:".len()..].to_string();
        let at = eps[i].loc;
        let other = &eps[1 - i];
        let (node, iface, mac) = match &other.val {
            YVal::Map(_) => (
                text(get(other, src, "node"), src).unwrap_or_default(),
                text(get(other, src, "iface"), src).unwrap_or_default(),
                get(other, src, "mac").cloned(),
            ),
            _ => {
                let t = other.text(src).unwrap_or_default();
                let (n, i) = t.split_once(':').unwrap_or((&t, ""));
                (n.to_string(), i.to_string(), None)
            }
        };
        self.macvlans.push((node, iface, parent, mac, at));
        false
    }

    /// Puts the `macvlan:PARENT` endpoints under their node's
    /// `interfaces:` (nlab's place for an interface on a host NIC).
    pub(super) fn place_macvlans(&mut self, topo: &mut YNode) {
        let src = self.src;
        let Some(nodes) = (match &mut topo.val {
            YVal::Map(es) => es
                .iter_mut()
                .find(|(k, _)| key(k, src) == "nodes")
                .map(|(_, v)| v),
            _ => None,
        }) else {
            return;
        };
        for (node, iface, parent, mac, at) in std::mem::take(&mut self.macvlans) {
            let YVal::Map(ns) = &mut nodes.val else {
                return;
            };
            let Some((_, n)) = ns.iter_mut().find(|(k, _)| key(k, src) == node) else {
                let msg = format!("the macvlan endpoint's node `{node}` is not in `nodes`");
                self.c.err(at, msg, "add the node, or fix its name");
                continue;
            };
            let nic = map(
                at,
                vec![("parent", s(at, &parent)), ("mode", s(at, "bridge"))],
            );
            let mut spec = vec![("macvlan", nic)];
            if let Some(m) = mac {
                spec.push(("mac", m));
            }
            let entry = (s(at, &iface), map(at, spec));
            let YVal::Map(nes) = &mut n.val else { continue };
            if !nes.iter().any(|(k, _)| key(k, src) == "interfaces") {
                nes.push((s(at, "interfaces"), map(at, vec![])));
            }
            if let Some((_, ifs)) = nes.iter_mut().find(|(k, _)| key(k, src) == "interfaces") {
                if let YVal::Map(ie) = &mut ifs.val {
                    ie.push(entry);
                }
            }
        }
    }

    /// Where no management network is made: `mgmt-net:` endpoints are
    /// refused, a `mgmt:` block is noted.
    pub(super) fn no_mgmt(&mut self, mgmt: Option<&YNode>) {
        for at in std::mem::take(&mut self.mgmt_ifaces) {
            self.c.err(
                at,
                "a `mgmt-net:` endpoint, but there is no management network".into(),
                "drop --no-mgmt (containerlab files get one), or link to `host:IFNAME` instead",
            );
        }
        for (name, addrs) in std::mem::take(&mut self.mgmt_addrs) {
            for (a, _) in addrs {
                let msg = format!(
                    "`mgmt-ipv4/6` of node `{name}` is not honoured: there is no management \
                     network (--no-mgmt); drop --no-mgmt to have one"
                );
                self.c.note(a.loc, msg);
            }
        }
        for (name, p) in std::mem::take(&mut self.ports) {
            let msg = format!(
                "`ports` of node `{name}` is not honoured: ports are published through the \
                 management network, which --no-mgmt leaves out; use a `kind: nat` node's `forward:`"
            );
            self.c.note(p.loc, msg);
        }
        if let Some(m) = mgmt {
            let msg = "`mgmt` is not honoured: --no-mgmt makes no management network".to_string();
            self.c.note(m.loc, msg);
        }
    }
}

impl Rewrite<'_> {
    /// A link's `vars`/`labels` (noted), and its `ipv4: [A, B]` and
    /// `ipv6: [A, B]`: the addresses of its two endpoints (`""`: none).
    fn link_vars(&mut self, l: &mut YNode) {
        let src = self.src;
        for k in ["vars", "labels"] {
            if let Some((kn, _)) = take(l, src, k) {
                let msg =
                    format!("`{k}` of a link is not honoured: nlab runs no templates; drop it");
                self.c.note(kn.loc, msg);
            }
        }
        let mut per_end: [Vec<YNode>; 2] = [Vec::new(), Vec::new()];
        for k in ["ipv4", "ipv6"] {
            let Some((kn, v)) = take(l, src, k) else {
                continue;
            };
            match &v.val {
                YVal::Seq(items) if items.len() == 2 => {
                    for (i, a) in items.iter().enumerate() {
                        if a.text(src).is_some_and(|t| !t.is_empty()) {
                            per_end[i].push(a.clone());
                        }
                    }
                }
                _ => self.c.err(
                    kn.loc,
                    format!("a link's `{k}` is a list of two addresses, one per endpoint"),
                    "e.g. [192.168.0.1/24, 192.168.0.2/24]; \"\" for an endpoint without one",
                ),
            }
        }
        if per_end.iter().all(Vec::is_empty) {
            return;
        }
        let YVal::Map(es) = &mut l.val else { return };
        let Some((_, eps)) = es.iter_mut().find(|(k, _)| key(k, src) == "endpoints") else {
            return;
        };
        let YVal::Seq(eps) = &mut eps.val else { return };
        for (ep, addrs) in eps.iter_mut().zip(per_end) {
            if addrs.is_empty() {
                continue;
            }
            let at = ep.loc;
            let ip = YNode::made(at, YVal::Seq(addrs));
            if let YVal::Map(m) = &mut ep.val {
                m.push((s(at, "ip"), ip));
                continue;
            }
            let Some(t) = ep.text(src) else { continue };
            let (node, iface) = t.split_once(':').unwrap_or((&t, ""));
            *ep = map(
                at,
                vec![("node", s(at, node)), ("iface", s(at, iface)), ("ip", ip)],
            );
        }
    }

    /// An endpoint object's `ipv4`/`ipv6` as nlab's `ip`; its `vars` noted.
    fn endpoint_addrs(&mut self, ep: &mut YNode) {
        let src = self.src;
        if let Some((kn, _)) = take(ep, src, "vars") {
            let msg = "`vars` of an endpoint is not honoured: nlab runs no templates; drop it";
            self.c.note(kn.loc, msg.into());
        }
        let mut addrs = Vec::new();
        for k in ["ipv4", "ipv6"] {
            if let Some((_, v)) = take(ep, src, k) {
                addrs.push(v);
            }
        }
        if addrs.is_empty() {
            return;
        }
        let at = ep.loc;
        if let YVal::Map(m) = &mut ep.val {
            m.push((s(at, "ip"), YNode::made(at, YVal::Seq(addrs))));
        }
    }
}
