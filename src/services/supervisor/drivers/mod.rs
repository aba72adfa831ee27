//! Link drivers: what turns a link's desired [`LinkState`] into the kernel
//! (or a userspace data path). The supervisor's loop only talks to the
//! [`LinkDriver`] trait, so a new backend is one more file here and one
//! more entry in [`Drivers::standard`], not a change to the loop.
//!
//! - [`kernel_state`]: administrative up/down of a veth link's two ends.
//! - [`tc`]: kernel qdiscs (tbf, netem) on a veth link's two ends.
//! - [`emulator`]: the userspace emulator between a link's two TAPs.

pub mod emulator;
pub mod kernel_state;
pub mod tc;

pub use emulator::Emulator;
pub use kernel_state::KernelState;
pub use tc::Tc;

use super::protocol::{LinkState, LinkTarget};
use super::{Error, Result};
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
        d.register(Emulator::NAME, Box::new(Emulator::new(lab)));
        d.register(Tc::NAME, Box::new(Tc::new(lab)));
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
