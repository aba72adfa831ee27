//! Routers: interfaces on subnets (ports owned by the router), an
//! external gateway with SNAT on or off, extra routes.

use ipnet::IpNet;
use serde_json::Value;

use crate::vnet::model::{
    FixedIpRequest, FloatingIp, GatewayInfo, GatewayRequest, InterfaceInfo, InterfaceRequest,
    Network, Port, PortCreate, Resource, Route, Router, RouterCreate, RouterUpdate, Subnet,
};
use crate::vnet::ops::subnets::{check_routes, contains};
use crate::vnet::ops::{fetch, fetch_network, fetch_subnet, new_id, ports, Caller, Fault};
use crate::vnet::store::Tx;

const IFACE: &str = "network:router_interface";
const GATEWAY: &str = "network:router_gateway";

fn router_ports(tx: &Tx, router: &str) -> Result<Vec<Port>, Fault> {
    Ok(tx
        .list::<Port>()?
        .into_iter()
        .filter(|p| p.device_id == router && (p.device_owner == IFACE || p.device_owner == GATEWAY))
        .collect())
}

fn gateway_request(v: &Value) -> Result<Option<GatewayRequest>, Fault> {
    if v.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(None);
    }
    serde_json::from_value(v.clone())
        .map(Some)
        .map_err(|e| Fault::bad_request(format!("Invalid input for external_gateway_info: {e}")))
}

/// Sets (or with `None` clears) the router's gateway: a port on the
/// external network owned by the router.
fn set_gateway(
    tx: &Tx,
    caller: &Caller,
    r: &mut Router,
    req: Option<GatewayRequest>,
) -> Result<(), Fault> {
    let old = router_ports(tx, &r.id)?
        .into_iter()
        .find(|p| p.device_owner == GATEWAY);
    let Some(req) = req else {
        if tx
            .list::<FloatingIp>()?
            .iter()
            .any(|f| f.router_id.as_deref() == Some(&r.id))
        {
            return Err(Fault::conflict("RouterExternalGatewayInUseByFloatingIp", format!("Gateway cannot be updated for router {}, since a gateway to external network is required by one or more floating IPs.", r.id)));
        }
        if let Some(p) = old {
            tx.delete::<Port>(&p.id)?;
        }
        r.external_gateway_info = None;
        return Ok(());
    };
    let net: Network = fetch_network(tx, caller, &req.network_id)?;
    if !net.router_external {
        return Err(Fault::invalid(
            "BadRequest",
            format!(
                "Bad router request: Network {} is not an external network.",
                net.id
            ),
        ));
    }
    let keep = old
        .as_ref()
        .filter(|p| p.network_id == net.id && req.external_fixed_ips.is_none());
    let port = match keep {
        Some(p) => p.clone(),
        None => {
            if let Some(p) = &old {
                tx.delete::<Port>(&p.id)?;
            }
            let admin = Caller::admin(&caller.project_id);
            let body = PortCreate {
                network_id: net.id.clone(),
                project_id: Some(String::new()),
                device_id: Some(r.id.clone()),
                device_owner: Some(GATEWAY.into()),
                fixed_ips: req.external_fixed_ips.clone(),
                security_groups: Some(Vec::new()),
                port_security_enabled: Some(false),
                ..Default::default()
            };
            ports::create(tx, &admin, body)?
        }
    };
    r.external_gateway_info = Some(GatewayInfo {
        network_id: net.id,
        enable_snat: req.enable_snat.unwrap_or(true),
        external_fixed_ips: port.fixed_ips,
    });
    Ok(())
}

/// `POST /v2.0/routers`.
pub(crate) fn create(tx: &Tx, caller: &Caller, b: RouterCreate) -> Result<Router, Fault> {
    let project = caller.project_for(&b.project_id, &b.tenant_id)?;
    let mut r = Router {
        id: new_id(),
        name: b.name.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project,
        admin_state_up: b.admin_state_up.unwrap_or(true),
        status: "ACTIVE".into(),
        external_gateway_info: None,
        routes: Vec::new(),
        tags: Vec::new(),
        created_at: tx.now.clone(),
        updated_at: tx.now.clone(),
        revision_number: 0,
    };
    if let Some(Some(g)) = &b.external_gateway_info {
        let req = gateway_request(g)?;
        set_gateway(tx, caller, &mut r, req)?;
    }
    tx.put(&r)?;
    Ok(r)
}

fn check_extra_routes(tx: &Tx, r: &Router, routes: &[Route]) -> Result<(), Fault> {
    check_routes(routes, "routes")?;
    let subnets = tx.list::<Subnet>()?;
    let ports = router_ports(tx, &r.id)?;
    for route in routes {
        let hop = route
            .nexthop
            .parse()
            .map_err(|_| Fault::bad_request(format!("Invalid nexthop {}", route.nexthop)))?;
        let reachable = ports.iter().flat_map(|p| p.fixed_ips.iter()).any(|f| {
            subnets
                .iter()
                .any(|s| s.id == f.subnet_id && contains(s, hop))
                && f.ip_address != route.nexthop
        });
        if !reachable {
            return Err(Fault::invalid("InvalidRoutes", format!("Invalid format for routes: {route:?}, the nexthop is not connected with router")));
        }
    }
    Ok(())
}

/// `PUT /v2.0/routers/{id}`.
pub(crate) fn update(tx: &Tx, caller: &Caller, id: &str, b: RouterUpdate) -> Result<Router, Fault> {
    let mut r: Router = fetch(tx, caller, id)?;
    if let Some(g) = &b.external_gateway_info {
        let req = match g {
            None => None,
            Some(v) => gateway_request(v)?,
        };
        set_gateway(tx, caller, &mut r, req)?;
    }
    if let Some(routes) = b.routes {
        let routes = routes.unwrap_or_default();
        check_extra_routes(tx, &r, &routes)?;
        r.routes = routes;
    }
    set_present!(r, b, name, description, admin_state_up);
    r.touch(&tx.now);
    tx.put(&r)?;
    Ok(r)
}

/// `DELETE /v2.0/routers/{id}`: refused while it has interfaces.
pub(crate) fn delete(tx: &Tx, caller: &Caller, id: &str) -> Result<(), Fault> {
    let r: Router = fetch(tx, caller, id)?;
    let ports = router_ports(tx, &r.id)?;
    if ports.iter().any(|p| p.device_owner == IFACE) {
        return Err(Fault::conflict(
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    if tx
        .list::<FloatingIp>()?
        .iter()
        .any(|f| f.router_id.as_deref() == Some(id))
    {
        return Err(Fault::conflict(
            "RouterInUse",
            format!("Router {id} still has floating IPs associated"),
        ));
    }
    for p in ports {
        tx.delete::<Port>(&p.id)?;
    }
    tx.delete::<Router>(id)
}

fn info(r: &Router, p: &Port, subnet: &str) -> InterfaceInfo {
    InterfaceInfo {
        id: r.id.clone(),
        subnet_id: subnet.to_string(),
        subnet_ids: p.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect(),
        port_id: p.id.clone(),
        network_id: p.network_id.clone(),
        project_id: r.project_id.clone(),
        tenant_id: r.project_id.clone(),
    }
}

fn check_no_overlap(tx: &Tx, r: &Router, new: &[String]) -> Result<(), Fault> {
    let subnets = tx.list::<Subnet>()?;
    let cidr = |id: &str| {
        subnets
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.cidr.parse::<IpNet>().ok())
    };
    for p in router_ports(tx, &r.id)?
        .iter()
        .filter(|p| p.device_owner == IFACE)
    {
        for f in &p.fixed_ips {
            for n in new {
                if &f.subnet_id == n {
                    return Err(Fault::invalid(
                        "BadRequest",
                        format!("Bad router request: Router already has a port on subnet {n}."),
                    ));
                }
                if let (Some(a), Some(b)) = (cidr(&f.subnet_id), cidr(n)) {
                    if a.contains(&b.network()) || b.contains(&a.network()) {
                        return Err(Fault::invalid("BadRequest", format!("Bad router request: Cidr {b} of subnet {n} overlaps with cidr {a} of subnet {}.", f.subnet_id)));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `PUT /v2.0/routers/{id}/add_router_interface`.
pub(crate) fn add_interface(
    tx: &Tx,
    caller: &Caller,
    id: &str,
    b: InterfaceRequest,
) -> Result<InterfaceInfo, Fault> {
    let mut r: Router = fetch(tx, caller, id)?;
    let (port, subnet) = match (&b.subnet_id, &b.port_id) {
        (Some(_), Some(_)) => {
            return Err(Fault::bad_request(
                "Bad router request: Cannot specify both subnet-id and port-id",
            ))
        }
        (None, None) => {
            return Err(Fault::bad_request(
                "Bad router request: Either subnet_id or port_id must be specified",
            ))
        }
        (None, Some(pid)) => {
            let mut p: Port = fetch(tx, caller, pid)?;
            if !p.device_id.is_empty() || !p.device_owner.is_empty() {
                return Err(Fault::conflict("PortInUse", format!("Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.", p.network_id, p.device_id)));
            }
            if p.fixed_ips.is_empty() {
                return Err(Fault::bad_request(format!("Bad router request: Router port must have at least one fixed IP; port {pid} has none")));
            }
            check_no_overlap(
                tx,
                &r,
                &p.fixed_ips
                    .iter()
                    .map(|f| f.subnet_id.clone())
                    .collect::<Vec<_>>(),
            )?;
            p.device_id = r.id.clone();
            p.device_owner = IFACE.into();
            p.touch(&tx.now);
            tx.put(&p)?;
            let s = p.fixed_ips[0].subnet_id.clone();
            (p, s)
        }
        (Some(sid), None) => {
            let s: Subnet = fetch_subnet(tx, caller, sid)?;
            let Some(gw) = s.gateway_ip.clone() else {
                return Err(Fault::bad_request(format!("Bad router request: Subnet for router interface must have a gateway IP; subnet {sid} has none")));
            };
            check_no_overlap(tx, &r, std::slice::from_ref(sid))?;
            let body = PortCreate {
                network_id: s.network_id.clone(),
                project_id: Some(r.project_id.clone()),
                device_id: Some(r.id.clone()),
                device_owner: Some(IFACE.into()),
                fixed_ips: Some(vec![FixedIpRequest {
                    subnet_id: Some(s.id.clone()),
                    ip_address: Some(gw),
                }]),
                security_groups: Some(Vec::new()),
                port_security_enabled: Some(false),
                ..Default::default()
            };
            (
                ports::create(tx, &Caller::admin(&caller.project_id), body)?,
                s.id,
            )
        }
    };
    r.touch(&tx.now);
    tx.put(&r)?;
    Ok(info(&r, &port, &subnet))
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`.
pub(crate) fn remove_interface(
    tx: &Tx,
    caller: &Caller,
    id: &str,
    b: InterfaceRequest,
) -> Result<InterfaceInfo, Fault> {
    let mut r: Router = fetch(tx, caller, id)?;
    let ifaces: Vec<Port> = router_ports(tx, id)?
        .into_iter()
        .filter(|p| p.device_owner == IFACE)
        .collect();
    let port = match (&b.port_id, &b.subnet_id) {
        (Some(pid), _) => ifaces.into_iter().find(|p| &p.id == pid).ok_or_else(|| {
            Fault::not_found(
                "RouterInterfaceNotFound",
                format!("Router {id} does not have an interface with id {pid}"),
            )
        })?,
        (None, Some(sid)) => ifaces
            .into_iter()
            .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
            .ok_or_else(|| {
                Fault::not_found(
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {sid}"),
                )
            })?,
        (None, None) => {
            return Err(Fault::bad_request(
                "Bad router request: Either subnet_id or port_id must be specified",
            ))
        }
    };
    if let Some(route) = r.routes.iter().find(|rt| {
        port.fixed_ips.iter().any(|f| {
            tx.get::<Subnet>(&f.subnet_id)
                .ok()
                .flatten()
                .is_some_and(|s| rt.nexthop.parse().is_ok_and(|h| contains(&s, h)))
        })
    }) {
        return Err(Fault::conflict("RouterInterfaceInUseByRoute", format!("Router interface for subnet on router {id} cannot be deleted, as it is required by one or more routes ({}).", route.destination)));
    }
    let subnet = b.subnet_id.clone().unwrap_or_else(|| {
        port.fixed_ips
            .first()
            .map(|f| f.subnet_id.clone())
            .unwrap_or_default()
    });
    ports::disassociate_fips(tx, &port.id)?;
    tx.delete::<Port>(&port.id)?;
    r.touch(&tx.now);
    tx.put(&r)?;
    Ok(info(&r, &port, &subnet))
}
