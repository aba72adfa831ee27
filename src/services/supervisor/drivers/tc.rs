//! The `tc` driver: veth links whose conditions are kernel qdiscs (tbf,
//! netem), replaced in place so connections survive a change. It also
//! sets the two ends administratively up or down, as `kernel-state` does.

use super::{KernelState, LinkDriver};
use crate::kernel::tc::links::apply_link;
use crate::services::supervisor::protocol::{LinkState, LinkTarget};
use crate::services::supervisor::{Error, Result};
use crate::topo::{Endpoint, Link};

/// Kernel qdiscs (tbf/netem) on the two veth ends, replaced in place.
pub struct Tc {
    lab: String,
    ends: KernelState,
}

impl Tc {
    pub const NAME: &'static str = "tc";

    pub fn new(lab: &str) -> Tc {
        Tc {
            lab: lab.to_string(),
            ends: KernelState::new(lab),
        }
    }
}

impl LinkDriver for Tc {
    fn apply(&mut self, link: &LinkTarget, state: &LinkState) -> Result<()> {
        let end = |node: &str, iface: &str| Endpoint {
            node: node.to_string(),
            iface: iface.to_string(),
            mac: None,
            addrs: Vec::new(),
            mtu: None,
            dhcp: false,
            loc: Default::default(),
        };
        let l = Link::new(
            end(&link.a.node, &link.a.iface),
            end(&link.b.node, &link.b.iface),
        );
        apply_link(&self.lab, &l, &state.conditions, false)
            .map_err(|e| Error::Driver(format!("link {}: {e}", link.key)))?;
        self.ends.set_ends(link, state.up)
    }

    fn remove(&mut self, _link_key: &str) {}

    fn stats(&self, _link_key: &str) -> Option<serde_json::Value> {
        None
    }
}
