//! Link conditions on a lab: which backend carries each link, and putting
//! kernel-backed conditions in place (at `up`, and live with `replace` so
//! established connections survive).
//!
//! Direction `a_to_b` (packets sent by `endpoints[0]`) is the egress qdisc
//! of endpoint 0's interface; `b_to_a` that of endpoint 1's.

use super::Result;
use crate::kernel::features::Features;
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{link, tc, Error as KError};
use crate::topo::conditions::{Backend, Directed, Impairment, StepAction};
use crate::topo::{Link, Topology};

/// Putting conditions on a link's qdiscs is kernel work the supervisor's
/// tc driver shares with `up`: it lives in [`crate::kernel::tc::links`].
pub use crate::kernel::tc::links::{apply_link, backend_for, kernel_carries};

/// Every condition set a link will ever have: its own and its schedule's.
pub fn all_conditions(l: &Link) -> impl Iterator<Item = &Directed> {
    std::iter::once(&l.conditions).chain(l.schedule.iter().filter_map(|s| match &s.action {
        StepAction::Set(d) => Some(d.as_ref()),
        _ => None,
    }))
}

/// The backend of a link as a whole: a link some of whose conditions (its
/// own or a scheduled step's) need the emulator is emulated all along,
/// since a veth cannot become two TAPs in the middle of a schedule.
pub fn link_backend(l: &Link, f: &Features) -> Backend {
    if all_conditions(l).any(|c| backend_for(c, f) == Backend::Userspace) {
        Backend::Userspace
    } else {
        backend_for(&l.conditions, f)
    }
}

/// Probes the kernel's features when some link of `t` has conditions, so
/// a failing probe stops `up` before anything is touched. Every
/// combination of conditions has a backend (what the kernel lacks, the
/// userspace emulator does), so nothing else can refuse them.
pub fn check_topology(t: &Topology) -> Result<()> {
    if t.links
        .iter()
        .all(|l| all_conditions(l).all(Directed::is_none))
    {
        return Ok(());
    }
    crate::kernel::features::probe()?;
    Ok(())
}

/// What the kernel has on one end of a link.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Observed {
    /// Root qdisc kind (`noqueue` for a plain veth).
    pub qdisc: String,
    /// Its settings as read back, where nlab can decode them.
    pub conditions: Option<Impairment>,
}

/// Reads the root qdiscs of both ends (egress of each), for drift display.
pub fn observe(lab: &str, l: &Link) -> Result<[Option<Observed>; 2]> {
    let mut out: [Option<Observed>; 2] = [None, None];
    for (i, e) in l.endpoints.iter().enumerate() {
        let ns_name = netns::ns_name(lab, &e.node);
        if !netns::exists(&ns_name) {
            continue;
        }
        let ns = NetNs::open(&ns_name)?;
        let iface = e.iface.clone();
        let found = ns.run(move || -> Result<Option<Observed>, KError> {
            let mut sock = Socket::new()?;
            let Ok(index) = link::index_of(&mut sock, &iface, &ns_name) else {
                return Ok(None);
            };
            let roots = tc::dump_roots(&mut sock, &format!("reading qdiscs of {ns_name}"))?;
            Ok(Some(match roots.into_iter().find(|r| r.index == index) {
                Some(r) => Observed {
                    qdisc: r.kind,
                    conditions: r.settings,
                },
                None => Observed {
                    qdisc: "noqueue".into(),
                    conditions: None,
                },
            }))
        })??;
        out[i] = found;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::conditions::Rate;
    use std::time::Duration;

    fn features(netem: bool) -> Features {
        Features {
            netem,
            ..Features::all()
        }
    }

    #[test]
    fn netem_conditions_go_to_the_emulator_where_netem_is_missing() {
        let mut l = Link::new(
            crate::topo::Endpoint::new("h1", "eth0"),
            crate::topo::Endpoint::new("s1", "eth1"),
        );
        l.conditions.a_to_b.delay = Duration::from_millis(5);
        l.conditions.b_to_a.loss = Some(crate::topo::conditions::Loss::Random { percent: 1.0 });
        assert_eq!(
            backend_for(&l.conditions, &features(false)),
            Backend::Userspace
        );
        assert_eq!(backend_for(&l.conditions, &features(true)), Backend::Kernel);
        // A rate-only link whose schedule later asks for delay is emulated
        // all along: a veth cannot turn into TAPs mid-schedule.
        let mut r = l.clone();
        r.conditions = Directed::default();
        r.conditions.a_to_b.rate = Some(Rate {
            bits_per_sec: 1_000_000,
            burst_bytes: None,
        });
        assert_eq!(link_backend(&r, &features(false)), Backend::Kernel);
        r.schedule.push(crate::topo::conditions::Step {
            at: Duration::from_secs(1),
            action: crate::topo::conditions::StepAction::Set(Box::new(l.conditions.clone())),
        });
        assert_eq!(link_backend(&r, &features(false)), Backend::Userspace);
        assert_eq!(link_backend(&r, &features(true)), Backend::Kernel);
    }

    #[test]
    fn qdisc_choice_follows_the_conditions() {
        let mut i = Impairment::default();
        assert!(tc::for_impairment(&i).is_none());
        i.limit = Some(50);
        assert_eq!(tc::for_impairment(&i).unwrap().kind, "pfifo");
        i.rate = Some(Rate {
            bits_per_sec: 1_000_000,
            burst_bytes: None,
        });
        assert_eq!(tc::for_impairment(&i).unwrap().kind, "tbf");
        i.delay = Duration::from_millis(1);
        assert_eq!(tc::for_impairment(&i).unwrap().kind, "netem");
    }
}
