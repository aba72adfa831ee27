//! Link drivers: what turns a link's desired [`LinkState`] into the kernel
//! (or a userspace data path). The supervisor's loop only talks to this
//! trait, so a new backend (the userspace emulator, tc qdiscs) is one more
//! entry in [`Drivers::standard`], not a change to the loop.

use super::protocol::{LinkState, LinkTarget};
use super::{Error, Result};
use crate::kernel::{link, netlink::Socket, netns};
use std::collections::BTreeMap;

/// Carries links of one lab. `apply` is called with the complete state
/// each time (on a change, a schedule step, and when a restarted
/// supervisor re-attaches), so it must be idempotent.
pub trait LinkDriver: Send {
    /// Puts `link` into `state`.
    fn apply(&mut self, link: &LinkTarget, state: &LinkState) -> Result<()>;
    /// Stops driving the link; the kernel keeps whatever state it is in.
    fn remove(&mut self, link_key: &str);
    /// Counters of the link, for drivers that keep any.
    fn stats(&self, link_key: &str) -> Option<serde_json::Value>;
}

/// The name new links get when a request names none.
pub const DEFAULT_DRIVER: &str = KernelState::NAME;

/// The drivers of one supervisor, by name.
pub struct Drivers {
    by_name: BTreeMap<&'static str, Box<dyn LinkDriver>>,
}

impl Drivers {
    pub fn empty() -> Drivers {
        Drivers {
            by_name: BTreeMap::new(),
        }
    }

    /// Every driver this build has.
    pub fn standard(lab: &str) -> Drivers {
        let mut d = Drivers::empty();
        d.register(KernelState::NAME, Box::new(KernelState::new(lab)));
        d.register(
            super::drivers::Emulator::NAME,
            Box::new(super::drivers::Emulator::new(lab)),
        );
        d.register(
            super::drivers::Tc::NAME,
            Box::new(super::drivers::Tc::new(lab)),
        );
        d
    }

    pub fn register(&mut self, name: &'static str, driver: Box<dyn LinkDriver>) {
        self.by_name.insert(name, driver);
    }

    pub fn get(&mut self, name: &str) -> Result<&mut Box<dyn LinkDriver>> {
        let known = self.names();
        self.by_name.get_mut(name).ok_or_else(|| {
            Error::Driver(format!(
                "no link driver `{name}` (this supervisor has: {known})"
            ))
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn names(&self) -> String {
        self.by_name.keys().copied().collect::<Vec<_>>().join(", ")
    }

    pub fn stats(&self, name: &str, link_key: &str) -> Option<serde_json::Value> {
        self.by_name.get(name)?.stats(link_key)
    }
}

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
        let Some(st) = crate::lab::state::State::load(&self.lab)? else {
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
