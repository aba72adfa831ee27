//! Build a small routed lab in code, run commands inside its nodes, tear
//! it down. Run as root: `cargo run --example ping_across`.

use nlab::lab::{Lab, UpOptions};
use nlab::topo::{Endpoint, Link, Node, NodeKind, Topology};

fn end(node: &str, iface: &str, ip: &str) -> Result<Endpoint, String> {
    let mut e = Endpoint::new(node, iface);
    e.addrs.push(ip.parse()?);
    Ok(e)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // client —— router —— server, two subnets.
    let mut t = Topology::new("example");
    for (name, kind) in [
        ("client", NodeKind::Host),
        ("router", NodeKind::Router),
        ("server", NodeKind::Host),
    ] {
        t.nodes.insert(name.into(), Node::new(name, kind));
    }
    t.links.push(Link::new(
        end("client", "eth0", "192.168.1.10/24")?,
        end("router", "eth0", "192.168.1.1/24")?,
    ));
    t.links.push(Link::new(
        end("router", "eth1", "192.168.2.1/24")?,
        end("server", "eth0", "192.168.2.10/24")?,
    ));
    if let Some(n) = t.nodes.get_mut("client") {
        n.gateway = Some("192.168.1.1".parse()?);
    }
    if let Some(n) = t.nodes.get_mut("server") {
        n.gateway = Some("192.168.2.1".parse()?);
    }
    nlab::topo::validate::validate(&t)?;

    let (lab, report) = Lab::up(&t, &UpOptions::default())?;
    println!("lab up: {} nodes in {:?}", report.nodes, report.elapsed);
    // Node names resolve inside the lab.
    let out = lab.exec_output("client", &["ping", "-c1", "-W2", "server"])?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let ok = out.status.success();
    lab.down()?;
    if !ok {
        return Err("client could not reach server".into());
    }
    Ok(())
}
