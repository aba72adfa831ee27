//! Checks of a link's `capture:`: a file size and a number of files the
//! recorder can keep (`/run` is usually RAM).

use super::Checker;
use crate::topo::capture::{MAX_FILES, MAX_MAX_SIZE, MIN_MAX_SIZE};
use crate::topo::conditions::units;
use crate::topo::model::Loc;

fn pick(loc: Loc, fallback: Loc) -> Loc {
    if loc.is_known() {
        loc
    } else {
        fallback
    }
}

pub(super) fn check(c: &mut Checker) {
    let t = c.t;
    for l in &t.links {
        let Some(r) = &l.capture else { continue };
        let at = pick(r.locs.at, l.loc);
        if let Some(s) = r.max_size {
            if !(MIN_MAX_SIZE..=MAX_MAX_SIZE).contains(&s) {
                c.push(
                    pick(r.locs.max_size, at),
                    format!(
                        "`max_size` {s} bytes of the recording of link {} is out of range {}..={}",
                        l.key(),
                        units::fmt_size(MIN_MAX_SIZE as u32),
                        units::fmt_size(MAX_MAX_SIZE as u32),
                    ),
                    Some("e.g. `max_size: 16mb` (the default)".into()),
                );
            }
        }
        if let Some(f) = r.files {
            if !(1..=MAX_FILES).contains(&f) {
                c.push(
                    pick(r.locs.files, at),
                    format!(
                        "`files` {f} of the recording of link {} is out of range 1..={MAX_FILES}",
                        l.key()
                    ),
                    Some("the number of files kept, the oldest deleted first; e.g. `files: 4` (the default)".into()),
                );
            }
        }
    }
}
