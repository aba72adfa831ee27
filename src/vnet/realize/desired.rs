//! [`Desired`]: the whole virtual world as plain serde data, the input of
//! `realize`. The API builds it from one snapshot of its store; tests
//! build it by hand. Field names follow Neutron's where there is one.
//!
//! Everything is already resolved: security-group rules are listed on the
//! ports they apply to, with remote groups expanded to their members'
//! addresses; `device_owner` ports of routers and DHCP are not ports here
//! but the router's interfaces and the subnet's `dhcp_ip`.

use crate::topo::{IpNet, MacAddr};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// Every network, subnet, port, router and floating IP of one database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// Networks (each a bridge).
    #[serde(default)]
    pub networks: Vec<Network>,
    /// Subnets, each on one network.
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// Ports; only bound ones reach the kernel.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// Routers (each a namespace that forwards, and NATs when it has an
    /// external gateway).
    #[serde(default)]
    pub routers: Vec<Router>,
    /// Floating IPs with an associated port.
    #[serde(default)]
    pub floating_ips: Vec<FloatingIp>,
}

/// A Neutron network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// UUID (its first 8 hex digits name the lab node `net-<id8>`).
    pub id: String,
    /// The user's name (for messages only).
    #[serde(default)]
    pub name: String,
    /// MTU of every interface on it; `None`: 1500.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// `router:external`: it stands for the outside world; nlab gives it
    /// an internet node `ext-<id8>` (never the machine's real uplink).
    #[serde(default)]
    pub external: bool,
    /// `admin_state_up`: `false` builds its ports' links down.
    #[serde(default = "yes")]
    pub admin_state_up: bool,
}

/// A Neutron subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    /// UUID (names the DHCP node `qdhcp-<id8>`).
    pub id: String,
    /// The network it is on.
    pub network_id: String,
    /// The subnet, e.g. `172.16.1.0/24`.
    pub cidr: IpNet,
    /// 4 or 6.
    pub ip_version: u8,
    /// The router address handed out (a router interface normally holds
    /// it); `None`: no default gateway.
    #[serde(default)]
    pub gateway_ip: Option<IpAddr>,
    /// Inclusive ranges ports' addresses come from (the API allocates;
    /// realize only reads them to place the DHCP server's address).
    #[serde(default)]
    pub allocation_pools: Vec<(IpAddr, IpAddr)>,
    /// Name servers handed out by DHCP.
    #[serde(default)]
    pub dns_nameservers: Vec<IpAddr>,
    /// Routes handed out by DHCP (option 121).
    #[serde(default)]
    pub host_routes: Vec<HostRoute>,
    /// Whether a DHCP server serves it (IPv4 only).
    #[serde(default)]
    pub enable_dhcp: bool,
    /// IPv6 `ipv6_address_mode`/`ipv6_ra_mode` `slaac`: the router on it
    /// sends router advertisements and instances autoconfigure.
    #[serde(default)]
    pub ipv6_slaac: bool,
    /// The address of the subnet's `network:dhcp` port; `None`: the
    /// highest address of the allocation pools no port or router holds.
    #[serde(default)]
    pub dhcp_ip: Option<Ipv4Addr>,
}

/// One of a subnet's `host_routes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRoute {
    /// The destination prefix.
    pub destination: IpNet,
    /// The next hop, in the subnet.
    pub nexthop: IpAddr,
}

/// A Neutron port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// UUID (names the instance node `i-<id8>` and the bridge port
    /// `tap<id10>`).
    pub id: String,
    /// The network it is on.
    pub network_id: String,
    /// `mac_address`.
    pub mac: MacAddr,
    /// `fixed_ips`.
    #[serde(default)]
    pub fixed_ips: Vec<FixedIp>,
    /// Where its veth goes (`binding:profile`, see `docs/vnet.md`).
    #[serde(default)]
    pub binding: Binding,
    /// `port_security_enabled`: `false` turns off anti-spoofing and
    /// security groups for the port.
    #[serde(default = "yes")]
    pub port_security_enabled: bool,
    /// `allowed_address_pairs`: more source addresses (and MACs) the port
    /// may send from.
    #[serde(default)]
    pub allowed_address_pairs: Vec<AddressPair>,
    /// The rules of all its security groups, resolved. With port security
    /// on, traffic no rule allows is dropped (both directions), replies to
    /// allowed traffic pass (stateful).
    #[serde(default)]
    pub security_rules: Vec<SgRule>,
    /// `admin_state_up`: `false` builds its link down.
    #[serde(default = "yes")]
    pub admin_state_up: bool,
}

/// One of a port's `fixed_ips`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedIp {
    /// The subnet the address is in.
    pub subnet_id: String,
    /// The address.
    pub ip_address: IpAddr,
}

/// One of a port's `allowed_address_pairs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressPair {
    /// An address or prefix the port may send from.
    pub ip_address: IpNet,
    /// The MAC it may send from with it; `None`: the port's own.
    #[serde(default)]
    pub mac_address: Option<MacAddr>,
}

/// Where a port's veth goes: `binding:profile`'s `nlab` key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "nlab", rename_all = "lowercase")]
pub enum Binding {
    /// No profile: `DOWN`, nothing in the kernel.
    #[default]
    Unbound,
    /// A namespace nlab makes for it (`i-<id8>`), like a booting VM.
    Instance,
    /// An existing namespace pinned by `ip netns add NAME`.
    Netns {
        /// The namespace's name.
        netns: String,
    },
    /// The namespace of a running process.
    Pid {
        /// The process.
        pid: i32,
    },
    /// The namespace of a running Docker or Podman container.
    Container {
        /// The container's name.
        container: String,
    },
    /// A node of a running lab.
    Lab {
        /// The lab.
        lab: String,
        /// Its node.
        node: String,
    },
    /// A TAP for a guest the user starts: a VM node `vm-<id8>` whose TAP
    /// `vtap0` is bridged to the port's veth; the guest's NIC has the
    /// port's MAC (see `docs/vnet.md`).
    Tap,
}

/// Which way a rule looks, from the port's side (Neutron's `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic to the port.
    Ingress,
    /// Traffic from the port.
    Egress,
}

/// A security-group rule as it applies to one port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SgRule {
    /// `ingress` or `egress`.
    pub direction: Direction,
    /// `IPv4` or `IPv6` (Neutron's spelling).
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, `ipv6-icmp`, a protocol number, or `None`
    /// for any.
    #[serde(default)]
    pub protocol: Option<String>,
    /// First port (TCP/UDP), or ICMP type.
    #[serde(default)]
    pub port_range_min: Option<u16>,
    /// Last port (TCP/UDP), or ICMP code.
    #[serde(default)]
    pub port_range_max: Option<u16>,
    /// The remote side: `None` is anywhere; `Some` lists the prefixes
    /// (a remote CIDR, or a remote group's members, resolved; an empty
    /// list matches nothing).
    #[serde(default)]
    pub remote: Option<Vec<IpNet>>,
}

/// A Neutron router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
    /// UUID (names the node `qrouter-<id8>`).
    pub id: String,
    /// Its interfaces on subnets (`add_router_interface`).
    #[serde(default)]
    pub interfaces: Vec<RouterInterface>,
    /// `external_gateway_info`.
    #[serde(default)]
    pub external_gateway: Option<ExternalGateway>,
    /// `routes` (the `extraroute` extension).
    #[serde(default)]
    pub routes: Vec<HostRoute>,
}

/// A router's leg on a subnet (its `network:router_interface` port).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterInterface {
    /// The `network:router_interface` port's id: names the leg
    /// `qr-<id10>` in the router and `tap<id10>` on the bridge.
    pub port_id: String,
    /// The subnet.
    pub subnet_id: String,
    /// The router's address there (normally the subnet's gateway).
    pub ip: IpAddr,
    /// The leg's MAC; `None`: the kernel's.
    #[serde(default)]
    pub mac: Option<MacAddr>,
}

/// A router's leg on an external network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalGateway {
    /// The `network:router_gateway` port's id: names the leg `qg-<id10>`
    /// in the router and `tap<id10>` on the external bridge.
    pub port_id: String,
    /// The external network.
    pub network_id: String,
    /// The external subnet.
    pub subnet_id: String,
    /// The router's address there (the one SNAT uses).
    pub ip: Ipv4Addr,
    /// `enable_snat`: masquerade the inside behind `ip`.
    #[serde(default = "yes")]
    pub enable_snat: bool,
    /// The leg's MAC (the gateway port's), so the outside's neighbour
    /// entries stay right when the router is made anew; `None`: the
    /// kernel's.
    #[serde(default)]
    pub mac: Option<MacAddr>,
}

/// A floating IP associated with a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    /// UUID.
    pub id: String,
    /// `floating_ip_address`, on the router's external subnet.
    pub external_ip: Ipv4Addr,
    /// `fixed_ip_address`: the port's address it maps to.
    pub internal_ip: Ipv4Addr,
    /// `port_id`.
    pub port_id: String,
    /// `router_id`: the router whose gateway holds it.
    pub router_id: String,
}

fn yes() -> bool {
    true
}
