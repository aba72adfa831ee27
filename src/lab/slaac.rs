//! Waiting for SLAAC: `up` returns once every `ip6: auto` host has a
//! usable (not tentative) address in each prefix advertised on its
//! segments, so the `ping6` a user types next works. Bounded: a host that
//! gets nothing within [`SLAAC_WAIT`] is an error that names it.

use super::{Error, Result};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{addr, link};
use crate::topo::ra::{expected_slaac, Expected};
use crate::topo::{IpNet, Topology};
use std::time::{Duration, Instant};

/// The longest `up` waits. The routers' first adverts go out as their
/// sender starts and hosts skip DAD, so it normally takes milliseconds.
pub const SLAAC_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// Waits until each host's interface has an address in every prefix it
/// should get. Returns how long it waited (None: no `ip6: auto` host).
pub fn wait_for_slaac(t: &Topology, limit: Duration) -> Result<Option<Duration>> {
    let mut pending = expected_slaac(t);
    if pending.is_empty() {
        return Ok(None);
    }
    let start = Instant::now();
    loop {
        let mut left = Vec::new();
        for e in pending {
            if missing(&t.name, &e)?.is_some() {
                left.push(e);
            }
        }
        pending = left;
        if pending.is_empty() {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() >= limit {
            return Err(timeout(&t.name, &pending, limit));
        }
        std::thread::sleep(POLL);
    }
}

/// The first prefix `e` has no usable address in yet.
fn missing(lab: &str, e: &Expected) -> Result<Option<IpNet>> {
    let ns_name = netns::ns_name(lab, &e.node);
    let what = format!(
        "reading the addresses of {}:{} in {ns_name}",
        e.node, e.iface
    );
    let have = NetNs::open(&ns_name)?.run(|| -> Result<Vec<IpNet>> {
        let mut sock = Socket::new()?;
        let Some(index) = link::dump(&mut sock, &what)?
            .into_iter()
            .find(|l| l.name == e.iface)
            .map(|l| l.index)
        else {
            return Err(Error::Internal(format!(
                "{}:{} is missing",
                e.node, e.iface
            )));
        };
        Ok(addr::usable_v6(&mut sock, index, &what)?)
    })??;
    Ok(e.prefixes
        .iter()
        .find(|p| {
            !have
                .iter()
                .any(|a| a.prefix == p.prefix && p.contains(&a.addr))
        })
        .copied())
}

fn timeout(lab: &str, pending: &[Expected], limit: Duration) -> Error {
    let list: Vec<String> = pending
        .iter()
        .take(5)
        .map(|e| {
            let p: Vec<String> = e
                .prefixes
                .iter()
                .map(|p| format!("{}/{}", p.addr, p.prefix))
                .collect();
            format!("{}:{} (in {})", e.node, e.iface, p.join(", "))
        })
        .collect();
    Error::Slaac(format!(
        "{} interface(s) of `ip6: auto` hosts have no usable SLAAC address after {} s: {}{}; \
         see what the routers send with `nlab supervisor status {lab}` and the supervisor's log, \
         or add --no-wait to return without waiting",
        pending.len(),
        limit.as_secs(),
        list.join(", "),
        if pending.len() > list.len() {
            ", …"
        } else {
            ""
        }
    ))
}
