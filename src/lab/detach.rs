//! Undoing attachments: the one place teardown asks "is this pin the
//! lab's own namespace?". An attached namespace (`kind: external`) loses
//! only the interfaces nlab added (tagged `nlab:<lab>`, or recorded and
//! made after it attached), the nftables tables marked as the lab's
//! (`lab::sg`, security groups of virtual-network ports) and nlab's pin; its processes, its own
//! interfaces, addresses and routes stay. An `image:` node's container is
//! removed through its runtime; its namespace is then the lab's to empty.
//! `host:` ends in the root namespace are found by their tag.

use super::attached::{self, Pinned, Record};
use super::{hosts, Error, Result};
use crate::kernel::attach;
use crate::kernel::container::{self, Runtime};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::tagged;
use crate::topo::external::owner_tag;
use std::collections::BTreeMap;
use std::path::Path;

/// Detaches the attached pins among `names` and removes the containers
/// of image nodes among them; returns the names teardown still removes
/// the usual way (the lab's own namespaces, image nodes' included).
pub fn split(names: &[String]) -> Result<Vec<String>> {
    let mut records: BTreeMap<String, Record> = BTreeMap::new();
    let marks = attached::marked();
    let mut rest = Vec::new();
    for n in names {
        let Some((lab, node)) = netns::parse_ns_name(n) else {
            rest.push(n.clone());
            continue;
        };
        let rec = records
            .entry(lab.to_string())
            .or_insert_with(|| Record::load(lab));
        // The record, or else the mark outside the lab's directory.
        let known = rec.pin(n).cloned().or_else(|| {
            let &(inode, cookie) = marks.get(n)?;
            Some(Pinned {
                pin: n.clone(),
                image: false,
                inode,
                cookie,
                // Without the record, only tagged interfaces are known.
                first_index: u32::MAX,
            })
        });
        match known {
            Some(p) if !p.image => detach(lab, &p, rec)?,
            Some(_) => {
                remove_container(lab, node, rec);
                rest.push(n.clone());
            }
            None => rest.push(n.clone()),
        }
    }
    Ok(rest)
}

/// Removes the lab's recorded container of `node`, if it still carries
/// the lab's label (a container of that name made by someone else stays).
fn remove_container(lab: &str, node: &str, rec: &Record) {
    let cname = super::external::container_name(lab, node);
    for (rt, name) in &rec.containers {
        let Some(rt) = Runtime::parse(rt) else {
            continue;
        };
        if *name == cname
            && container::label_of(rt, name, container::LAB_LABEL).as_deref() == Some(lab)
        {
            container::remove(rt, name);
        }
    }
}

/// Removes every container the lab's record names (for a `down` whose
/// pins are already gone).
pub fn remove_containers(lab: &str) {
    let rec = Record::load(lab);
    for (rt, name) in &rec.containers {
        let Some(rt) = Runtime::parse(rt) else {
            continue;
        };
        if container::label_of(rt, name, container::LAB_LABEL).as_deref() == Some(lab) {
            container::remove(rt, name);
        }
    }
}

/// Removes the marks of `lab`'s attachments that have no pin (any more).
pub fn unmark_unpinned(lab: &str) -> Result<()> {
    for pin in attached::marked().into_keys() {
        let ours = netns::parse_ns_name(&pin).is_some_and(|(l, _)| l == lab);
        if ours && !netns::exists(&pin) {
            attached::unmark(&pin)?;
        }
    }
    Ok(())
}

/// Containers nlab started from this root namespace, by lab, for
/// `cleanup` after the journal is gone.
pub fn labelled_containers() -> Vec<(Runtime, String, String)> {
    let host = attach::root_inodes()
        .first()
        .copied()
        .unwrap_or(0)
        .to_string();
    let mut out = Vec::new();
    for rt in container::available() {
        for (name, lab) in container::labelled(rt, &host) {
            out.push((rt, name, lab));
        }
    }
    out
}

/// Deletes what nlab added to attached namespace `p` and unpins it.
fn detach(lab: &str, p: &Pinned, rec: &Record) -> Result<()> {
    let ns = match NetNs::open(&p.pin) {
        Ok(ns) => Some(ns),
        Err(e) if e.raw_errno() == Some(libc::ENOENT) => None,
        Err(e) => return Err(e.into()),
    };
    // A pin that no longer names the namespace recorded (replaced by
    // hand) is only unpinned: nothing inside it is known to be ours.
    let same = ns
        .as_ref()
        .and_then(|ns| attach::identity(ns).ok())
        .is_some_and(|(ino, cookie)| ino == p.inode && (p.cookie == 0 || cookie == p.cookie));
    if let (Some(ns), true) = (&ns, same) {
        let planned: Vec<&str> = rec
            .ifaces
            .iter()
            .filter(|(pin, _)| *pin == p.pin)
            .map(|(_, n)| n.as_str())
            .collect();
        // Tables first: a netdev chain goes with its device, the table
        // (and its owner mark) would stay.
        super::sg::remove_owned(lab, ns)?;
        delete_ours(lab, ns, p.first_index, &planned)?;
    }
    drop(ns);
    netns::delete_pinned(&p.pin)?;
    attached::unmark(&p.pin)?;
    hosts::remove_entry(&Path::new(netns::ETC_NETNS).join(&p.pin))?;
    Ok(())
}

/// Deletes, inside `ns`, the interfaces tagged as the lab's, and veths
/// nlab planned there that a kill -9 left untagged (only those made
/// after it attached: index ≥ `first`).
fn delete_ours(lab: &str, ns: &NetNs, first: u32, planned: &[&str]) -> Result<()> {
    let tag = owner_tag(lab);
    let errs = ns.run(
        || -> Result<Vec<crate::kernel::Error>, crate::kernel::Error> {
            let mut sock = Socket::new()?;
            let links = tagged::dump(&mut sock, &format!("reading links of {}", ns.name))?;
            let reqs = links
                .iter()
                .filter(|l| {
                    l.alias.as_deref() == Some(tag.as_str())
                        || (l.alias.is_none()
                            && l.link.index >= first
                            && l.link.kind.as_deref() == Some("veth")
                            && planned.iter().any(|p| {
                                *p == l.link.name
                                    || p.strip_suffix('*')
                                        .is_some_and(|pre| l.link.name.starts_with(pre))
                            }))
                })
                .map(|l| {
                    let what = format!("deleting {} (lab {lab}) in {}", l.link.name, ns.name);
                    tagged::delete_index(l.link.index, what)
                })
                .collect();
            Ok(sock.execute(reqs))
        },
    )??;
    // Gone meanwhile (its peer's namespace went first) is fine.
    let errs: Vec<_> = errs
        .into_iter()
        .filter(|e| e.raw_errno() != Some(libc::ENODEV))
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(errs))
    }
}

/// Deletes the lab's `host:` ends in the root namespace (found by tag).
pub fn remove_host_ends(lab: &str, only: Option<&[String]>) -> Result<usize> {
    let tag = owner_tag(lab);
    let mut sock = Socket::new()?;
    let links = tagged::dump(&mut sock, "reading links of the root namespace")?;
    let reqs: Vec<_> = links
        .iter()
        .filter(|l| l.alias.as_deref() == Some(tag.as_str()))
        .filter(|l| only.is_none_or(|o| o.contains(&l.link.name)))
        .map(|l| {
            let what = format!("deleting host:{} of lab {lab}", l.link.name);
            tagged::delete_index(l.link.index, what)
        })
        .collect();
    let n = reqs.len();
    let errs: Vec<_> = sock
        .execute(reqs)
        .into_iter()
        .filter(|e| e.raw_errno() != Some(libc::ENODEV))
        .collect();
    if errs.is_empty() {
        Ok(n)
    } else {
        Err(Error::Apply(errs))
    }
}

/// Labs that have a tagged interface in the root namespace.
pub fn labs_in_root() -> Vec<String> {
    let Ok(mut sock) = Socket::new() else {
        return Vec::new();
    };
    let links = tagged::dump(&mut sock, "reading links of the root namespace").unwrap_or_default();
    let mut labs: Vec<String> = links
        .iter()
        .filter_map(|l| {
            l.alias
                .as_deref()?
                .strip_prefix("nlab:")
                .map(str::to_string)
        })
        .filter(|l| super::check_lab_name(l).is_ok())
        .collect();
    labs.sort();
    labs.dedup();
    labs
}
