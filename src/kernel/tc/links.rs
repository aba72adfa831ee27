//! The root qdiscs of a lab link's two ends: which links the kernel's
//! qdiscs can carry, and putting a link's conditions in place (at `up`,
//! live, and from the supervisor's tc driver), replacing what is there so
//! established connections survive.
//!
//! Direction `a_to_b` (packets sent by `endpoints[0]`) is the egress qdisc
//! of endpoint 0's interface; `b_to_a` that of endpoint 1's.

use crate::kernel::features::{self, Features};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{link, tc, Result};
use crate::topo::conditions::{Backend, Directed};
use crate::topo::Link;

/// Which machinery a link's conditions need on a kernel with `f`.
pub fn backend_for(c: &Directed, f: &Features) -> Backend {
    if c.is_none() {
        return Backend::None;
    }
    let kernel_can = if c.needs_netem() { f.netem } else { f.tbf };
    if kernel_can {
        Backend::Kernel
    } else {
        Backend::Userspace
    }
}

/// Whether the kernel's qdiscs carry `c` (rather than nothing, or the
/// userspace emulator). Probes the kernel only for a link with conditions.
pub fn kernel_carries(c: &Directed) -> Result<bool> {
    if c.is_none() {
        return Ok(false);
    }
    let f = features::probe()?;
    Ok(backend_for(c, &f) == Backend::Kernel)
}

/// Puts `c` on the link's two interfaces (lab `lab`), replacing what is
/// there. `fresh`: the link was just created, so there is nothing to
/// remove where a direction has no conditions.
pub fn apply_link(lab: &str, l: &Link, c: &Directed, fresh: bool) -> Result<()> {
    // Conditions the kernel does not carry get no qdisc (the userspace
    // emulator, once wired in, carries them instead).
    let kernel = kernel_carries(c)?;
    for (i, imp) in [(0usize, &c.a_to_b), (1, &c.b_to_a)] {
        let e = &l.endpoints[i];
        let q = tc::for_impairment(imp).filter(|_| kernel);
        if q.is_none() && fresh {
            continue;
        }
        let ns_name = netns::ns_name(lab, &e.node);
        let ns = NetNs::open(&ns_name)?;
        let iface = e.iface.clone();
        ns.run(move || -> Result<()> {
            let mut sock = Socket::new()?;
            let index = link::index_of(&mut sock, &iface, &ns_name)?;
            set_root(&mut sock, index, q.as_ref(), &iface, &ns_name)
        })??;
    }
    Ok(())
}

/// Replaces the root qdisc of `index` with `q`, or removes ours (`None`).
pub fn set_root(
    sock: &mut Socket,
    index: u32,
    q: Option<&tc::Qdisc>,
    iface: &str,
    ns_name: &str,
) -> Result<()> {
    match q {
        Some(q) => sock.request(tc::set_root(
            index,
            q,
            false,
            format!("setting {} on {iface} in {ns_name}", q.kind),
        )),
        None => match sock.request(tc::delete_root(
            index,
            format!("removing the qdisc of {iface} in {ns_name}"),
        )) {
            Err(e) if matches!(e.raw_errno(), Some(libc::ENOENT) | Some(libc::EINVAL)) => Ok(()),
            other => other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::conditions::{Impairment, Rate};
    use std::time::Duration;

    fn features(netem: bool) -> Features {
        Features {
            netem,
            ..Features::all()
        }
    }

    #[test]
    fn backend_choice() {
        let none = Directed::default();
        let rate = Directed::symmetric(Impairment {
            rate: Some(Rate {
                bits_per_sec: 1_000_000,
                burst_bytes: None,
            }),
            limit: Some(10),
            ..Impairment::default()
        });
        let delay = Directed {
            a_to_b: Impairment::default(),
            b_to_a: Impairment {
                delay: Duration::from_millis(5),
                ..Impairment::default()
            },
        };
        for netem in [true, false] {
            let f = features(netem);
            assert_eq!(backend_for(&none, &f), Backend::None);
            assert_eq!(backend_for(&rate, &f), Backend::Kernel);
        }
        assert_eq!(backend_for(&delay, &features(true)), Backend::Kernel);
        assert_eq!(backend_for(&delay, &features(false)), Backend::Userspace);
        let no_tbf = Features {
            tbf: false,
            ..features(false)
        };
        assert_eq!(backend_for(&rate, &no_tbf), Backend::Userspace);
    }
}
