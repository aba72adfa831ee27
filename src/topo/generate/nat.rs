//! Mininet's `--nat` on a generated topology: a NAT node `nat0` on the
//! first switch with the next host address, every host's default route
//! through it, and its uplink toward the host.

use super::super::addr::mininet_host_ip;
use super::super::model::{natural_cmp, Endpoint, Link, Node, NodeKind, Topology};
use super::super::nat::{NatSpec, Uplink};
use super::super::validate::{validate, TopoError, TopoErrors};

/// Name of the NAT node `--nat` adds (Mininet's).
pub const NAT_NODE: &str = "nat0";

/// Adds `nat0` to `t` as Mininet's `--nat` does; the result is validated.
pub fn add_nat(t: &mut Topology) -> Result<(), TopoErrors> {
    let Some(sw) = t
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Switch)
        .map(|n| n.name.clone())
        .min_by(|a, b| natural_cmp(a, b))
    else {
        return Err(TopoError::new(
            "--nat needs a topology with a switch to attach the NAT node to",
        )
        .into());
    };
    if t.nodes.contains_key(NAT_NODE) {
        return Err(TopoError::new(format!(
            "--nat adds node `{NAT_NODE}`, but the topology has one"
        ))
        .into());
    }
    let hosts = t
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Host)
        .count();
    let ip = mininet_host_ip(hosts as u64 + 1).map_err(TopoError::new)?;
    let used = t.endpoints_of(&sw).count();
    let mut port = used + 1;
    while t
        .endpoints_of(&sw)
        .any(|e| e.iface == format!("{sw}-eth{port}"))
    {
        port += 1;
    }
    let mut nat_end = Endpoint::new(NAT_NODE, format!("{NAT_NODE}-eth0"));
    nat_end.addrs = vec![ip];
    t.links.push(Link::new(
        nat_end,
        Endpoint::new(&sw, format!("{sw}-eth{port}")),
    ));
    let mut node = Node::new(NAT_NODE, NodeKind::Nat);
    node.nat = Some(Box::new(NatSpec::new(Uplink::Host)));
    t.nodes.insert(NAT_NODE.into(), node);
    for n in t.nodes.values_mut().filter(|n| n.kind == NodeKind::Host) {
        n.gateway = Some(ip.addr);
    }
    validate(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_gets_a_nat_on_s1_and_default_routes() {
        let mut t = crate::topo::generate::from_spec("tree,2,2", "t", false).expect("tree");
        add_nat(&mut t).expect("nat");
        let nat = &t.nodes[NAT_NODE];
        assert_eq!(nat.kind, NodeKind::Nat);
        let link = t
            .links
            .iter()
            .find(|l| l.end_index_of_node(NAT_NODE).is_some())
            .expect("link");
        assert!(link.endpoints.iter().any(|e| e.node == "s1"));
        assert_eq!(link.endpoints[0].addrs[0].to_string(), "10.0.0.5/8");
        assert!(t
            .hosts()
            .iter()
            .filter(|h| h.kind == NodeKind::Host)
            .all(|h| h.gateway.map(|g| g.to_string()) == Some("10.0.0.5".into())));
    }
}
