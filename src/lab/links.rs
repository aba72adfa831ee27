//! Links set administratively up or down at run time (`link s1 h1 down`
//! in the console, like Mininet's `configLinkStatus`).
//!
//! Both ends are set, not just one: a veth whose peer is down reports
//! carrier loss on its own side too, but a bridge port that stays up keeps
//! its FDB entries and STP state, and Mininet downs both ends as well.

use super::{Error, Lab, Result};
use crate::kernel::link;
use crate::kernel::netlink::Socket;
use crate::kernel::netns::NetNs;
use crate::kernel::Error as KError;
use crate::topo::Endpoint;

impl Lab {
    /// Sets every link between nodes `a` and `b` (either order) up or
    /// down, both ends, over netlink. Returns the `node:iface` ids changed.
    /// Errors when either node is unknown or no link joins them.
    pub fn set_link_up(&self, a: &str, b: &str, up: bool) -> Result<Vec<String>> {
        self.namespace(a)?;
        self.namespace(b)?;
        let ends: Vec<&Endpoint> = self
            .topology()
            .links
            .iter()
            .filter(|l| {
                let (x, y) = (&l.endpoints[0].node, &l.endpoints[1].node);
                (x == a && y == b) || (x == b && y == a)
            })
            .flat_map(|l| l.endpoints.iter())
            .collect();
        if ends.is_empty() {
            return Err(Error::NoSuchLink {
                lab: self.name().to_string(),
                a: a.to_string(),
                b: b.to_string(),
            });
        }
        let mut changed = Vec::with_capacity(ends.len());
        for e in ends {
            set_end(&self.namespace(&e.node)?, &e.iface, up)?;
            changed.push(e.id());
        }
        Ok(changed)
    }
}

/// Sets interface `iface` of namespace `ns_name` up or down.
fn set_end(ns_name: &str, iface: &str, up: bool) -> Result<()> {
    let state = if up { "up" } else { "down" };
    let ns = NetNs::open(ns_name)?;
    ns.run(|| -> Result<(), KError> {
        let mut sock = Socket::new()?;
        let links = link::dump(&mut sock, &format!("reading links of {ns_name}"))?;
        let index = links
            .iter()
            .find(|l| l.name == iface)
            .map(|l| l.index)
            .ok_or_else(|| {
                KError::protocol(
                    format!("setting {iface} {state} in {ns_name}"),
                    "no such interface (the lab drifted; `nlab up` repairs it)",
                )
            })?;
        sock.request(link::set_up(
            index,
            up,
            format!("setting {iface} {state} in {ns_name}"),
        ))
    })??;
    Ok(())
}
