//! Nodes: `defaults`, `kinds`, `groups` merged into each node with
//! containerlab's precedence, then the node's containerlab-only keys.

use super::{get, key, s, take, text, Rewrite, IGNORED_NODE_KEYS, LABEL_NODE_NAME, NLAB_DEFAULTS};
use crate::topo::file::yaml::{YNode, YVal};
use crate::topo::model::Loc;
use std::collections::BTreeMap;

/// Keys whose mappings merge entry by entry across the layers.
const MERGED_MAPS: &[&str] = &["env", "labels"];

fn entries(n: Option<&YNode>) -> Vec<(YNode, YNode)> {
    match n.map(|n| &n.val) {
        Some(YVal::Map(es)) => es.clone(),
        _ => Vec::new(),
    }
}

/// The destination of a bind (`SRC:DST[:ro]`), which identifies it.
fn bind_dst(b: &YNode, src: &str) -> String {
    let t = b.text(src).unwrap_or_default();
    t.split(':').nth(1).unwrap_or(&t).to_string()
}

/// `layer` over `into`: a later layer wins key by key; `env` and
/// `labels` merge by name, `binds` by destination.
fn overlay(into: &mut Vec<(YNode, YNode)>, layer: Vec<(YNode, YNode)>, src: &str) {
    for (k, v) in layer {
        let name = key(&k, src);
        let Some(i) = into.iter().position(|(x, _)| key(x, src) == name) else {
            into.push((k, v));
            continue;
        };
        let old = &mut into[i].1;
        match (&mut old.val, v.val.clone()) {
            (YVal::Map(a), YVal::Map(b)) if MERGED_MAPS.contains(&name.as_str()) => {
                overlay(a, b, src);
            }
            (YVal::Seq(a), YVal::Seq(b)) if name == "binds" => {
                for item in b {
                    let dst = bind_dst(&item, src);
                    a.retain(|x| bind_dst(x, src) != dst);
                    a.push(item);
                }
            }
            _ => into[i] = (k, v),
        }
    }
}

impl Rewrite<'_> {
    pub(super) fn nodes(&mut self, topo: &mut YNode) {
        let src = self.src;
        let kinds = take(topo, src, "kinds").map(|(_, v)| v);
        let groups = take(topo, src, "groups").map(|(_, v)| v);
        let mut defaults = Vec::new();
        if let YVal::Map(es) = &mut topo.val {
            if let Some((_, d)) = es.iter_mut().find(|(k, _)| key(k, src) == "defaults") {
                if let YVal::Map(des) = &mut d.val {
                    let (keep, moved) = std::mem::take(des)
                        .into_iter()
                        .partition(|(k, _)| NLAB_DEFAULTS.contains(&key(k, src).as_str()));
                    *des = keep;
                    defaults = moved;
                }
            }
        }
        let YVal::Map(es) = &mut topo.val else { return };
        let Some((_, nodes)) = es.iter_mut().find(|(k, _)| key(k, src) == "nodes") else {
            return;
        };
        let YVal::Map(nodes) = &mut nodes.val else {
            return;
        };
        let defaults = YNode::made(Loc::default(), YVal::Map(defaults));
        for (k, v) in nodes.iter_mut() {
            let name = key(k, src);
            if matches!(v.val, YVal::Null) {
                *v = YNode::made(k.loc, YVal::Map(Vec::new()));
            }
            if !matches!(v.val, YVal::Map(_)) {
                continue;
            }
            self.merge(&name, v, &defaults, kinds.as_ref(), groups.as_ref());
            self.node_keys(&name, v);
        }
        nodes.retain(|(k, _)| !self.host_nodes.contains(&key(k, src)));
    }

    /// Merges the layers into node `name` (node > group > kind > defaults).
    fn merge(
        &mut self,
        name: &str,
        v: &mut YNode,
        defaults: &YNode,
        kinds: Option<&YNode>,
        groups: Option<&YNode>,
    ) {
        let src = self.src;
        let own_group = take(v, src, "group").map(|(_, g)| g);
        let group_node = own_group.as_ref().or(get(defaults, src, "group"));
        let group_name = text(group_node, src);
        let group = match (&group_name, groups) {
            (Some(g), Some(gs)) => get(gs, src, g),
            _ => None,
        };
        if let (Some(g), None, Some(at)) = (&group_name, group, group_node) {
            self.c.err(
                at.loc,
                format!("node `{name}` is in group `{g}`, which `topology.groups` does not have"),
                "add the group under `topology.groups`, or fix its name",
            );
        }
        let kind = text(get(v, src, "kind"), src)
            .or_else(|| text(group.and_then(|g| get(g, src, "kind")), src))
            .or_else(|| text(get(defaults, src, "kind"), src));
        let of_kind = match (&kind, kinds) {
            (Some(k), Some(ks)) => get(ks, src, k),
            _ => None,
        };
        let mut merged = Vec::new();
        let mut base = entries(Some(defaults));
        base.retain(|(k, _)| key(k, src) != "group");
        overlay(&mut merged, base, src);
        overlay(&mut merged, entries(of_kind), src);
        overlay(&mut merged, entries(group), src);
        overlay(&mut merged, entries(Some(v)), src);
        v.val = YVal::Map(merged);
        if self.clab {
            let mut labels = BTreeMap::new();
            labels.insert(LABEL_NODE_NAME.to_string(), name.to_string());
            let k = kind.clone().unwrap_or_else(|| "linux".into());
            labels.insert("clab-node-kind".to_string(), k);
            if let Some(g) = group_name {
                labels.insert("clab-node-group".to_string(), g);
            }
            self.c.labels.insert(name.to_string(), labels);
        }
    }

    /// A merged node's containerlab-only keys.
    fn node_keys(&mut self, name: &str, v: &mut YNode) {
        let src = self.src;
        if let Some((_, l)) = take(v, src, "labels") {
            let labels = self.c.labels.entry(name.to_string()).or_default();
            for (k, val) in entries(Some(&l)) {
                labels.insert(key(&k, src), val.text(src).unwrap_or_default());
            }
        }
        for (k, v6) in [("mgmt-ipv4", false), ("mgmt-ipv6", true)] {
            if let Some((_, a)) = take(v, src, k) {
                self.mgmt_addrs
                    .entry(name.to_string())
                    .or_default()
                    .push((a, v6));
            }
        }
        if let Some((_, p)) = take(v, src, "ports") {
            self.ports.push((name.to_string(), p));
        }
        for (k, why) in IGNORED_NODE_KEYS {
            if let Some((kn, _)) = take(v, src, k) {
                self.c.note(
                    kn.loc,
                    format!("`{k}` of node `{name}` is not honoured: {why}"),
                );
            }
        }
        self.dns(name, v);
        self.relative_binds(v);
        let kind = text(get(v, src, "kind"), src);
        if let (Some(k), true) = (&kind, self.clab) {
            self.network_os(name, k, v);
        }
        if kind.as_deref() == Some("host") && self.clab {
            self.host_nodes.push(name.to_string());
            self.c.labels.remove(name);
        }
        if self.clab && get(v, src, "image").is_none() && kind.as_deref() != Some("ext-container") {
            for k in ["cmd", "entrypoint"] {
                if let Some((kn, _)) = take(v, src, k) {
                    let msg = format!(
                        "`{k}` of node `{name}` is not honoured: the node has no `image:`, so it \
                         is a plain namespace; run programs in it with `exec:`"
                    );
                    self.c.note(kn.loc, msg);
                }
            }
        }
    }

    /// containerlab's `dns: {servers, search, options}`: nlab's `dns:`,
    /// `dns_search:` and `dns_options:` (the node's own `resolv.conf`).
    fn dns(&mut self, name: &str, v: &mut YNode) {
        let src = self.src;
        let Some(d) = get(v, src, "dns") else { return };
        if !matches!(d.val, YVal::Map(_)) {
            return;
        }
        let loc = d.loc;
        let Some((k, d)) = take(v, src, "dns") else {
            return;
        };
        let _ = (loc, name);
        for (theirs, ours) in [
            ("servers", "dns"),
            ("search", "dns_search"),
            ("options", "dns_options"),
        ] {
            if let Some(list) = get(&d, src, theirs) {
                let list = list.clone();
                if let YVal::Map(es) = &mut v.val {
                    es.push((s(k.loc, ours), list));
                }
            }
        }
    }
}

impl Rewrite<'_> {
    /// containerlab reads a bind's relative source from the topology
    /// file's directory; nlab's binds are absolute, so it is made so.
    fn relative_binds(&mut self, v: &mut YNode) {
        let src = self.src;
        let Some(dir) = self.dir.clone() else { return };
        let YVal::Map(es) = &mut v.val else { return };
        let Some((_, binds)) = es.iter_mut().find(|(k, _)| key(k, src) == "binds") else {
            return;
        };
        let YVal::Seq(items) = &mut binds.val else {
            return;
        };
        for b in items.iter_mut() {
            let Some(t) = b.text(src) else { continue };
            if t.starts_with('/') || !t.contains(':') {
                continue;
            }
            let rel = t.trim_start_matches("./");
            *b = s(b.loc, &format!("{}/{rel}", dir.trim_end_matches('/')));
        }
    }
}

/// Kinds a containerlab file may name that nlab runs.
const KNOWN_KINDS: &[&str] = &[
    "linux",
    "bridge",
    "host",
    "ext-container",
    "switch",
    "router",
    "nat",
    "internet",
    "dhcp",
    "vm",
    "external",
];

impl Rewrite<'_> {
    /// containerlab's network OS kinds (`nokia_srlinux`, `ceos`, …): an
    /// error that says what nlab runs instead; the node reads on as linux.
    fn network_os(&mut self, name: &str, kind: &str, v: &mut YNode) {
        if KNOWN_KINDS.contains(&kind) {
            return;
        }
        let src = self.src;
        let YVal::Map(es) = &mut v.val else { return };
        let Some((_, k)) = es.iter_mut().find(|(k, _)| key(k, src) == "kind") else {
            return;
        };
        let msg = format!(
            "node `{name}` is of kind `{kind}`, a network OS nlab cannot run (nlab's nodes are \
             namespaces and Linux containers)"
        );
        let hint = "use `kind: linux` with the image of a Linux router (FRR, for one), or \
                    nlab's `kind: router` for a namespace that forwards with static routes";
        self.c.err(k.loc, msg, hint);
        *k = s(k.loc, "linux");
    }
}
