//! Networks: create, update, delete (a network with ports others made is
//! in use).

use crate::vnet::model::{Network, NetworkCreate, NetworkUpdate, Port, Resource, Subnet};
use crate::vnet::ops::{admin_only, fetch_network, must_own, new_id, secgroups, Caller, Fault};
use crate::vnet::store::Tx;

/// The MTU a network gets unless it asks for another.
pub(crate) const DEFAULT_MTU: u32 = 1500;

fn check_mtu(mtu: u32) -> Result<u32, Fault> {
    if !(68..=9000).contains(&mtu) {
        return Err(Fault::invalid(
            "InvalidInput",
            format!("Invalid input for mtu. Reason: {mtu} is not in range 68 through 9000."),
        ));
    }
    Ok(mtu)
}

/// `POST /v2.0/networks`.
pub(crate) fn create(tx: &Tx, caller: &Caller, b: NetworkCreate) -> Result<Network, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    admin_only(caller, b.shared == Some(true), "shared")?;
    admin_only(caller, b.router_external.is_some(), "router:external")?;
    secgroups::ensure_default(tx, &project)?;
    let n = Network {
        id: new_id(),
        name: b.name.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project,
        admin_state_up: b.admin_state_up.unwrap_or(true),
        status: "ACTIVE".into(),
        subnets: Vec::new(),
        shared: b.shared.unwrap_or(false),
        mtu: check_mtu(b.mtu.unwrap_or(DEFAULT_MTU))?,
        router_external: b.router_external.unwrap_or(false),
        port_security_enabled: b.port_security_enabled.unwrap_or(true),
        tags: Vec::new(),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    };
    tx.put(&n)?;
    Ok(n)
}

/// `PUT /v2.0/networks/{id}`.
pub(crate) fn update(
    tx: &Tx,
    caller: &Caller,
    id: &str,
    b: NetworkUpdate,
) -> Result<Network, Fault> {
    let mut n = fetch_network(tx, caller, id)?;
    must_own(caller, &n)?;
    admin_only(caller, b.shared.is_some(), "shared")?;
    admin_only(caller, b.router_external.is_some(), "router:external")?;
    if b.shared == Some(false) && n.shared {
        let others = tx.list::<Port>()?.into_iter().any(|p| {
            p.network_id == n.id && p.project_id != n.project_id && !p.project_id.is_empty()
        });
        if others {
            return Err(Fault::conflict(
                "InvalidSharedSetting",
                format!("Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."),
            ));
        }
    }
    set_present!(n, b, name, description, admin_state_up, shared);
    if let Some(v) = b.mtu {
        n.mtu = check_mtu(v)?;
    }
    set_present!(n, b, router_external, port_security_enabled);
    n.touch(&tx.now);
    tx.put(&n)?;
    Ok(n)
}

/// `DELETE /v2.0/networks/{id}`: refused while ports other than nlab's own
/// DHCP ports are on it; its subnets go with it.
pub(crate) fn delete(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let n = fetch_network(tx, caller, id)?;
    must_own(caller, &n)?;
    let ports: Vec<Port> = tx
        .list::<Port>()?
        .into_iter()
        .filter(|p| p.network_id == id)
        .collect();
    if ports.iter().any(|p| p.device_owner != super::dhcp::OWNER) {
        return Err(Fault::conflict(
            "NetworkInUse",
            format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
        ));
    }
    for p in ports {
        tx.delete::<Port>(&p.id)?;
    }
    for s in tx
        .list::<Subnet>()?
        .into_iter()
        .filter(|s| s.network_id == id)
    {
        tx.delete::<Subnet>(&s.id)?;
    }
    tx.delete::<Network>(id)
}
