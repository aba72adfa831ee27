//! The `emulator` driver: links made of two TAP ends, whose frames the
//! userspace emulator ([`crate::services::emulator`]) moves inside the
//! supervisor's process. It also sets the two ends administratively up or
//! down, as `kernel-state` does, so `inspect` and `link show` see what the
//! schedule asked for.

use super::{KernelState, LinkDriver};
use crate::kernel::netns;
use crate::services::emulator::{EmulatedLink, Running, TapEnd};
use crate::services::supervisor::protocol::{LinkState, LinkTarget};
use crate::services::supervisor::{Error, Result};
use crate::store::State;
use std::collections::BTreeMap;

/// Runs one emulator per link, attached to the link's persistent TAPs.
pub struct Emulator {
    lab: String,
    ends: KernelState,
    running: BTreeMap<String, Running>,
    /// The seed, for a lab without a journal (an ephemeral lab's
    /// emulator runs in the test process, see [`super::super::local`]).
    seed: Option<u64>,
}

impl Emulator {
    pub const NAME: &'static str = "emulator";

    pub fn new(lab: &str) -> Emulator {
        Emulator {
            lab: lab.to_string(),
            ends: KernelState::new(lab),
            running: BTreeMap::new(),
            seed: None,
        }
    }

    /// An emulator whose links decide with `seed` (no journal to read it from).
    pub fn with_seed(lab: &str, seed: u64) -> Emulator {
        Emulator {
            seed: Some(seed),
            ..Emulator::new(lab)
        }
    }

    fn start(&self, link: &LinkTarget, state: &LinkState) -> Result<Running> {
        // The seed is the lab's (journal), so a restarted supervisor makes
        // the same decisions for the same packets.
        let seed = match self.seed {
            Some(s) => s,
            None => State::load(&self.lab)
                .map_err(|e| Error::Driver(format!("link {}: {e}", link.key)))?
                .map(|s| s.seed)
                .unwrap_or(0),
        };
        let end = |node: &str, iface: &str| TapEnd {
            ns: netns::ns_name(&self.lab, node),
            iface: iface.to_string(),
        };
        Running::start(&EmulatedLink {
            key: link.key.clone(),
            a: end(&link.a.node, &link.a.iface),
            b: end(&link.b.node, &link.b.iface),
            cond: state.conditions.clone(),
            seed,
        })
        .map_err(|e| Error::Driver(format!("starting the emulator of {}: {e}", link.key)))
    }
}

impl LinkDriver for Emulator {
    fn apply(&mut self, link: &LinkTarget, state: &LinkState) -> Result<()> {
        // A link whose TAPs went away (its node was recreated) restarts on
        // the new ones.
        if self.running.get(&link.key).is_some_and(Running::detached) {
            self.running.remove(&link.key);
        }
        if !self.running.contains_key(&link.key) {
            let r = self.start(link, state)?;
            self.running.insert(link.key.clone(), r);
        }
        if let Some(r) = self.running.get(&link.key) {
            r.update(&state.conditions);
            r.set_up(state.up);
        }
        self.ends.set_ends(link, state.up)
    }

    fn remove(&mut self, link_key: &str) {
        if let Some(r) = self.running.remove(link_key) {
            r.stop();
        }
    }

    fn stats(&self, link_key: &str) -> Option<serde_json::Value> {
        let r = self.running.get(link_key)?;
        serde_json::to_value(r.stats()).ok()
    }
}
