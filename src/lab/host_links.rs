//! `host:IFNAME` links: a veth with one end in a node and the other in
//! the root namespace, named IFNAME there and tagged `nlab:<lab>`.
//!
//! Both ends are created inside the node's namespace, the root end under
//! a temporary name; it is tagged there and only then moved into the root
//! namespace under its name, in one request. So the root namespace never
//! holds an untagged interface of nlab's (a `kill -9` at any point leaves
//! either nothing there or a tagged end that `cleanup` finds), and if
//! IFNAME appeared meanwhile the move fails and the pair dies with the
//! node. (A move costs ~20 ms in the kernel; there are few such links.)

use super::handles::{NodeConn, NodeIndex};
use super::plan::Plan;
use super::{Error, Result};
use crate::kernel::attach;
use crate::kernel::link::{self, VethEnd};
use crate::kernel::netlink::Socket;
use crate::kernel::netns;
use crate::kernel::{addr, tagged};
use crate::topo::external::{owner_tag, HostLink};
use crate::topo::{NodeKind, Topology};
use std::collections::BTreeMap;

/// Host links to delete (their root-namespace names) and to create
/// (keys), given the plan of the nodes.
pub fn plan(desired: &Topology, old: Option<&Topology>, p: &Plan) -> (Vec<String>, Vec<String>) {
    let old_links: &[HostLink] = old.map(|o| &o.host_links[..]).unwrap_or(&[]);
    let same = |h: &HostLink, list: &[HostLink]| list.iter().any(|x| x == h);
    let delete = old_links
        .iter()
        .filter(|h| !same(h, &desired.host_links) || p.delete_nodes.contains(&h.node))
        .map(|h| h.host_iface.clone())
        .collect();
    let create = desired
        .host_links
        .iter()
        .filter(|h| !same(h, old_links) || p.create_nodes.contains(&h.node))
        .map(HostLink::key)
        .collect();
    (delete, create)
}

/// Creates the host links whose keys are in `create`.
pub fn create_all(
    t: &Topology,
    create: &[String],
    handles: &mut BTreeMap<String, NodeIndex>,
) -> Result<()> {
    if create.is_empty() {
        return Ok(());
    }
    let root = attach::root()?;
    for h in t.host_links.iter().filter(|h| create.contains(&h.key())) {
        let ns_name = netns::ns_name(&t.name, &h.node);
        let mut conn = NodeConn::open(&ns_name)?;
        // Interfaces on host NICs took indices the kernel chose, which
        // the handles do not know: read the node again for those.
        let on_nics = t.nodes.get(&h.node).is_some_and(|n| !n.macvlans.is_empty());
        if on_nics || !handles.contains_key(&h.node) {
            handles.insert(h.node.clone(), NodeIndex::read(&mut conn)?);
        }
        let hi = handles
            .get_mut(&h.node)
            .ok_or_else(|| Error::Internal(format!("no handle for {}", h.node)))?;
        let reqs = requests(t, h, hi, conn.ns.raw_fd(), root.raw_fd());
        let errs = conn.sock.execute(reqs);
        if !errs.is_empty() {
            return Err(Error::Apply(errs));
        }
        // The root end: up, from a socket in the root namespace (this
        // thread's: apply runs on the caller's thread).
        let mut sock = Socket::new()?;
        let idx = link::index_of(&mut sock, &h.host_iface, "the root namespace")?;
        sock.request(link::set_up(
            idx,
            true,
            format!("setting host:{} up", h.host_iface),
        ))?;
        for a in &h.host_addrs {
            let what = format!("adding {a} to host:{} in the root namespace", h.host_iface);
            sock.request(addr::add(idx, a, what))?;
        }
    }
    Ok(())
}

/// The requests, sent in the node's namespace: the pair, the tags, the
/// move of the root end, the node end's addresses.
fn requests(
    t: &Topology,
    h: &HostLink,
    hi: &mut NodeIndex,
    ns_fd: i32,
    root_fd: i32,
) -> Vec<crate::kernel::netlink::Request> {
    let lab = &t.name;
    let tag = owner_tag(lab);
    let ns_name = netns::ns_name(lab, &h.node);
    let idx = hi.alloc_index(&h.iface);
    let tmp = format!("nlhost{idx}");
    let tmp_idx = hi.alloc_index(&tmp);
    let switch = t.nodes.get(&h.node).map(|n| n.kind) == Some(NodeKind::Switch);
    let master = if switch {
        hi.index_of.get(&h.node).copied()
    } else {
        None
    };
    let a = VethEnd {
        name: &h.iface,
        ns_fd,
        index: idx,
        mac: h.mac,
        mtu: h.mtu,
        up: true,
        master,
    };
    let b = VethEnd {
        name: &tmp,
        ns_fd,
        index: tmp_idx,
        mac: None,
        mtu: h.mtu,
        up: false,
        master: None,
    };
    let what = format!(
        "creating veth {}:{} <-> host:{}",
        h.node, h.iface, h.host_iface
    );
    let mut reqs = vec![
        link::new_veth(&a, &b, what),
        tagged::set_alias(
            tmp_idx,
            &tag,
            format!("tagging host:{} in {ns_name}", h.host_iface),
        ),
    ];
    if super::external::is_attached(t, &h.node) {
        reqs.push(tagged::set_alias(
            idx,
            &tag,
            format!("tagging {} in {ns_name}", h.iface),
        ));
    }
    reqs.push(tagged::move_to(
        tmp_idx,
        root_fd,
        &h.host_iface,
        format!("moving host:{} into the root namespace", h.host_iface),
    ));
    for a in &h.addrs {
        reqs.push(addr::add(
            idx,
            a,
            format!("adding {a} to {} in {ns_name}", h.iface),
        ));
    }
    reqs
}
