//! [`to_topology`]: the lab that realizes a [`Desired`] world (pure).
//!
//! One switch per network, one DHCP host per DHCP subnet, one router or
//! NAT node per router, one internet node per external network, one host
//! per port bound to an instance and one attached node per port bound to
//! an existing namespace (table in `docs/vnet.md`).

use super::desired::{Binding, Desired, Network, Port, Router, Subnet};
use super::names::ShortIds;
use super::Error;
use crate::topo::dhcp::{DhcpServer, Reservation, Scope};
use crate::topo::external::Attach;
use crate::topo::nat::{NatSpec, StaticNat, Uplink};
use crate::topo::{Endpoint, IpNet, Link, Node, NodeKind, Route, Topology};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

/// The interface of an instance (and of a DHCP server) in its namespace.
pub const INSTANCE_IFACE: &str = "eth0";

/// The names `to_topology` gives resources.
pub struct Names {
    nodes: ShortIds,
    ifaces: ShortIds,
}

impl Names {
    /// Names for every id of `d`.
    pub fn new(d: &Desired) -> Names {
        let ids = || {
            d.networks
                .iter()
                .map(|n| n.id.as_str())
                .chain(d.subnets.iter().map(|s| s.id.as_str()))
                .chain(d.ports.iter().map(|p| p.id.as_str()))
                .chain(d.routers.iter().map(|r| r.id.as_str()))
                .chain(d.routers.iter().flat_map(|r| {
                    r.interfaces
                        .iter()
                        .map(|i| i.port_id.as_str())
                        .chain(r.external_gateway.iter().map(|g| g.port_id.as_str()))
                }))
        };
        Names {
            nodes: ShortIds::new(ids(), 8),
            ifaces: ShortIds::new(ids(), 10),
        }
    }
    /// `net-<id8>`: the network's switch.
    pub fn network(&self, id: &str) -> String {
        format!("net-{}", self.nodes.of(id))
    }
    /// `qdhcp-<id8>`: the subnet's DHCP server.
    pub fn dhcp(&self, subnet: &str) -> String {
        format!("qdhcp-{}", self.nodes.of(subnet))
    }
    /// `qrouter-<id8>`: the router.
    pub fn router(&self, id: &str) -> String {
        format!("qrouter-{}", self.nodes.of(id))
    }
    /// `ext-<id8>`: the stand-in for the outside of an external network.
    pub fn external(&self, network: &str) -> String {
        format!("ext-{}", self.nodes.of(network))
    }
    /// The node a bound port's veth ends in: `i-<id8>` for an instance,
    /// `vm-<id8>` for a VM's TAP, `p-<id8>` for a namespace nlab
    /// attaches; `None` when unbound.
    pub fn port_node(&self, p: &Port) -> Option<String> {
        match p.binding {
            Binding::Unbound => None,
            Binding::Instance => Some(format!("i-{}", self.nodes.of(&p.id))),
            Binding::Tap => Some(format!("vm-{}", self.nodes.of(&p.id))),
            _ => Some(format!("p-{}", self.nodes.of(&p.id))),
        }
    }
    /// The interface a bound port has in its namespace: `eth0` in an
    /// instance or a VM's node, `ns-<id10>` in a namespace nlab attaches.
    pub fn port_iface(&self, p: &Port) -> String {
        match p.binding {
            Binding::Instance | Binding::Tap => INSTANCE_IFACE.to_string(),
            _ => trim(format!("ns-{}", self.ifaces.of(&p.id))),
        }
    }
    /// `tap<id10>`: a port's end on its network's bridge.
    pub fn tap(&self, port: &str) -> String {
        trim(format!("tap{}", self.ifaces.of(port)))
    }
    /// `qr-<id10>`: a router's leg on a subnet, inside the router.
    pub fn router_leg(&self, port: &str) -> String {
        trim(format!("qr-{}", self.ifaces.of(port)))
    }
    /// `qg-<id10>`: a router's leg on its external network.
    pub fn gateway_leg(&self, port: &str) -> String {
        trim(format!("qg-{}", self.ifaces.of(port)))
    }
}

fn trim(mut s: String) -> String {
    s.truncate(crate::topo::MAX_IFNAME);
    s
}

/// Lookups the builder needs, checked once.
struct World<'d> {
    d: &'d Desired,
    names: Names,
    networks: HashMap<&'d str, &'d Network>,
    subnets: HashMap<&'d str, &'d Subnet>,
}

impl<'d> World<'d> {
    fn new(d: &'d Desired) -> Result<Self, Error> {
        let w = World {
            d,
            names: Names::new(d),
            networks: d.networks.iter().map(|n| (n.id.as_str(), n)).collect(),
            subnets: d.subnets.iter().map(|s| (s.id.as_str(), s)).collect(),
        };
        for s in &d.subnets {
            w.network(&s.network_id, &format!("subnet {}", s.id))?;
        }
        for p in &d.ports {
            w.network(&p.network_id, &format!("port {}", p.id))?;
        }
        Ok(w)
    }
    fn network(&self, id: &str, whose: &str) -> Result<&'d Network, Error> {
        self.networks.get(id).copied().ok_or_else(|| {
            Error::Invalid(format!(
                "{whose} is on network {id}, which the world does not have"
            ))
        })
    }
    fn subnet(&self, id: &str, whose: &str) -> Result<&'d Subnet, Error> {
        self.subnets.get(id).copied().ok_or_else(|| {
            Error::Invalid(format!(
                "{whose} names subnet {id}, which the world does not have"
            ))
        })
    }
    /// The DHCP subnet (IPv4) of a network, if it has one.
    fn dhcp_subnet(&self, network: &str) -> Option<&'d Subnet> {
        self.d
            .subnets
            .iter()
            .find(|s| s.network_id == network && s.enable_dhcp && s.ip_version == 4)
    }
    fn mtu(&self, network: &str) -> Option<u32> {
        self.networks.get(network).and_then(|n| n.mtu)
    }
    fn up(&self, network: &str) -> bool {
        self.networks.get(network).is_none_or(|n| n.admin_state_up)
    }
}

/// The lab `lab` that realizes `d`. Fails on a world that refers to
/// resources it does not have, or asks for what nlab cannot build (two
/// DHCP subnets on one network).
pub fn to_topology(d: &Desired, lab: &str) -> Result<Topology, Error> {
    let w = World::new(d)?;
    let mut t = Topology::new(lab);
    for n in &d.networks {
        let mut sw = Node::new(w.names.network(&n.id), NodeKind::Switch);
        sw.stp = Some(false);
        t.nodes.insert(sw.name.clone(), sw);
    }
    for n in d.networks.iter().filter(|n| n.external) {
        external_node(&w, &mut t, n)?;
    }
    for n in &d.networks {
        dhcp_node(&w, &mut t, n)?;
    }
    for p in &d.ports {
        port_node(&w, &mut t, p)?;
    }
    for r in &d.routers {
        router_node(&w, &mut t, r)?;
    }
    Ok(t)
}

/// A link from `node:iface` to the network's bridge port `tap`.
fn to_bridge(w: &World<'_>, network: &str, end: Endpoint, tap: String) -> Link {
    let mut l = Link::new(end, Endpoint::new(w.names.network(network), tap));
    l.mtu = w.mtu(network);
    l.up = w.up(network);
    l
}

fn with_prefix(ip: IpAddr, s: &Subnet) -> IpNet {
    IpNet {
        addr: ip,
        prefix: s.cidr.prefix,
    }
}

/// The outside world of an external network: an internet node holding the
/// subnet's gateway address (or its first address no router holds).
fn external_node(w: &World<'_>, t: &mut Topology, n: &Network) -> Result<(), Error> {
    let Some(s) =
        w.d.subnets
            .iter()
            .find(|s| s.network_id == n.id && s.ip_version == 4)
    else {
        return Ok(());
    };
    let taken = taken_addrs(w.d, &s.id);
    let ip = match s.gateway_ip {
        Some(g) if !taken.contains(&g) => g,
        _ => hosts_of(s.cidr)
            .map(IpAddr::V4)
            .find(|a| !taken.contains(a))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "external subnet {} has no free address for the outside world",
                    s.id
                ))
            })?,
    };
    let name = w.names.external(&n.id);
    t.nodes
        .insert(name.clone(), Node::new(&name, NodeKind::Internet));
    let mut end = Endpoint::new(&name, INSTANCE_IFACE);
    end.addrs.push(with_prefix(ip, s));
    let tap = w.names.tap(&n.id);
    t.links.push(to_bridge(w, &n.id, end, tap));
    Ok(())
}

/// Every address of subnet `subnet` a port, router or floating IP holds.
fn taken_addrs(d: &Desired, subnet: &str) -> BTreeSet<IpAddr> {
    let mut out: BTreeSet<IpAddr> = d
        .ports
        .iter()
        .flat_map(|p| p.fixed_ips.iter())
        .filter(|f| f.subnet_id == subnet)
        .map(|f| f.ip_address)
        .collect();
    for r in &d.routers {
        out.extend(
            r.interfaces
                .iter()
                .filter(|i| i.subnet_id == subnet)
                .map(|i| i.ip),
        );
        out.extend(
            r.external_gateway
                .iter()
                .filter(|g| g.subnet_id == subnet)
                .map(|g| IpAddr::V4(g.ip)),
        );
    }
    out.extend(d.floating_ips.iter().map(|f| IpAddr::V4(f.external_ip)));
    out
}

/// The usable host addresses of an IPv4 prefix, lowest first.
fn hosts_of(cidr: IpNet) -> impl DoubleEndedIterator<Item = Ipv4Addr> {
    let (first, last) = match cidr.network() {
        IpAddr::V4(n) if cidr.prefix < 31 => {
            let n = u32::from(n);
            let size = 1u32 << (32 - u32::from(cidr.prefix));
            (n + 1, n + size - 2)
        }
        IpAddr::V4(n) => (u32::from(n), u32::from(n) + u32::from(cidr.prefix == 31)),
        IpAddr::V6(_) => (1, 0),
    };
    (first..=last).map(Ipv4Addr::from)
}

/// The DHCP server of the network's DHCP subnet, with a reservation per
/// bound port and the subnet's options.
fn dhcp_node(w: &World<'_>, t: &mut Topology, n: &Network) -> Result<(), Error> {
    let dhcp: Vec<&Subnet> =
        w.d.subnets
            .iter()
            .filter(|s| s.network_id == n.id && s.enable_dhcp && s.ip_version == 4)
            .collect();
    let s = match dhcp[..] {
        [] => return Ok(()),
        [s] => s,
        _ => {
            return Err(Error::Invalid(format!(
                "network {} has {} IPv4 subnets with DHCP; nlab serves one per network",
                n.id,
                dhcp.len()
            )))
        }
    };
    let own = match s.dhcp_ip {
        Some(ip) => ip,
        None => dhcp_addr(w.d, s)?,
    };
    let v4 = |a: &IpAddr| match a {
        IpAddr::V4(v) => Some(*v),
        IpAddr::V6(_) => None,
    };
    let hosts: Vec<Ipv4Addr> = hosts_of(s.cidr).collect();
    let (lo, hi) = match (hosts.first(), hosts.last()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => {
            return Err(Error::Invalid(format!(
                "subnet {} ({}) has no host addresses",
                s.id, s.cidr
            )))
        }
    };
    let mut scope = Scope::new(lo, hi);
    scope.reserved_only = true;
    scope.router = s.gateway_ip.as_ref().and_then(v4);
    scope.dns = s.dns_nameservers.iter().filter_map(v4).collect();
    scope.mtu = n.mtu.and_then(|m| u16::try_from(m).ok());
    scope.routes = s
        .host_routes
        .iter()
        .filter_map(|r| Some((r.destination, v4(&r.nexthop)?)))
        .collect();
    for p in w.d.ports.iter().filter(|p| p.binding != Binding::Unbound) {
        if let Some(ip) = p
            .fixed_ips
            .iter()
            .find(|f| f.subnet_id == s.id)
            .and_then(|f| v4(&f.ip_address))
        {
            scope.reservations.push(Reservation {
                mac: p.mac,
                ip,
                loc: Default::default(),
            });
        }
    }
    let name = w.names.dhcp(&s.id);
    let mut node = Node::new(&name, NodeKind::Host);
    node.dhcp = Some(DhcpServer {
        iface: None,
        scopes: vec![scope],
    });
    t.nodes.insert(name.clone(), node);
    let mut end = Endpoint::new(&name, INSTANCE_IFACE);
    end.addrs.push(with_prefix(IpAddr::V4(own), s));
    let tap = w.names.tap(&s.id);
    t.links.push(to_bridge(w, &n.id, end, tap));
    Ok(())
}

/// The DHCP port's address when the world names none: the highest
/// address of the allocation pools (of the subnet, without pools) that
/// nothing else holds and that is not the gateway.
fn dhcp_addr(d: &Desired, s: &Subnet) -> Result<Ipv4Addr, Error> {
    let mut taken = taken_addrs(d, &s.id);
    taken.extend(s.gateway_ip);
    let pools: Vec<(Ipv4Addr, Ipv4Addr)> = s
        .allocation_pools
        .iter()
        .filter_map(|p| match p {
            (IpAddr::V4(a), IpAddr::V4(b)) => Some((*a, *b)),
            _ => None,
        })
        .collect();
    let free = |a: &Ipv4Addr| !taken.contains(&IpAddr::V4(*a));
    let found = if pools.is_empty() {
        hosts_of(s.cidr).rev().find(free)
    } else {
        pools.iter().rev().find_map(|(a, b)| {
            (u32::from(*a)..=u32::from(*b))
                .rev()
                .map(Ipv4Addr::from)
                .find(free)
        })
    };
    found.ok_or_else(|| {
        Error::Invalid(format!(
            "subnet {} has no free address for its DHCP server; give it `dhcp_ip` or a larger pool",
            s.id
        ))
    })
}

/// A bound port: its namespace (an instance, or one nlab attaches) and
/// the veth to its network's bridge.
fn port_node(w: &World<'_>, t: &mut Topology, p: &Port) -> Result<(), Error> {
    let Some(name) = w.names.port_node(p) else {
        return Ok(());
    };
    let mut node = Node::new(&name, NodeKind::Host);
    node.attach = match &p.binding {
        Binding::Unbound | Binding::Instance | Binding::Tap => None,
        Binding::Netns { netns } => Some(Attach::Netns(netns.clone())),
        Binding::Pid { pid } => Some(Attach::Pid(*pid)),
        Binding::Container { container } => Some(Attach::Container(container.clone())),
        Binding::Lab { lab, node } => Some(Attach::Netns(crate::lab::sg::ns_name(lab, node))),
    };
    let mut end = Endpoint::new(&name, w.names.port_iface(p));
    end.mac = Some(p.mac);
    // A VM's addresses are its guest's business (by DHCP, or as the port
    // says): its node carries none, and the MAC is the guest NIC's.
    let guest = p.binding == Binding::Tap;
    if guest {
        node.vm = Some(Default::default());
    }
    let dhcp = w.dhcp_subnet(&p.network_id);
    for f in p.fixed_ips.iter().filter(|_| !guest) {
        let s = w.subnet(&f.subnet_id, &format!("port {}", p.id))?;
        if s.ipv6_slaac && s.ip_version == 6 {
            node.ip6_auto = true;
            continue;
        }
        // An address DHCP hands out: an instance asks with the built-in
        // client, a namespace nlab attaches asks with its owner's.
        if dhcp.is_some_and(|d| d.id == s.id) {
            end.dhcp = p.binding == Binding::Instance;
            continue;
        }
        // A second address of a DHCP port's family would clash with the
        // lease; the DHCP one wins.
        if end.dhcp && f.ip_address.is_ipv4() {
            continue;
        }
        end.addrs.push(with_prefix(f.ip_address, s));
        static_routes(&mut node, s, f.ip_address);
    }
    t.nodes.insert(name.clone(), node);
    let mut l = to_bridge(w, &p.network_id, end, w.names.tap(&p.id));
    l.up = l.up && p.admin_state_up;
    t.links.push(l);
    Ok(())
}

/// What DHCP would have handed out, for a port with a static address: the
/// default gateway (first subnet of each family) and the host routes.
fn static_routes(node: &mut Node, s: &Subnet, own: IpAddr) {
    match s.gateway_ip {
        Some(g @ IpAddr::V4(_)) if node.gateway.is_none() && g != own => node.gateway = Some(g),
        Some(g @ IpAddr::V6(_)) if node.gateway6.is_none() && g != own => node.gateway6 = Some(g),
        _ => {}
    }
    for r in &s.host_routes {
        node.routes.push(Route {
            dst: r.destination,
            via: Some(r.nexthop),
            dev: None,
            loc: Default::default(),
        });
    }
}

/// A router: a leg per interface, a NAT toward its external network when
/// it has a gateway, floating IPs as static 1:1 NAT, its static routes.
fn router_node(w: &World<'_>, t: &mut Topology, r: &Router) -> Result<(), Error> {
    let name = w.names.router(&r.id);
    let mut node = Node::new(&name, NodeKind::Router);
    let whose = format!("router {}", r.id);
    for i in &r.interfaces {
        let s = w.subnet(&i.subnet_id, &whose)?;
        let mut end = Endpoint::new(&name, w.names.router_leg(&i.port_id));
        end.mac = i.mac;
        end.addrs.push(with_prefix(i.ip, s));
        if s.ipv6_slaac && s.ip_version == 6 {
            node.ipv6_ra = Some(Default::default());
        }
        t.links
            .push(to_bridge(w, &s.network_id, end, w.names.tap(&i.port_id)));
    }
    if let Some(g) = &r.external_gateway {
        let s = w.subnet(&g.subnet_id, &whose)?;
        let fips = floating(w, r)?;
        let mut end = Endpoint::new(&name, w.names.gateway_leg(&g.port_id));
        end.mac = g.mac;
        end.addrs.push(with_prefix(IpAddr::V4(g.ip), s));
        // Floating IPs are addresses of the gateway leg, DNATed inside.
        end.addrs
            .extend(fips.iter().map(|f| with_prefix(IpAddr::V4(f.public), s)));
        t.links
            .push(to_bridge(w, &g.network_id, end, w.names.tap(&g.port_id)));
        let ext = w.names.external(&g.network_id);
        let outside = t.primary_addr(&ext, false);
        node.gateway = s.gateway_ip.filter(|a| *a != IpAddr::V4(g.ip)).or(outside);
        if g.enable_snat || !fips.is_empty() {
            node.kind = NodeKind::Nat;
            let mut nat = NatSpec::new(Uplink::Node(ext));
            nat.static_nat = fips;
            // ext-gw-mode: without SNAT only the floating IPs are NATed;
            // the rest leaves with its private source, as in Neutron.
            nat.masquerade = g.enable_snat;
            node.nat = Some(Box::new(nat));
        }
    }
    node.routes = r
        .routes
        .iter()
        .map(|h| Route {
            dst: h.destination,
            via: Some(h.nexthop),
            dev: None,
            loc: Default::default(),
        })
        .collect();
    t.nodes.insert(name, node);
    Ok(())
}

/// The router's floating IPs as static NATs to their ports' nodes.
fn floating(w: &World<'_>, r: &Router) -> Result<Vec<StaticNat>, Error> {
    let ports: BTreeMap<&str, &Port> = w.d.ports.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut out = Vec::new();
    for f in w.d.floating_ips.iter().filter(|f| f.router_id == r.id) {
        let p = ports.get(f.port_id.as_str()).ok_or_else(|| {
            Error::Invalid(format!(
                "floating IP {} names port {}, which the world does not have",
                f.id, f.port_id
            ))
        })?;
        let Some(node) = w.names.port_node(p) else {
            continue; // an unbound port has nothing to map to
        };
        out.push(StaticNat {
            public: f.external_ip,
            node,
            ip: Some(f.internal_ip),
            loc: Default::default(),
        });
    }
    Ok(out)
}
