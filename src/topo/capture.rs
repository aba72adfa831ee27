//! Links recorded for the lab's lifetime: a link's `capture:` setting
//! ([`Record`]) and what it means for the supervisor ([`Recording`],
//! resolved by [`recordings`]). Plain data: the recorder lives in
//! `services::capture::record`, the range checks in `validate`.
//!
//! Which end is recorded: the two ends of a veth pair see the same
//! packets (what one sends the other receives), so recording both would
//! write every packet twice. A link is recorded on one end: the first
//! endpoint whose node is not a switch (a host's or router's view, where
//! "in" and "out" mean what the node received and sent), or the first
//! endpoint when both are switches. `both_ends: true` records both, for
//! links where the ends differ: a link carried by the userspace emulator,
//! which drops and delays between its two TAP ends.

use super::model::{Loc, NodeKind, Topology};
use serde::{Deserialize, Serialize};

/// Bytes per file before the recorder starts the next one, by default.
/// `/run` is usually a tmpfs in RAM, so the default keeps a recorded link
/// at [`DEFAULT_MAX_SIZE`] × [`DEFAULT_FILES`] = 64 MiB at most.
pub const DEFAULT_MAX_SIZE: u64 = 16 << 20;
/// Files kept per recorded link (the oldest is deleted when a new one
/// would make more), by default.
pub const DEFAULT_FILES: u32 = 4;
/// The smallest `max_size`: a file must hold its headers and a packet.
pub const MIN_MAX_SIZE: u64 = 4 << 10;
/// The largest `max_size`.
pub const MAX_MAX_SIZE: u64 = 2 << 30;
/// The most files `files` may keep.
pub const MAX_FILES: u32 = 1000;

/// A link's `capture:` (`true` is every field at its default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Bytes per file; `None`: [`DEFAULT_MAX_SIZE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// Files kept; `None`: [`DEFAULT_FILES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u32>,
    /// Record both ends, not only the one [`recordings`] picks (the first end that is not a switch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub both_ends: bool,
    /// Where each setting was written (file parser only), for errors.
    #[serde(default, skip)]
    pub locs: RecordLocs,
}

/// Where the settings of a [`Record`] were written.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordLocs {
    /// The `capture:` key itself.
    pub at: Loc,
    /// `max_size:`.
    pub max_size: Loc,
    /// `files:`.
    pub files: Loc,
}

// Locations are not what is built: a moved line changes nothing.
impl PartialEq for RecordLocs {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for RecordLocs {}

impl Record {
    /// The size at which a file is closed and the next one begun, in
    /// bytes (`max_size:`, default 16 MiB).
    pub fn max_size(&self) -> u64 {
        self.max_size.unwrap_or(DEFAULT_MAX_SIZE)
    }
    /// How many files are kept, the newest last (`files:`, default 4).
    pub fn files(&self) -> u32 {
        self.files.unwrap_or(DEFAULT_FILES)
    }
    /// Whether every setting is its default (written back as `true`).
    pub fn is_default(&self) -> bool {
        self.max_size.is_none() && self.files.is_none() && !self.both_ends
    }
}

/// One recorded interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecEnd {
    /// The node the interface is in.
    pub node: String,
    /// The interface's name inside the node.
    pub iface: String,
}

impl RecEnd {
    /// `node:iface`, the name of its pcapng interface block.
    pub fn label(&self) -> String {
        format!("{}:{}", self.node, self.iface)
    }
}

/// What the supervisor records for one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The link's key (`h1:h1-eth0--s1:s1-eth1`); also the files' prefix.
    pub link: String,
    /// The recorded interfaces, one pcapng interface block each.
    pub ends: Vec<RecEnd>,
    /// Bytes per file before the next one begins.
    pub max_size: u64,
    /// Files kept; older ones are deleted.
    pub files: u32,
}

/// Every link of `t` with `capture`, in link order.
pub fn recordings(t: &Topology) -> Vec<Recording> {
    t.links
        .iter()
        .filter_map(|l| {
            let r = l.capture.as_ref()?;
            let is_switch = |i: usize| {
                t.nodes
                    .get(&l.endpoints[i].node)
                    .is_some_and(|n| n.kind == NodeKind::Switch)
            };
            let picked: Vec<usize> = if r.both_ends {
                vec![0, 1]
            } else {
                vec![recorded_end(is_switch(0), is_switch(1))]
            };
            Some(Recording {
                link: l.key(),
                ends: picked
                    .into_iter()
                    .map(|i| RecEnd {
                        node: l.endpoints[i].node.clone(),
                        iface: l.endpoints[i].iface.clone(),
                    })
                    .collect(),
                max_size: r.max_size(),
                files: r.files(),
            })
        })
        .collect()
}

/// Which end of a link is recorded: the first that is not a switch, or
/// the first when both are.
pub fn recorded_end(a_is_switch: bool, b_is_switch: bool) -> usize {
    usize::from(a_is_switch && !b_is_switch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::generate;

    #[test]
    fn the_end_recorded_is_the_first_that_is_not_a_switch() {
        assert_eq!(recorded_end(false, false), 0);
        assert_eq!(recorded_end(false, true), 0);
        assert_eq!(recorded_end(true, false), 1);
        assert_eq!(recorded_end(true, true), 0);
    }

    #[test]
    fn recordings_follow_the_links_that_ask_for_them() {
        let mut t = generate::from_spec("linear,2", "x", false).expect("topology");
        assert!(recordings(&t).is_empty());
        // linear,2: h1--s1, h2--s2, s1--s2 in some order; record all.
        for l in &mut t.links {
            l.capture = Some(Record::default());
        }
        let r = recordings(&t);
        assert_eq!(r.len(), t.links.len());
        for (rec, l) in r.iter().zip(&t.links) {
            assert_eq!(rec.link, l.key());
            assert_eq!(rec.ends.len(), 1);
            assert_eq!(rec.max_size, DEFAULT_MAX_SIZE);
            assert_eq!(rec.files, DEFAULT_FILES);
            let hosts: Vec<&str> = l
                .endpoints
                .iter()
                .filter(|e| e.node.starts_with('h'))
                .map(|e| e.node.as_str())
                .collect();
            match hosts.as_slice() {
                [h] => assert_eq!(rec.ends[0].node, *h, "{}", l.key()),
                _ => assert_eq!(rec.ends[0].node, l.endpoints[0].node),
            }
        }
        t.links[0].capture = Some(Record {
            both_ends: true,
            max_size: Some(8192),
            files: Some(2),
            ..Record::default()
        });
        let r = recordings(&t);
        assert_eq!(r[0].ends.len(), 2);
        assert_eq!(r[0].ends[0].label(), t.links[0].endpoints[0].id());
        assert_eq!((r[0].max_size, r[0].files), (8192, 2));
    }
}
