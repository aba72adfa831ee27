//! Links set administratively up or down at run time (`nlab link set
//! --up/--down`, `link s1 h1 down` in the console, like Mininet's
//! `configLinkStatus`).
//!
//! Both ends are set, not just one: a veth whose peer is down reports
//! carrier loss on its own side too, but a bridge port that stays up keeps
//! its FDB entries and STP state, and Mininet downs both ends as well.
//!
//! The state is the user's desired one: it is recorded in the journal
//! (`link show`, `graph` and `inspect` read it there, and `up FILE` keeps
//! it). Setting an interface down makes the kernel delete every route
//! through it and its IPv6 addresses; bringing it up restores them.

use super::{Error, Lab, Result};
use crate::kernel::link;
use crate::kernel::netlink::Socket;
use crate::kernel::netns::NetNs;
use crate::kernel::route::{self, Restored};
use crate::kernel::Error as KError;
use crate::services::supervisor::api as supervisor;
use crate::store::{LabLock, State};
use crate::topo::{Link, Topology};

impl Lab {
    /// Sets every link between nodes `a` and `b` (either order) up or
    /// down, both ends, over netlink, and records it as the user's choice.
    /// Bringing links up puts back the routes, gateways and addresses of
    /// both nodes the kernel dropped. Returns the `node:iface` ids changed.
    /// Errors when either node is unknown or no link joins them.
    pub fn set_link_up(&mut self, a: &str, b: &str, up: bool) -> Result<Vec<String>> {
        self.namespace(a)?;
        self.namespace(b)?;
        let keys: Vec<String> = self
            .topology()
            .links
            .iter()
            .filter(|l| {
                let (x, y) = (&l.endpoints[0].node, &l.endpoints[1].node);
                (x == a && y == b) || (x == b && y == a)
            })
            .map(Link::key)
            .collect();
        if keys.is_empty() {
            return Err(Error::NoSuchLink {
                lab: self.name().to_string(),
                a: a.to_string(),
                b: b.to_string(),
            });
        }
        if self.is_ephemeral() {
            return self.set_held_link_up(&keys, up);
        }
        let _lock = LabLock::acquire(self.name())?;
        // A link the supervisor drives (emulated, or with a schedule) is
        // set through it: its state and the kernel's must agree, and it
        // restores the routes itself when the link comes up.
        let driven = supervisor::driven_links(self.name()).unwrap_or_default();
        let mut changed = Vec::new();
        for l in self
            .topology
            .links
            .iter()
            .filter(|l| keys.contains(&l.key()))
        {
            if let Some(d) = driven.get(&l.key()) {
                let state = supervisor::LinkState {
                    conditions: d.conditions.clone(),
                    up,
                };
                supervisor::ensure_running(self.name())
                    .and_then(|c| c.set_link(&l.key(), state))
                    .map_err(|e| Error::service(self.name(), e))?;
                changed.extend(l.endpoints.iter().map(|e| e.id()));
                continue;
            }
            for e in &l.endpoints {
                set_end(&self.namespace(&e.node)?, &e.iface, up)?;
                changed.push(e.id());
            }
        }
        let mut st =
            State::load(self.name())?.ok_or_else(|| Error::NoSuchLab(self.name.clone()))?;
        for l in st
            .topology
            .links
            .iter_mut()
            .chain(self.topology.links.iter_mut())
        {
            if keys.contains(&l.key()) {
                l.up = up;
            }
        }
        for k in &keys {
            if up {
                st.down_by_user.remove(k);
            } else {
                st.down_by_user.insert(k.clone());
            }
        }
        st.updated = crate::store::now();
        st.save()?;
        if up {
            for k in &keys {
                restore_link(&self.topology, k)?;
            }
        }
        Ok(changed)
    }
}

impl Lab {
    /// The lock a change to the lab takes: the lab's lock file for a
    /// pinned lab, none for an ephemeral one (only its process sees it).
    pub(crate) fn change_lock(&self) -> Result<Option<LabLock>> {
        if self.is_ephemeral() {
            Ok(None)
        } else {
            Ok(Some(LabLock::acquire(self.name())?))
        }
    }

    /// [`Lab::set_link_up`] of an ephemeral lab: emulated links through
    /// its in-process emulator, the rest over netlink; no journal.
    fn set_held_link_up(&mut self, keys: &[String], up: bool) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        let links: Vec<Link> = self
            .topology
            .links
            .iter()
            .filter(|l| keys.contains(&l.key()))
            .cloned()
            .collect();
        for l in &links {
            let emulated = self
                .held
                .as_ref()
                .is_some_and(|h| h.local().drives(&l.key()));
            if let (true, Some(h)) = (emulated, &self.held) {
                let state = supervisor::LinkState {
                    conditions: l.conditions.clone(),
                    up,
                };
                h.local()
                    .set_link(&self.topology, &l.key(), &state, supervisor::EMULATOR)
                    .map_err(|e| Error::service(self.name(), e))?;
            } else {
                for e in &l.endpoints {
                    set_end(&self.namespace(&e.node)?, &e.iface, up)?;
                }
            }
            changed.extend(l.endpoints.iter().map(|e| e.id()));
        }
        for l in self.topology.links.iter_mut() {
            if keys.contains(&l.key()) {
                l.up = up;
            }
        }
        if up {
            for k in keys {
                restore_link(&self.topology, k)?;
            }
        }
        Ok(changed)
    }
}

/// Puts back what bringing link `key` down took from both its nodes: the
/// addresses of its ends and every route and gateway of either node that
/// can exist now. In place: no node or link is recreated.
pub fn restore_link(t: &Topology, key: &str) -> Result<Vec<Restored>> {
    let mut out = Vec::new();
    for r in t.after_link_up(key) {
        let ns_name = crate::kernel::netns::ns_name(&t.name, &r.node);
        out.push(route::restore(&ns_name, &r.addrs, &r.routes)?);
    }
    Ok(out)
}

/// Sets interface `iface` of namespace `ns_name` up or down.
fn set_end(ns_name: &str, iface: &str, up: bool) -> Result<()> {
    let state = if up { "up" } else { "down" };
    let ns = NetNs::open(ns_name)?;
    ns.run(|| -> Result<(), KError> {
        let mut sock = Socket::new()?;
        let links = link::dump(&mut sock, &format!("reading links of {ns_name}"))?;
        let index = links
            .iter()
            .find(|l| l.name == iface)
            .map(|l| l.index)
            .ok_or_else(|| {
                KError::protocol(
                    format!("setting {iface} {state} in {ns_name}"),
                    "no such interface (the lab drifted; `nlab up` repairs it)",
                )
            })?;
        sock.request(link::set_up(
            index,
            up,
            format!("setting {iface} {state} in {ns_name}"),
        ))
    })??;
    Ok(())
}
