//! Link drivers run in the calling process instead of a supervisor
//! process: what an ephemeral lab uses, so its emulated links die with the
//! test process that made them (a supervisor would outlive a `kill -9`).
//! The same drivers as the daemon's, without its socket, pid file and
//! journal; schedules are not run here.

use super::desired::find_link;
use super::drivers::{Emulator, KernelState, Tc};
use super::protocol::LinkState;
use super::{Drivers, Error, Result};
use crate::topo::Topology;
use std::collections::BTreeMap;

/// The drivers of one ephemeral lab, and which link each one drives.
pub struct Local {
    lab: String,
    drivers: Drivers,
    driven: BTreeMap<String, &'static str>,
}

impl Local {
    /// Drivers for `lab`; the emulator decides with `seed`.
    pub fn new(lab: &str, seed: u64) -> Local {
        let mut drivers = Drivers::empty();
        drivers.register(KernelState::NAME, Box::new(KernelState::new(lab)));
        drivers.register(Emulator::NAME, Box::new(Emulator::with_seed(lab, seed)));
        drivers.register(Tc::NAME, Box::new(Tc::new(lab)));
        Local {
            lab: lab.to_string(),
            drivers,
            driven: BTreeMap::new(),
        }
    }

    /// Puts link `key` of `t` into `state` through `driver` (one of
    /// [`super::api::EMULATOR`], [`super::api::TC`]).
    pub fn set_link(
        &mut self,
        t: &Topology,
        key: &str,
        state: &LinkState,
        driver: &'static str,
    ) -> Result<()> {
        let target = find_link(t, key).ok_or_else(|| Error::NoSuchLink {
            lab: self.lab.clone(),
            key: key.to_string(),
        })?;
        self.drivers.get(driver)?.apply(&target, state)?;
        self.driven.insert(target.key, driver);
        Ok(())
    }

    /// Whether link `key` is driven here.
    pub fn drives(&self, key: &str) -> bool {
        self.driven.contains_key(key)
    }

    /// Counters of link `key`, for drivers that keep any.
    pub fn stats(&self, key: &str) -> Option<serde_json::Value> {
        self.drivers.stats(self.driven.get(key)?, key)
    }

    /// Stops driving every link (the emulator's threads end).
    pub fn stop_all(&mut self) {
        for (key, driver) in std::mem::take(&mut self.driven) {
            if let Ok(d) = self.drivers.get(driver) {
                d.remove(&key);
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.stop_all();
    }
}
