//! What the supervisor must run, persisted as
//! `/run/nlab/<lab>/supervisor.json` (written atomically) so a supervisor
//! started after a crash or `kill -9` picks up where the last one was.

use super::protocol::{End, LinkState, LinkTarget};
use super::schedule::Schedule;
use super::{paths, Error, Result};
use crate::store::State;
use crate::topo::Topology;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Desired {
    pub version: u32,
    pub lab: String,
    pub links: BTreeMap<String, LinkEntry>,
    /// Router advertisements to send (see `services::ra`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ra: Vec<crate::topo::ra::Advert>,
    /// Links to record (see `services::capture::record`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<crate::services::capture::record::Entry>,
}

/// One link the supervisor drives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkEntry {
    pub target: LinkTarget,
    pub driver: String,
    pub state: LinkState,
    /// The driver has put the link into `state` at least once, so a
    /// restarted supervisor re-applies it (re-attaches).
    pub attached: bool,
    pub schedule: Option<Schedule>,
    pub last_error: Option<String>,
}

impl Desired {
    pub fn empty(lab: &str) -> Desired {
        Desired {
            version: VERSION,
            lab: lab.to_string(),
            links: BTreeMap::new(),
            ra: Vec::new(),
            capture: Vec::new(),
        }
    }

    /// The persisted state, or an empty one when there is none yet. The
    /// lab is the one whose directory holds the file, whatever the file's
    /// `lab` field says, so a saved copy goes back where it was read from.
    pub fn load(lab: &str) -> Result<Desired> {
        let p = paths::desired(lab);
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Desired::empty(lab)),
            Err(e) => return Err(Error::io(format!("reading {}", p.display()), e)),
        };
        let mut d: Desired = serde_json::from_str(&text)
            .map_err(|e| Error::State(format!("{} is not readable: {e}", p.display())))?;
        d.lab = lab.to_string();
        Ok(d)
    }

    /// Temp file + rename: a reader (or a supervisor killed mid-write)
    /// sees the old file or the new one, never half of one.
    pub fn save(&self) -> Result<()> {
        let p = paths::desired(&self.lab);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::State(format!("encoding {}: {e}", p.display())))?;
        crate::store::write_atomic(&p, &text)
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }
}

/// Finds a link of the lab's applied topology by its key (ends in either
/// order) or by one of its ends (`h1:h1-eth0`).
pub fn resolve(lab: &str, key: &str) -> Result<LinkTarget> {
    let st = State::load(lab)?.ok_or_else(|| Error::NoSuchLab(lab.to_string()))?;
    find_link(&st.topology, key).ok_or_else(|| Error::NoSuchLink {
        lab: lab.to_string(),
        key: key.to_string(),
    })
}

/// [`resolve`] in a given topology.
pub fn find_link(t: &Topology, key: &str) -> Option<LinkTarget> {
    let wanted = match key.split_once("--") {
        Some((a, b)) if a <= b => format!("{a}--{b}"),
        Some((a, b)) => format!("{b}--{a}"),
        None => key.to_string(),
    };
    let end = |e: &crate::topo::Endpoint| End {
        node: e.node.clone(),
        iface: e.iface.clone(),
    };
    t.links
        .iter()
        .find(|l| l.key() == wanted || l.endpoints.iter().any(|e| e.id() == wanted))
        .map(|l| LinkTarget {
            key: l.key(),
            a: end(&l.endpoints[0]),
            b: end(&l.endpoints[1]),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::generate;

    #[test]
    fn links_are_found_by_key_in_either_order_or_by_one_end() {
        let t = generate::from_spec("linear,2", "x", false).expect("topology");
        let by_key = find_link(&t, "h1:h1-eth0--s1:s1-eth1").expect("by key");
        assert_eq!(by_key.key, "h1:h1-eth0--s1:s1-eth1");
        let reversed = find_link(&t, "s1:s1-eth1--h1:h1-eth0").expect("reversed");
        assert_eq!(reversed, by_key);
        let by_end = find_link(&t, "s1:s1-eth1").expect("by end");
        assert_eq!(by_end, by_key);
        // `a` is the topology's first endpoint, whatever the key's order.
        let l = t
            .links
            .iter()
            .find(|l| l.key() == by_key.key)
            .expect("link");
        assert_eq!(by_end.a.node, l.endpoints[0].node);
        assert!(find_link(&t, "h9:eth0").is_none());
        assert!(find_link(&t, "h1:h1-eth0--h2:h2-eth0").is_none());
    }
}
