//! containerlab's file format, rewritten into nlab's before the builder
//! reads it: `topology.defaults`/`kinds`/`groups` and a node's `group`
//! merged with containerlab's precedence (node > group > kind >
//! defaults), `kind: host` nodes as the root namespace, the extended link
//! form (`type: veth|host|mgmt-net|macvlan`, endpoint objects with
//! `interface`), `macvlan:PARENT` and `mgmt-net:IFACE` endpoints,
//! `labels`, and the management network (`mgmt:`, `mgmt-ipv4/6`).
//!
//! Keys nlab reads but cannot honour in a namespace lab become notes
//! (`file:line: … what to do instead`), printed by `up`; the rewritten
//! values keep the lines they were written on, so every later error
//! still points into the user's file.

use super::yaml::{YNode, YVal};
use crate::topo::model::{IpNet, Loc};
use crate::topo::validate::TopoError;
use std::collections::BTreeMap;

/// The management network's switch node (containerlab reserves the name
/// for `mgmt-net:IFACE` endpoints, so no node of its files has it).
pub const MGMT_NODE: &str = "mgmt-net";
/// The label `nlab exec --label` and containerlab know a node's name by.
pub const LABEL_NODE_NAME: &str = "clab-node-name";

/// How to read a containerlab file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClabOptions {
    /// `--no-mgmt`: no management network.
    pub no_mgmt: bool,
}

/// What the rewrite leaves for after the build.
#[derive(Default)]
pub(super) struct Clab {
    /// Labels by node.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Notes about keys nlab does not honour, with their line.
    pub notes: Vec<(Loc, String)>,
    pub errs: Vec<TopoError>,
    /// The management network's root end and its addresses.
    pub mgmt_host: Option<(String, Vec<IpNet>)>,
    /// Not a containerlab file: nothing of containerlab's applies.
    pub dir_less: bool,
}

/// Node keys of containerlab nlab reads but does not honour, and what to
/// do instead.
const IGNORED_NODE_KEYS: &[(&str, &str)] = &[
    ("healthcheck", "nlab does not run health checks; check the node with `nlab exec`"),
    ("aliases", "nlab names nodes in each node's /etc/hosts by their node name only; use the node name"),
    ("cgroup-parent", "nlab puts each node in its own cgroup under nlab's; drop the key"),
    ("stages", "nlab starts nodes together; order work with `exec:` instead"),
    ("wait-for", "nlab starts nodes together; order work with `exec:` instead"),
    ("startup-config", "a namespace node has no network OS config; use `exec:` commands"),
    ("startup-delay", "nlab starts nodes together; use `exec: [sleep N]` if a node must wait"),
    ("enforce-startup-config", "a namespace node has no network OS config; use `exec:`"),
    ("suppress-startup-config", "a namespace node has no network OS config; drop the key"),
    ("license", "a namespace node runs no licensed network OS; drop the key"),
    ("restart-policy", "nlab does not restart containers; drop the key"),
    ("auto-remove", "nlab removes its containers on `down`; drop the key"),
    ("image-pull-policy", "nlab never pulls; pull or build the image first"),
    ("network-mode", "every nlab node has its own network namespace; link the node to `host:IFNAME` to reach the host"),
    ("publish", "nlab publishes nothing; use a `kind: nat` node's `forward:`"),
    ("user", "nlab runs the image's default user; drop the key"),
    ("cap-add", "nlab nodes run with the capabilities of root in their namespace; drop the key"),
    ("devices", "nlab passes no devices to nodes; drop the key"),
    ("shm-size", "nlab sets no shared-memory size; drop the key"),
    ("sysctls-host", "drop the key"),
    ("certificate", "nlab makes no TLS certificates; drop the key"),
    ("runtime", "nlab picks podman or docker by which has the image; drop the key"),
    ("extras", "drop the key"),
    ("config", "drop the key"),
    ("type", "a namespace node has no hardware type; drop the key"),
    ("position", "drop the key (graph positions are not used)"),
    ("components", "a namespace node has no line cards; drop the key"),
    ("dns-options", "drop the key"),
    ("cpu-set", "nlab pins no CPUs; limit the node with `cpu:` instead"),
    ("credentials", "a namespace node has no login; use `nlab exec` or `nlab shell`"),
    ("env-files", "write the variables under `env:` instead"),
    ("hostname", "a node's hostname is its name with nlab's `isolation: {uts: true}`"),
    ("link-apply-mode", "drop the key"),
    ("pid-mode", "nlab's `isolation: {pid: true}` gives a node its own PID namespace"),
    ("privileged", "nlab's nodes run as root in their namespace; drop the key"),
    ("security-opts", "drop the key"),
    ("tmpfs", "nlab's `isolation: {tmp: true}` gives a node its own /tmp and /run"),
    ("volumes", "use `binds:` instead"),
    ("cgroupns-mode", "drop the key"),
];

/// Top-level keys of containerlab nlab reads but does not honour.
const IGNORED_TOP_KEYS: &[(&str, &str)] = &[
    (
        "prefix",
        "nlab names namespaces `nlab-<lab>-<node>`; use that name with `ip netns exec`",
    ),
    ("settings", "drop the key"),
    ("debug", "drop the key"),
];

const MGMT_KEYS: &[&str] = &[
    "network",
    "bridge",
    "ipv4-subnet",
    "ipv6-subnet",
    "ipv4-gw",
    "ipv6-gw",
    "ipv4-range",
    "ipv6-range",
    "mtu",
    "external-access",
    "driver",
    "driver-opts",
    "skip-when-unused",
];

/// Keys of nlab's own `defaults:` (the rest are node keys in containerlab).
const NLAB_DEFAULTS: &[&str] = &["gateway", "gateway6", "mtu", "conditions"];

fn key(k: &YNode, src: &str) -> String {
    k.text(src).unwrap_or_default()
}

fn get<'n>(m: &'n YNode, src: &str, k: &str) -> Option<&'n YNode> {
    match &m.val {
        YVal::Map(es) => es.iter().find(|(x, _)| key(x, src) == k).map(|(_, v)| v),
        _ => None,
    }
}

fn take(m: &mut YNode, src: &str, k: &str) -> Option<(YNode, YNode)> {
    let YVal::Map(es) = &mut m.val else {
        return None;
    };
    let i = es.iter().position(|(x, _)| key(x, src) == k)?;
    Some(es.remove(i))
}

fn text(n: Option<&YNode>, src: &str) -> Option<String> {
    n.and_then(|v| v.text(src)).filter(|s| !s.is_empty())
}

fn s(loc: Loc, v: &str) -> YNode {
    YNode::made(loc, YVal::Str(v.to_string()))
}

fn map(loc: Loc, es: Vec<(&str, YNode)>) -> YNode {
    let es = es.into_iter().map(|(k, v)| (s(loc, k), v)).collect();
    YNode::made(loc, YVal::Map(es))
}

/// Whether the text is a containerlab file rather than one of nlab's own:
/// named `*.clab.yml`, or using a key only containerlab has.
fn is_clab(root: &YNode, src: &str, source: Option<&str>) -> bool {
    if source.is_some_and(|s| s.ends_with(".clab.yml") || s.ends_with(".clab.yaml")) {
        return true;
    }
    if get(root, src, "mgmt").is_some() || get(root, src, "prefix").is_some() {
        return true;
    }
    let Some(t) = get(root, src, "topology") else {
        return false;
    };
    if get(t, src, "kinds").is_some() || get(t, src, "groups").is_some() {
        return true;
    }
    let node_keys = ["group", "mgmt-ipv4", "mgmt-ipv6", "labels"];
    let nodes = match get(t, src, "nodes").map(|n| &n.val) {
        Some(YVal::Map(es)) => es.iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    nodes
        .iter()
        .any(|n| node_keys.iter().any(|k| get(n, src, k).is_some()))
}

/// Rewrites a containerlab file's tree into nlab's shape (nothing is
/// changed in a file that uses none of containerlab's own keys).
pub(super) fn rewrite(
    root: &mut YNode,
    src: &str,
    source: Option<&str>,
    lab: Option<&str>,
    opts: ClabOptions,
) -> Clab {
    let mut c = Clab::default();
    if !matches!(root.val, YVal::Map(_)) {
        return c;
    }
    let clab = is_clab(root, src, source);
    c.dir_less = !clab;
    let lab = lab
        .map(str::to_string)
        .or_else(|| text(get(root, src, "name"), src))
        .unwrap_or_default();
    for (k, why) in IGNORED_TOP_KEYS {
        if let Some((kn, _)) = take(root, src, k) {
            c.note(kn.loc, format!("`{k}` is not honoured: {why}"));
        }
    }
    let mgmt = take(root, src, "mgmt").map(|(_, v)| v);
    let YVal::Map(es) = &mut root.val else {
        return c;
    };
    let Some((_, topo)) = es.iter_mut().find(|(k, _)| key(k, src) == "topology") else {
        return c;
    };
    let mut r = Rewrite {
        src,
        clab,
        c,
        host_nodes: Vec::new(),
        mgmt_ifaces: Vec::new(),
        macvlans: Vec::new(),
        mgmt_addrs: BTreeMap::new(),
        ports: Vec::new(),
        dir: source.filter(|_| clab).map(|f| {
            let p = std::path::Path::new(f);
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = dir.map(|d| d.to_path_buf()).unwrap_or_else(|| ".".into());
            std::path::absolute(&dir)
                .unwrap_or(dir)
                .display()
                .to_string()
        }),
    };
    r.nodes(topo);
    r.links(topo);
    r.place_macvlans(topo);
    let mgmt_on = clab && !opts.no_mgmt;
    if mgmt_on {
        r.mgmt(topo, mgmt.as_ref(), &lab);
    } else {
        r.no_mgmt(mgmt.as_ref());
    }
    r.c
}

impl Clab {
    /// Puts labels, notes and the management network's root addresses
    /// into the built topology; returns the rewrite's errors.
    pub fn finish(self, t: &mut crate::topo::model::Topology) -> Vec<TopoError> {
        let file = t.source.clone().unwrap_or_else(|| "<input>".into());
        for (node, labels) in self.labels {
            if let Some(n) = t.nodes.get_mut(&node) {
                n.labels = labels;
            }
        }
        let mut notes = self.notes;
        notes.sort_by_key(|(l, _)| (l.line, l.column));
        t.notes = notes
            .into_iter()
            .map(|(l, m)| format!("{file}:{}: {m}", l.line))
            .collect();
        // An image node's binds are the container's (its own file system).
        if !self.dir_less {
            for n in t.nodes.values_mut() {
                if let Some(crate::topo::external::Attach::Image(spec)) = &mut n.attach {
                    spec.binds = std::mem::take(&mut n.run.binds);
                    n.run.locs.binds.clear();
                }
            }
        }
        if let Some((root, addrs)) = self.mgmt_host {
            for h in t.host_links.iter_mut().filter(|h| h.host_iface == root) {
                h.host_addrs = addrs.clone();
            }
        }
        self.errs
    }

    fn note(&mut self, loc: Loc, msg: String) {
        self.notes.push((loc, msg));
    }
    fn err(&mut self, loc: Loc, msg: String, hint: &str) {
        let mut e = TopoError::at(loc, msg);
        e.hint = Some(hint.to_string());
        self.errs.push(e);
    }
}

struct Rewrite<'s> {
    src: &'s str,
    clab: bool,
    c: Clab,
    /// Nodes of `kind: host` (containerlab's "the host itself").
    host_nodes: Vec<String>,
    /// `mgmt-net:IFACE` endpoints: where they were written.
    mgmt_ifaces: Vec<Loc>,
    /// `macvlan:PARENT` endpoints: node, iface, parent, mac, where.
    macvlans: Vec<(String, String, String, Option<YNode>, Loc)>,
    /// `mgmt-ipv4`/`mgmt-ipv6` by node.
    mgmt_addrs: BTreeMap<String, Vec<(YNode, bool)>>,
    /// The file's directory (containerlab files only), for relative binds.
    dir: Option<String>,
    /// `ports:` by node.
    ports: Vec<(String, YNode)>,
}

mod links;
mod mgmt;
mod nodes;
mod ports;
#[cfg(test)]
mod tests;

/// Splits `text` into words as a POSIX shell does (no expansions):
/// whitespace separates, `'…'` and `"…"` quote, `\\` escapes.
pub(super) fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed ' in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unclosed \" in `{text}`")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed \" in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}
