//! Node interfaces that sit on a host NIC (`macvlan:`, `macvtap:`): the
//! one way a lab reaches a real segment without routing through the host.
//!
//! ```yaml
//! lan1:
//!   interfaces:
//!     eth0: {macvlan: {parent: enp1s0, mode: bridge}, ip: 192.168.1.50/24}
//! vm1:
//!   kind: vm
//!   interfaces:
//!     eth1: {macvtap: {parent: enp1s0}, mac: "52:54:00:12:34:56"}
//! ```
//!
//! The interface is created on `parent` (in the namespace nlab runs in)
//! directly inside the node's namespace, so nothing of the lab is left in
//! the host's namespace: deleting the node's namespace deletes it, and the
//! parent is only referred to.

use super::model::Endpoint;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a MACVLAN/MACVTAP interface shares its parent with its siblings
/// (the kernel's `IFLA_MACVLAN_MODE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// Siblings on one parent reach each other directly.
    #[default]
    Bridge,
    /// Siblings never reach each other.
    Private,
    /// Everything goes out to the parent's switch (which may hairpin it).
    Vepa,
    /// One interface takes the whole parent (and its MAC).
    Passthru,
}

impl MacvlanMode {
    /// How files spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

impl fmt::Display for MacvlanMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MacvlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bridge" => Ok(MacvlanMode::Bridge),
            "private" => Ok(MacvlanMode::Private),
            "vepa" => Ok(MacvlanMode::Vepa),
            "passthru" => Ok(MacvlanMode::Passthru),
            _ => Err(format!(
                "unknown macvlan mode `{s}` (expected bridge, private, vepa or passthru)"
            )),
        }
    }
}

/// One interface of a node on a host NIC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Macvlan {
    /// The interface as the node sees it: name, addresses, MAC, MTU (for
    /// a VM's macvtap: the guest's).
    pub end: Endpoint,
    /// The host interface it sits on.
    pub parent: String,
    /// How it shares the parent.
    #[serde(default)]
    pub mode: MacvlanMode,
    /// A MACVTAP (a VM's NIC) rather than a MACVLAN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tap: bool,
}

impl Macvlan {
    /// `macvlan` or `macvtap`, as files and messages spell it.
    pub fn kind(&self) -> &'static str {
        if self.tap {
            "macvtap"
        } else {
            "macvlan"
        }
    }
}
