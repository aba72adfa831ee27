//! The real wiring of the host, read from the kernel (never from a
//! journal): every network namespace, named the way its owner knows it,
//! with each interface, what it is joined to (veth peer, lower device of
//! a macvlan, bridge and ports) and, for TUN/TAP devices, the processes
//! that hold them. `nlab wiring` shows it for the whole host, `nlab
//! inspect LAB --wiring` for one lab, with the differences from the lab's
//! topology.

mod assemble;
mod containers;
pub(crate) mod drift;
mod names;
mod pair;
mod read;

pub use names::{Container, NsKind};

use crate::kernel::nsscan::{self, Holders};
use pair::Joined;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

/// Every namespace found, and how long reading them took.
#[derive(Debug, Clone, Serialize)]
pub struct Wiring {
    pub namespaces: Vec<NsWiring>,
    /// Namespaces found but not readable (gone since the scan), one
    /// sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    pub elapsed_ms: f64,
}

/// One network namespace.
#[derive(Debug, Clone, Serialize)]
pub struct NsWiring {
    /// `root`, `podman:web`, an `ip netns` name, `pid 812 (sleep)`, …
    pub name: String,
    pub kind: NsKind,
    /// Its inode (`ls -iL /proc/PID/ns/net`): the same number is the same
    /// namespace.
    pub inode: u64,
    /// What holds it, in words.
    pub holder: String,
    /// Its `ip netns` names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub netns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// Processes in it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<i32>,
    pub interfaces: Vec<IfaceWiring>,
}

/// One interface and what it is joined to.
#[derive(Debug, Clone, Serialize)]
pub struct IfaceWiring {
    pub name: String,
    pub index: u32,
    /// `veth`, `bridge`, `macvlan`, `macvtap`, `ipvlan`, `vlan`,
    /// `vxlan`, `tun`, `tap`, `loopback`, `device` (physical or unknown).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// Operational state (`up`, `down`, `lowerlayerdown`, `unknown`).
    pub oper: String,
    /// The bridge (or bond, VRF) it is a port of, in its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// A veth's other end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<EndRef>,
    /// The device a macvlan, macvtap, ipvlan, vlan, … sits on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<EndRef>,
    /// macvlan/macvtap/ipvlan mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// A bridge's ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Processes holding a TUN/TAP device open.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<ProcRef>,
}

/// The interface at the other end of a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndRef {
    /// The namespace's name (as in [`NsWiring::name`]); `None` when it is
    /// in no namespace nlab could find.
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// Its name, when known.
    pub interface: Option<String>,
    /// Its index in its namespace.
    pub index: u32,
}

/// A process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcRef {
    pub pid: i32,
    pub command: String,
}

impl Wiring {
    /// Only the namespaces `keep` accepts (the others still name peers).
    pub fn only(mut self, keep: impl Fn(&NsWiring) -> bool) -> Wiring {
        self.namespaces.retain(|n| keep(n));
        self
    }
}

impl NsWiring {
    /// Whether `name` names this namespace: its name, an `ip netns` name,
    /// its container's name or id, or `root`.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name
            || self.netns.iter().any(|n| n == name)
            || self
                .container
                .as_ref()
                .is_some_and(|c| c.name == name || (name.len() >= 4 && c.id.starts_with(name)))
            || (name == "root" && self.kind == NsKind::Root)
    }
}

impl EndRef {
    /// `s1-eth1 @ nlab-demo-s1`, or with `here` (the namespace the
    /// reader is looking at) only the interface when it is the same one.
    pub fn describe(&self, here: &str) -> String {
        let iface = self
            .interface
            .clone()
            .unwrap_or_else(|| format!("ifindex {}", self.index));
        match &self.namespace {
            Some(ns) if ns == here => iface,
            Some(ns) => format!("{iface} @ {ns}"),
            None => format!("{iface} @ a namespace not found"),
        }
    }
}

/// The inode of the namespace process `pid` is in, if it exists.
pub fn ns_of_pid(pid: i32) -> Option<u64> {
    nsscan::inode_of_pid(pid)
}

/// Reads the wiring of every network namespace on the host.
pub fn read_host() -> Wiring {
    let start = Instant::now();
    let found: Vec<Holders> = nsscan::scan().into_values().collect();
    let (mut nss, mut unreadable) = read::read_all(found);
    let mut joined = pair::pair(&read::ifaces(&nss));
    let has_tun = nss.iter().any(|n| {
        n.links
            .iter()
            .any(|l| l.link.kind.as_deref() == Some("tun"))
    });
    let unseen = nss.iter().zip(&joined).any(|(n, row)| {
        row.iter()
            .zip(&n.links)
            .any(|(j, l)| *j == Joined::Unseen && l.link.peer_netnsid.is_some())
    });
    let mut taps = Vec::new();
    // Descriptors are walked only when they can tell something: who holds
    // a TAP, or a namespace kept by a descriptor alone that a peer is in.
    if has_tun || unseen {
        let d = nsscan::descriptors();
        taps = d.taps;
        let known: HashSet<u64> = nss.iter().map(|n| n.holders.inode).collect();
        let mut extra: BTreeMap<u64, Holders> = BTreeMap::new();
        for (ino, pid, fd) in d.namespaces {
            if known.contains(&ino) {
                continue;
            }
            let h = extra.entry(ino).or_insert_with(|| Holders {
                inode: ino,
                path: PathBuf::from(format!("/proc/{pid}/fd/{fd}")),
                ..Holders::default()
            });
            h.fds.push((pid, fd));
        }
        if !extra.is_empty() {
            let (more, bad) = read::read_all(extra.into_values().collect());
            nss.extend(more);
            unreadable.extend(bad);
            joined = pair::pair(&read::ifaces(&nss));
        }
    }
    read::break_ties(&nss, &mut joined);
    let containers = if assemble::may_hold_containers(&nss) {
        containers::running()
    } else {
        Vec::new()
    };
    let mut w = assemble::assemble(&nss, &joined, &containers, &taps);
    w.unreadable = unreadable;
    w.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    w
}

/// A lab's namespaces as the kernel wires them, and every difference from
/// its topology: what `inspect` finds plus what only the host's wiring
/// shows (where a moved end went, interfaces added by hand).
#[derive(Debug, Clone, Serialize)]
pub struct LabWiring {
    pub lab: String,
    pub namespaces: Vec<NsWiring>,
    pub drift: Vec<String>,
    pub elapsed_ms: f64,
}

/// Reads the wiring of `lab` (and of the host, to name its peers).
pub fn of_lab(lab: &super::Lab) -> super::Result<LabWiring> {
    let start = Instant::now();
    let view = lab.inspect()?;
    let host = read_host();
    let mut drift = view.drift;
    for n in drift::notes(lab.topology(), &host) {
        if !drift.contains(&n) {
            drift.push(n);
        }
    }
    let namespaces = host
        .only(|n| n.lab.as_deref() == Some(lab.name()))
        .namespaces;
    Ok(LabWiring {
        lab: lab.name().to_string(),
        namespaces,
        drift,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}
