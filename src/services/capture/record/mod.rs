//! Links recorded for the lab's lifetime (`capture:` in a topology file),
//! by the lab's supervisor.
//!
//! - What to record comes from the topology ([`crate::topo::capture`]);
//!   the lab layer hands the list to the supervisor (`set-capture`), which
//!   keeps it in `supervisor.json` with the time each recording began, so
//!   a supervisor restarted after `kill -9` records again, into a new
//!   file (the old ones trimmed to their last whole block, never
//!   appended to).
//! - One thread per recorded link reads its rings ([`recorder`]) into
//!   numbered pcapng files of at most `max_size` bytes, the newest
//!   `files` kept ([`sink`], [`files`]).
//! - Recording stops when the link loses `capture:` (its files stay) or
//!   the supervisor stops; `nlab down` removes the lab's directory and
//!   the files with it.

pub mod files;
pub mod recorder;
pub mod sink;

pub use files::FileStat;
use recorder::Recorder;
use serde::{Deserialize, Serialize};
use sink::Live;
use std::collections::BTreeMap;

use crate::topo::capture::Recording;

/// A recording as the supervisor persists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub rec: Recording,
    /// When the link's recording began (kept across restarts and changes
    /// of its settings).
    pub since_unix_ns: u64,
}

/// The entries for `want`: each keeps the start time of the entry of the
/// same link in `old`, new ones begin `now`.
pub fn entries(old: &[Entry], want: Vec<Recording>, now: u64) -> Vec<Entry> {
    want.into_iter()
        .map(|rec| {
            let since = old
                .iter()
                .find(|e| e.rec.link == rec.link)
                .map_or(now, |e| e.since_unix_ns);
            Entry {
                rec,
                since_unix_ns: since,
            }
        })
        .collect()
}

/// One recorded link, as `nlab capture LAB --list` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingStatus {
    pub link: String,
    /// The recorded interfaces (`node:iface`), one interface block each.
    pub interfaces: Vec<String>,
    /// When the recording began; 0 when unknown (files of a link that is
    /// no longer recorded).
    pub since_unix_ns: u64,
    pub max_size: u64,
    pub max_files: u32,
    /// Whether packets are being written now.
    pub running: bool,
    /// Why not, when it should be.
    pub error: Option<String>,
    /// Kept files, oldest first (the last is the one being written).
    pub files: Vec<FileStat>,
    pub bytes: u64,
    pub packets: u64,
    /// The kernel's counts since the recorder (re)started.
    pub received: u64,
    pub dropped: u64,
}

impl RecordingStatus {
    pub fn new(e: &Entry, live: Live) -> RecordingStatus {
        RecordingStatus {
            link: e.rec.link.clone(),
            interfaces: e.rec.ends.iter().map(|x| x.label()).collect(),
            since_unix_ns: e.since_unix_ns,
            max_size: e.rec.max_size,
            max_files: e.rec.files,
            running: live.running,
            error: live.error,
            bytes: live.files.iter().map(|f| f.bytes).sum(),
            packets: live.files.iter().map(|f| f.packets).sum(),
            files: live.files,
            received: live.received,
            dropped: live.dropped,
        }
    }

    /// A link's files on disk, with no recorder (not running, or no
    /// longer recorded); `why` says so.
    pub fn on_disk(lab: &str, e: &Entry, why: String) -> RecordingStatus {
        let files = files::stats(&files::dir(lab), &e.rec.link).unwrap_or_default();
        RecordingStatus::new(
            e,
            Live {
                files,
                error: Some(why),
                ..Live::default()
            },
        )
    }
}

/// What is recorded in `lab`: the supervisor's own report (`live`, `None`
/// when none answers) for the links the topology records (`want`), the
/// files on disk of those it does not record now (`not_running` says
/// why), and the files of links no longer recorded, sorted by link.
pub fn listing(
    lab: &str,
    want: &[Recording],
    live: Option<Vec<RecordingStatus>>,
    not_running: &str,
) -> Vec<RecordingStatus> {
    let mut v = live.unwrap_or_default();
    let persisted = crate::services::supervisor::desired::Desired::load(lab)
        .map(|d| d.capture)
        .unwrap_or_default();
    for rec in want {
        if v.iter().any(|s| s.link == rec.link) {
            continue;
        }
        let e = entries(&persisted, vec![rec.clone()], 0).remove(0);
        v.push(RecordingStatus::on_disk(lab, &e, not_running.to_string()));
    }
    let dir = files::dir(lab);
    for link in files::links_on_disk(&dir).unwrap_or_default() {
        if v.iter().any(|s| s.link == link) {
            continue;
        }
        let files = files::stats(&dir, &link).unwrap_or_default();
        v.push(RecordingStatus {
            interfaces: files
                .last()
                .map(|f| files::interfaces(std::path::Path::new(&f.path)))
                .unwrap_or_default(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            packets: files.iter().map(|f| f.packets).sum(),
            files,
            link,
            error: Some(
                "no longer recorded (`capture:` removed); its files stay until `nlab down`".into(),
            ),
            ..RecordingStatus::default()
        });
    }
    v.sort_by(|a, b| a.link.cmp(&b.link));
    v
}

/// Every recorder of one lab, by link key.
#[derive(Default)]
pub struct Recorders {
    running: BTreeMap<String, Recorder>,
    /// Recordings that did not start, with why.
    failed: BTreeMap<String, (Entry, String)>,
}

impl Recorders {
    /// Makes the running set `want`: stops the recorders not in it, or
    /// whose settings changed, or that ended, or whose link is in `fresh`
    /// (its interfaces were just made again: the old sockets hear
    /// nothing); starts the missing ones. Returns the ones that failed to
    /// start (link, why).
    pub fn set(&mut self, lab: &str, want: &[Entry], fresh: &[String]) -> Vec<(String, String)> {
        let keep: BTreeMap<&str, &Entry> = want.iter().map(|e| (e.rec.link.as_str(), e)).collect();
        let stale: Vec<String> = self
            .running
            .iter()
            .filter(|(k, r)| {
                keep.get(k.as_str()).is_none_or(|e| e.rec != r.entry.rec)
                    || !r.running()
                    || fresh.contains(k)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let stopping: Vec<Recorder> = stale
            .iter()
            .filter_map(|k| self.running.remove(k))
            .collect();
        stop_all(stopping);
        self.failed.clear();
        let mut errs = Vec::new();
        for (k, e) in keep {
            if let Some(r) = self.running.get_mut(k) {
                r.entry.since_unix_ns = e.since_unix_ns;
                continue;
            }
            match Recorder::start(lab, e) {
                Ok(r) => {
                    self.running.insert(k.to_string(), r);
                }
                Err(err) => {
                    errs.push((k.to_string(), err.to_string()));
                    self.failed
                        .insert(k.to_string(), (e.clone(), err.to_string()));
                }
            }
        }
        errs
    }

    /// Whether a recording that should run does not (it failed to start,
    /// or ended: its interface was deleted).
    pub fn has_stopped(&self) -> bool {
        !self.failed.is_empty() || self.running.values().any(|r| !r.running())
    }

    /// Stops every recorder (all at once: each waits for its last block).
    pub fn stop(&mut self) {
        let all: Vec<Recorder> = std::mem::take(&mut self.running).into_values().collect();
        stop_all(all);
        self.failed.clear();
    }

    pub fn status(&self, lab: &str) -> Vec<RecordingStatus> {
        let mut v: Vec<RecordingStatus> = self.running.values().map(Recorder::status).collect();
        v.extend(
            self.failed
                .values()
                .map(|(e, why)| RecordingStatus::on_disk(lab, e, format!("not recording: {why}"))),
        );
        v.sort_by(|a, b| a.link.cmp(&b.link));
        v
    }
}

fn stop_all(recorders: Vec<Recorder>) {
    // Every thread told first, then each joined: they end together.
    let flagged: Vec<Recorder> = recorders.into_iter().inspect(Recorder::flag).collect();
    for r in flagged {
        r.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::capture::RecEnd;

    fn rec(link: &str) -> Recording {
        Recording {
            link: link.into(),
            ends: vec![RecEnd {
                node: "h1".into(),
                iface: "eth0".into(),
            }],
            max_size: 1 << 20,
            files: 2,
        }
    }

    #[test]
    fn a_recording_keeps_its_start_time_and_new_ones_begin_now() {
        let old = entries(&[], vec![rec("a"), rec("b")], 100);
        assert!(old.iter().all(|e| e.since_unix_ns == 100));
        let mut b = rec("b");
        b.max_size = 4096;
        let new = entries(&old, vec![b, rec("c")], 200);
        assert_eq!(new[0].since_unix_ns, 100);
        assert_eq!(new[0].rec.max_size, 4096);
        assert_eq!(new[1].since_unix_ns, 200);
        // As supervisor.json holds it: the recording's fields flat.
        let json = serde_json::to_value(&new[0]).expect("json");
        assert_eq!(json["link"], "b");
        assert_eq!(json["since_unix_ns"], 100);
        let back: Entry = serde_json::from_value(json).expect("back");
        assert_eq!(back, new[0]);
    }
}
