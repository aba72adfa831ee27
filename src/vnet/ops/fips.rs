//! Floating IPs: an address of an external network (held by a port nlab
//! owns) mapped 1:1 to a port's fixed address through the router that
//! joins the two.

use crate::vnet::model::{
    FixedIpRequest, FloatingIp, FloatingIpCreate, FloatingIpUpdate, Port, PortCreate, Resource,
    Router, Subnet,
};
use crate::vnet::ops::subnets::contains;
use crate::vnet::ops::{fetch, fetch_network, new_id, ports, Caller, Fault};
use crate::vnet::store::Tx;

/// The router whose gateway is on `ext` and which has an interface on the
/// subnet holding `fixed` of `port`.
fn router_for(tx: &Tx, ext: &str, port: &Port, fixed: &str) -> Result<String, Fault> {
    let subnet = port
        .fixed_ips
        .iter()
        .find(|f| f.ip_address == fixed)
        .map(|f| f.subnet_id.clone())
        .unwrap_or_default();
    let ports = tx.list::<Port>()?;
    for r in tx.list::<Router>()? {
        if r.external_gateway_info
            .as_ref()
            .is_none_or(|g| g.network_id != ext)
        {
            continue;
        }
        let on_subnet = ports.iter().any(|p| {
            p.device_id == r.id
                && p.device_owner == "network:router_interface"
                && p.fixed_ips.iter().any(|f| f.subnet_id == subnet)
        });
        if on_subnet {
            return Ok(r.id);
        }
    }
    Err(Fault::not_found(
        "ExternalGatewayForFloatingIPNotFound",
        format!("External network {ext} is not reachable from subnet {subnet}. Therefore, cannot associate Port {} with a Floating IP.", port.id),
    ))
}

/// Maps `f` to `port_id` (and its `fixed` address, by default its first
/// IPv4 one).
fn associate(
    tx: &Tx,
    caller: &Caller,
    f: &mut FloatingIp,
    port_id: &str,
    fixed: Option<&str>,
) -> Result<(), Fault> {
    let port: Port = fetch(tx, caller, port_id)?;
    let fixed = match fixed {
        Some(a) => {
            if !port.fixed_ips.iter().any(|x| x.ip_address == a) {
                return Err(Fault::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have fixed ip {a}."
                )));
            }
            a.to_string()
        }
        None => port
            .fixed_ips
            .iter()
            .find(|x| x.ip_address.contains('.'))
            .map(|x| x.ip_address.clone())
            .ok_or_else(|| {
                Fault::bad_request(format!(
                    "Bad floatingip request: Port {port_id} does not have any IPv4 address."
                ))
            })?,
    };
    let taken = tx.list::<FloatingIp>()?.into_iter().find(|o| {
        o.id != f.id
            && o.port_id.as_deref() == Some(port_id)
            && o.fixed_ip_address.as_deref() == Some(&fixed)
    });
    if let Some(o) = taken {
        return Err(Fault::conflict("FloatingIPPortAlreadyAssociated", format!(
            "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {fixed}, as that fixed IP already has a floating IP on external network {}.",
            f.floating_ip_address, f.id, o.floating_network_id
        )));
    }
    f.router_id = Some(router_for(tx, &f.floating_network_id, &port, &fixed)?);
    f.port_id = Some(port_id.to_string());
    f.fixed_ip_address = Some(fixed);
    f.status = "DOWN".into();
    Ok(())
}

/// `POST /v2.0/floatingips`.
pub(crate) fn create(tx: &Tx, caller: &Caller, b: FloatingIpCreate) -> Result<FloatingIp, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    let net = fetch_network(tx, caller, &b.floating_network_id)?;
    if !net.router_external {
        return Err(Fault::bad_request(format!(
            "Bad floatingip request: Network {} is not a valid external network.",
            net.id
        )));
    }
    let mut want = FixedIpRequest {
        subnet_id: b.subnet_id.clone(),
        ip_address: b.floating_ip_address.clone(),
    };
    if want.subnet_id.is_none() && want.ip_address.is_none() {
        let subnets = tx.list::<Subnet>()?;
        want.subnet_id = net
            .subnets
            .iter()
            .find(|id| subnets.iter().any(|s| &s.id == *id && s.ip_version == 4))
            .cloned();
        if want.subnet_id.is_none() {
            return Err(Fault::bad_request(format!(
                "Bad floatingip request: Network {} has no IPv4 subnet.",
                net.id
            )));
        }
    }
    if let (Some(a), Some(sid)) = (&want.ip_address, &want.subnet_id) {
        let s: Option<Subnet> = tx.get(sid)?;
        if s.is_some_and(|s| a.parse().is_ok_and(|ip| !contains(&s, ip))) {
            return Err(Fault::bad_request(format!(
                "Bad floatingip request: floating_ip_address {a} is not in subnet {sid}."
            )));
        }
    }
    let id = new_id();
    let holder = PortCreate {
        network_id: net.id.clone(),
        project_id: Some(String::new()),
        device_id: Some(id.clone()),
        device_owner: Some("network:floatingip".into()),
        fixed_ips: Some(vec![want]),
        security_groups: Some(Vec::new()),
        port_security_enabled: Some(false),
        ..Default::default()
    };
    let holder = ports::create(tx, &Caller::admin(&caller.project_id), holder)?;
    let mut f = FloatingIp {
        id,
        description: b.description.unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project,
        floating_network_id: net.id,
        floating_ip_address: holder
            .fixed_ips
            .first()
            .map(|x| x.ip_address.clone())
            .unwrap_or_default(),
        port_id: None,
        fixed_ip_address: None,
        router_id: None,
        status: "DOWN".into(),
        tags: Vec::new(),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    };
    if let Some(p) = &b.port_id {
        associate(tx, caller, &mut f, p, b.fixed_ip_address.as_deref())?;
    }
    tx.put(&f)?;
    Ok(f)
}

/// `PUT /v2.0/floatingips/{id}`.
pub(crate) fn update(
    tx: &Tx,
    caller: &Caller,
    id: &str,
    b: FloatingIpUpdate,
) -> Result<FloatingIp, Fault> {
    let mut f: FloatingIp = fetch(tx, caller, id)?;
    match &b.port_id {
        Some(Some(p)) => {
            let fixed = b.fixed_ip_address.clone().flatten();
            associate(tx, caller, &mut f, p, fixed.as_deref())?;
        }
        Some(None) => {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
        }
        None => {
            if let (Some(Some(a)), Some(p)) = (&b.fixed_ip_address, f.port_id.clone()) {
                associate(tx, caller, &mut f, &p, Some(a))?;
            }
        }
    }
    if let Some(d) = b.description {
        f.description = d;
    }
    f.touch(&tx.now);
    tx.put(&f)?;
    Ok(f)
}

/// `DELETE /v2.0/floatingips/{id}`: the address goes back to the pool.
pub(crate) fn delete(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let f: FloatingIp = fetch(tx, caller, id)?;
    for p in tx.list::<Port>()? {
        if p.device_owner == "network:floatingip" && p.device_id == f.id {
            tx.delete::<Port>(&p.id)?;
        }
    }
    tx.delete::<FloatingIp>(id)
}
