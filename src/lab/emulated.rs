//! Links carried by the userspace emulator, and what the lab's supervisor
//! must run for a topology.
//!
//! A link whose conditions need netem on a kernel without it is made of
//! two persistent TAP devices (one in each node, named as the veth ends
//! would be) instead of a veth pair; the supervisor's `emulator` driver
//! moves frames between them. Links with a schedule are handed to the
//! supervisor too (driver `emulator` or `tc`). A lab with neither has no
//! supervisor process.

use super::link_conditions::{all_conditions, link_backend};
use super::plan::Plan;
use super::{Error, Result};
use crate::kernel::features;
use crate::services::supervisor::api::{self as supervisor, Client, LinkState, EMULATOR, TC};
use crate::topo::conditions::{Backend, Directed};
use crate::topo::{Link, Topology};
use std::collections::BTreeSet;

/// Whether `l` is made of TAP ends and carried by the userspace emulator:
/// some conditions it will ever have (its own or a scheduled step's) need
/// netem, and this kernel has none. Probes the kernel only for such links.
pub fn needs_emulator(l: &Link) -> bool {
    if !all_conditions(l).any(Directed::needs_netem) {
        return false;
    }
    match features::probe() {
        Ok(f) => link_backend(l, &f) == Backend::Userspace,
        // No probe, no netem we could rely on.
        Err(_) => true,
    }
}

/// What of a topology only a running supervisor carries, by link key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Supervised {
    /// Links of TAP ends the emulator moves frames between: without it
    /// they drop every packet.
    pub emulated: BTreeSet<String>,
    /// Links with a schedule: without it their steps wait.
    pub scheduled: BTreeSet<String>,
    /// Router interfaces (`node:iface`) that send IPv6 router
    /// advertisements: without it hosts get no SLAAC address.
    pub advertising: BTreeSet<String>,
    /// DHCP servers, relays or clients.
    pub dhcp: bool,
    /// Links recorded for the lab's lifetime (`capture:`).
    pub recorded: BTreeSet<String>,
}

impl Supervised {
    pub fn of(t: &Topology) -> Supervised {
        Supervised {
            emulated: t
                .links
                .iter()
                .filter(|l| needs_emulator(l))
                .map(Link::key)
                .collect(),
            scheduled: t
                .links
                .iter()
                .filter(|l| !l.schedule.is_empty())
                .map(Link::key)
                .collect(),
            advertising: crate::topo::ra::adverts(t)
                .into_iter()
                .map(|a| format!("{}:{}", a.node, a.iface))
                .collect(),
            dhcp: supervisor::dhcp_needed(t),
            recorded: crate::topo::capture::recordings(t)
                .into_iter()
                .map(|r| r.link)
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.emulated.is_empty()
            && self.scheduled.is_empty()
            && self.advertising.is_empty()
            && !self.dhcp
            && self.recorded.is_empty()
    }

    /// What stops working without the supervisor, for a message:
    /// `emulated link(s) a--b drop every packet; …`.
    pub fn effects(&self) -> String {
        let mut v = Vec::new();
        if !self.emulated.is_empty() {
            v.push(format!(
                "emulated link(s) {} drop every packet",
                short_list(&self.emulated)
            ));
        }
        let waiting: BTreeSet<String> =
            self.scheduled.difference(&self.emulated).cloned().collect();
        if !waiting.is_empty() {
            v.push(format!(
                "scheduled changes of link(s) {} wait",
                short_list(&waiting)
            ));
        }
        if !self.advertising.is_empty() {
            v.push(format!(
                "router advertisements on {} stop",
                short_list(&self.advertising)
            ));
        }
        if self.dhcp {
            v.push("DHCP answers nobody and leases are not renewed".to_string());
        }
        if !self.recorded.is_empty() {
            v.push(format!(
                "link(s) {} are not recorded",
                short_list(&self.recorded)
            ));
        }
        v.join(", ")
    }
}

/// At most five names, then how many more.
pub fn short_list<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let all: Vec<&String> = names.into_iter().collect();
    let mut s = all
        .iter()
        .take(5)
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > 5 {
        s.push_str(&format!(" and {} more", all.len() - 5));
    }
    s
}

fn service_error(lab: &str, e: supervisor::Error) -> Error {
    Error::service(lab, e)
}

/// Puts link `l` into conditions `c` (and its own up/down state) through
/// the supervisor's `driver`.
fn drive(client: &Client, l: &Link, c: &Directed, driver: &str) -> Result<()> {
    let state = LinkState {
        conditions: c.clone(),
        up: l.up,
    };
    client
        .set_link_via(&l.key(), state, Some(driver))
        .map(|_| ())
        .map_err(|e| service_error(client.lab(), e))
}

/// Gives the emulated link `l` of `lab` conditions `c`, live: the
/// emulator takes them without a restart.
pub fn set_emulated(lab: &str, l: &Link, c: &Directed) -> Result<()> {
    let client = supervisor::ensure_running(lab).map_err(|e| service_error(lab, e))?;
    drive(&client, l, c, EMULATOR)
}

/// Hands the supervisor what `t` needs after `plan` was applied: every
/// emulated link (restarted when its TAPs were just made), the schedules
/// of new or changed links, router adverts and recordings. Starts the supervisor only when
/// something needs it, and stops it when nothing does any more.
pub fn sync_supervisor(t: &Topology, plan: &Plan) -> Result<()> {
    let lab = t.name.as_str();
    let needs = Supervised::of(t);
    if needs.is_empty() {
        if supervisor::has_process(lab) {
            // Routers that stop advertising say so first (router lifetime
            // 0), so hosts drop them as default routers now.
            let _ = supervisor::Client::new(lab).set_ra(Vec::new());
            supervisor::stop(lab);
        }
        return Ok(());
    }
    let client = supervisor::ensure_running(lab).map_err(|e| service_error(lab, e))?;
    for key in &plan.delete_links {
        let _ = client.remove_link(key);
    }
    client
        .set_ra(crate::topo::ra::adverts(t))
        .map_err(|e| service_error(lab, e))?;
    let recordings = crate::topo::capture::recordings(t);
    let none = recordings.is_empty();
    match client.set_capture(recordings, plan.create_links.clone()) {
        // A supervisor of an older nlab, which records nothing anyway.
        Err(supervisor::Error::Remote {
            kind: supervisor::ErrorKind::BadRequest,
            ..
        }) if none => {}
        r => {
            r.map_err(|e| service_error(lab, e))?;
        }
    }
    let emulated = needs.emulated;
    for l in &t.links {
        let key = l.key();
        let created = plan.create_links.contains(&key);
        let changed = created || plan.condition_links.contains(&key);
        let driver = if emulated.contains(&key) {
            if created {
                // New TAPs: the old emulator (if any) holds the old ones.
                let _ = client.remove_link(&key);
            }
            drive(&client, l, &l.conditions, EMULATOR)?;
            EMULATOR
        } else if !l.schedule.is_empty() && changed {
            drive(&client, l, &l.conditions, TC)?;
            TC
        } else {
            if !created && changed && l.schedule.is_empty() {
                // It lost its schedule and is not emulated: nothing to run.
                let _ = client.remove_link(&key);
            }
            continue;
        };
        if !l.schedule.is_empty() && changed {
            client
                .set_schedule_via(&key, l.schedule.clone(), None, Some(driver))
                .map_err(|e| service_error(lab, e))?;
        }
    }
    if needs.dhcp {
        super::dhcp::start_and_wait(&client, super::dhcp::timeout())?;
    }
    Ok(())
}
