//! From the YAML tree to a [`Topology`]: the file format's rules (keys,
//! defaults, `interfaces:` merged into link endpoints) live here; rules about
//! the topology itself live in `validate`.

use super::parse_limits::RUN_KEYS;
use super::reader::Reader;
use super::yaml::{YNode, YVal};
use crate::topo::model::{Endpoint, IpNet, Link, Loc, MacAddr, Node, NodeKind, Route, Topology};
use crate::topo::suggest::did_you_mean;
use crate::topo::validate::{check_lab_name, check_node_name, Extra};
use std::collections::BTreeMap;
use std::net::IpAddr;

const TOP_KEYS: &[&str] = &["name", "topology"];
const TOPOLOGY_KEYS: &[&str] = &["defaults", "nodes", "links"];
const DEFAULTS_KEYS: &[&str] = &["kind", "gateway", "gateway6", "mtu", "conditions"];
const NODE_KEYS: &[&str] = &[
    "kind",
    "gateway",
    "gateway6",
    "routes",
    "interfaces",
    "stp",
    "ipv6_ra",
    "ip6",
    "dhcp",
    "dhcp_relay",
    "dhcp_client",
    "uplink",
    "forward",
    "static",
    "hairpin",
    "nat",
    "publish_host",
];
const ROUTE_KEYS: &[&str] = &["dst", "via", "dev"];
const IFACE_KEYS: &[&str] = &["ip", "mac", "mtu"];
const LINK_KEYS: &[&str] = &[
    "endpoints",
    "mtu",
    "up",
    "conditions",
    "schedule",
    "capture",
];
const ENDPOINT_KEYS: &[&str] = &["node", "iface", "ip", "mac", "mtu"];
const KINDS: &[&str] = &[
    "host",
    "switch",
    "router",
    "linux",
    "bridge",
    "dhcp",
    "nat",
    "internet",
    "vm",
    "external",
    "ext-container",
];

/// Settings of one interface, from `interfaces:` or an endpoint mapping;
/// each with where it was written, to report a conflict between the two.
#[derive(Default)]
struct Iface {
    loc: Loc,
    /// Addresses, and whether `dhcp` was among them (`ip: dhcp`).
    addrs: Option<((Vec<IpNet>, bool), Loc)>,
    mac: Option<(MacAddr, Loc)>,
    mtu: Option<(u32, Loc)>,
    used: bool,
}

#[derive(Default)]
struct Defaults {
    kind: Option<NodeKind>,
    gateway: Option<IpAddr>,
    gateway6: Option<IpAddr>,
    mtu: Option<u32>,
    conditions: crate::topo::conditions::Directed,
}

pub(super) struct Builder<'s> {
    r: Reader<'s>,
    pub extra: Extra,
    /// `interfaces:` entries by (node, iface).
    ifaces: BTreeMap<(String, String), Iface>,
    /// The lab name given on the command line (`--name`): it wins over
    /// the file's `name:`, which then need not be there or be valid.
    name: Option<String>,
    /// Nodes whose IPv4 gateway came from `defaults:` (a host whose
    /// address comes from DHCP takes its gateway from the server instead).
    default_gw: Vec<String>,
}

impl<'s> Builder<'s> {
    pub fn new(src: &'s str) -> Self {
        Builder {
            r: Reader::new(src),
            extra: Extra::default(),
            ifaces: BTreeMap::new(),
            name: None,
            default_gw: Vec::new(),
        }
    }

    /// Names the lab `name` whatever the file says.
    pub fn with_name(mut self, name: Option<&str>) -> Self {
        self.name = name.map(str::to_string);
        self
    }

    pub fn into_errors(self) -> Vec<crate::topo::validate::TopoError> {
        self.r.errs
    }

    pub fn build(&mut self, root: &YNode) -> Topology {
        let mut t = Topology::new("");
        if matches!(root.val, YVal::Null) {
            let hint = "a topology file starts with `name: <lab>` and `topology:` with `nodes:` and `links:`";
            self.r
                .err(Loc::new(1, 1), "the file is empty", Some(hint.into()));
            return t;
        }
        let top = self.r.fields(root, "the top level", TOP_KEYS);
        if !matches!(root.val, YVal::Map(_)) {
            return t;
        }
        self.extra.name_loc = root.loc;
        self.extra.nodes_loc = root.loc;
        match top.value("name") {
            _ if self.name.is_some() => t.name = self.name.clone().unwrap_or_default(),
            Some(n) => {
                self.extra.name_loc = n.loc;
                t.name = self.r.string(n, "`name`").unwrap_or_default();
                // Checked here too (validation repeats it for other sources)
                // so a bad name shows up with the file's first round of errors.
                if let Err((msg, hint)) = check_lab_name(&t.name) {
                    self.r.err(n.loc, msg, hint);
                }
            }
            None if top.misspelled("name") => {}
            None => self.r.err(
                root.loc,
                "the lab name is missing",
                Some(
                    "add `name: <lab>` at the top (lowercase letters, digits, `_`, `-`), \
                     or give the lab a name with --name"
                        .into(),
                ),
            ),
        }
        let Some(topo) = top.get("topology") else {
            if top.misspelled("topology") {
                return t;
            }
            self.r.err(
                root.loc,
                "`topology:` is missing",
                Some("add `topology:` with `nodes:` and `links:`".into()),
            );
            return t;
        };
        self.extra.nodes_loc = topo.loc;
        let f = self.r.fields(topo, "`topology`", TOPOLOGY_KEYS);
        let defaults = f
            .value("defaults")
            .map(|d| self.defaults(d))
            .unwrap_or_default();
        if let Some(nodes) = f.get("nodes") {
            self.extra.nodes_loc = nodes.loc;
            for (name, k, v) in self.r.entries(nodes, "`nodes`") {
                let node = self.node(&name, k.loc, v, &defaults);
                t.nodes.insert(name, node);
            }
        }
        if let Some(links) = f.value("links") {
            for l in self.r.list(links, "`links`", false) {
                if let Some(link) = self.link(l, &defaults) {
                    t.links.push(link);
                }
            }
        }
        super::parse_external::split_host_links(&mut self.r, &mut t);
        for n in &self.default_gw {
            if t.endpoints_of(n).any(|e| e.dhcp) {
                if let Some(node) = t.nodes.get_mut(n) {
                    node.gateway = None;
                }
            }
        }
        for ((node, iface), spec) in &self.ifaces {
            if spec.used {
                continue;
            }
            let hint = did_you_mean(iface, t.endpoints_of(node).map(|e| e.iface.as_str()))
                .unwrap_or_else(|| {
                    format!("add a link with endpoint `{node}:{iface}`, or remove the entry")
                });
            self.r.err(
                spec.loc,
                format!("interface `{node}:{iface}` is configured under `interfaces` but no link uses it"),
                Some(hint),
            );
        }
        super::nat::finish(&mut t);
        t
    }

    fn defaults(&mut self, n: &YNode) -> Defaults {
        let f = self.r.fields(n, "`defaults`", DEFAULTS_KEYS);
        Defaults {
            kind: f.value("kind").and_then(|k| self.kind(k)),
            gateway: f
                .value("gateway")
                .and_then(|g| self.gateway(g, "gateway", true)),
            gateway6: f
                .value("gateway6")
                .and_then(|g| self.gateway(g, "gateway6", false)),
            mtu: f.value("mtu").and_then(|m| self.r.mtu(m, "`mtu`")),
            conditions: f
                .value("conditions")
                .map(|c| self.r.default_conditions(c))
                .unwrap_or_default(),
        }
    }

    fn kind(&mut self, n: &YNode) -> Option<NodeKind> {
        let text = self.r.string(n, "`kind`")?;
        match text.parse::<NodeKind>() {
            Ok(k) => Some(k),
            Err(_) => {
                // The file also takes kinds the model reads as hosts
                // (`dhcp`, `vm`, `external`), which its own kinds do not list.
                let msg = format!(
                    "unknown node kind `{text}` (expected host, switch, router, nat, internet, \
                     dhcp, vm or external)"
                );
                self.r
                    .err(n.loc, msg, did_you_mean(&text, KINDS.iter().copied()));
                None
            }
        }
    }

    /// `~`, an empty value or `none`: explicitly nothing.
    fn is_none(&self, n: &YNode) -> bool {
        matches!(n.val, YVal::Null) || n.text(self.r.src).as_deref() == Some("none")
    }

    fn gateway(&mut self, n: &YNode, key: &str, v4: bool) -> Option<IpAddr> {
        let gw = self.r.ip(n, &format!("`{key}`"))?;
        if gw.is_ipv4() == v4 {
            return Some(gw);
        }
        let (want, other) = if v4 {
            ("IPv4", "gateway6")
        } else {
            ("IPv6", "gateway")
        };
        self.r.err(
            n.loc,
            format!("`{key}` takes an {want} address, not {gw}"),
            Some(format!("use `{other}: {gw}`")),
        );
        None
    }

    fn node(&mut self, name: &str, loc: Loc, n: &YNode, d: &Defaults) -> Node {
        let what = format!("node `{name}`");
        let keys: Vec<&'static str> = NODE_KEYS
            .iter()
            .chain(super::parse_vm::VM_KEYS)
            .chain(RUN_KEYS)
            .chain(super::parse_external::ATTACH_KEYS)
            .copied()
            .collect();
        // `env` is both an image's and any node's programs' (one key).
        let mut keys = keys;
        keys.sort_unstable();
        keys.dedup();
        let f = self.r.fields(n, &what, &keys);
        let kind_text = f.value("kind").and_then(|k| k.text(self.r.src));
        // `kind: vm` is a host whose network stack is a guest's.
        let vm_kind = kind_text.as_deref() == Some("vm");
        let external = kind_text
            .as_deref()
            .is_some_and(|k| super::parse_external::EXTERNAL_KINDS.contains(&k));
        // `kind: dhcp` is a host that runs the DHCP server its `dhcp:` describes.
        let dhcp_kind = f
            .value("kind")
            .is_some_and(|k| k.text(self.r.src).as_deref() == Some("dhcp"));
        let kind = match f.value("kind") {
            _ if dhcp_kind || vm_kind || external => NodeKind::Host,
            Some(k) => self.kind(k).unwrap_or(NodeKind::Host),
            None => d.kind.unwrap_or(NodeKind::Host),
        };
        if let Err(msg) = check_node_name(name) {
            self.r.err(loc, msg, None);
        }
        let mut node = Node::new(name, kind);
        node.loc = loc;
        // Gateway defaults are for hosts: a router is usually the gateway
        // itself, and a switch has no addresses to reach one from. A host
        // opts out with `gateway: none` (or an empty value).
        let host = kind == NodeKind::Host;
        node.gateway = match f.get("gateway") {
            None => {
                self.default_gw.push(name.to_string());
                d.gateway.filter(|_| host)
            }
            Some(g) if self.is_none(g) => None,
            Some(g) => self.gateway(g, "gateway", true),
        };
        node.gateway6 = match f.get("gateway6") {
            None => d.gateway6.filter(|_| host),
            Some(g) if self.is_none(g) => None,
            Some(g) => self.gateway(g, "gateway6", false),
        };
        node.stp = f.value("stp").and_then(|s| self.r.bool(s, "`stp`"));
        node.ipv6_ra = f.get("ipv6_ra").and_then(|v| self.r.ipv6_ra(v));
        node.ip6_auto = f.value("ip6").is_some_and(|v| self.r.ip6_mode(v));
        self.dhcp_keys(&mut node, &f, dhcp_kind, loc);
        node.nat = super::nat::spec(&mut self.r, name, kind, &f, loc);
        node.vm = self.r.vm(&f, name, vm_kind, loc);
        node.run = self.r.node_run(&f, name, vm_kind);
        node.attach = self.r.attach(&f, name, kind_text.as_deref(), loc);
        // Defaults are for the lab's own hosts: an existing namespace keeps
        // its default routes (validation refuses gateways written on it).
        if node.attach.as_ref().is_some_and(|a| a.is_external()) {
            if f.get("gateway").is_none() {
                node.gateway = None;
            }
            if f.get("gateway6").is_none() {
                node.gateway6 = None;
            }
        }
        if let Some(routes) = f.value("routes") {
            for r in self.r.list(routes, "`routes`", false) {
                if let Some(route) = self.route(r) {
                    node.routes.push(route);
                }
            }
        }
        if let Some(ifs) = f.value("interfaces") {
            for (iface, k, v) in self.r.entries(ifs, &format!("`interfaces` of `{name}`")) {
                if super::parse_vm::on_nic(v, self.r.src) {
                    node.macvlans.extend(self.nic(name, &iface, k.loc, v));
                    continue;
                }
                let spec = self.iface(v, &format!("interface `{name}:{iface}`"), k.loc);
                self.ifaces.insert((name.to_string(), iface), spec);
            }
        }
        node
    }

    /// `dhcp:`, `dhcp_relay:`, `dhcp_client:` of a node.
    fn dhcp_keys(&mut self, node: &mut Node, f: &super::reader::Fields, dhcp_kind: bool, loc: Loc) {
        node.dhcp = f
            .value("dhcp")
            .and_then(|v| self.r.dhcp_server(v, &node.name));
        if dhcp_kind && f.value("dhcp").is_none() {
            self.r.err(
                loc,
                format!("`{}` is of `kind: dhcp` but has no `dhcp:`", node.name),
                Some("add `dhcp: {pool: FIRST-LAST}` with the addresses to hand out".into()),
            );
        }
        node.dhcp_relay = f
            .value("dhcp_relay")
            .and_then(|v| self.r.bool(v, "`dhcp_relay`"))
            .unwrap_or(false);
        if let Some(c) = f.value("dhcp_client").and_then(|v| self.r.dhcp_client(v)) {
            node.dhcp_client = c;
        }
    }

    fn route(&mut self, n: &YNode) -> Option<Route> {
        let f = self.r.fields(n, "a route", ROUTE_KEYS);
        let via = f.value("via").and_then(|v| self.r.ip(v, "`via`"));
        let dev = f.value("dev").and_then(|v| self.r.string(v, "`dev`"));
        let Some(dst_node) = f.value("dst") else {
            if f.misspelled("dst") {
                return None;
            }
            self.r.err(
                n.loc,
                "a route needs `dst`",
                Some("e.g. {dst: 10.9.0.0/16, via: 10.0.1.254}".into()),
            );
            return None;
        };
        let mut dst = self.r.net(dst_node, "`dst`")?;
        // `default` means the default route of the gateway's family.
        if dst_node.text(self.r.src).as_deref() == Some("default")
            && via.is_some_and(|v| v.is_ipv6())
        {
            dst = IpNet {
                addr: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                prefix: 0,
            };
        }
        Some(Route {
            dst,
            via,
            dev,
            loc: n.loc,
        })
    }

    /// An interface on a host NIC: `ip`, `mac`, `mtu` as for any other,
    /// and its `macvlan:` or `macvtap:`.
    fn nic(
        &mut self,
        node: &str,
        iface: &str,
        loc: Loc,
        v: &YNode,
    ) -> Option<crate::topo::macvlan::Macvlan> {
        let what = format!("interface `{node}:{iface}`");
        let f = self.r.fields(v, &what, super::parse_vm::NIC_IFACE_KEYS);
        let own = self.iface_fields(&f, loc);
        let mut end = Endpoint::new(node, iface);
        end.loc = loc;
        if let Some(((addrs, dhcp), at)) = own.addrs {
            if dhcp {
                let msg = format!("{what} is on a host NIC: `ip: dhcp` is not supported there");
                self.r.err(at, msg, Some("give it a static address".into()));
            }
            end.addrs = addrs;
        }
        end.mac = own.mac.map(|m| m.0);
        end.mtu = own.mtu.map(|m| m.0);
        self.r.nic(&f, end)
    }

    /// `ip`, `mac`, `mtu` of an interface (in `interfaces:` or an endpoint
    /// mapping that has already been checked for its keys).
    fn iface(&mut self, n: &YNode, what: &str, loc: Loc) -> Iface {
        let f = self.r.fields(n, what, IFACE_KEYS);
        self.iface_fields(&f, loc)
    }

    fn iface_fields(&mut self, f: &super::reader::Fields, loc: Loc) -> Iface {
        Iface {
            loc,
            addrs: f.get("ip").map(|v| (self.addrs_or_dhcp(v), v.loc)),
            mac: f
                .value("mac")
                .and_then(|v| Some((self.r.mac(v, "`mac`")?, v.loc))),
            mtu: f
                .value("mtu")
                .and_then(|v| Some((self.r.mtu(v, "`mtu`")?, v.loc))),
            used: false,
        }
    }

    /// `ip:` as addresses, where `dhcp` (alone or in the list) asks for
    /// the IPv4 address from a DHCP server.
    fn addrs_or_dhcp(&mut self, v: &YNode) -> (Vec<IpNet>, bool) {
        let mut dhcp = false;
        let mut addrs = Vec::new();
        for item in self.r.list(v, "`ip`", true) {
            if item.text(self.r.src).as_deref() == Some("dhcp") {
                dhcp = true;
            } else if let Some(a) = self.r.net(item, "`ip`") {
                addrs.push(a);
            }
        }
        (addrs, dhcp)
    }

    fn link(&mut self, n: &YNode, d: &Defaults) -> Option<Link> {
        let f = self.r.fields(n, "a link", LINK_KEYS);
        let mtu = match f.value("mtu") {
            Some(m) => self.r.mtu(m, "`mtu`"),
            None => d.mtu,
        };
        let up = f
            .value("up")
            .and_then(|u| self.r.bool(u, "`up`"))
            .unwrap_or(true);
        let Some(eps) = f.value("endpoints") else {
            if f.misspelled("endpoints") {
                return None;
            }
            self.r.err(
                n.loc,
                "a link needs `endpoints`",
                Some(r#"e.g. endpoints: ["h1:eth0", "s1:p1"]"#.into()),
            );
            return None;
        };
        let list = self.r.list(eps, "`endpoints`", false);
        if list.len() != 2 {
            let msg = format!(
                "a link has exactly two endpoints, this one has {}",
                list.len()
            );
            self.r.err(eps.loc, msg, None);
            return None;
        }
        let a = self.endpoint(list[0]);
        let b = self.endpoint(list[1]);
        let (a, b) = (a?, b?);
        let ends = [a.id(), b.id()];
        let conditions = match f.value("conditions") {
            Some(c) => self.r.link_conditions(c, &d.conditions, &ends),
            None => d.conditions.clone(),
        };
        let schedule = match f.value("schedule") {
            Some(s) => self.r.schedule(s, &conditions, &ends),
            None => Vec::new(),
        };
        let capture = f.get("capture").and_then(|v| self.r.capture(v));
        Some(Link {
            endpoints: [a, b],
            mtu,
            up,
            conditions,
            schedule,
            capture,
            loc: n.loc,
        })
    }

    fn endpoint(&mut self, n: &YNode) -> Option<Endpoint> {
        let (node, iface, own) = match &n.val {
            // `h1: eth0` (a space after the colon) is YAML for a mapping.
            YVal::Map(m) if self.spaced_endpoint(m) => {
                let (k, v) = (&m[0].0, &m[0].1);
                let (node, iface) = (
                    k.text(self.r.src).unwrap_or_default(),
                    v.text(self.r.src).unwrap_or_default(),
                );
                let msg = format!(
                    "endpoint `{node}: {iface}` reads as a mapping because of the space after `:`"
                );
                self.r
                    .err(n.loc, msg, Some(format!("write `\"{node}:{iface}\"`")));
                return None;
            }
            YVal::Map(_) => {
                let f = self.r.fields(n, "an endpoint", ENDPOINT_KEYS);
                let node = f.value("node").and_then(|v| self.r.string(v, "`node`"));
                let iface = f.value("iface").and_then(|v| self.r.string(v, "`iface`"));
                let own = self.iface_fields(&f, n.loc);
                let (Some(node), Some(iface)) = (node, iface) else {
                    self.r.err(
                        n.loc,
                        "an endpoint mapping needs both `node` and `iface`",
                        None,
                    );
                    return None;
                };
                (node, iface, own)
            }
            _ => {
                let text = self.r.string(n, "an endpoint")?;
                let Some((node, iface)) = text.split_once(':') else {
                    let hint = format!("write it as `node:interface`, e.g. `{text}:eth0`");
                    self.r.err(
                        n.loc,
                        format!("endpoint `{text}` names no interface"),
                        Some(hint),
                    );
                    return None;
                };
                (node.to_string(), iface.to_string(), Iface::default())
            }
        };
        let mut ep = Endpoint::new(node, iface);
        ep.loc = n.loc;
        let key = (ep.node.clone(), ep.iface.clone());
        let (line, addrs, mac, mtu) = match self.ifaces.get_mut(&key) {
            Some(spec) => {
                spec.used = true;
                (
                    spec.loc.line,
                    spec.addrs.take(),
                    spec.mac.take(),
                    spec.mtu.take(),
                )
            }
            None => (0, None, None, None),
        };
        let id = ep.id();
        (ep.addrs, ep.dhcp) = self
            .pick("address", &id, own.addrs, addrs, line)
            .unwrap_or_default();
        ep.mac = self.pick("MAC", &id, own.mac, mac, line);
        ep.mtu = self.pick("MTU", &id, own.mtu, mtu, line);
        Some(ep)
    }

    /// One `key: scalar` entry whose key is no endpoint key.
    fn spaced_endpoint(&self, m: &[(YNode, YNode)]) -> bool {
        let [(k, v)] = m else { return false };
        let key = k.text(self.r.src).unwrap_or_default();
        !ENDPOINT_KEYS.contains(&key.as_str()) && v.text(self.r.src).is_some()
    }

    /// A setting from the endpoint or from `interfaces:`, but not both.
    fn pick<T>(
        &mut self,
        what: &str,
        id: &str,
        own: Option<(T, Loc)>,
        listed: Option<(T, Loc)>,
        line: u32,
    ) -> Option<T> {
        match (own, listed) {
            (Some((v, loc)), Some(_)) => {
                let msg = format!(
                    "the {what} of `{id}` is set twice: here and under `interfaces` (line {line})"
                );
                self.r.err(loc, msg, Some("keep one of them".into()));
                Some(v)
            }
            (Some((v, _)), None) | (None, Some((v, _))) => Some(v),
            (None, None) => None,
        }
    }
}
