//! Ephemeral labs: the same topology, builders and handles as a pinned
//! lab, but nothing that outlives the process that made it.
//!
//! - Namespaces are held by descriptors of this process
//!   ([`crate::kernel::fd_held`]), never pinned under `/run/netns`.
//! - No journal, no lock file, no `/etc/netns` entry, no lab directory:
//!   nothing under `/run/nlab`, `/etc/netns` or `/tmp`. The hosts file that
//!   makes `ping h2` resolve is a file on a tmpfs mounted nowhere, attached over `/etc/hosts` in
//!   each program started in a node.
//! - Emulated links are carried by the emulator on threads of this process
//!   ([`supervisor::Local`]), not by a supervisor process.
//! - Programs started with [`Lab::command`] get `SIGKILL` when the thread
//!   that started them ends (`PR_SET_PDEATHSIG`).
//!
//! So when the process dies, even by `kill -9`, the kernel reclaims every
//! namespace, interface and qdisc. Dropping the last clone of the [`Lab`]
//! (or [`Lab::down`]) ends the programs left in its nodes and frees it all
//! at once. Scheduled link changes, DHCP, router advertisements and
//! recorded links (`capture:`) need a supervisor and are refused; so is a
//! NAT's host uplink, which lives in the root namespace.

use super::emulated::Supervised;
use super::{converge, link_conditions, plan, teardown, Error, Lab, Result, UpOptions, UpReport};
use crate::kernel::{fd_held, files, netns};
use crate::services::supervisor::api::{self as supervisor, LinkState, EMULATOR};
use crate::topo::ValidTopology;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// What an ephemeral lab holds; shared by the clones of its [`Lab`], and
/// released when the last one goes.
pub(crate) struct Hold {
    lab: String,
    /// The lab's hosts file, on a tmpfs mounted nowhere (see the module
    /// docs).
    pub(crate) hosts: files::DetachedFile,
    local: Mutex<supervisor::Local>,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").field("lab", &self.lab).finish()
    }
}

impl Hold {
    pub(crate) fn local(&self) -> MutexGuard<'_, supervisor::Local> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the emulator, ends the programs in the lab's namespaces and
    /// closes them. Repeatable.
    fn release(&self) -> Result<teardown::TeardownReport> {
        self.local().stop_all();
        let names = netns::lab_pinned(&self.lab);
        let processes = teardown::remove_namespaces(&names)?;
        fd_held::release_lab(&self.lab);
        Ok(teardown::TeardownReport {
            labs: vec![self.lab.clone()],
            namespaces: names.len(),
            processes,
            files: 0,
            ..Default::default()
        })
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!("freeing ephemeral lab {}: {e}", self.lab);
        }
    }
}

/// What an ephemeral lab cannot have: what needs the lab's supervisor
/// (schedules, DHCP, adverts, recordings), attachments, limits, isolation
/// and a NAT's host uplink (it lives in the root namespace). Refused
/// before anything is made.
fn refuse_what_needs_a_pinned_lab(topo: &ValidTopology) -> Result<()> {
    let lab = &topo.name;
    if let Some(l) = topo.links.iter().find(|l| !l.schedule.is_empty()) {
        return Err(Error::Conditions(format!(
            "link {} has a schedule: scheduled changes need the lab's supervisor, which an \
             ephemeral lab does not have; bring the lab up pinned (without `ephemeral`) or \
             change the link from the test with `lab.link(a, b)?.set_conditions(..)`",
            l.key()
        )));
    }
    if topo.nodes.values().any(|n| n.attach.is_some()) || !topo.host_links.is_empty() {
        return Err(Error::Attach(format!(
            "lab {lab} attaches namespaces, containers or `host:` interfaces: an ephemeral lab \
             holds only namespaces it made; bring the lab up pinned (without `ephemeral`)"
        )));
    }
    let needs = Supervised::of(topo);
    if needs.dhcp || !needs.advertising.is_empty() || !needs.recorded.is_empty() {
        return Err(Error::Conditions(format!(
            "lab {lab} has {}: these run in the lab's supervisor, which an ephemeral lab does \
             not have; bring the lab up pinned (without `ephemeral`)",
            if needs.dhcp {
                "a DHCP server, relay or client"
            } else if !needs.advertising.is_empty() {
                "routers sending IPv6 router advertisements"
            } else {
                "links with `capture` (recorded for the lab's lifetime)"
            }
        )));
    }
    if super::nat::has_host_uplink(topo) {
        return Err(Error::Conditions(format!(
            "lab {lab} has a NAT node with `uplink: host` (or `--nat`): its veth, nft table and \
             ip_forward setting in the root namespace would outlive this process; bring the lab \
             up pinned (without `ephemeral`), or give the NAT an internet node as its uplink"
        )));
    }
    super::node_run::refuse_in_ephemeral(topo)?;
    Ok(())
}

/// [`Lab::up_valid`] with `ephemeral` set: builds `topo` held by this
/// process. Nothing of a failed `up` remains.
pub(super) fn up(topo: &ValidTopology, opts: &UpOptions) -> Result<(Lab, UpReport)> {
    let start = Instant::now();
    let lab = topo.name.clone();
    link_conditions::check_topology(topo)?;
    super::vm::preflight(topo, true)?;
    refuse_what_needs_a_pinned_lab(topo)?;
    if opts.dry_run {
        return Err(Error::Internal(
            "a dry run of an ephemeral lab: plan it with a pinned `up` and `dry_run`".into(),
        ));
    }
    if !fd_held::register_lab(&lab) {
        return Err(Error::Conditions(format!(
            "this process already has an ephemeral lab named {lab}; give each lab of a test \
             process its own name"
        )));
    }
    let seed = opts.seed.unwrap_or(0);
    let hosts = match files::DetachedFile::new("hosts", super::hosts::render(topo).as_bytes()) {
        Ok(fd) => fd,
        Err(e) => {
            fd_held::release_lab(&lab);
            return Err(Error::io(format!("making the hosts file of {lab}"), e));
        }
    };
    // From here on, dropping the hold undoes everything made so far.
    let hold = Arc::new(Hold {
        lab: lab.clone(),
        hosts,
        local: Mutex::new(supervisor::Local::new(&lab, seed)),
    });
    let p = plan::plan(topo, None, &plan::Drift::default());
    let progress = opts.progress.unwrap_or(&super::quiet);
    let timings = super::apply::apply(topo, None, &p, progress, &mut Default::default())?;
    // NAT rules live in the lab's own namespaces (no host uplink here).
    super::nat::apply(topo)?;
    for key in &Supervised::of(topo).emulated {
        let Some(l) = topo.links.iter().find(|l| &l.key() == key) else {
            continue;
        };
        let state = LinkState {
            conditions: l.conditions.clone(),
            up: l.up,
        };
        hold.local()
            .set_link(topo, key, &state, EMULATOR)
            .map_err(|e| Error::service(&lab, e))?;
    }
    let stp = if opts.no_wait {
        None
    } else {
        converge::wait_for_stp(topo, converge::STP_WAIT_LIMIT, true, progress)?
    };
    converge::settle_bridges(topo)?;
    let report = UpReport {
        lab: lab.clone(),
        nodes: topo.nodes.len(),
        links: topo.links.len(),
        changes: p.changes(),
        plan: p,
        drift: Vec::new(),
        dry_run: false,
        seed,
        elapsed: start.elapsed(),
        timings,
        kept_down: Vec::new(),
        exec: Vec::new(),
        warnings: stp.iter().filter_map(converge::StpWait::warning).collect(),
        spanning_tree: stp,
        // Only VMs the user starts (preflight refused the others): their
        // QEMU arguments, for `Lab::command`.
        vms: super::qemu::ensure_running(topo)?,
    };
    let t: &crate::topo::Topology = topo;
    Ok((
        Lab {
            name: lab,
            topology: t.clone(),
            held: Some(hold),
        },
        report,
    ))
}

/// [`Lab::down`] of an ephemeral lab: frees it now, whatever clones of
/// the [`Lab`] remain (they then refer to a lab that is gone).
pub(super) fn down(hold: &Hold) -> Result<teardown::TeardownReport> {
    hold.release()
}
