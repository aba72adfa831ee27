//! Interfaces on host NICs (`macvlan:`/`macvtap:`, see
//! [`crate::topo::macvlan`]): checked before anything is touched, created
//! straight into their node (the kernel resolves the parent in the
//! namespace nlab runs in), then addressed and brought up with the node's
//! other work. This is the one place a lab refers to the host's own
//! interfaces; it creates nothing there, so `down` (deleting the node's
//! namespace) leaves the host as it was.

use super::apply::NodeWork;
use super::handles::NodeConn;
use super::{Error, Result};
use crate::kernel::addr;
use crate::kernel::link::{self, LinkState};
use crate::kernel::macvlan::{self, OnParent};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::topo::Topology;
use std::collections::BTreeMap;

/// The interfaces of the namespace nlab runs in.
fn host_links() -> Result<Vec<LinkState>> {
    let mut sock = Socket::new()?;
    Ok(link::dump(&mut sock, "reading the host's interfaces")?)
}

/// One line per interface whose parent NIC does not exist.
pub(crate) fn missing_parents(t: &Topology) -> Vec<String> {
    let wanted: Vec<_> = t.nodes.values().flat_map(|n| n.macvlans.iter()).collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let have = match host_links() {
        Ok(l) => l,
        Err(e) => return vec![e.to_string()],
    };
    wanted
        .into_iter()
        .filter(|m| !have.iter().any(|l| l.name == m.parent))
        .map(|m| {
            format!(
                "the {} `{}` sits on host interface {}, which does not exist (host interfaces: {})",
                m.kind(),
                m.end.id(),
                m.parent,
                have.iter()
                    .map(|l| l.name.as_str())
                    .filter(|n| *n != "lo")
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect()
}

/// Creates the host-NIC interfaces of the nodes this apply created and
/// queues, for each, its owner mark, addresses and `up` in `work`
/// (before the routes that may leave through it).
pub(crate) fn create(
    t: &Topology,
    created: &[String],
    work: &mut BTreeMap<String, NodeWork>,
) -> Result<()> {
    let todo: Vec<_> = created
        .iter()
        .filter_map(|n| t.nodes.get(n))
        .filter(|n| !n.macvlans.is_empty())
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let parents = host_links()?;
    let mut root = Socket::new()?;
    let alias = format!("nlab:{}", t.name);
    for node in todo {
        let ns_name = netns::ns_name(&t.name, &node.name);
        let ns = NetNs::open(&ns_name)?;
        let mut reqs = Vec::new();
        for m in &node.macvlans {
            let parent = parents
                .iter()
                .find(|l| l.name == m.parent)
                .ok_or_else(|| Error::Vm(format!("host interface {} vanished", m.parent)))?;
            let guest = node.vm.is_some();
            let o = OnParent {
                name: &m.end.iface,
                parent: parent.index,
                ns_fd: ns.raw_fd(),
                mode: m.mode,
                tap: m.tap,
                // A guest's MAC goes on its macvtap: frames for it are
                // what the macvtap receives.
                mac: if guest {
                    Some(super::vm::guest_mac(&t.name, &m.end))
                } else {
                    m.end.mac
                },
                mtu: m.end.mtu,
            };
            let what = format!(
                "creating {} {} on {} in {ns_name}",
                m.kind(),
                m.end.iface,
                m.parent
            );
            reqs.push(macvlan::create(&o, what));
        }
        let errs = root.execute(reqs);
        if !errs.is_empty() {
            return Err(Error::Apply(errs));
        }
        let mut conn = NodeConn::open(&ns_name)?;
        let w = work.entry(node.name.clone()).or_default();
        for m in &node.macvlans {
            let idx = link::index_of(&mut conn.sock, &m.end.iface, &ns_name)?;
            let what = |w: &str| format!("{w} {} in {ns_name}", m.end.iface);
            w.reqs
                .push(macvlan::set_alias(idx, &alias, what("marking")));
            if node.vm.is_none() {
                for a in &m.end.addrs {
                    w.reqs
                        .push(addr::add(idx, a, what(&format!("adding {a} to"))));
                }
            }
            w.reqs.push(link::set_up(idx, true, what("setting up")));
        }
    }
    Ok(())
}
