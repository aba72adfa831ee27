//! The walk: from a port through bridges and routers, hop by hop, as the
//! kernel of the realized lab would forward it.

use super::super::realize::{Desired, Direction, HostRoute, Names, Port, Router, Subnet};
use super::rules::decide;
use super::{Hop, Packet, Verdict};
use std::net::IpAddr;

/// Routers a packet may cross before the walk calls it a loop.
const MAX_ROUTERS: usize = 16;

/// Who answers for an address on a network.
enum Holder<'d> {
    Port(&'d Port),
    Router(&'d Router),
    Dhcp(&'d Subnet),
}

pub(crate) struct Walk<'d> {
    d: &'d Desired,
    names: &'d Names,
    pub hops: Vec<Hop>,
    pub last: Packet,
    routers: usize,
}

impl<'d> Walk<'d> {
    pub fn new(d: &'d Desired, names: &'d Names) -> Self {
        Walk {
            d,
            names,
            hops: Vec::new(),
            last: Packet {
                src: IpAddr::from([0, 0, 0, 0]),
                dst: IpAddr::from([0, 0, 0, 0]),
                proto: super::Proto::Icmp,
                dport: None,
            },
            routers: 0,
        }
    }

    fn hop(&mut self, node: &str, what: String) {
        self.hops.push(Hop {
            node: node.to_string(),
            what,
        });
    }

    fn subnet(&self, id: &str) -> Option<&'d Subnet> {
        self.d.subnets.iter().find(|s| s.id == id)
    }

    /// Leaves `port` (in `node`): its egress rules, then its own routing.
    pub fn leave_port(&mut self, port: &'d Port, node: &str, pkt: Packet) -> Verdict {
        self.last = pkt;
        match decide(port, Direction::Egress, &pkt) {
            Ok(why) => self.hop(
                node,
                format!("{} → {} {}: {why}", pkt.src, pkt.dst, pkt.proto),
            ),
            Err(why) => return dropped(node, why),
        }
        let Some(subnet) = port
            .fixed_ips
            .iter()
            .find(|f| f.ip_address == pkt.src)
            .and_then(|f| self.subnet(&f.subnet_id))
        else {
            return dropped(node, format!("{} is in no subnet the world has", pkt.src));
        };
        if subnet.cidr.contains(&pkt.dst) {
            self.hop(
                node,
                format!("{} is on-link (subnet {})", pkt.dst, subnet.cidr),
            );
            return self.on_network(&port.network_id, pkt);
        }
        let (nexthop, how) = match longest(&subnet.host_routes, &pkt.dst) {
            Some(r) => (
                r.nexthop,
                format!("host route {} via {}", r.destination, r.nexthop),
            ),
            None => match subnet.gateway_ip {
                Some(g) => (g, format!("default route via the subnet's gateway {g}")),
                None => {
                    return dropped(
                        node,
                        format!(
                            "no route to {}: subnet {} has no gateway and no host route to it",
                            pkt.dst, subnet.cidr
                        ),
                    )
                }
            },
        };
        self.hop(node, how);
        self.via(&port.network_id, nexthop, pkt)
    }

    /// Hands the packet to whoever holds `nexthop` on `network`.
    fn via(&mut self, network: &str, nexthop: IpAddr, pkt: Packet) -> Verdict {
        let net_node = self.names.network(network);
        match self.holder(network, &nexthop) {
            Some(Holder::Router(r)) => {
                self.hop(&net_node, format!("bridge to router {} ({nexthop})", r.id));
                self.at_router(r, pkt)
            }
            Some(Holder::Port(p)) => {
                self.hop(&net_node, format!("bridge to port {} ({nexthop})", p.id));
                self.enter_port(p, pkt)
            }
            Some(Holder::Dhcp(_)) | None => dropped(
                &net_node,
                format!(
                    "nothing on this network forwards for {nexthop} (no router interface holds \
                     it: nlab router add-interface ROUTER SUBNET)"
                ),
            ),
        }
    }

    /// On `network`'s bridge, to whoever holds the destination.
    fn on_network(&mut self, network: &str, pkt: Packet) -> Verdict {
        let net_node = self.names.network(network);
        match self.holder(network, &pkt.dst) {
            Some(Holder::Port(p)) => {
                self.hop(&net_node, format!("bridge to port {}", p.id));
                self.enter_port(p, pkt)
            }
            Some(Holder::Router(r)) => {
                self.hop(&net_node, format!("bridge to router {}", r.id));
                self.at_router(r, pkt)
            }
            Some(Holder::Dhcp(s)) => {
                let node = self.names.dhcp(&s.id);
                self.hop(
                    &node,
                    format!("the DHCP server of subnet {} has {}", s.cidr, pkt.dst),
                );
                Verdict::Delivered {
                    node,
                    port: String::new(),
                }
            }
            None if self.is_external(network) => {
                let node = self.names.external(network);
                self.hop(
                    &node,
                    format!("{} is outside: the internet stand-in takes it", pkt.dst),
                );
                Verdict::LeavesWorld { node }
            }
            None => dropped(
                &net_node,
                format!(
                    "no port on this network has {} (ARP gets no answer)",
                    pkt.dst
                ),
            ),
        }
    }

    fn is_external(&self, network: &str) -> bool {
        self.d
            .networks
            .iter()
            .any(|n| n.id == network && n.external)
    }

    /// Into a port: its ingress rules decide.
    fn enter_port(&mut self, p: &'d Port, pkt: Packet) -> Verdict {
        let Some(node) = self.names.port_node(p) else {
            return dropped(
                &self.names.network(&p.network_id),
                format!(
                    "port {} is not bound (DOWN): nothing in the kernel takes it",
                    p.id
                ),
            );
        };
        match decide(p, Direction::Ingress, &pkt) {
            Ok(why) => {
                self.hop(&node, format!("enters port {}: {why}", p.id));
                Verdict::Delivered {
                    node,
                    port: p.id.clone(),
                }
            }
            Err(why) => dropped(&node, why),
        }
    }

    fn at_router(&mut self, r: &'d Router, mut pkt: Packet) -> Verdict {
        let node = self.names.router(&r.id);
        self.routers += 1;
        if self.routers > MAX_ROUTERS {
            return dropped(
                &node,
                format!("routing loop: more than {MAX_ROUTERS} routers"),
            );
        }
        let gw_ip = r.external_gateway.as_ref().map(|g| IpAddr::V4(g.ip));
        if r.interfaces.iter().any(|i| i.ip == pkt.dst) || gw_ip == Some(pkt.dst) {
            self.hop(&node, format!("{} is the router's own address", pkt.dst));
            return Verdict::Delivered {
                node,
                port: String::new(),
            };
        }
        if let Some(f) = self
            .d
            .floating_ips
            .iter()
            .find(|f| f.router_id == r.id && IpAddr::V4(f.external_ip) == pkt.dst)
        {
            pkt.dst = IpAddr::V4(f.internal_ip);
            self.hop(
                &node,
                format!(
                    "DNAT: floating IP {} → {} (port {})",
                    f.external_ip, f.internal_ip, f.port_id
                ),
            );
        }
        self.last = pkt;
        for leg in &r.interfaces {
            if let Some(s) = self
                .subnet(&leg.subnet_id)
                .filter(|s| s.cidr.contains(&pkt.dst))
            {
                let leg_name = self.names.router_leg(&leg.port_id);
                self.hop(
                    &node,
                    format!("connected: out {leg_name} on subnet {}", s.cidr),
                );
                return self.on_network(&s.network_id, pkt);
            }
        }
        if let Some(route) = longest(&r.routes, &pkt.dst) {
            let on = r
                .interfaces
                .iter()
                .filter_map(|i| self.subnet(&i.subnet_id))
                .find(|s| s.cidr.contains(&route.nexthop));
            self.hop(
                &node,
                format!("static route {} via {}", route.destination, route.nexthop),
            );
            return match on {
                Some(s) => self.via(&s.network_id, route.nexthop, pkt),
                None => dropped(
                    &node,
                    format!(
                        "the next hop {} is on none of the router's subnets",
                        route.nexthop
                    ),
                ),
            };
        }
        self.out_gateway(r, &node, pkt)
    }

    /// Out of the router's external gateway, with its NAT.
    fn out_gateway(&mut self, r: &'d Router, node: &str, mut pkt: Packet) -> Verdict {
        let Some(g) = &r.external_gateway else {
            return dropped(
                node,
                format!(
                    "no route to {}: no interface subnet, static route or external gateway \
                     covers it (nlab router set-gateway ROUTER NETWORK)",
                    pkt.dst
                ),
            );
        };
        let fip = self
            .d
            .floating_ips
            .iter()
            .find(|f| f.router_id == r.id && IpAddr::V4(f.internal_ip) == pkt.src);
        let nat = match fip {
            Some(f) => {
                pkt.src = IpAddr::V4(f.external_ip);
                format!("SNAT by floating IP: {} → {}", f.internal_ip, f.external_ip)
            }
            None if g.enable_snat && pkt.src.is_ipv4() => {
                let before = pkt.src;
                pkt.src = IpAddr::V4(g.ip);
                format!("SNAT (masquerade): {before} → {}", g.ip)
            }
            None => format!("no SNAT (enable_snat is off): source stays {}", pkt.src),
        };
        let leg = self.names.gateway_leg(&g.port_id);
        self.hop(
            node,
            format!("default route out {leg} to the external network; {nat}"),
        );
        self.last = pkt;
        self.on_network(&g.network_id, pkt)
    }

    fn holder(&self, network: &str, ip: &IpAddr) -> Option<Holder<'d>> {
        if let Some(p) =
            self.d.ports.iter().find(|p| {
                p.network_id == network && p.fixed_ips.iter().any(|f| f.ip_address == *ip)
            })
        {
            return Some(Holder::Port(p));
        }
        let on_net = |subnet: &str| self.subnet(subnet).is_some_and(|s| s.network_id == network);
        if let Some(r) =
            self.d.routers.iter().find(|r| {
                r.interfaces
                    .iter()
                    .any(|i| i.ip == *ip && on_net(&i.subnet_id))
                    || r.external_gateway.as_ref().is_some_and(|g| {
                        g.network_id == network
                            && (IpAddr::V4(g.ip) == *ip
                                || self.d.floating_ips.iter().any(|f| {
                                    f.router_id == r.id && IpAddr::V4(f.external_ip) == *ip
                                }))
                    })
            })
        {
            return Some(Holder::Router(r));
        }
        self.d
            .subnets
            .iter()
            .find(|s| s.network_id == network && s.dhcp_ip.is_some_and(|d| IpAddr::V4(d) == *ip))
            .map(Holder::Dhcp)
    }
}

fn dropped(node: &str, why: String) -> Verdict {
    Verdict::Dropped {
        node: node.to_string(),
        why,
    }
}

/// The most specific route that covers `dst`.
fn longest<'a>(routes: &'a [HostRoute], dst: &IpAddr) -> Option<&'a HostRoute> {
    routes
        .iter()
        .filter(|r| r.destination.contains(dst))
        .max_by_key(|r| r.destination.prefix)
}
