//! The routes a node should hold, as the topology says, with the interface
//! each one leaves by. Setting an interface down makes the kernel delete
//! every route through it (gateways included) and bringing it up does not
//! put them back, so whoever brings a link up, and `inspect`, need to know
//! which routes belong to which interface.

use super::model::{IpNet, Link, Topology};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One route a node should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WantedRoute {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    /// The outgoing interface the topology names (`dev:`).
    pub dev: Option<String>,
    /// The node's interface the route leaves by: `dev`, or the interface
    /// whose subnet holds `via`. `None` when the topology does not tell.
    pub iface: Option<String>,
}

impl WantedRoute {
    /// `default via 10.1.0.1`, `10.3.0.0/24 via 10.2.0.2 dev wan`.
    pub fn describe(&self) -> String {
        let mut s = if self.dst.prefix == 0 {
            "default route".to_string()
        } else {
            format!("route {}", self.dst)
        };
        if let Some(v) = self.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(d) = &self.dev {
            s.push_str(&format!(" dev {d}"));
        }
        s
    }
}

/// `0.0.0.0/0` or `::/0`.
pub fn default_dst(v6: bool) -> IpNet {
    let addr = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    IpNet { addr, prefix: 0 }
}

impl Topology {
    /// The default gateways and static routes of `node`, gateways first.
    pub(crate) fn routes_of(&self, node: &str) -> Vec<WantedRoute> {
        let Some(n) = self.nodes.get(node) else {
            return Vec::new();
        };
        // A VM's gateway and routes are its guest's, not its namespace's.
        if n.vm.is_some() {
            return Vec::new();
        }
        let iface_for = |via: Option<IpAddr>| {
            let via = via?;
            self.endpoints_of(node)
                .find(|e| e.addrs.iter().any(|a| a.contains(&via)))
                .map(|e| e.iface.clone())
        };
        let mut out = Vec::new();
        for (gw, v6) in [(n.gateway, false), (n.gateway6, true)] {
            if let Some(gw) = gw {
                out.push(WantedRoute {
                    dst: default_dst(v6),
                    via: Some(gw),
                    dev: None,
                    iface: iface_for(Some(gw)),
                });
            }
        }
        for r in &n.routes {
            out.push(WantedRoute {
                dst: r.dst,
                via: r.via,
                dev: r.dev.clone(),
                iface: r.dev.clone().or_else(|| iface_for(r.via)),
            });
        }
        out
    }

    /// The link that has the end `node:iface`.
    pub fn link_of(&self, node: &str, iface: &str) -> Option<&Link> {
        self.links.iter().find(|l| {
            l.endpoints
                .iter()
                .any(|e| e.node == node && e.iface == iface)
        })
    }

    /// The routes of `node` that can exist now: those whose interface's
    /// link `is_up` says is up (a route through a link that is down is
    /// absent by design, and the kernel refuses to add it).
    pub(crate) fn live_routes_of(
        &self,
        node: &str,
        is_up: impl Fn(&Link) -> bool,
    ) -> Vec<WantedRoute> {
        self.routes_of(node)
            .into_iter()
            .filter(|r| {
                r.iface
                    .as_deref()
                    .and_then(|i| self.link_of(node, i))
                    .is_none_or(&is_up)
            })
            .collect()
    }
}

/// What bringing a link up must put back in one of its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeRestore {
    pub node: String,
    /// The addresses of the link's ends on this node (`iface`, address):
    /// the kernel drops IPv6 ones when an interface goes down.
    pub addrs: Vec<(String, IpNet)>,
    /// Every route of the node whose link is up (others cannot exist).
    pub routes: Vec<WantedRoute>,
}

impl Topology {
    /// What bringing link `key` up must restore, per node of the link
    /// (each node once). Empty when no link has that key.
    pub(crate) fn after_link_up(&self, key: &str) -> Vec<NodeRestore> {
        let Some(l) = self.links.iter().find(|l| l.key() == key) else {
            return Vec::new();
        };
        let mut out: Vec<NodeRestore> = Vec::new();
        for e in &l.endpoints {
            if out.iter().any(|r| r.node == e.node) {
                continue;
            }
            out.push(NodeRestore {
                node: e.node.clone(),
                addrs: l
                    .endpoints
                    .iter()
                    .filter(|x| x.node == e.node)
                    .flat_map(|x| x.addrs.iter().map(|a| (x.iface.clone(), *a)))
                    .collect(),
                // The link itself counts as up even when the journal says
                // otherwise: whoever calls this has just brought it up.
                routes: self.live_routes_of(&e.node, |x| x.up || x.key() == key),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_know_their_interface_and_skip_links_that_are_down() {
        let t = crate::topo::file::parse(
            "name: r\ntopology:\n  nodes:\n    h1: {gateway: 10.1.0.1}\n    \
             r1: {kind: router, routes: [{dst: 10.3.0.0/24, via: 10.2.0.2}, {dst: 10.9.0.0/24, dev: lan}]}\n    \
             r2: {kind: router}\n  links:\n    \
             - endpoints: [{node: h1, iface: eth0, ip: 10.1.0.10/24}, {node: r1, iface: lan, ip: 10.1.0.1/24}]\n    \
             - endpoints: [{node: r1, iface: wan, ip: 10.2.0.1/30}, {node: r2, iface: wan, ip: 10.2.0.2/30}]\n",
            None,
        )
        .expect("topology");
        let h1 = t.routes_of("h1");
        assert_eq!(h1.len(), 1);
        assert_eq!(h1[0].iface.as_deref(), Some("eth0"));
        assert_eq!(h1[0].describe(), "default route via 10.1.0.1");
        let r1 = t.routes_of("r1");
        let ifaces: Vec<_> = r1.iter().map(|r| r.iface.as_deref()).collect();
        assert_eq!(ifaces, [Some("wan"), Some("lan")]);
        let live = t.live_routes_of("r1", |l| l.key() != "r1:wan--r2:wan");
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].describe(), "route 10.9.0.0/24 dev lan");
        assert!(t.routes_of("nope").is_empty());
        let r = t.after_link_up("r1:wan--r2:wan");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].node, "r1");
        assert_eq!(r[0].addrs.len(), 1);
        assert_eq!(r[0].routes.len(), 2);
        assert!(t.after_link_up("x:y--z:w").is_empty());
    }
}
