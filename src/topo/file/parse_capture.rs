//! Reading a link's `capture:` into the model ([`Record`]). Only types
//! and units are checked here; the ranges are checked in `validate`, for
//! every source.
//!
//! ```yaml
//! links:
//!   - endpoints: ["h1:eth0", "s1:p1"]
//!     capture: true                # 16 MiB files, the newest 4 kept
//!   - endpoints: ["h2:eth0", "s1:p2"]
//!     capture: {max_size: 1mb, files: 10, both_ends: true}
//! ```

use super::reader::Reader;
use super::yaml::{YNode, YVal};
use crate::topo::capture::Record;
use crate::topo::conditions::units;

const CAPTURE_KEYS: &[&str] = &["max_size", "files", "both_ends"];

impl Reader<'_> {
    /// `capture: true|false|{max_size, files, both_ends}`.
    pub fn capture(&mut self, n: &YNode) -> Option<Record> {
        let mut r = Record::default();
        r.locs.at = n.loc;
        match &n.val {
            YVal::Bool(false) | YVal::Null => return None,
            YVal::Bool(true) => return Some(r),
            YVal::Map(_) => {}
            _ => {
                let found = n.text(self.src).unwrap_or_else(|| n.describe().into());
                self.err(
                    n.loc,
                    format!("`capture` should be true, false or a mapping, found `{found}`"),
                    Some("e.g. `capture: true` or `capture: {max_size: 1mb, files: 10}`".into()),
                );
                return None;
            }
        }
        let f = self.fields(n, "`capture`", CAPTURE_KEYS);
        if let Some(v) = f.value("max_size") {
            r.locs.max_size = v.loc;
            r.max_size = self.file_size(v);
        }
        if let Some(v) = f.value("files") {
            r.locs.files = v.loc;
            r.files = self.file_count(v);
        }
        if let Some(v) = f.value("both_ends") {
            r.both_ends = self.bool(v, "`both_ends`").unwrap_or(false);
        }
        Some(r)
    }

    /// `16mb`, `512kb`, `1MiB`, or plain bytes.
    fn file_size(&mut self, n: &YNode) -> Option<u64> {
        let text = self.string(n, "`max_size`")?;
        let lower = text.trim().to_ascii_lowercase();
        // `mib` as `mb`: both are powers of 1024 here.
        let spelled = match lower.strip_suffix("ib") {
            Some(head) => format!("{head}b"),
            None => lower,
        };
        match units::size("`max_size`", &spelled) {
            Ok(v) => Some(u64::from(v)),
            Err(e) => {
                self.err(n.loc, e.msg, Some("e.g. `max_size: 16mb`".into()));
                None
            }
        }
    }

    fn file_count(&mut self, n: &YNode) -> Option<u32> {
        let text = self.string(n, "`files`")?;
        let v = match n.val {
            YVal::Int(i) => u32::try_from(i).ok(),
            _ => text.trim().parse::<u32>().ok(),
        };
        if v.is_none() {
            self.err(
                n.loc,
                format!("`files` should be a whole number of files to keep, found `{text}`"),
                Some("e.g. `files: 4`".into()),
            );
        }
        v
    }
}

/// `capture` as `parse` reads it back (`true` when every setting is the
/// default), for writing a topology out as a file.
pub(super) fn capture_yaml(r: &Record) -> String {
    if r.is_default() {
        return "true".into();
    }
    let mut parts = Vec::new();
    if let Some(s) = r.max_size {
        parts.push(format!("max_size: {s}"));
    }
    if let Some(f) = r.files {
        parts.push(format!("files: {f}"));
    }
    if r.both_ends {
        parts.push("both_ends: true".into());
    }
    format!("{{{}}}", parts.join(", "))
}
