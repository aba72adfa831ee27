//! The lab's record of what it attached (`/run/nlab/<lab>/attached`):
//! namespaces it pinned but did not make, containers it started, and the
//! interfaces it planned inside attached namespaces. Each line is written
//! before the object exists, so `down` and `cleanup` after a `kill -9`
//! know which pins are not the lab's to empty of processes.
//!
//! Lines:
//! - `ns PIN KIND INODE COOKIE FIRST_INDEX` (KIND `external` or `image`;
//!   FIRST_INDEX: the first interface index free when nlab attached, so
//!   the namespace's own interfaces are below it)
//! - `container RUNTIME NAME`
//! - `iface PIN IFNAME` (an end nlab is about to make in PIN)

use super::{Error, Result};
use crate::store::lab_dir;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

const FILE: &str = "attached";

/// A namespace the lab pinned but did not make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub pin: String,
    /// nlab started the container that made it (`image:`), so its
    /// processes are the lab's; otherwise they never are.
    pub image: bool,
    pub inode: u64,
    pub cookie: u64,
    pub first_index: u32,
}

/// Everything in a lab's record.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub pins: Vec<Pinned>,
    /// (runtime, container name).
    pub containers: Vec<(String, String)>,
    /// (pin, interface name).
    pub ifaces: Vec<(String, String)>,
}

impl Record {
    pub fn load(lab: &str) -> Record {
        let text = fs::read_to_string(lab_dir(lab).join(FILE)).unwrap_or_default();
        let mut r = Record::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[..] {
                ["ns", pin, kind, ino, cookie, first] => {
                    let (Ok(inode), Ok(cookie), Ok(first_index)) =
                        (ino.parse(), cookie.parse(), first.parse())
                    else {
                        continue;
                    };
                    r.pins.push(Pinned {
                        pin: pin.to_string(),
                        image: kind == "image",
                        inode,
                        cookie,
                        first_index,
                    });
                }
                ["container", rt, name] => r.containers.push((rt.into(), name.into())),
                ["iface", pin, name] => r.ifaces.push((pin.into(), name.into())),
                _ => {}
            }
        }
        r
    }

    /// The attached pin of that name, if any: the latest (a node attached
    /// again after an edit has a line per attachment).
    pub fn pin(&self, pin: &str) -> Option<&Pinned> {
        self.pins.iter().rev().find(|p| p.pin == pin)
    }
}

/// Appends `lines` to the lab's record (its directory exists: `up`
/// wrote the journal there first), synced before returning.
pub fn append(lab: &str, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let path = lab_dir(lab).join(FILE);
    let what = || format!("recording attached objects in {}", path.display());
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(what(), e))?;
    let mut text = lines.join("\n");
    text.push('\n');
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io(what(), e))?;
    f.sync_data().map_err(|e| Error::io(what(), e))
}

pub fn ns_line(p: &Pinned) -> String {
    let kind = if p.image { "image" } else { "external" };
    format!(
        "ns {} {kind} {} {} {}",
        p.pin, p.inode, p.cookie, p.first_index
    )
}

/// A second word for the one question that matters most ("may `down` end
/// the processes of this pin?"), kept outside every lab's directory:
/// `/run/nlab/.attached/<pin>` holds the inode and cookie of an attached
/// namespace from before it is pinned until after it is unpinned. A lab
/// directory deleted by hand then still leaves the pin known as attached.
const MARKS: &str = ".attached";

fn marks_dir() -> std::path::PathBuf {
    std::path::Path::new(crate::store::RUN_DIR).join(MARKS)
}

/// Marks `pin` as an attached namespace (synced before returning).
pub fn mark(pin: &str, inode: u64, cookie: u64) -> Result<()> {
    let dir = marks_dir();
    let path = dir.join(pin);
    let what = || format!("marking {pin} attached in {}", path.display());
    // A concurrent `unmark` of another lab may remove the empty directory
    // between the two steps: once more then.
    let mut tries = 0;
    let mut f = loop {
        crate::store::ensure_private_dir(&dir)?;
        match crate::store::create_private_file(&path) {
            Ok(f) => break f,
            Err(_) if tries == 0 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    };
    f.write_all(format!("{inode} {cookie}\n").as_bytes())
        .map_err(|e| Error::io(what(), e))?;
    f.sync_data().map_err(|e| Error::io(what(), e))
}

/// Every marked pin with its inode and cookie (read once per teardown:
/// one directory read, not one open per namespace).
pub fn marked() -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    for e in fs::read_dir(marks_dir()).into_iter().flatten().flatten() {
        let Ok(pin) = e.file_name().into_string() else {
            continue;
        };
        let text = fs::read_to_string(e.path()).unwrap_or_default();
        let mut w = text.split_whitespace().map(|x| x.parse::<u64>().ok());
        if let (Some(Some(ino)), Some(Some(cookie))) = (w.next(), w.next()) {
            out.insert(pin, (ino, cookie));
        }
    }
    out
}

/// Removes `pin`'s mark (after its unpin), and the directory once empty.
pub fn unmark(pin: &str) -> Result<()> {
    let path = marks_dir().join(pin);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io(format!("removing {}", path.display()), e));
        }
        _ => {}
    }
    // Not empty (another lab's marks): it stays.
    let _ = fs::remove_dir(marks_dir());
    Ok(())
}
