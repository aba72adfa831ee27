//! Waiting for spanning tree: a looped lab's bridge ports pass no frame
//! until STP has taken them through listening and learning (twice the
//! forward delay, ~4 s with nlab's 2 s). `up` waits for that, so the
//! `pingall` it suggests next succeeds.

use super::plan::effective_stp;
use super::{Progress, Result};
use crate::kernel::link;
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::topo::Topology;
use std::time::{Duration, Instant};

/// How long `up` waits at most before it warns and returns.
pub const STP_WAIT_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);
/// A port settles when its neighbours' BPDUs have arrived; two settled
/// readings this far apart rule out one taken between two elections.
const STEADY: Duration = Duration::from_millis(500);

/// What the wait found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StpWait {
    /// Seconds waited.
    pub waited: f64,
    /// Every port forwards (or is blocked to break a loop).
    pub converged: bool,
    /// Ports still in listening/learning when the wait gave up
    /// (`switch:port (state)`).
    pub unsettled: Vec<String>,
}

impl StpWait {
    /// What to tell the user when spanning tree did not converge in time.
    pub fn warning(&self) -> Option<String> {
        if self.converged {
            return None;
        }
        let some: Vec<&str> = self.unsettled.iter().take(5).map(String::as_str).collect();
        Some(format!(
            "spanning tree has not converged after {:.0} s ({} bridge port(s) not forwarding yet: {}{}); \
             traffic across the loops may be lost until it does",
            self.waited,
            self.unsettled.len(),
            some.join(", "),
            if self.unsettled.len() > some.len() { ", …" } else { "" }
        ))
    }
}

/// Makes every switch's ports and bridge report their settled link state
/// now (see [`crate::kernel::ethtool`]), so what `up` leaves is what
/// `inspect` keeps reading. One namespace at a time: no descriptor outlives
/// its switch.
pub fn settle_bridges(t: &Topology) -> Result<()> {
    for (name, node) in &t.nodes {
        if node.kind != crate::topo::NodeKind::Switch {
            continue;
        }
        // Ports first: their carrier is what turns the bridge's on.
        let mut ifaces: Vec<String> = t
            .links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .filter(|e| &e.node == name)
            .map(|e| e.iface.clone())
            .collect();
        ifaces.push(name.clone());
        let ns = NetNs::open(&netns::ns_name(&t.name, name))?;
        ns.run(|| crate::kernel::ethtool::sync_link_states(&ifaces))?
            .map_err(|e| {
                crate::kernel::Error::io(format!("reading the link state of switch {name}"), e)
            })?;
    }
    Ok(())
}

/// Switches of `t` that run spanning tree.
pub fn stp_switches(t: &Topology) -> Vec<String> {
    effective_stp(t)
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n)
        .collect()
}

/// Waits until no bridge port of `t`'s spanning-tree switches is in
/// listening or learning state, for at most `limit`. `Ok(None)` when the
/// lab has no such switch. Progress goes to `progress` as phase
/// `spanning tree` (ports settled out of ports). `changed`: this `up`
/// changed the lab (else one settled reading is enough).
pub fn wait_for_stp(
    t: &Topology,
    limit: Duration,
    changed: bool,
    progress: &Progress<'_>,
) -> Result<Option<StpWait>> {
    let switches = stp_switches(t);
    if switches.is_empty() {
        return Ok(None);
    }
    let mut socks = Vec::with_capacity(switches.len());
    for sw in &switches {
        let ns_name = netns::ns_name(&t.name, sw);
        let ns = NetNs::open(&ns_name)?;
        socks.push((sw.clone(), ns.run(Socket::new)??));
    }
    let start = Instant::now();
    let mut settled_since: Option<Instant> = None;
    loop {
        let mut total = 0;
        let mut unsettled = Vec::new();
        for (sw, sock) in &mut socks {
            let (n, u) = link::unsettled_ports(sock, &format!("reading the bridge ports of {sw}"))?;
            total += n;
            unsettled.extend(u.into_iter().map(|p| format!("{sw}:{p}")));
        }
        progress("spanning tree", total - unsettled.len(), total);
        let now = Instant::now();
        if unsettled.is_empty() {
            let since = *settled_since.get_or_insert(now);
            if !changed || now - since >= STEADY {
                return Ok(Some(StpWait {
                    waited: start.elapsed().as_secs_f64(),
                    converged: true,
                    unsettled,
                }));
            }
        } else {
            settled_since = None;
        }
        if now - start >= limit {
            return Ok(Some(StpWait {
                waited: start.elapsed().as_secs_f64(),
                converged: false,
                unsettled,
            }));
        }
        std::thread::sleep(POLL);
    }
}

/// The waits after applying: spanning tree on looped topologies and
/// SLAAC addresses (unless `no_wait`), then the bridges' settling.
pub(crate) fn settle(
    topo: &crate::topo::Topology,
    p: &super::plan::Plan,
    opts: &super::UpOptions,
    progress: &super::Progress<'_>,
    report: &mut super::UpReport,
) -> super::Result<()> {
    if !opts.no_wait {
        let w = wait_for_stp(topo, STP_WAIT_LIMIT, !p.is_empty(), progress)?;
        report
            .warnings
            .extend(w.as_ref().and_then(StpWait::warning));
        report.spanning_tree = w;
        super::slaac::wait_for_slaac(topo, super::slaac::SLAAC_WAIT)?;
    }
    if !p.is_empty() {
        settle_bridges(topo)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_gave_up_warns_with_the_ports() {
        let mut w = StpWait {
            waited: 60.2,
            converged: false,
            unsettled: (1..=7)
                .map(|i| format!("s1:s1-eth{i} (listening)"))
                .collect(),
        };
        let text = w.warning().expect("a warning");
        assert!(
            text.starts_with("spanning tree has not converged after 60 s (7 bridge port(s)"),
            "{text}"
        );
        assert!(text.contains("s1:s1-eth5 (listening), …);"), "{text}");
        assert!(!text.contains("eth6"), "{text}");
        w.converged = true;
        assert_eq!(w.warning(), None);
    }
}
