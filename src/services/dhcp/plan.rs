//! What the lab's DHCP service runs, read from the applied topology:
//! servers, relays and built-in clients. Pure, so it is tested on
//! topologies without root.

use super::pool::Subnet;
use crate::topo::dhcp::DhcpClient;
use crate::topo::{IpNet, Topology};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone)]
pub struct ServerPlan {
    pub node: String,
    pub iface: String,
    pub server_id: Ipv4Addr,
    pub subnets: Vec<Subnet>,
}

/// One interface a relay listens on for clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayIface {
    pub iface: String,
    /// Its address: the `giaddr` of what it forwards.
    pub addr: Ipv4Addr,
    /// The server that hands out this interface's subnet.
    pub server: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPlan {
    pub node: String,
    pub ifaces: Vec<RelayIface>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    pub node: String,
    pub iface: String,
    pub client: DhcpClient,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub servers: Vec<ServerPlan>,
    pub relays: Vec<RelayPlan>,
    pub clients: Vec<ClientPlan>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.relays.is_empty() && self.clients.is_empty()
    }
}

fn v4(a: &IpNet) -> Option<Ipv4Addr> {
    match a.addr {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(_) => None,
    }
}

/// Whether `t` needs the DHCP service at all.
pub fn needed(t: &Topology) -> bool {
    t.nodes.values().any(|n| n.dhcp.is_some() || n.dhcp_relay)
        || t.links.iter().any(|l| l.endpoints.iter().any(|e| e.dhcp))
}

/// Servers, relays and clients of a validated topology.
pub fn of(t: &Topology) -> Plan {
    let mut p = Plan::default();
    for n in t.nodes.values() {
        let Some(d) = &n.dhcp else { continue };
        let ep = match &d.iface {
            Some(i) => t.endpoints_of(&n.name).find(|e| e.iface == *i),
            None => t.endpoints_of(&n.name).next(),
        };
        let Some(ep) = ep else { continue };
        let Some(own) = ep.addrs.iter().find(|a| a.is_ipv4()) else {
            continue;
        };
        let Some(server_id) = v4(own) else { continue };
        let subnets = d
            .scopes
            .iter()
            .enumerate()
            .filter_map(|(k, s)| {
                let net = if k == 0 { *own } else { s.subnet? };
                let net = IpNet {
                    addr: net.network(),
                    prefix: net.prefix,
                };
                Some(Subnet {
                    net,
                    scope: s.clone(),
                })
            })
            .collect();
        p.servers.push(ServerPlan {
            node: n.name.clone(),
            iface: ep.iface.clone(),
            server_id,
            subnets,
        });
    }
    for n in t.nodes.values().filter(|n| n.dhcp_relay) {
        let ifaces: Vec<RelayIface> = t
            .endpoints_of(&n.name)
            .flat_map(|e| e.addrs.iter().filter_map(v4).map(move |a| (e, a)))
            .filter_map(|(e, addr)| {
                let s = p
                    .servers
                    .iter()
                    .find(|s| s.subnets.iter().skip(1).any(|sub| sub.contains(addr)))?;
                Some(RelayIface {
                    iface: e.iface.clone(),
                    addr,
                    server: s.server_id,
                })
            })
            .collect();
        if !ifaces.is_empty() {
            p.relays.push(RelayPlan {
                node: n.name.clone(),
                ifaces,
            });
        }
    }
    for l in &t.links {
        for e in l.endpoints.iter().filter(|e| e.dhcp) {
            let client = t
                .nodes
                .get(&e.node)
                .map(|n| n.dhcp_client)
                .unwrap_or_default();
            p.clients.push(ClientPlan {
                node: e.node.clone(),
                iface: e.iface.clone(),
                client,
            });
        }
    }
    p.clients
        .sort_by(|a, b| crate::topo::natural_cmp(&a.node, &b.node).then(a.iface.cmp(&b.iface)));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_has_a_server_a_relay_and_four_clients() {
        let text = include_str!("../../../examples/topologies/dhcp.yaml");
        let t = crate::topo::file::parse(text, None).expect("example");
        assert!(needed(&t));
        let p = of(&t);
        assert_eq!(p.servers.len(), 1);
        let s = &p.servers[0];
        assert_eq!((s.node.as_str(), s.iface.as_str()), ("dhcp1", "eth0"));
        assert_eq!(s.server_id, Ipv4Addr::new(10, 0, 0, 2));
        let nets: Vec<String> = s.subnets.iter().map(|s| s.net.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/24", "10.0.2.0/24"]);
        assert_eq!(
            p.relays,
            [RelayPlan {
                node: "r1".into(),
                ifaces: vec![RelayIface {
                    iface: "eth1".into(),
                    addr: Ipv4Addr::new(10, 0, 2, 1),
                    server: Ipv4Addr::new(10, 0, 0, 2)
                }]
            }]
        );
        let c: Vec<&str> = p.clients.iter().map(|c| c.node.as_str()).collect();
        assert_eq!(c, ["h1", "h2", "h3", "h4"]);
        let plain = crate::topo::generate::from_spec("single,2", "x", false).expect("single");
        assert!(!needed(&plain) && of(&plain).is_empty());
    }
}
