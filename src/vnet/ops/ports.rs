//! Ports: MACs, addresses allocated from the subnets' pools, security
//! groups, port security with allowed address pairs, binding.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::vnet::model::{
    AddressPair, FixedIp, FixedIpRequest, FloatingIp, Network, Port, PortCreate, PortUpdate,
    Resource, SecurityGroup, Subnet,
};
use crate::vnet::ops::addr::{eui64, first_free, ip, new_mac, normalize_mac, num, parse_ip};
use crate::vnet::ops::{
    admin_only, dhcp, fetch, fetch_network, new_id, secgroups, subnets, Caller, Fault,
};
use crate::vnet::store::Tx;

fn subnets_of(tx: &Tx, network: &Network) -> Result<Vec<Subnet>, Fault> {
    let all = tx.list::<Subnet>()?;
    Ok(network
        .subnets
        .iter()
        .filter_map(|id| all.iter().find(|s| &s.id == id).cloned())
        .collect())
}

/// The addresses of `subnet` taken by ports (but `except`) and its gateway
/// (unless `gateway_ok`: a router interface takes the gateway address).
fn used(
    tx: &Tx,
    subnet: &Subnet,
    except: Option<&str>,
    gateway_ok: bool,
) -> Result<HashSet<u128>, Fault> {
    let mut used: HashSet<u128> = tx
        .subnet_addresses(&subnet.id, except)?
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok().map(num))
        .collect();
    if !gateway_ok {
        if let Some(g) = subnet
            .gateway_ip
            .as_deref()
            .and_then(|g| g.parse::<IpAddr>().ok())
        {
            used.insert(num(g));
        }
    }
    Ok(used)
}

fn exhausted(network: &str) -> Fault {
    Fault::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network}."),
    )
}

/// The next address for a port with `mac` on `s` (SLAAC: its EUI-64).
fn next_address(
    tx: &Tx,
    s: &Subnet,
    mac: &str,
    except: Option<&str>,
) -> Result<Option<String>, Fault> {
    if s.ipv6_address_mode.as_deref() == Some("slaac") {
        let net = s
            .cidr
            .parse()
            .map_err(|_| Fault::internal(format!("subnet {} has a bad cidr {}", s.id, s.cidr)))?;
        return Ok(eui64(&net, mac).map(|a| a.to_string()));
    }
    let used = used(tx, s, except, false)?;
    Ok(first_free(&subnets::ranges(s), &used).map(|n| ip(n, s.ip_version == 6).to_string()))
}

/// The fixed IPs for a port: as requested, or Neutron's default (one IPv4
/// address, and one per IPv6 subnet).
pub(crate) fn allocate(
    tx: &Tx,
    network: &Network,
    req: Option<&[FixedIpRequest]>,
    mac: &str,
    port: Option<&str>,
    owner: &str,
) -> Result<Vec<FixedIp>, Fault> {
    let subs = subnets_of(tx, network)?;
    let mut out = Vec::new();
    let Some(req) = req else {
        let mut have_v4 = false;
        let mut want_v4 = false;
        for s in &subs {
            if s.ip_version == 4 {
                want_v4 = true;
                if have_v4 {
                    continue;
                }
            }
            if let Some(a) = next_address(tx, s, mac, port)? {
                have_v4 |= s.ip_version == 4;
                out.push(FixedIp {
                    subnet_id: s.id.clone(),
                    ip_address: a,
                });
            }
        }
        if want_v4 && !have_v4 {
            return Err(exhausted(&network.id));
        }
        return Ok(out);
    };
    let gateway_ok = owner == "network:router_interface";
    for r in req {
        let addr = r
            .ip_address
            .as_deref()
            .map(|a| parse_ip(a, "fixed_ips"))
            .transpose()?;
        let subnet = match (&r.subnet_id, addr) {
            (Some(id), _) => match subs.iter().find(|s| &s.id == id) {
                Some(s) => s,
                None if tx.get::<Subnet>(id)?.is_some() => {
                    return Err(Fault::invalid(
                        "InvalidInput",
                        format!("Invalid input for operation: Failed to create port on network {}, because fixed_ips included invalid subnet {id}.", network.id),
                    ))
                }
                None => return Err(Fault::not_found("SubnetNotFound", format!("Subnet {id} could not be found."))),
            },
            (None, Some(a)) => subs.iter().find(|s| subnets::contains(s, a)).ok_or_else(|| {
                Fault::invalid("InvalidIpForNetwork", format!("IP address {a} is not a valid IP for any of the subnets on the specified network."))
            })?,
            (None, None) => return Err(Fault::bad_request("Invalid input for fixed_ips: each entry needs a subnet_id or an ip_address.")),
        };
        let a = match addr {
            Some(a) => {
                if !subnets::contains(subnet, a) {
                    return Err(Fault::invalid(
                        "InvalidIpForSubnet",
                        format!("IP address {a} is not a valid IP for the specified subnet."),
                    ));
                }
                let taken = used(tx, subnet, port, gateway_ok)?;
                if taken.contains(&num(a))
                    || out.iter().any(|f: &FixedIp| f.ip_address == a.to_string())
                {
                    return Err(Fault::conflict(
                        "IpAddressAlreadyAllocated",
                        format!("IP address {a} already allocated in subnet {}", subnet.id),
                    ));
                }
                a.to_string()
            }
            None => next_address(tx, subnet, mac, port)?.ok_or_else(|| exhausted(&network.id))?,
        };
        out.push(FixedIp {
            subnet_id: subnet.id.clone(),
            ip_address: a,
        });
    }
    Ok(out)
}

fn pick_mac(
    tx: &Tx,
    network: &str,
    asked: Option<&str>,
    port: Option<&str>,
) -> Result<String, Fault> {
    let taken: HashSet<String> = tx.network_macs(network, port)?.into_iter().collect();
    if let Some(m) = asked {
        let m = normalize_mac(m)?;
        if taken.contains(&m) {
            return Err(Fault::conflict(
                "MacAddressInUse",
                format!("Unable to complete operation for network {network}. The mac address {m} is in use."),
            ));
        }
        return Ok(m);
    }
    loop {
        let m = new_mac();
        if !taken.contains(&m) {
            return Ok(m);
        }
    }
}

fn check_groups(tx: &Tx, caller: &Caller, ids: &[String]) -> Result<Vec<String>, Fault> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        fetch::<SecurityGroup>(tx, caller, id)?;
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

fn check_pairs(pairs: &[AddressPair], mac: &str) -> Result<Vec<AddressPair>, Fault> {
    let mut out: Vec<AddressPair> = Vec::new();
    for p in pairs {
        if p.ip_address.parse::<ipnet::IpNet>().is_err() {
            parse_ip(&p.ip_address, "allowed_address_pairs")?;
        }
        let m = match &p.mac_address {
            Some(m) => normalize_mac(m)?,
            None => mac.to_string(),
        };
        let pair = AddressPair {
            ip_address: p.ip_address.clone(),
            mac_address: Some(m),
        };
        if out.contains(&pair) {
            return Err(Fault::invalid(
                "DuplicateAddressPairInRequest",
                format!(
                    "Request contains duplicate address pair: mac_address {} ip_address {}.",
                    pair.mac_address.unwrap_or_default(),
                    pair.ip_address
                ),
            ));
        }
        out.push(pair);
    }
    Ok(out)
}

/// Neutron's `binding:vif_type`: `tap` for a VM's TAP (docs/vnet.md),
/// `bridge` for the veths of every other binding.
fn vif_type(host: &str, profile: &serde_json::Map<String, serde_json::Value>) -> String {
    match profile.get("nlab") {
        Some(v) if v.as_str() == Some("tap") => crate::vnet::realize::tap::VIF_TYPE,
        None if host.is_empty() => "unbound",
        _ => "bridge",
    }
    .to_string()
}

/// `POST /v2.0/ports`.
pub(crate) fn create(tx: &Tx, caller: &Caller, b: PortCreate) -> Result<Port, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    let network = fetch_network(tx, caller, &b.network_id)?;
    admin_only(caller, b.binding_host_id.is_some(), "binding:host_id")?;
    admin_only(caller, b.binding_profile.is_some(), "binding:profile")?;
    let owner = b.device_owner.unwrap_or_default();
    let mac = pick_mac(tx, &network.id, b.mac_address.as_deref(), None)?;
    let fixed_ips = allocate(tx, &network, b.fixed_ips.as_deref(), &mac, None, &owner)?;
    let secured = b
        .port_security_enabled
        .unwrap_or(network.port_security_enabled);
    let groups = match b.security_groups {
        Some(g) if !g.is_empty() && !secured => {
            return Err(Fault::invalid("PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups."))
        }
        Some(g) => check_groups(tx, caller, &g)?,
        None if secured && !owner.starts_with("network:") => vec![secgroups::ensure_default(tx, &project)?],
        None => Vec::new(),
    };
    let pairs = b.allowed_address_pairs.unwrap_or_default();
    if !pairs.is_empty() && !secured {
        return Err(Fault::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    let host = b.binding_host_id.unwrap_or_default();
    let profile = b.binding_profile.unwrap_or_default();
    let p = Port {
        id: new_id(),
        name: b.name.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project,
        network_id: network.id,
        admin_state_up: b.admin_state_up.unwrap_or(true),
        allowed_address_pairs: check_pairs(&pairs, &mac)?,
        mac_address: mac,
        fixed_ips,
        device_id: b.device_id.unwrap_or_default(),
        device_owner: owner,
        status: "DOWN".into(),
        security_groups: groups,
        port_security_enabled: secured,
        binding_vif_type: vif_type(&host, &profile),
        binding_host_id: host,
        binding_profile: profile,
        binding_vnic_type: b.binding_vnic_type.unwrap_or_else(|| "normal".into()),
        binding_vif_details: Default::default(),
        tags: Vec::new(),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    };
    tx.put(&p)?;
    Ok(p)
}

/// `PUT /v2.0/ports/{id}`.
pub(crate) fn update(tx: &Tx, caller: &Caller, id: &str, b: PortUpdate) -> Result<Port, Fault> {
    let mut p: Port = fetch(tx, caller, id)?;
    admin_only(caller, b.binding_host_id.is_some(), "binding:host_id")?;
    admin_only(caller, b.binding_profile.is_some(), "binding:profile")?;
    admin_only(caller, b.mac_address.is_some(), "mac_address")?;
    if let Some(m) = &b.mac_address {
        p.mac_address = pick_mac(tx, &p.network_id, Some(m), Some(id))?;
    }
    if let Some(req) = &b.fixed_ips {
        let network = tx.get::<Network>(&p.network_id)?.ok_or_else(|| {
            Fault::internal(format!(
                "port {id} is on a missing network {}",
                p.network_id
            ))
        })?;
        let owner = b
            .device_owner
            .clone()
            .unwrap_or_else(|| p.device_owner.clone());
        p.fixed_ips = allocate(tx, &network, Some(req), &p.mac_address, Some(id), &owner)?;
    }
    if let Some(v) = b.port_security_enabled {
        p.port_security_enabled = v;
    }
    if let Some(g) = &b.security_groups {
        p.security_groups = check_groups(tx, caller, g)?;
    }
    if let Some(pairs) = &b.allowed_address_pairs {
        p.allowed_address_pairs = check_pairs(pairs, &p.mac_address)?;
    }
    if !p.port_security_enabled && !p.security_groups.is_empty() {
        return Err(match b.security_groups {
            Some(_) => Fault::invalid("PortSecurityAndIPRequiredForSecurityGroups", "Port security must be enabled and port must have an IP address in order to use security groups."),
            None => Fault::conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed."),
        });
    }
    if !p.port_security_enabled && !p.allowed_address_pairs.is_empty() {
        return Err(Fault::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    set_present!(p, b, binding_host_id, binding_profile, binding_vnic_type);
    p.binding_vif_type = vif_type(&p.binding_host_id, &p.binding_profile);
    set_present!(
        p,
        b,
        name,
        description,
        admin_state_up,
        device_id,
        device_owner
    );
    p.touch(&tx.now);
    tx.put(&p)?;
    Ok(p)
}

/// `DELETE /v2.0/ports/{id}`: router and floating-IP ports go only with
/// their router interface or floating IP; floating IPs on the port are
/// disassociated.
pub(crate) fn delete(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let p: Port = fetch(tx, caller, id)?;
    if matches!(
        p.device_owner.as_str(),
        "network:router_interface" | "network:router_gateway" | "network:floatingip"
    ) {
        return Err(Fault::conflict(
            "ServicePortInUse",
            format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                p.device_owner
            ),
        ));
    }
    disassociate_fips(tx, id)?;
    tx.delete::<Port>(id)?;
    // The DHCP port comes back (as Neutron's agent makes it again), and
    // one that found its pool full gets the address freed here.
    if p.device_owner == dhcp::OWNER || !p.fixed_ips.is_empty() {
        dhcp::sync(tx, &p.network_id)?;
    }
    Ok(())
}

/// Clears every floating IP mapped to the port `port`.
pub(crate) fn disassociate_fips(tx: &Tx, port: &str) -> Result<(), Fault> {
    for mut f in tx.list::<FloatingIp>()? {
        if f.port_id.as_deref() == Some(port) {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
            f.touch(&tx.now);
            tx.put(&f)?;
        }
    }
    Ok(())
}
