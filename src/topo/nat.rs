//! What a `kind: nat` node does, as plain data: its uplink, its port
//! forwards, its static 1:1 mappings, hairpinning, and the RFC 4787
//! behaviour it shows toward the uplink. `lab::nat` turns it into one
//! nftables batch; `validate` checks it before anything is built.

use super::model::Loc;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Interface name a NAT node's uplink gets when nlab makes the uplink link
/// (an internet node it created, or the veth into the root namespace).
pub const UPLINK_IFACE: &str = "uplink";

/// Where a NAT node's outside is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Uplink {
    /// A `kind: internet` node of the lab (by name).
    Node(String),
    /// A veth into the root namespace, masqueraded again by the host.
    Host,
}

/// Transport protocol of a port forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// `/tcp` (the default).
    Tcp,
    /// `/udp`.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as files and nft write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// `8080:h1:80/tcp`: the NAT's uplink port 8080 goes to port 80 of `h1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forward {
    /// The port on the NAT's public address.
    pub port: u16,
    /// The node it goes to (at its first IPv4 address).
    pub node: String,
    /// The port on that node.
    pub to_port: u16,
    /// TCP or UDP.
    pub proto: Proto,
    /// Where the forward was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, n, t, pr) = (self.port, &self.node, self.to_port, self.proto.as_str());
        write!(f, "{p}:{n}:{t}/{pr}")
    }
}

impl FromStr for Forward {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("port forward `{s}` is not `PORT:NODE:PORT[/tcp|/udp]` (e.g. `8080:h1:80/tcp`)")
        };
        let (body, proto) = match s.rsplit_once('/') {
            Some((b, "tcp")) => (b, Proto::Tcp),
            Some((b, "udp")) => (b, Proto::Udp),
            Some(_) => return Err(bad()),
            None => (s, Proto::Tcp),
        };
        let parts: Vec<&str> = body.split(':').collect();
        let [port, node, to] = parts[..] else {
            return Err(bad());
        };
        let port_of = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("`{p}` in `{s}` is no port (1-65535)")),
            Ok(n) => Ok(n),
        };
        if node.is_empty() {
            return Err(bad());
        }
        Ok(Forward {
            port: port_of(port)?,
            node: node.to_string(),
            to_port: port_of(to)?,
            proto,
            loc: Loc::default(),
        })
    }
}

/// `203.0.113.10:h1`: a 1:1 static NAT, the public address to the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaticNat {
    /// The node's public address, in the NAT's uplink subnet.
    pub public: Ipv4Addr,
    /// The node behind the NAT that has it.
    pub node: String,
    /// The node's inner address it maps to; `None`: the node's first
    /// IPv4 address. Needed for a node that takes its address by DHCP
    /// (a virtual network's instance behind a floating IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Where it was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

/// RFC 4787's three classes, for mapping (section 4.1) and for
/// filtering (section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dependence {
    /// The same for every remote endpoint.
    EndpointIndependent,
    /// Depends on the remote address only.
    AddressDependent,
    /// Depends on the remote address and port.
    AddressAndPortDependent,
}

/// How `Dependence` values are written in files, in its order.
pub const DEPENDENCES: &[&str] = &[
    "endpoint-independent",
    "address-dependent",
    "address-and-port-dependent",
];

impl FromStr for Dependence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "endpoint-independent" => Ok(Dependence::EndpointIndependent),
            "address-dependent" => Ok(Dependence::AddressDependent),
            "address-and-port-dependent" => Ok(Dependence::AddressAndPortDependent),
            _ => Err(format!("`{s}` is not one of {}", DEPENDENCES.join(", "))),
        }
    }
}

impl fmt::Display for Dependence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = match self {
            Dependence::EndpointIndependent => 0,
            Dependence::AddressDependent => 1,
            Dependence::AddressAndPortDependent => 2,
        };
        f.write_str(DEPENDENCES[i])
    }
}

/// The RFC 4787 behaviour of a NAT toward its uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Whether the mapped endpoint changes with the destination (4.1).
    pub mapping: Dependence,
    /// Which remote endpoints may send back through a mapping (5).
    pub filtering: Dependence,
    /// Keep the internal source port when it is free (RFC 4787 4.2.1).
    pub port_preservation: bool,
}

impl Default for Behaviour {
    /// What Linux masquerade does on its own: one mapping per internal
    /// endpoint while it lasts, replies only from the endpoint contacted,
    /// source ports kept when free (`port-restricted`).
    fn default() -> Self {
        preset("port-restricted").unwrap_or(Behaviour {
            mapping: Dependence::EndpointIndependent,
            filtering: Dependence::AddressAndPortDependent,
            port_preservation: true,
        })
    }
}

/// Preset names users know, in the order the help lists them.
pub const PRESETS: &[&str] = &[
    "full-cone",
    "restricted-cone",
    "port-restricted",
    "symmetric",
    "cgnat",
];

/// The behaviour a preset name stands for.
pub fn preset(name: &str) -> Option<Behaviour> {
    use Dependence::*;
    let b = |mapping, filtering, port_preservation| Behaviour {
        mapping,
        filtering,
        port_preservation,
    };
    Some(match name {
        "full-cone" => b(EndpointIndependent, EndpointIndependent, true),
        "restricted-cone" => b(EndpointIndependent, AddressDependent, true),
        "port-restricted" => b(EndpointIndependent, AddressAndPortDependent, true),
        "symmetric" => b(AddressAndPortDependent, AddressAndPortDependent, false),
        // A carrier-grade NAT: RFC 6888 asks for endpoint-independent
        // mapping and filtering no looser than address-dependent. A real
        // one hands out ports from a block per subscriber; Linux conntrack
        // stays endpoint-independent only while it keeps the port, so
        // nlab's keeps it too.
        "cgnat" => b(EndpointIndependent, AddressDependent, true),
        _ => return None,
    })
}

/// Everything a NAT node adds to a router.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NatSpec {
    /// Where the NAT's outside is.
    pub uplink: Uplink,
    /// Port forwards (`forward:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
    /// 1:1 static NATs (`static:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_nat: Vec<StaticNat>,
    /// Internal hosts reach each other through the NAT's public address
    /// and forwarded ports (RFC 4787 REQ-9).
    #[serde(default)]
    pub hairpin: bool,
    /// The RFC 4787 behaviour (`nat:`).
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Whether what goes out the uplink without a static NAT is
    /// masqueraded behind the uplink address; `false` (a Neutron router
    /// gateway with `enable_snat: false`) leaves its source as it is and
    /// keeps only the static 1:1 NATs and port forwards.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub masquerade: bool,
    /// With `uplink: host`: the forwards are also published on the host's
    /// own addresses (containerlab's and Docker's `ports:`), through DNAT
    /// in the lab's table of the root namespace (`publish_host: true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publish: bool,
    /// Where `uplink:` was written (or the node, when it was not).
    #[serde(default, skip)]
    pub uplink_loc: Loc,
}

impl NatSpec {
    /// A NAT toward `uplink` with no forwards or static NATs, hairpinning
    /// on and the default behaviour (`port-restricted`).
    pub fn new(uplink: Uplink) -> Self {
        NatSpec {
            uplink,
            forwards: Vec::new(),
            static_nat: Vec::new(),
            hairpin: true,
            behaviour: Behaviour::default(),
            masquerade: true,
            publish: false,
            uplink_loc: Loc::default(),
        }
    }
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

// Equality compares what would be built, not where it was written (as
// `Topology`'s does).
impl PartialEq for Forward {
    fn eq(&self, o: &Self) -> bool {
        (self.port, &self.node, self.to_port, self.proto) == (o.port, &o.node, o.to_port, o.proto)
    }
}
impl Eq for Forward {}

impl PartialEq for StaticNat {
    fn eq(&self, o: &Self) -> bool {
        (self.public, &self.node, self.ip) == (o.public, &o.node, o.ip)
    }
}
impl Eq for StaticNat {}

impl PartialEq for NatSpec {
    fn eq(&self, o: &Self) -> bool {
        self.uplink == o.uplink
            && self.forwards == o.forwards
            && self.static_nat == o.static_nat
            && self.hairpin == o.hairpin
            && self.behaviour == o.behaviour
            && self.masquerade == o.masquerade
            && self.publish == o.publish
    }
}
impl Eq for NatSpec {}

/// The endpoint of NAT node `nat` that faces internet node `up`: on a link
/// straight to it, or on a link into a switch segment `up` is on (Mininet's
/// natnet puts the internet host and the NATs on one switch).
pub fn uplink_end<'t>(t: &'t super::Topology, nat: &str, up: &str) -> Option<&'t super::Endpoint> {
    use super::NodeKind;
    let is_switch = |n: &str| t.nodes.get(n).map(|n| n.kind) == Some(NodeKind::Switch);
    // Every node reachable from `start` through switches only.
    let reaches_up = |start: &str| -> bool {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(sw) = todo.pop() {
            if !seen.insert(sw.clone()) {
                continue;
            }
            for l in &t.links {
                let Some(i) = l.end_index_of_node(&sw) else {
                    continue;
                };
                let other = &l.endpoints[1 - i].node;
                if other == up {
                    return true;
                }
                if is_switch(other) {
                    todo.push(other.clone());
                }
            }
        }
        false
    };
    t.links.iter().find_map(|l| {
        let i = l.end_index_of_node(nat)?;
        let other = &l.endpoints[1 - i].node;
        (other == up || (is_switch(other) && reaches_up(other))).then_some(&l.endpoints[i])
    })
}

/// The nodes on the inside of NAT `nat`: everything reachable from its
/// interfaces other than `uplink_iface` without passing through an
/// internet node or another NAT (whose own inside its masquerade hides),
/// the NAT itself left out. Switches are crossed but not listed.
pub fn inside(t: &super::Topology, nat: &str, uplink_iface: Option<&str>) -> Vec<String> {
    use super::NodeKind;
    let mut seen = std::collections::BTreeSet::from([nat.to_string()]);
    let mut todo: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let step = |from: &str, skip_iface: Option<&str>, todo: &mut Vec<String>| {
        for l in &t.links {
            let Some(i) = l.end_index_of_node(from) else {
                continue;
            };
            if skip_iface.is_some_and(|s| l.endpoints[i].iface == s) {
                continue;
            }
            todo.push(l.endpoints[1 - i].node.clone());
        }
    };
    step(nat, uplink_iface, &mut todo);
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        let Some(kind) = t.nodes.get(&n).map(|n| n.kind) else {
            continue;
        };
        match kind {
            NodeKind::Internet => {}
            NodeKind::Nat => out.push(n),
            NodeKind::Switch => step(&n, None, &mut todo),
            NodeKind::Host | NodeKind::Router => {
                step(&n, None, &mut todo);
                out.push(n);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inside_of_a_nat_stops_at_internet_nodes_and_other_nats() {
        let yaml = "name: n
topology:
  nodes:
    inet: {kind: internet}
    h1: {gateway: 192.168.1.1}
    r1: {kind: router, gateway: 192.168.1.1}
    h2: {gateway: 10.2.0.1}
    s1: {kind: switch}
    nat1: {kind: nat, uplink: inet}
    nat2: {kind: nat, uplink: inet}
    h3: {gateway: 192.168.3.1}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 192.168.1.10/24}, \"s1:p1\"]
    - endpoints: [{node: r1, iface: lan, ip: 192.168.1.2/24}, \"s1:p2\"]
    - endpoints: [{node: nat1, iface: lan, ip: 192.168.1.1/24}, \"s1:p3\"]
    - endpoints: [{node: r1, iface: r, ip: 10.2.0.1/24}, {node: h2, iface: eth0, ip: 10.2.0.10/24}]
    - endpoints: [{node: nat1, iface: wan, ip: 203.0.113.2/24}, {node: inet, iface: a, ip: 203.0.113.1/24}]
    - endpoints: [{node: nat2, iface: wan, ip: 198.51.100.2/24}, {node: inet, iface: b, ip: 198.51.100.1/24}]
    - endpoints: [{node: nat2, iface: lan, ip: 192.168.3.1/24}, {node: h3, iface: eth0, ip: 192.168.3.10/24}]
";
        let t = crate::topo::file::parse(yaml, None).expect("valid");
        assert_eq!(inside(&t, "nat1", Some("wan")), ["h1", "h2", "r1"]);
        assert_eq!(inside(&t, "nat2", Some("wan")), ["h3"]);
    }

    #[test]
    fn forwards_parse_and_print() {
        let f: Forward = "8080:h1:80/tcp".parse().expect("valid");
        assert_eq!((f.port, f.node.as_str(), f.to_port), (8080, "h1", 80));
        assert_eq!(f.proto, Proto::Tcp);
        assert_eq!(f.to_string(), "8080:h1:80/tcp");
        let u: Forward = "5353:h2:53/udp".parse().expect("valid");
        assert_eq!(u.proto, Proto::Udp);
        assert_eq!(
            "80:h1:8080".parse::<Forward>().map(|f| f.proto),
            Ok(Proto::Tcp)
        );
        for bad in [
            "80:h1",
            "0:h1:80",
            "80::80",
            "80:h1:80/sctp",
            "x:h1:80",
            "70000:h:1",
        ] {
            assert!(bad.parse::<Forward>().is_err(), "{bad}");
        }
    }

    #[test]
    fn presets_are_the_rfc_4787_classes() {
        use Dependence::*;
        let s = preset("symmetric").expect("preset");
        assert_eq!(
            (s.mapping, s.filtering),
            (AddressAndPortDependent, AddressAndPortDependent)
        );
        let f = preset("full-cone").expect("preset");
        assert_eq!(
            (f.mapping, f.filtering),
            (EndpointIndependent, EndpointIndependent)
        );
        assert!(PRESETS.iter().all(|p| preset(p).is_some()));
        assert!(preset("cone").is_none());
    }
}
