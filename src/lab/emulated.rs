//! Links carried by the userspace emulator, and what the lab's supervisor
//! must run for a topology.
//!
//! A link whose conditions need netem on a kernel without it is made of
//! two persistent TAP devices (one in each node, named as the veth ends
//! would be) instead of a veth pair; the supervisor's `emulator` driver
//! moves frames between them. Links with a schedule are handed to the
//! supervisor too (driver `emulator` or `tc`). A lab with neither has no
//! supervisor process.

use super::conditions::{all_conditions, link_backend};
use super::plan::Plan;
use super::{Error, Result};
use crate::kernel::features;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{tap, Error as KError};
use crate::services::supervisor::{self, LinkState};
use crate::topo::conditions::{Backend, Directed};
use crate::topo::{Link, Topology};

/// Driver names in the supervisor (see `services::supervisor::driver`).
pub const EMULATOR_DRIVER: &str = "emulator";
pub const TC_DRIVER: &str = "tc";

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

/// Creates the persistent TAP `iface` inside node `node` of `lab` and
/// returns its interface index (chosen by the kernel: TUNSETIFF takes none).
pub fn create_tap_end(lab: &str, node: &str, iface: &str) -> Result<u32> {
    let ns_name = netns::ns_name(lab, node);
    tap::create(&ns_name, iface)?;
    let ns = NetNs::open(&ns_name)?;
    let name = iface.to_string();
    let what = format!("finding TAP {iface} in {ns_name}");
    let index = ns.run(move || {
        let c = std::ffi::CString::new(name).map_err(|_| KError::protocol(&what, "bad name"))?;
        // SAFETY: a valid NUL-terminated name; the call only reads it.
        let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if i == 0 {
            Err(KError::io(what.clone(), std::io::Error::last_os_error()))
        } else {
            Ok(i)
        }
    })??;
    Ok(index)
}

/// Hands the supervisor what `t` needs after `plan` was applied: every
/// emulated link (restarted when its TAPs were just made), and the
/// schedules of new or changed links. Starts the supervisor only when
/// something needs it, and stops it when nothing does any more.
pub fn sync_supervisor(t: &Topology, plan: &Plan) -> Result<()> {
    let lab = t.name.as_str();
    let emulated: Vec<&Link> = t.links.iter().filter(|l| needs_emulator(l)).collect();
    let scheduled: Vec<&Link> = t.links.iter().filter(|l| !l.schedule.is_empty()).collect();
    let running = supervisor::status(lab).ok().flatten().is_some();
    if emulated.is_empty() && scheduled.is_empty() {
        if running {
            supervisor::stop(lab);
        }
        return Ok(());
    }
    let sup = |e: supervisor::Error| Error::Service(format!("supervisor of {lab}: {e}"));
    let client = supervisor::ensure_running(lab).map_err(sup)?;
    for key in &plan.delete_links {
        let _ = client.remove_link(key);
    }
    let changed = |l: &Link| {
        let k = l.key();
        plan.create_links.contains(&k) || plan.condition_links.contains(&k)
    };
    for l in &emulated {
        let key = l.key();
        if plan.create_links.contains(&key) {
            // New TAPs: the old emulator (if any) holds the old ones.
            let _ = client.remove_link(&key);
        }
        let state = LinkState {
            conditions: l.conditions.clone(),
            up: l.up,
        };
        client
            .set_link_via(&key, state, Some(EMULATOR_DRIVER))
            .map_err(sup)?;
    }
    for l in scheduled.iter().filter(|l| changed(l)) {
        let key = l.key();
        let driver = if emulated.iter().any(|e| e.key() == key) {
            EMULATOR_DRIVER
        } else {
            let state = LinkState {
                conditions: l.conditions.clone(),
                up: l.up,
            };
            client
                .set_link_via(&key, state, Some(TC_DRIVER))
                .map_err(sup)?;
            TC_DRIVER
        };
        client
            .set_schedule_via(&key, l.schedule.clone(), None, Some(driver))
            .map_err(sup)?;
    }
    // Links that lost their schedule and are not emulated: nothing to run.
    for l in &t.links {
        let key = l.key();
        if plan.condition_links.contains(&key)
            && l.schedule.is_empty()
            && !emulated.iter().any(|e| e.key() == key)
        {
            let _ = client.remove_link(&key);
        }
    }
    Ok(())
}
