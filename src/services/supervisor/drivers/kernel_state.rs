//! The `kernel-state` driver: administrative up/down of a veth link's two
//! ends, and the routes the kernel dropped when a link went down put back
//! when it comes up. The other drivers use it for their ends too.

use super::LinkDriver;
use crate::kernel::{link, netlink::Socket, netns};
use crate::services::supervisor::protocol::{LinkState, LinkTarget};
use crate::services::supervisor::{Error, Result};
use crate::store::State;

/// Administrative up/down of both veth ends, over netlink from a thread
/// inside each end's namespace. Carries no conditions: a link that needs
/// them belongs to the tc or emulator driver.
pub struct KernelState {
    lab: String,
}

impl KernelState {
    pub const NAME: &'static str = "kernel-state";

    pub fn new(lab: &str) -> KernelState {
        KernelState {
            lab: lab.to_string(),
        }
    }

    /// Sets one end up or down. A fresh socket per call: a socket kept
    /// open would hold the namespace alive after `nlab down` unpins it.
    fn set_end(&self, node: &str, iface: &str, up: bool) -> Result<()> {
        let ns_name = netns::ns_name(&self.lab, node);
        let ns = netns::NetNs::open(&ns_name)?;
        let what = format!(
            "setting {iface} in {ns_name} {}",
            if up { "up" } else { "down" }
        );
        std::thread::scope(|s| {
            s.spawn(|| -> Result<()> {
                let _in = ns.enter()?;
                let mut sock = Socket::new()?;
                let index = link::index_of(&mut sock, iface, &ns_name)?;
                sock.request(link::set_up(index, up, what.clone()))?;
                Ok(())
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Driver(format!("{what}: thread panicked"))))
        })
    }
}

impl KernelState {
    /// Both ends, so the link is down whichever side looks at it (a bridge
    /// port going down also stops the bridge forwarding to it).
    /// Bringing a link up also puts back the routes, gateways and IPv6
    /// addresses of both nodes that the kernel dropped when it went down
    /// (from the journal's topology), in place.
    pub fn set_ends(&self, link: &LinkTarget, up: bool) -> Result<()> {
        self.set_end(&link.a.node, &link.a.iface, up)?;
        self.set_end(&link.b.node, &link.b.iface, up)?;
        if up {
            self.restore(&link.key)?;
        }
        Ok(())
    }

    fn restore(&self, key: &str) -> Result<()> {
        let Some(st) = State::load(&self.lab)? else {
            return Ok(());
        };
        for r in st.topology.after_link_up(key) {
            let ns_name = netns::ns_name(&self.lab, &r.node);
            // On a thread of its own, like `set_end`: entering a namespace
            // changes the calling thread.
            std::thread::scope(|s| {
                s.spawn(|| crate::kernel::route::restore(&ns_name, &r.addrs, &r.routes))
                    .join()
                    .unwrap_or_else(|_| {
                        Err(crate::kernel::Error::protocol(
                            format!("restoring the routes of {ns_name}"),
                            "thread panicked",
                        ))
                    })
            })?;
        }
        Ok(())
    }
}

impl LinkDriver for KernelState {
    fn apply(&mut self, link: &LinkTarget, state: &LinkState) -> Result<()> {
        if !state.conditions.is_none() {
            return Err(Error::Driver(format!(
                "link {}: the {} driver sets links up and down only; conditions need the tc or emulator driver",
                link.key,
                Self::NAME
            )));
        }
        self.set_ends(link, state.up)
    }

    fn remove(&mut self, _link_key: &str) {}

    fn stats(&self, _link_key: &str) -> Option<serde_json::Value> {
        None
    }
}
