//! Subnets: CIDR, gateway, allocation pools (checked for overlap), DNS
//! servers, host routes, DHCP; IPv6 with SLAAC only.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::vnet::model::{Network, Port, Resource, Route, Subnet, SubnetCreate, SubnetUpdate};
use crate::vnet::ops::addr::{check_pools, default_pools, ip, num, parse_cidr, parse_ip};
use crate::vnet::ops::{dhcp, fetch_network, fetch_subnet, must_own, new_id, Caller, Fault};
use crate::vnet::store::Tx;

fn bad(msg: String) -> Fault {
    Fault::invalid("InvalidInput", msg)
}

fn check_v6_modes(ip_version: u8, addr: &Option<String>, ra: &Option<String>) -> Result<(), Fault> {
    for (what, v) in [("ipv6_address_mode", addr), ("ipv6_ra_mode", ra)] {
        let Some(v) = v else { continue };
        if ip_version != 6 {
            return Err(bad(format!(
                "Invalid input for operation: {what} is not valid when ip_version is 4."
            )));
        }
        match v.as_str() {
            "slaac" => {}
            "dhcpv6-stateful" | "dhcpv6-stateless" => {
                return Err(bad(format!(
                    "Invalid input for {what}. Reason: '{v}' is not supported by nlab (no DHCPv6 server); use 'slaac'."
                )))
            }
            _ => {
                return Err(bad(format!(
                    "Invalid input for {what}. Reason: '{v}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac']."
                )))
            }
        }
    }
    if let (Some(a), Some(r)) = (addr, ra) {
        if a != r {
            return Err(bad(format!(
                "Invalid input for operation: ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid."
            )));
        }
    }
    Ok(())
}

fn check_gateway(net: &IpNet, g: &str) -> Result<IpAddr, Fault> {
    let ip = parse_ip(g, "gateway_ip")?;
    let v4_bcast = matches!(net, IpNet::V4(_)) && net.prefix_len() < 31 && ip == net.broadcast();
    if !net.contains(&ip)
        || (ip == net.network() && net.prefix_len() < net.max_prefix_len() - 1)
        || v4_bcast
    {
        return Err(bad(format!(
            "Invalid input for operation: Gateway IP {g} is not a usable address of subnet {net}."
        )));
    }
    Ok(ip)
}

fn check_dns(list: &[String]) -> Result<(), Fault> {
    for (i, d) in list.iter().enumerate() {
        parse_ip(d, "dns_nameservers")?;
        if list[..i].contains(d) {
            return Err(bad(format!(
                "Invalid input for dns_nameservers. Reason: Duplicate nameserver '{d}'."
            )));
        }
    }
    Ok(())
}

/// Checks `routes`' destinations (CIDRs) and next hops (addresses).
pub(crate) fn check_routes(routes: &[Route], what: &str) -> Result<(), Fault> {
    for (i, r) in routes.iter().enumerate() {
        parse_cidr(&r.destination, what)?;
        parse_ip(&r.nexthop, what)?;
        if routes[..i].contains(r) {
            return Err(bad(format!(
                "Invalid input for {what}. Reason: Duplicate route '{}'.",
                r.destination
            )));
        }
    }
    Ok(())
}

fn parse_net(b: &SubnetCreate) -> Result<IpNet, Fault> {
    if b.ip_version != 4 && b.ip_version != 6 {
        return Err(bad(format!(
            "Invalid input for ip_version. Reason: {} is not in [4, 6].",
            b.ip_version
        )));
    }
    let net = parse_cidr(&b.cidr, "cidr")?;
    let v = if matches!(net, IpNet::V4(_)) { 4 } else { 6 };
    if v != b.ip_version {
        return Err(bad(format!(
            "Invalid input for operation: Cidr {} does not match ip_version {}.",
            b.cidr, b.ip_version
        )));
    }
    if v == 4 && net.prefix_len() > 30 || v == 6 && net.prefix_len() > 126 {
        return Err(bad(format!(
            "Invalid input for cidr. Reason: {} has too few addresses for a subnet.",
            b.cidr
        )));
    }
    Ok(net)
}

/// `POST /v2.0/subnets`.
pub(crate) fn create(tx: &Tx, caller: &Caller, b: SubnetCreate) -> Result<Subnet, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    let mut network: Network = fetch_network(tx, caller, &b.network_id)?;
    must_own(caller, &network)?;
    let net = parse_net(&b)?;
    let (addr_mode, ra_mode) = (
        b.ipv6_address_mode.clone().flatten(),
        b.ipv6_ra_mode.clone().flatten(),
    );
    check_v6_modes(b.ip_version, &addr_mode, &ra_mode)?;
    for other in tx
        .list::<Subnet>()?
        .iter()
        .filter(|s| s.network_id == network.id)
    {
        let o: IpNet = parse_cidr(&other.cidr, "cidr")?;
        if o.contains(&net.network()) || net.contains(&o.network()) {
            return Err(bad(format!(
                "Invalid input for operation: Requested subnet with cidr: {net} for network: {} overlaps with another subnet.",
                network.id
            )));
        }
    }
    let gateway = match &b.gateway_ip {
        // Neutron's default: the network address + 1, for IPv6 too (the
        // network address itself is IPv6's subnet-router anycast).
        None => Some(ip(num(net.network()) + 1, matches!(net, IpNet::V6(_)))),
        Some(None) => None,
        Some(Some(g)) => Some(check_gateway(&net, g)?),
    };
    let pools = match &b.allocation_pools {
        Some(p) => {
            check_pools(&net, p, gateway)?;
            p.clone()
        }
        None => default_pools(&net, gateway),
    };
    let dns = b.dns_nameservers.clone().unwrap_or_default();
    check_dns(&dns)?;
    let routes = b.host_routes.clone().unwrap_or_default();
    check_routes(&routes, "host_routes")?;
    let s = Subnet {
        id: new_id(),
        name: b.name.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project,
        network_id: network.id.clone(),
        ip_version: b.ip_version,
        cidr: net.to_string(),
        gateway_ip: gateway.map(|g| g.to_string()),
        allocation_pools: pools,
        dns_nameservers: dns,
        host_routes: routes,
        enable_dhcp: b.enable_dhcp.unwrap_or(true),
        ipv6_address_mode: addr_mode,
        ipv6_ra_mode: ra_mode,
        subnetpool_id: None,
        tags: Vec::new(),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    };
    network.subnets.push(s.id.clone());
    network.touch(&tx.now);
    tx.put(&network)?;
    tx.put(&s)?;
    dhcp::sync(tx, &network.id)?;
    Ok(s)
}

/// `PUT /v2.0/subnets/{id}`.
pub(crate) fn update(tx: &Tx, caller: &Caller, id: &str, b: SubnetUpdate) -> Result<Subnet, Fault> {
    let mut s = fetch_subnet(tx, caller, id)?;
    must_own(caller, &s)?;
    let net = parse_cidr(&s.cidr, "cidr")?;
    if let Some(g) = &b.gateway_ip {
        s.gateway_ip = match g {
            None => None,
            Some(g) => Some(check_gateway(&net, g)?.to_string()),
        };
    }
    if let Some(p) = &b.allocation_pools {
        s.allocation_pools = p.clone();
    }
    let gateway = s
        .gateway_ip
        .as_deref()
        .map(|g| parse_ip(g, "gateway_ip"))
        .transpose()?;
    if b.gateway_ip.is_some() || b.allocation_pools.is_some() {
        check_pools(&net, &s.allocation_pools, gateway)?;
    }
    if let Some(d) = b.dns_nameservers {
        check_dns(&d)?;
        s.dns_nameservers = d;
    }
    if let Some(r) = b.host_routes {
        check_routes(&r, "host_routes")?;
        s.host_routes = r;
    }
    set_present!(s, b, enable_dhcp, name, description);
    s.touch(&tx.now);
    tx.put(&s)?;
    dhcp::sync(tx, &s.network_id)?;
    Ok(s)
}

/// `DELETE /v2.0/subnets/{id}`: refused while a port (other than nlab's
/// DHCP port) holds one of its addresses.
pub(crate) fn delete(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let s = fetch_subnet(tx, caller, id)?;
    must_own(caller, &s)?;
    let ports: Vec<Port> = tx
        .list::<Port>()?
        .into_iter()
        .filter(|p| p.fixed_ips.iter().any(|f| f.subnet_id == id))
        .collect();
    if ports.iter().any(|p| p.device_owner != dhcp::OWNER) {
        return Err(Fault::conflict(
            "SubnetInUse",
            format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
        ));
    }
    for mut p in ports {
        p.fixed_ips.retain(|f| f.subnet_id != id);
        p.touch(&tx.now);
        tx.put(&p)?;
    }
    if let Some(mut n) = tx.get::<Network>(&s.network_id)? {
        n.subnets.retain(|x| x != id);
        n.touch(&tx.now);
        tx.put(&n)?;
    }
    tx.delete::<Subnet>(id)?;
    dhcp::sync(tx, &s.network_id)
}

/// The pools of `s` as number ranges, with `s`'s network.
pub(crate) fn ranges(s: &Subnet) -> Vec<(u128, u128)> {
    crate::vnet::ops::addr::pool_ranges(&s.allocation_pools)
}

/// Whether `ip` is an address of the subnet `s`.
pub(crate) fn contains(s: &Subnet, ip: IpAddr) -> bool {
    s.cidr.parse::<IpNet>().is_ok_and(|n| n.contains(&ip))
}
