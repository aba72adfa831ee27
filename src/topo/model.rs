//! The data every layer agrees on: a validated [`Topology`] is what `lab`
//! plans from and what the journal records as "applied".
//!
//! Kept free of syscalls so that parsing, generating and validating can be
//! tested without root. Serialisable so the journal can store it and
//! `--json` can print it.

use super::conditions::{Directed, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// Where something was written in a topology file; `line == 0` means
/// "not from a file" (a generator or an API call).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loc {
    /// 1-based; 0 when unknown.
    pub line: u32,
    /// 1-based, in characters.
    pub column: u32,
}

impl Loc {
    /// A location in a file, both counts starting at 1.
    pub fn new(line: u32, column: u32) -> Self {
        Loc { line, column }
    }
    /// Whether this points into a file (errors then print `file:line:col`).
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

/// A whole lab as the user asked for it.
///
/// Equality compares what would be built, not where it was written: `source`
/// and every `loc` are ignored, so a topology read back from the journal (no
/// locations) or from a reformatted file equals the one that was applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topology {
    /// Lab name: part of every namespace name (`nlab-<lab>-<node>`, or
    /// `nlab-<lab>:<node>` when the lab name has a `-`).
    pub name: String,
    /// Nodes by name; a `BTreeMap` so every walk is in a stable order.
    pub nodes: BTreeMap<String, Node>,
    /// The links, in the order they were declared (which numbers
    /// interfaces a generator names, and [`crate::lab::Lab::links`]).
    pub links: Vec<Link>,
    /// Links to the root namespace (`host:IFNAME` endpoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_links: Vec<super::external::HostLink>,
    /// The file it came from, for error messages; `None` for generators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Warnings of the file reader (`file:line: …`): containerlab keys
    /// nlab reads but does not honour, each saying what to do instead.
    #[serde(default, skip)]
    pub notes: Vec<String>,
}

/// What a node is (the file's `kind:`; `linux` is read as `host`,
/// `bridge` as `switch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// An end host: addresses, a default gateway, static routes.
    Host,
    /// A Linux bridge in its own namespace; its ports are the node's links.
    Switch,
    /// A host with IP forwarding on.
    Router,
    /// A router that masquerades the lab toward its uplink (`Node::nat`).
    Nat,
    /// A namespace standing in for "the internet" on a NAT's uplink.
    Internet,
}

impl NodeKind {
    /// `host`, `switch` or `router`, as files and `--json` spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeKind::Host => "host",
            NodeKind::Switch => "switch",
            NodeKind::Router => "router",
            NodeKind::Nat => "nat",
            NodeKind::Internet => "internet",
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host" | "linux" => Ok(NodeKind::Host),
            "switch" | "bridge" => Ok(NodeKind::Switch),
            "router" => Ok(NodeKind::Router),
            "nat" => Ok(NodeKind::Nat),
            "internet" => Ok(NodeKind::Internet),
            other => Err(format!(
                "unknown node kind `{other}` (expected host, switch, router, nat or internet)"
            )),
        }
    }
}

/// One node: a network namespace of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// Unique in the lab: 1–32 of `[A-Za-z0-9_.-]`, not starting with
    /// `-` or `.` (see [`crate::topo::validate`]).
    pub name: String,
    /// Host, switch or router.
    pub kind: NodeKind,
    /// IPv4 default gateway (hosts and routers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// IPv6 default gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<IpAddr>,
    /// Static routes, installed after addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Switches only: run the kernel's spanning tree. `None` means "decide
    /// from the topology" (on when the switch graph has a loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stp: Option<bool>,
    /// Routers only: send IPv6 router advertisements (`ipv6_ra:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_ra: Option<super::ra::Ra>,
    /// Hosts only (`ip6: auto`): take IPv6 addresses and a default route
    /// from router advertisements (SLAAC).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ip6_auto: bool,
    /// A DHCP server runs on this node (`kind: dhcp` or `dhcp:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<super::dhcp::DhcpServer>,
    /// Routers only: relay DHCP requests heard on their other interfaces
    /// to the lab's DHCP server (`giaddr`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dhcp_relay: bool,
    /// Which client gets the addresses of its `ip: dhcp` interfaces.
    #[serde(default, skip_serializing_if = "is_builtin")]
    pub dhcp_client: super::dhcp::DhcpClient,
    /// NAT nodes only: uplink, forwards, behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<Box<super::nat::NatSpec>>,
    /// Limits, isolation, environment and `exec:` of the processes nlab
    /// starts in the node (see [`super::limits`]).
    #[serde(default, skip_serializing_if = "super::limits::NodeRun::is_empty")]
    pub run: super::limits::NodeRun,
    /// `kind: vm`: the node's network stack is a guest's (see
    /// [`super::vm`]); the file's kind reads as `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<super::vm::Vm>,
    /// Interfaces on a host NIC (`macvlan:`/`macvtap:` under
    /// `interfaces:`), beside the node's links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub macvlans: Vec<super::macvlan::Macvlan>,
    /// A namespace nlab does not make: an existing one or a container's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<super::external::Attach>,
    /// containerlab's `labels:` (and its `clab-node-*` ones), which
    /// `nlab exec --label KEY=VALUE` selects nodes by. Not compared:
    /// labels change nothing that is built.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Where the node was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

fn is_builtin(c: &super::dhcp::DhcpClient) -> bool {
    *c == super::dhcp::DhcpClient::Builtin
}

impl Node {
    /// A node with nothing but a name and a kind: no gateway, routes,
    /// DHCP or router advertisements; spanning tree decided from the
    /// topology.
    pub fn new(name: impl Into<String>, kind: NodeKind) -> Self {
        Node {
            name: name.into(),
            kind,
            gateway: None,
            gateway6: None,
            routes: Vec::new(),
            stp: None,
            ipv6_ra: None,
            ip6_auto: false,
            dhcp: None,
            dhcp_relay: false,
            dhcp_client: super::dhcp::DhcpClient::Builtin,
            nat: None,
            vm: None,
            macvlans: Vec::new(),
            run: Default::default(),
            attach: None,
            labels: BTreeMap::new(),
            loc: Loc::default(),
        }
    }
}

/// A static route. `dst` of `0.0.0.0/0` or `::/0` is a default route.
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The destination prefix (`default` in a file is `0.0.0.0/0`).
    pub dst: IpNet,
    /// The next hop; `None` makes the destination directly reachable on
    /// `dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// Outgoing interface name inside the node (optional when `via` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Where the route was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

/// A point-to-point link: one veth pair (or, later, an emulated pair).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    /// The two ends; their order names the directions of `conditions`.
    pub endpoints: [Endpoint; 2],
    /// MTU for both ends (an endpoint's own `mtu` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Administrative state; `false` creates the link down.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub up: bool,
    /// Conditions per direction (`a_to_b` = packets sent by
    /// `endpoints[0]`); all default means a plain veth.
    #[serde(default, skip_serializing_if = "Directed::is_none")]
    pub conditions: Directed,
    /// Timed changes, run by the lab's supervisor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<Step>,
    /// Recorded for the lab's lifetime by its supervisor (`capture:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<super::capture::Record>,
    /// Where the link was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

impl Link {
    /// An up link between two ends, with no MTU or conditions of its own.
    pub fn new(a: Endpoint, b: Endpoint) -> Self {
        Link {
            endpoints: [a, b],
            mtu: None,
            up: true,
            conditions: Directed::default(),
            schedule: Vec::new(),
            capture: None,
            loc: Loc::default(),
        }
    }

    /// The end `id` (`node:iface`) is which of the two, if either.
    pub fn end_index(&self, id: &str) -> Option<usize> {
        self.endpoints.iter().position(|e| e.id() == id)
    }

    /// Which end is on node `node`, if either (the first, for a loop).
    pub fn end_index_of_node(&self, node: &str) -> Option<usize> {
        self.endpoints.iter().position(|e| e.node == node)
    }

    /// A stable identity for planning: the two `node:iface` ends, sorted.
    pub fn key(&self) -> String {
        let a = self.endpoints[0].id();
        let b = self.endpoints[1].id();
        if a <= b {
            format!("{a}--{b}")
        } else {
            format!("{b}--{a}")
        }
    }
}

/// One end of a link: the interface `iface` inside node `node`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// The node the interface is in.
    pub node: String,
    /// Interface name inside the node's namespace (≤ 15 bytes).
    pub iface: String,
    /// The interface's hardware address (the file's `mac`, or `nlab up
    /// --mac`); `None` lets the kernel pick a random one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Addresses with prefix length, IPv4 and IPv6 mixed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs: Vec<IpNet>,
    /// This end's MTU in bytes, over the link's; `None`: the link's, else
    /// the kernel's default (1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `ip: dhcp`: the IPv4 address comes from a DHCP server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dhcp: bool,
    /// Where the end was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

impl Endpoint {
    /// The end `iface` in `node`, with no address, MAC or MTU.
    pub fn new(node: impl Into<String>, iface: impl Into<String>) -> Self {
        Endpoint {
            node: node.into(),
            iface: iface.into(),
            mac: None,
            addrs: Vec::new(),
            mtu: None,
            dhcp: false,
            loc: Loc::default(),
        }
    }
    /// `node:iface`, the spelling users write in files.
    pub fn id(&self) -> String {
        format!("{}:{}", self.node, self.iface)
    }
}

/// An address with its prefix length, e.g. `10.0.0.1/8` or `fd00::1/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    /// The address; host bits may be set (`10.0.0.1/24` is an interface
    /// address, not only a network).
    pub addr: IpAddr,
    /// The prefix length: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl IpNet {
    /// Fails when `prefix` is longer than the address family allows.
    ///
    /// ```
    /// use nlab::topo::IpNet;
    /// let net = IpNet::new("10.0.0.1".parse()?, 24)?;
    /// assert!(net.contains(&"10.0.0.200".parse()?));
    /// assert_eq!(net.to_string(), "10.0.0.1/24");
    /// assert!(IpNet::new("10.0.0.1".parse()?, 33).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix length /{prefix} is longer than /{max}"));
        }
        Ok(IpNet { addr, prefix })
    }
    /// Whether the address is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
    /// 32 for IPv4, 128 for IPv6.
    pub fn max_prefix(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        // Fields are public, so a prefix past the family's length can reach
        // here without `new`; treat it as a full-length prefix, don't panic.
        let prefix = self.prefix.min(self.max_prefix());
        match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                IpAddr::V6((bits & mask).into())
            }
        }
    }
    /// Whether `ip` falls inside this prefix.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let other = IpNet {
            addr: *ip,
            prefix: self.prefix,
        };
        other.network() == self.network()
    }
    /// Whether this is a default route's destination (`/0`).
    pub fn is_default(&self) -> bool {
        self.prefix == 0
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(IpNet {
                addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                prefix: 0,
            });
        }
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` needs a prefix length, e.g. `{s}/24`"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("`{p}` is not a prefix length"))?;
        IpNet::new(addr, prefix)
    }
}

impl Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Mininet's `--mac`: 00:00:00:00:00:01 for n = 1.
    pub fn sequential(n: u64) -> Self {
        let b = n.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    /// Whether the group bit is set: such an address cannot be an
    /// interface's.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!(
                "`{s}` is not a MAC address (want aa:bb:cc:dd:ee:ff)"
            ));
        }
        let mut out = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(format!(
                    "`{s}` is not a MAC address (want aa:bb:cc:dd:ee:ff)"
                ));
            }
            out[i] = u8::from_str_radix(p, 16)
                .map_err(|_| format!("`{s}` is not a MAC address (want aa:bb:cc:dd:ee:ff)"))?;
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// Equality ignores `loc` (and `Topology::source`): plans compare what the
// kernel would get, and locations change whenever a comment is added.

impl PartialEq for Topology {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.nodes == o.nodes
            && self.links == o.links
            && self.host_links == o.host_links
    }
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.kind == o.kind
            && self.gateway == o.gateway
            && self.gateway6 == o.gateway6
            && self.routes == o.routes
            && self.stp == o.stp
            && self.ipv6_ra == o.ipv6_ra
            && self.ip6_auto == o.ip6_auto
            && self.dhcp == o.dhcp
            && self.dhcp_relay == o.dhcp_relay
            && self.dhcp_client == o.dhcp_client
            && self.nat == o.nat
            && self.vm == o.vm
            && self.macvlans == o.macvlans
            && self.run == o.run
            && self.attach == o.attach
    }
}

impl PartialEq for Route {
    fn eq(&self, o: &Self) -> bool {
        self.dst == o.dst && self.via == o.via && self.dev == o.dev
    }
}

impl PartialEq for Link {
    fn eq(&self, o: &Self) -> bool {
        self.endpoints == o.endpoints
            && self.mtu == o.mtu
            && self.up == o.up
            && self.conditions == o.conditions
            && self.schedule == o.schedule
            && self.capture == o.capture
    }
}

impl PartialEq for Endpoint {
    fn eq(&self, o: &Self) -> bool {
        self.node == o.node
            && self.iface == o.iface
            && self.mac == o.mac
            && self.addrs == o.addrs
            && self.mtu == o.mtu
            && self.dhcp == o.dhcp
    }
}

impl Topology {
    /// An empty topology for the lab `name`: no nodes, no links.
    pub fn new(name: impl Into<String>) -> Self {
        Topology {
            name: name.into(),
            nodes: BTreeMap::new(),
            links: Vec::new(),
            host_links: Vec::new(),
            source: None,
            notes: Vec::new(),
        }
    }

    /// Every interface of `node`: its link ends in link order, then its
    /// interfaces on host NICs (`macvlan:`, `macvtap:`).
    pub fn endpoints_of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Endpoint> + 'a {
        self.links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .filter(move |e| e.node == node)
            .chain(
                self.nodes
                    .get(node)
                    .into_iter()
                    .flat_map(|n| n.macvlans.iter().map(|m| &m.end)),
            )
    }

    /// Hosts (and routers) in a stable order: by name with numeric suffixes
    /// compared as numbers, so h2 comes before h10 as Mininet prints them.
    pub fn hosts(&self) -> Vec<&Node> {
        let mut v: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.kind != NodeKind::Switch)
            .collect();
        v.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        v
    }

    /// Nodes the topology gives IPv6: an IPv6 address on one of their
    /// interfaces, an IPv6 gateway or route, `ip6: auto` or `ipv6_ra`.
    pub fn ipv6_nodes(&self) -> std::collections::BTreeSet<&str> {
        let mut v6: std::collections::BTreeSet<&str> = self
            .links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .filter(|e| e.addrs.iter().any(|a| a.addr.is_ipv6()))
            .map(|e| e.node.as_str())
            .collect();
        v6.extend(
            self.nodes
                .values()
                .filter(|n| {
                    n.gateway6.is_some()
                        || n.ip6_auto
                        || n.ipv6_ra.is_some()
                        || n.routes.iter().any(|r| r.dst.addr.is_ipv6())
                })
                .map(|n| n.name.as_str()),
        );
        v6
    }

    /// The first address of the given family on `node`, the one name
    /// resolution and `pingall` use.
    pub fn primary_addr(&self, node: &str, v6: bool) -> Option<IpAddr> {
        self.endpoints_of(node)
            .flat_map(|e| e.addrs.iter())
            .find(|a| a.addr.is_ipv6() == v6)
            .map(|a| a.addr)
    }
}

/// Compare names so that `h2 < h10` (digit runs compared as numbers).
/// Every digit run counts, as in Mininet's `natural()`: `h2s1 < h10s1`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    /// The next run of digits or of non-digits: (is digits, text).
    fn next_run<'a>(s: &mut &'a str) -> Option<(bool, &'a str)> {
        let first = s.chars().next()?;
        let digits = first.is_ascii_digit();
        let end = s
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() != digits)
            .map_or(s.len(), |(i, _)| i);
        let (run, rest) = s.split_at(end);
        *s = rest;
        Some((digits, run))
    }
    let (mut ra, mut rb) = (a, b);
    loop {
        let ord = match (next_run(&mut ra), next_run(&mut rb)) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some((true, x)), Some((true, y))) => {
                // Compared as numbers of any length: fewer digits is smaller.
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            (Some((_, x)), Some((_, y))) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_parses_and_prints() {
        let n: IpNet = "10.0.0.1/8".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.0.1/8");
        assert_eq!(n.network().to_string(), "10.0.0.0");
        assert!(n.contains(&"10.200.1.1".parse().unwrap()));
        assert!(!n.contains(&"11.0.0.1".parse().unwrap()));
        assert!("10.0.0.1".parse::<IpNet>().is_err());
        assert!("10.0.0.1/33".parse::<IpNet>().is_err());
        let v6: IpNet = "fd00::1/64".parse().unwrap();
        assert!(v6.contains(&"fd00::ffff".parse().unwrap()));
    }

    #[test]
    fn mac_round_trips() {
        let m = MacAddr::sequential(258);
        assert_eq!(m.to_string(), "00:00:00:00:01:02");
        assert_eq!(m.to_string().parse::<MacAddr>().unwrap(), m);
        assert!("00:00:00:00:01".parse::<MacAddr>().is_err());
    }

    #[test]
    fn equality_ignores_where_things_were_written() {
        let mut a = Topology::new("lab");
        let mut n = Node::new("h1", NodeKind::Host);
        n.routes.push(Route {
            dst: "10.9.0.0/16".parse().unwrap(),
            via: Some("10.0.0.254".parse().unwrap()),
            dev: None,
            loc: Loc::new(3, 4),
        });
        n.loc = Loc::new(2, 3);
        a.nodes.insert("h1".into(), n);
        a.nodes
            .insert("s1".into(), Node::new("s1", NodeKind::Switch));
        let mut e = Endpoint::new("h1", "eth0");
        e.loc = Loc::new(9, 9);
        a.links.push(Link {
            endpoints: [e, Endpoint::new("s1", "p1")],
            mtu: None,
            up: true,
            conditions: Default::default(),
            schedule: Vec::new(),
            capture: None,
            loc: Loc::new(8, 7),
        });
        a.source = Some("a.yaml".into());

        // What the journal gives back: no locations, same content.
        let json = serde_json::to_string(&a).unwrap();
        let b: Topology = serde_json::from_str(&json).unwrap();
        assert_eq!(b.links[0].loc, Loc::default());
        assert_eq!(a, b);

        let mut c = b.clone();
        c.source = None;
        assert_eq!(a, c);
        c.links[0].endpoints[0].mtu = Some(9000);
        assert_ne!(a, c);
        let mut d = b.clone();
        d.nodes.get_mut("h1").unwrap().routes[0].dev = Some("eth0".into());
        assert_ne!(a, d);
        let mut e = b.clone();
        e.links[0].up = false;
        assert_ne!(a, e);
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["h10", "h2", "h1", "s1", "h20"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["h1", "h2", "h10", "h20", "s1"]);
        let mut v = vec![
            "h10s1",
            "h2s10",
            "h2s1",
            "h1s2",
            "h",
            "h1",
            "h1a",
            "h99999999999999999999999",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "h",
                "h1",
                "h1a",
                "h1s2",
                "h2s1",
                "h2s10",
                "h10s1",
                "h99999999999999999999999"
            ]
        );
        assert_eq!(
            natural_cmp("h01", "h1"),
            "h01".cmp("h1"),
            "equal numbers fall back to text"
        );
    }
}
