//! The lease table and its file, `/run/nlab/<lab>/dhcp/<server>.leases.json`
//! (root only, 0600). Written whole through a temp file and a rename, and
//! before the ACK that grants a lease leaves the server, so a server
//! killed at any moment restarts with every lease it ever acknowledged:
//! it cannot hand an address out twice.

use crate::topo::MacAddr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Offered, not yet requested: held for a short while.
    Offered,
    /// Acknowledged: the client owns it until `expires`.
    Bound,
    /// A client found it in use (DECLINE): kept out of the pool until
    /// `expires`.
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    /// `None` for a declined address (nobody owns it).
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub state: LeaseState,
    /// Unix seconds.
    pub expires: u64,
    /// Unix seconds of the last ACK (or offer).
    pub since: u64,
}

impl Lease {
    pub fn active(&self, now: u64) -> bool {
        self.expires > now
    }
}

/// Every lease of one server, by address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Leases {
    pub version: u32,
    pub leases: BTreeMap<Ipv4Addr, Lease>,
}

impl Leases {
    pub fn new() -> Leases {
        Leases {
            version: VERSION,
            leases: BTreeMap::new(),
        }
    }

    /// The lease `mac` holds (bound or offered, active or not): a client
    /// coming back gets its old address.
    pub fn of_client(&self, mac: &MacAddr) -> Option<&Lease> {
        self.leases
            .values()
            .filter(|l| l.mac.as_ref() == Some(mac) && l.state != LeaseState::Declined)
            .max_by_key(|l| l.since)
    }

    /// Whether `ip` may go to `mac`: nobody else holds it now.
    pub fn free_for(&self, ip: Ipv4Addr, mac: &MacAddr, now: u64) -> bool {
        match self.leases.get(&ip) {
            None => true,
            Some(l) if !l.active(now) => true,
            Some(l) => l.mac.as_ref() == Some(mac),
        }
    }

    pub fn insert(&mut self, l: Lease) {
        self.leases.insert(l.ip, l);
    }

    /// Forgets other records of `mac` (a client holds one address per
    /// server), except `keep`.
    pub fn drop_others(&mut self, mac: &MacAddr, keep: Ipv4Addr) {
        self.leases.retain(|ip, l| {
            *ip == keep || l.mac.as_ref() != Some(mac) || l.state == LeaseState::Declined
        });
    }

    /// Reads a lease file; a missing file is an empty table.
    pub fn load(path: &Path) -> std::io::Result<Leases> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Leases::new()),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a lease file: {e}", path.display()),
            )
        })
    }

    /// Temp file + rename, mode 0600.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::store::write_atomic(path, &bytes)
    }
}

/// Where the lease files of a lab live (a 0700 directory).
pub fn dir(lab: &str) -> PathBuf {
    crate::store::lab_dir(lab).join("dhcp")
}

/// The lease file of server node `node`.
pub fn path(lab: &str, node: &str) -> PathBuf {
    dir(lab).join(format!("{node}.leases.json"))
}

/// Every lease file of the lab, by server node (sorted).
pub fn read_all(lab: &str) -> std::io::Result<Vec<(String, Leases)>> {
    let d = dir(lab);
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(node) = name.strip_suffix(".leases.json") {
            out.push((node.to_string(), Leases::load(&e.path())?));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Creates the lease directory, root only.
pub fn ensure_dir(lab: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let d = dir(lab);
    match std::fs::DirBuilder::new().mode(0o700).create(&d) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_saved_table_reads_back_root_only() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("s.leases.json");
        assert_eq!(Leases::load(&p).expect("empty"), Leases::new());
        let mut t = Leases::new();
        let mac: MacAddr = "02:00:00:00:00:01".parse().expect("mac");
        t.insert(Lease {
            ip: "10.0.0.100".parse().expect("ip"),
            mac: Some(mac),
            hostname: Some("h1".into()),
            state: LeaseState::Bound,
            expires: 2000,
            since: 1000,
        });
        t.save(&p).expect("save");
        assert_eq!(Leases::load(&p).expect("load"), t);
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!t.free_for(
            "10.0.0.100".parse().unwrap(),
            &"02:00:00:00:00:02".parse().unwrap(),
            1500
        ));
        assert!(t.free_for("10.0.0.100".parse().unwrap(), &mac, 1500));
        assert!(t.free_for(
            "10.0.0.100".parse().unwrap(),
            &"02:00:00:00:00:02".parse().unwrap(),
            2000
        ));
    }
}
