//! Virtual machine nodes (`kind: vm`, see [`crate::topo::vm`]): their
//! wiring inside the node's namespace, the checks made before anything
//! is touched, and what `up` reports about each.
//!
//! Inside the node, each interface the links give it (`eth0`, a veth end
//! like any host's) is joined by a bridge `vbrN` to a TAP `vtapN`, which
//! QEMU attaches the guest's N-th NIC to:
//!
//! ```text
//!   s1:p3 ══ veth ══ eth0 ─┐ vbr0 ┌─ vtap0 ⇢ QEMU ⇢ guest eth0
//! ```
//!
//! so links, conditions (qdiscs on the veth), captures and `down` treat
//! a VM exactly as a host. Why not the TAP on the switch itself: a VM may
//! be linked to a host or router directly, and a TAP in the peer's
//! namespace would make QEMU run there. The namespace's side carries no
//! address and no MAC of the topology: those are the guest's (a bridge
//! port with the guest's MAC would keep the guest's frames for itself).

use super::handles::NodeConn;
use super::{Error, Result};
use crate::kernel::link::{self, BridgeOpts};
use crate::kernel::netlink::Request;
use crate::kernel::{netns, tagged, tap};
use crate::topo::{Endpoint, MacAddr, Topology};
use serde::Serialize;
use std::path::PathBuf;

/// The TAP of a VM's `i`-th linked interface.
pub(crate) fn tap_name(i: usize) -> String {
    format!("vtap{i}")
}

fn bridge_name(i: usize) -> String {
    format!("vbr{i}")
}

/// Whether `node` is a VM: its interfaces' settings are the guest's.
pub(crate) fn is_vm(t: &Topology, node: &str) -> bool {
    t.nodes.get(node).is_some_and(|n| n.vm.is_some())
}

/// The MAC the namespace's side of end `e` gets: none of the topology's
/// for a VM (that MAC is the guest's).
pub(crate) fn ns_mac(t: &Topology, e: &Endpoint) -> Option<MacAddr> {
    if is_vm(t, &e.node) {
        None
    } else {
        e.mac
    }
}

/// The guest's MAC on end `e`: the topology's, or one derived from the
/// lab, node and interface names (QEMU's 52:54:00 prefix), the same on
/// every `up`, so the printed arguments do not change.
pub(crate) fn guest_mac(lab: &str, e: &Endpoint) -> MacAddr {
    if let Some(m) = e.mac {
        return m;
    }
    // FNV-1a: small, stable across Rust releases (unlike DefaultHasher).
    let mut h: u32 = 0x811c_9dc5;
    for b in format!("{lab}/{}/{}", e.node, e.iface).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let b = h.to_be_bytes();
    MacAddr([0x52, 0x54, 0x00, b[1], b[2], b[3]])
}

/// The interfaces of VM `node` that links give it, in link order: the
/// guest's NICs, each with its TAP.
pub(crate) fn linked_ends<'t>(t: &'t Topology, node: &str) -> Vec<&'t Endpoint> {
    t.links
        .iter()
        .flat_map(|l| l.endpoints.iter())
        .filter(|e| e.node == node)
        .collect()
}

/// What `up` tells about one VM.
#[derive(Debug, Clone, Serialize)]
pub struct VmReport {
    /// The node.
    pub node: String,
    /// Its namespace, which holds the TAPs (QEMU must run there).
    pub namespace: String,
    /// The TAPs, one per linked interface, in the guest's NIC order.
    pub taps: Vec<String>,
    /// Its MACVTAPs (interfaces on host NICs), for a VM the user starts:
    /// QEMU reads each through `/dev/tapIFINDEX`, passed as
    /// `-netdev tap,fd=N`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub macvtaps: Vec<String>,
    /// For a VM the user starts: what QEMU needs of each macvtap.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub macvtap_queues: Vec<MacvtapQueue>,
    /// QEMU's network arguments for those TAPs: `-netdev tap,…
    /// -device virtio-net-pci,…` per NIC.
    pub net_args: Vec<String>,
    /// For a VM the user starts: the whole command to run, the network
    /// arguments with a placeholder for the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// For a VM nlab started: QEMU's pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Whether this `up` started QEMU (false: it was running already).
    pub started: bool,
    /// For a VM nlab started: the serial console's socket (`nlab console
    /// LAB NODE` attaches to it) and the file that logs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<PathBuf>,
    /// The console's log file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_log: Option<PathBuf>,
    /// `kvm` or `tcg`, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accel: Option<String>,
}

/// A macvtap of a VM the user starts: what to open and which MAC the
/// guest's NIC must have on it (the macvtap passes only frames for its
/// own MAC).
#[derive(Debug, Clone, Serialize)]
pub struct MacvtapQueue {
    /// The interface in the node's namespace.
    pub iface: String,
    /// Its queue device, `MAJOR:MINOR` (open it once per queue). Not
    /// `/dev/tapIFINDEX` by name: every namespace numbers its
    /// interfaces from 1, so that name may be another namespace's.
    pub device: Option<String>,
    /// The guest's MAC on it.
    pub mac: MacAddr,
}

/// Before anything is touched: every image a guest needs is still there
/// (the file was checked when read, `up` may come later), QEMU is
/// installed when nlab must start a guest, and every parent NIC exists.
/// `ephemeral`: guests need the lab's directory for their console and pid
/// file, which an ephemeral lab does not have.
pub(crate) fn preflight(t: &Topology, ephemeral: bool) -> Result<()> {
    let mut problems = Vec::new();
    for n in t.nodes.values() {
        let Some(boot) = n.vm.as_ref().and_then(|v| v.boot.as_ref()) else {
            continue;
        };
        if ephemeral {
            problems.push(format!(
                "VM `{}`: nlab starts guests only in pinned labs (their console socket and pid file live in /run/nlab/LAB); leave out kernel/disk to start QEMU yourself, or bring the lab up pinned",
                n.name
            ));
        }
        for (what, p, _) in boot.files() {
            if let Some(problem) = crate::topo::file::image_problem(p) {
                problems.push(format!(
                    "the {what} of VM `{}`, {}, {problem} (it was there when the file was read?)",
                    n.name,
                    p.display()
                ));
            }
        }
    }
    if problems.is_empty()
        && t.nodes
            .values()
            .any(|n| n.vm.as_ref().is_some_and(|v| v.boot.is_some()))
    {
        if let Err(e) = super::qemu::binary() {
            problems.push(e);
        }
    }
    problems.extend(super::macvlan::missing_parents(t));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Unavailable(problems.join("\n")))
    }
}

/// After the links exist: each VM node this apply created gets its TAPs
/// and bridges (see the module docs).
pub(crate) fn wire(t: &Topology, created: &[String]) -> Result<()> {
    for name in created {
        let Some(vm) = t.nodes.get(name).and_then(|n| n.vm.as_ref()) else {
            continue;
        };
        let ns = netns::ns_name(&t.name, name);
        let ends = linked_ends(t, name);
        for i in 0..ends.len() {
            tap::create_for_vm(&ns, &tap_name(i), vm.queues)?;
        }
        bridge_nf_on(&ns)?;
        let mut conn = NodeConn::open(&ns)?;
        let mut reqs: Vec<Request> = Vec::new();
        for i in 0..ends.len() {
            let what = format!("creating bridge {} in {ns}", bridge_name(i));
            let opts = BridgeOpts { stp: false };
            reqs.push(link::new_bridge(&bridge_name(i), None, 0, opts, what));
        }
        errs(conn.sock.execute(reqs))?;
        let mut reqs = Vec::new();
        for (i, e) in ends.iter().enumerate() {
            let br = link::index_of(&mut conn.sock, &bridge_name(i), &ns)?;
            reqs.push(link::no_link_local(
                br,
                format!("no IPv6 on {} in {ns}", bridge_name(i)),
            ));
            for port in [e.iface.clone(), tap_name(i)] {
                let idx = link::index_of(&mut conn.sock, &port, &ns)?;
                let what = |w: &str| format!("{w} {port} in {ns}");
                reqs.push(link::no_link_local(idx, what("no IPv6 on")));
                reqs.push(link::set_master(
                    idx,
                    br,
                    what(&format!("adding to {} ", bridge_name(i))),
                ));
                reqs.push(link::set_up(idx, true, what("setting up")));
            }
            // The TAP is what a user's QEMU opens by name: it says whose it is.
            let idx = link::index_of(&mut conn.sock, &tap_name(i), &ns)?;
            let owner = crate::topo::external::owner_tag(&t.name);
            let what = format!("marking {} in {ns} as {owner}", tap_name(i));
            reqs.push(tagged::set_alias(idx, &owner, what));
        }
        errs(conn.sock.execute(reqs))?;
    }
    Ok(())
}

/// The guest's IP packets, bridged in the node, pass the node's own IP
/// firewall hooks with conntrack (`br_netfilter`; its sysctls are the
/// namespace's): that is where a virtual network filters a VM's TAP port
/// (`vnet::realize::sg`). On by default in a new namespace; said here so
/// no default decides it. A kernel without `br_netfilter` lacks the keys.
fn bridge_nf_on(ns: &str) -> Result<()> {
    let h = netns::NetNs::open(ns)?;
    for k in [
        "net.bridge.bridge-nf-call-iptables",
        "net.bridge.bridge-nf-call-ip6tables",
    ] {
        match h.run(|| netns::write_sysctl(k, "1", ns))? {
            Err(crate::kernel::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

impl super::Lab {
    /// The serial console socket of VM `node`, which nlab started: a
    /// Unix stream socket (root's alone) that carries the guest's
    /// `ttyS0` both ways, one client at a time; `nlab console LAB NODE`
    /// attaches a terminal to it. Errors when `node` is not a VM nlab
    /// runs, or its guest is not running.
    pub fn console_socket(&self, node: &str) -> Result<PathBuf> {
        self.namespace(node)?;
        let n = &self.topology().nodes[node];
        let what = |why: &str| Error::Vm(format!("node `{node}` of lab `{}` {why}", self.name()));
        match n.vm.as_ref().map(|v| v.boot.is_some()) {
            None => {
                return Err(what(
                    "is not a VM (`kind: vm`); `nlab shell` opens a shell in it",
                ))
            }
            Some(false) => {
                return Err(what(
                    "is a VM you start yourself: its console is whatever you gave QEMU",
                ))
            }
            Some(true) => {}
        }
        if super::qemu::running(self.name(), node).is_none() {
            return Err(what(
                "has no guest running (it stopped or was killed); `nlab up` starts it again",
            ));
        }
        Ok(super::qemu::console_path(self.name(), node))
    }
}

fn errs(e: Vec<crate::kernel::Error>) -> Result<()> {
    if e.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_macs_are_stable_local_and_unicast() {
        let e = Endpoint::new("vm1", "eth0");
        let m = guest_mac("lab", &e);
        assert_eq!(m, guest_mac("lab", &e));
        assert_eq!(m.0[..3], [0x52, 0x54, 0x00]);
        assert!(!m.is_multicast());
        assert_ne!(m, guest_mac("lab", &Endpoint::new("vm1", "eth1")));
        let mut given = e.clone();
        given.mac = Some(MacAddr([2, 0, 0, 0, 0, 9]));
        assert_eq!(guest_mac("lab", &given), MacAddr([2, 0, 0, 0, 0, 9]));
    }
}
