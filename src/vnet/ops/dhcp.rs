//! The `network:dhcp` port, as Neutron's DHCP agent keeps one per network
//! that has a subnet with DHCP: its fixed IP is the DHCP server's address,
//! taken from the pool like any port's (the first free one), so no other
//! port can be given it. nlab serves DHCP on IPv4 only, so the port holds
//! one address per IPv4 subnet with `enable_dhcp`.

use crate::vnet::model::{FixedIpRequest, Network, Port, PortCreate, Resource, Subnet};
use crate::vnet::ops::{ports, uuid_text, Caller, Fault};
use crate::vnet::store::Tx;

/// The `device_owner` of the port.
pub(crate) const OWNER: &str = "network:dhcp";

/// The `binding:host_id` of the port: the DHCP server runs on this host.
const HOST: &str = "nlab";

/// Neutron's `dhcp<host uuid>-<network id>`: Neutron takes a UUIDv5 of
/// the agent's host name; nlab a UUID-shaped 128-bit FNV-1a of its own
/// host id (the same for every network, as one agent's is).
pub(crate) fn device_id(network: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in HOST.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("dhcp{}-{network}", uuid_text(h.to_be_bytes()))
}

/// Makes network `network_id`'s DHCP port match its subnets: made when
/// a subnet with DHCP appears, given an address on each such subnet it
/// lacks one on (the first free of the pools; none when the pools are
/// full, retried on the next call), stripped of the addresses of subnets
/// whose DHCP went, removed when none is left.
pub(crate) fn sync(tx: &Tx, network_id: &str) -> Result<(), Fault> {
    let Some(net) = tx.get::<Network>(network_id)? else {
        return Ok(());
    };
    let dhcp: Vec<Subnet> = tx
        .list::<Subnet>()?
        .into_iter()
        .filter(|s| s.network_id == net.id && s.enable_dhcp && s.ip_version == 4)
        .collect();
    let mut found = tx
        .list::<Port>()?
        .into_iter()
        .filter(|p| p.network_id == net.id && p.device_owner == OWNER);
    let (port, extra) = (found.next(), found.collect::<Vec<_>>());
    for p in extra {
        tx.delete::<Port>(&p.id)?;
    }
    if dhcp.is_empty() {
        if let Some(p) = port {
            tx.delete::<Port>(&p.id)?;
        }
        return Ok(());
    }
    let mut p = match port {
        Some(p) => p,
        None => new_port(tx, &net)?,
    };
    let before = p.fixed_ips.clone();
    p.fixed_ips
        .retain(|f| dhcp.iter().any(|s| s.id == f.subnet_id));
    for s in &dhcp {
        if p.fixed_ips.iter().any(|f| f.subnet_id == s.id) {
            continue;
        }
        let req = [FixedIpRequest {
            subnet_id: Some(s.id.clone()),
            ip_address: None,
        }];
        match ports::allocate(tx, &net, Some(&req), &p.mac_address, Some(&p.id), OWNER) {
            Ok(mut ips) => p.fixed_ips.append(&mut ips),
            // A full pool: the server gets an address once one is free.
            Err(f) if f.status == 409 => {}
            Err(f) => return Err(f),
        }
    }
    if p.fixed_ips != before || p.status != "ACTIVE" {
        p.status = "ACTIVE".into();
        p.touch(&tx.now);
        tx.put(&p)?;
    }
    Ok(())
}

/// [`sync`] for every network.
pub(crate) fn sync_all(tx: &Tx) -> Result<(), Fault> {
    for n in tx.list::<Network>()? {
        sync(tx, &n.id)?;
    }
    Ok(())
}

fn new_port(tx: &Tx, net: &Network) -> Result<Port, Fault> {
    let body = PortCreate {
        network_id: net.id.clone(),
        project_id: Some(net.project_id.clone()),
        device_id: Some(device_id(&net.id)),
        device_owner: Some(OWNER.into()),
        fixed_ips: Some(Vec::new()),
        security_groups: Some(Vec::new()),
        binding_host_id: Some(HOST.into()),
        ..Default::default()
    };
    ports::create(tx, &Caller::admin(&net.project_id), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_has_neutrons_shape() {
        let d = device_id("3f2a9c1e-0000-4000-8000-000000000001");
        let (head, net) = d.split_at(4 + 36);
        assert!(head.starts_with("dhcp"), "{d}");
        assert_eq!(
            head[4..].split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert_eq!(net, "-3f2a9c1e-0000-4000-8000-000000000001");
        assert_eq!(d, device_id("3f2a9c1e-0000-4000-8000-000000000001"));
    }
}
