//! Mininet's output shapes for `nodes`, `net`, `dump`, `links`, `intfs` and
//! `ports`, from the topology and (when it can be read) the kernel's view.
//! Pure functions over [`NetView`], so the shapes are tested without root.

use crate::lab::inspect::LabView;
use crate::topo::{natural_cmp, NodeKind, Topology};
use std::fmt::Write as _;

/// One interface of a node, as the console prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct IfRow {
    pub name: String,
    /// The interface at the other end of the link (`s1-eth1`).
    pub peer: Option<String>,
    /// First IPv4 address (Mininet's `IP()`), or the first of any family.
    pub ip: Option<String>,
    /// `OK`, `DOWN` (administratively down) or `MISSING` (not in the kernel).
    pub status: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub name: String,
    pub kind: NodeKind,
    pub namespace: String,
    pub ifaces: Vec<IfRow>,
    /// The pid of the node's console shell, once it has one (`dump`).
    pub shell_pid: Option<u32>,
}

/// Everything the listing commands print, in Mininet's order: hosts, then
/// switches (Mininet's `net.values()`), each in natural name order.
#[derive(Debug, Clone, PartialEq)]
pub struct NetView {
    pub nodes: Vec<NodeRow>,
    /// `(end a, end b)` interface names in topology order, with statuses.
    pub links: Vec<(String, &'static str, String, &'static str)>,
}

impl NetView {
    /// Builds the view from the topology, with statuses and addresses from
    /// the kernel when `kernel` is given.
    pub fn new(t: &Topology, kernel: Option<&LabView>) -> NetView {
        let status = |node: &str, iface: &str| -> &'static str {
            let Some(k) = kernel else { return "OK" };
            let found = k
                .nodes
                .iter()
                .find(|n| n.name == node)
                .and_then(|n| n.interfaces.iter().find(|i| i.name == iface));
            match found {
                Some(i) if i.up => "OK",
                Some(_) => "DOWN",
                None => "MISSING",
            }
        };
        let mut names: Vec<&String> = t.nodes.keys().collect();
        names.sort_by(|a, b| {
            let rank = |n: &str| (t.nodes[n].kind == NodeKind::Switch) as u8;
            rank(a).cmp(&rank(b)).then_with(|| natural_cmp(a, b))
        });
        let mut nodes = Vec::new();
        for name in names {
            let kind = t.nodes[name].kind;
            let mut ifaces = Vec::new();
            if kind == NodeKind::Switch {
                // Mininet lists a switch's loopback first; ours is there too.
                ifaces.push(IfRow {
                    name: "lo".into(),
                    peer: None,
                    ip: Some("127.0.0.1".into()),
                    status: "OK",
                });
            }
            for l in &t.links {
                for (i, e) in l.endpoints.iter().enumerate() {
                    if &e.node != name {
                        continue;
                    }
                    let ip = e
                        .addrs
                        .iter()
                        .find(|a| a.addr.is_ipv4())
                        .or(e.addrs.first())
                        .map(|a| a.addr.to_string());
                    ifaces.push(IfRow {
                        name: e.iface.clone(),
                        peer: Some(l.endpoints[1 - i].iface.clone()),
                        ip,
                        status: status(&e.node, &e.iface),
                    });
                }
            }
            nodes.push(NodeRow {
                name: name.clone(),
                kind,
                namespace: crate::kernel::netns::ns_name(&t.name, name),
                shell_pid: None,
                ifaces,
            });
        }
        let links = t
            .links
            .iter()
            .map(|l| {
                let [a, b] = &l.endpoints;
                (
                    a.iface.clone(),
                    status(&a.node, &a.iface),
                    b.iface.clone(),
                    status(&b.node, &b.iface),
                )
            })
            .collect();
        NetView { nodes, links }
    }
}

/// `available nodes are: \nh1 h2 s1` (Python's plain sort, as Mininet).
pub fn nodes(v: &NetView) -> String {
    let mut names: Vec<&str> = v.nodes.iter().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    format!("available nodes are: \n{}\n", names.join(" "))
}

/// `h1 h1-eth0:s1-eth1` / `s1 lo:  s1-eth1:h1-eth0 …` (dumpNodeConnections).
pub fn net(v: &NetView) -> String {
    let mut out = String::new();
    for n in &v.nodes {
        out.push_str(&n.name);
        for i in &n.ifaces {
            let _ = write!(out, " {}:", i.name);
            match &i.peer {
                Some(p) => out.push_str(p),
                None => out.push(' '),
            }
        }
        out.push('\n');
    }
    out
}

/// Mininet's class name for a node kind: nlab switches are Linux bridges.
fn class(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Host => "Host",
        NodeKind::Switch => "LinuxBridge",
        NodeKind::Router => "Router",
        NodeKind::Nat => "NAT",
        NodeKind::Internet => "Host",
    }
}

/// `<Host h1: h1-eth0:10.0.0.1 pid=…> `, with the namespace where Mininet
/// shows the pid of the node's shell (an nlab node has no process).
pub fn dump(v: &NetView) -> String {
    let mut out = String::new();
    for n in &v.nodes {
        let intfs: Vec<String> = n
            .ifaces
            .iter()
            .map(|i| format!("{}:{}", i.name, i.ip.as_deref().unwrap_or("None")))
            .collect();
        // Mininet prints the node's shell pid; a node without a shell
        // (yet) shows its namespace instead.
        let at = match n.shell_pid {
            Some(p) => format!("pid={p}"),
            None => format!("ns={}", n.namespace),
        };
        let _ = writeln!(
            out,
            "<{} {}: {} {at}> ",
            class(n.kind),
            n.name,
            intfs.join(",")
        );
    }
    out
}

/// `h1-eth0<->s1-eth1 (OK OK)`; `DOWN` where Mininet would still say OK.
pub fn links(v: &NetView) -> String {
    let mut out = String::new();
    for (a, sa, b, sb) in &v.links {
        let _ = writeln!(out, "{a}<->{b} ({sa} {sb}) ");
    }
    out
}

/// `h1: h1-eth0` / `s1: lo,s1-eth1,s1-eth2`.
pub fn intfs(v: &NetView) -> String {
    let mut out = String::new();
    for n in &v.nodes {
        let names: Vec<&str> = n.ifaces.iter().map(|i| i.name.as_str()).collect();
        let _ = writeln!(out, "{}: {}", n.name, names.join(","));
    }
    out
}

/// `s1 lo:0 s1-eth1:1 s1-eth2:2 ` for each switch: bridge ports numbered
/// in link order, as Mininet numbers them.
pub fn ports(v: &NetView) -> String {
    let mut out = String::new();
    for n in v.nodes.iter().filter(|n| n.kind == NodeKind::Switch) {
        let _ = write!(out, "{} ", n.name);
        for (port, i) in n.ifaces.iter().enumerate() {
            let _ = write!(out, "{}:{} ", i.name, port);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> NetView {
        let t = crate::topo::generate::from_spec("single,2", "fmt", false).unwrap();
        NetView::new(&t, None)
    }

    #[test]
    fn listings_have_mininets_shape() {
        let v = view();
        assert_eq!(nodes(&v), "available nodes are: \nh1 h2 s1\n");
        assert_eq!(
            net(&v),
            "h1 h1-eth0:s1-eth1\nh2 h2-eth0:s1-eth2\ns1 lo:  s1-eth1:h1-eth0 s1-eth2:h2-eth0\n"
        );
        assert_eq!(
            dump(&v),
            "<Host h1: h1-eth0:10.0.0.1 ns=nlab-fmt-h1> \n\
             <Host h2: h2-eth0:10.0.0.2 ns=nlab-fmt-h2> \n\
             <LinuxBridge s1: lo:127.0.0.1,s1-eth1:None,s1-eth2:None ns=nlab-fmt-s1> \n"
        );
        assert_eq!(
            links(&v),
            "h1-eth0<->s1-eth1 (OK OK) \nh2-eth0<->s1-eth2 (OK OK) \n"
        );
        assert_eq!(
            intfs(&v),
            "h1: h1-eth0\nh2: h2-eth0\ns1: lo,s1-eth1,s1-eth2\n"
        );
        assert_eq!(ports(&v), "s1 lo:0 s1-eth1:1 s1-eth2:2 \n");
    }

    #[test]
    fn hosts_come_before_switches_in_natural_order() {
        let t = crate::topo::generate::from_spec("linear,10", "fmt", false).unwrap();
        let v = NetView::new(&t, None);
        let order: Vec<&str> = v.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(order[..3], ["h1", "h2", "h3"]);
        assert_eq!(order[9..12], ["h10", "s1", "s2"]);
        // `nodes` sorts like Python's sorted(): h10 before h2.
        assert!(nodes(&v).contains("h1 h10 h2"));
    }
}
