//! From the API's store to the kernel's plan: one [`Snapshot`] becomes the
//! [`Desired`] world `realize` builds. Here Neutron's shapes are resolved:
//! a router's interfaces and gateway are its `network:router_*` ports, a
//! port's security groups become the rules that apply to it (a remote
//! group expanded to its members' addresses), `binding:profile` becomes
//! where the port's veth goes.

use super::model::{Port as ApiPort, SecurityGroupRule};
use super::realize::{
    AddressPair, Binding, Desired, Direction, ExternalGateway, FixedIp, FloatingIp, HostRoute,
    Network, Port, Router, RouterInterface, SgRule, Subnet,
};
use super::store::Snapshot;
use crate::topo::{IpNet, MacAddr};
use std::collections::HashMap;
use std::net::IpAddr;

const IFACE: &str = "network:router_interface";
const GATEWAY: &str = "network:router_gateway";
const DHCP: &str = "network:dhcp";

/// The world `s` describes, and what of it cannot be built (one line per
/// skipped item; the API validates, so these are rare).
pub fn from_snapshot(s: &Snapshot) -> (Desired, Vec<String>) {
    let mut warn = Vec::new();
    let networks = s
        .networks
        .iter()
        .map(|n| Network {
            id: n.id.clone(),
            name: n.name.clone(),
            mtu: (n.mtu > 0).then_some(n.mtu),
            external: n.router_external,
            admin_state_up: n.admin_state_up,
        })
        .collect();
    let subnets = s
        .subnets
        .iter()
        .filter_map(|x| subnet(s, x, &mut warn))
        .collect();
    let members = group_members(s);
    let ports = s
        .ports
        .iter()
        .filter(|p| !p.device_owner.starts_with("network:"))
        .filter_map(|p| port(s, p, &members, &mut warn))
        .collect();
    let routers = s.routers.iter().map(|r| router(s, r, &mut warn)).collect();
    let floating_ips = s
        .floatingips
        .iter()
        .filter_map(|f| {
            Some(FloatingIp {
                id: f.id.clone(),
                external_ip: f.floating_ip_address.parse().ok()?,
                internal_ip: f.fixed_ip_address.as_deref()?.parse().ok()?,
                port_id: f.port_id.clone()?,
                router_id: f.router_id.clone()?,
            })
        })
        .collect();
    let d = Desired {
        networks,
        subnets,
        ports,
        routers,
        floating_ips,
    };
    (d, warn)
}

fn subnet(s: &Snapshot, x: &super::model::Subnet, warn: &mut Vec<String>) -> Option<Subnet> {
    let cidr: IpNet = match x.cidr.parse() {
        Ok(c) => c,
        Err(e) => {
            warn.push(format!("subnet {}: cidr {}: {e}", x.id, x.cidr));
            return None;
        }
    };
    let ip = |a: &str| a.parse::<IpAddr>().ok();
    let dhcp_ip = s
        .ports
        .iter()
        .filter(|p| p.device_owner == DHCP && p.network_id == x.network_id)
        .flat_map(|p| &p.fixed_ips)
        .filter(|f| f.subnet_id == x.id)
        .find_map(|f| f.ip_address.parse().ok());
    Some(Subnet {
        id: x.id.clone(),
        network_id: x.network_id.clone(),
        cidr,
        ip_version: x.ip_version,
        gateway_ip: x.gateway_ip.as_deref().and_then(ip),
        allocation_pools: x
            .allocation_pools
            .iter()
            .filter_map(|p| Some((ip(&p.start)?, ip(&p.end)?)))
            .collect(),
        dns_nameservers: x.dns_nameservers.iter().filter_map(|a| ip(a)).collect(),
        host_routes: x
            .host_routes
            .iter()
            .filter_map(|r| {
                Some(HostRoute {
                    destination: r.destination.parse().ok()?,
                    nexthop: ip(&r.nexthop)?,
                })
            })
            .collect(),
        enable_dhcp: x.enable_dhcp,
        ipv6_slaac: x.ipv6_address_mode.as_deref() == Some("slaac")
            || x.ipv6_ra_mode.as_deref() == Some("slaac"),
        dhcp_ip,
    })
}

/// Each security group's members' addresses, as host prefixes.
fn group_members(s: &Snapshot) -> HashMap<&str, Vec<IpNet>> {
    let mut m: HashMap<&str, Vec<IpNet>> = HashMap::new();
    for p in &s.ports {
        for g in &p.security_groups {
            let hosts = p.fixed_ips.iter().filter_map(|f| host(&f.ip_address));
            m.entry(g.as_str()).or_default().extend(hosts);
        }
    }
    m
}

fn host(a: &str) -> Option<IpNet> {
    let ip: IpAddr = a.parse().ok()?;
    IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 }).ok()
}

/// An address or prefix (`10.0.0.5` or `10.0.0.0/24`).
fn net(a: &str) -> Option<IpNet> {
    if a.contains('/') {
        a.parse().ok()
    } else {
        host(a)
    }
}

fn rule(r: &SecurityGroupRule, members: &HashMap<&str, Vec<IpNet>>) -> SgRule {
    let remote = match (&r.remote_ip_prefix, &r.remote_group_id) {
        (Some(p), _) => Some(net(p).into_iter().collect()),
        (None, Some(g)) => Some(
            members
                .get(g.as_str())
                .map(|v| {
                    v.iter()
                        .filter(|n| n.addr.is_ipv4() == (r.ethertype == "IPv4"))
                        .copied()
                        .collect()
                })
                .unwrap_or_default(),
        ),
        (None, None) => None,
    };
    SgRule {
        direction: if r.direction == "egress" {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        ethertype: r.ethertype.clone(),
        protocol: r.protocol.clone(),
        port_range_min: r.port_range_min.and_then(|p| u16::try_from(p).ok()),
        port_range_max: r.port_range_max.and_then(|p| u16::try_from(p).ok()),
        remote,
    }
}

fn binding(p: &ApiPort, warn: &mut Vec<String>) -> Binding {
    if p.binding_profile.get("nlab").is_none() {
        return Binding::Unbound;
    }
    let v = serde_json::Value::Object(p.binding_profile.clone());
    serde_json::from_value(v).unwrap_or_else(|e| {
        warn.push(format!(
            "port {}: binding:profile {:?} is not one nlab knows ({e}); left unbound",
            p.id, p.binding_profile
        ));
        Binding::Unbound
    })
}

fn port(
    s: &Snapshot,
    p: &ApiPort,
    members: &HashMap<&str, Vec<IpNet>>,
    warn: &mut Vec<String>,
) -> Option<Port> {
    let mac: MacAddr = match p.mac_address.parse() {
        Ok(m) => m,
        Err(e) => {
            warn.push(format!("port {}: MAC {}: {e}", p.id, p.mac_address));
            return None;
        }
    };
    let security_rules = if p.port_security_enabled {
        s.security_groups
            .iter()
            .filter(|g| p.security_groups.contains(&g.id))
            .flat_map(|g| &g.security_group_rules)
            .map(|r| rule(r, members))
            .collect()
    } else {
        Vec::new()
    };
    Some(Port {
        id: p.id.clone(),
        network_id: p.network_id.clone(),
        mac,
        fixed_ips: p
            .fixed_ips
            .iter()
            .filter_map(|f| {
                Some(FixedIp {
                    subnet_id: f.subnet_id.clone(),
                    ip_address: f.ip_address.parse().ok()?,
                })
            })
            .collect(),
        binding: binding(p, warn),
        port_security_enabled: p.port_security_enabled,
        allowed_address_pairs: p
            .allowed_address_pairs
            .iter()
            .filter_map(|a| {
                Some(AddressPair {
                    ip_address: net(&a.ip_address)?,
                    mac_address: a.mac_address.as_deref().and_then(|m| m.parse().ok()),
                })
            })
            .collect(),
        security_rules,
        admin_state_up: p.admin_state_up,
    })
}

fn router(s: &Snapshot, r: &super::model::Router, warn: &mut Vec<String>) -> Router {
    let mine = |owner: &'static str| {
        s.ports
            .iter()
            .filter(move |p| p.device_id == r.id && p.device_owner == owner)
    };
    let interfaces = mine(IFACE)
        .flat_map(|p| {
            p.fixed_ips.iter().filter_map(move |f| {
                Some(RouterInterface {
                    port_id: p.id.clone(),
                    subnet_id: f.subnet_id.clone(),
                    ip: f.ip_address.parse().ok()?,
                    mac: p.mac_address.parse().ok(),
                })
            })
        })
        .collect();
    let external_gateway = mine(GATEWAY).find_map(|p| {
        let f = p
            .fixed_ips
            .iter()
            .find(|f| f.ip_address.parse::<std::net::Ipv4Addr>().is_ok())?;
        Some(ExternalGateway {
            port_id: p.id.clone(),
            network_id: p.network_id.clone(),
            subnet_id: f.subnet_id.clone(),
            ip: f.ip_address.parse().ok()?,
            enable_snat: r
                .external_gateway_info
                .as_ref()
                .is_none_or(|g| g.enable_snat),
            mac: p.mac_address.parse().ok(),
        })
    });
    if r.external_gateway_info.is_some() && external_gateway.is_none() {
        warn.push(format!(
            "router {}: its gateway has no IPv4 address on the external network",
            r.id
        ));
    }
    Router {
        id: r.id.clone(),
        interfaces,
        external_gateway,
        routes: r
            .routes
            .iter()
            .filter_map(|x| {
                Some(HostRoute {
                    destination: x.destination.parse().ok()?,
                    nexthop: x.nexthop.parse().ok()?,
                })
            })
            .collect(),
    }
}
