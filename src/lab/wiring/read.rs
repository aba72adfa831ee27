//! Reading every namespace's links from the kernel: one visit per
//! namespace (enter, dump links, look up each cross-namespace link's far
//! end through its id), spread over a few threads; then, only for what
//! the pairing could not settle, a second visit to ask the kernel which
//! id a namespace gives each candidate.

use super::pair::{self, At, Far, Iface, Joined};
use crate::kernel::link_detail::{self, LinkDetail};
use crate::kernel::netlink::Socket;
use crate::kernel::nsscan::{self, Holders};
use crate::kernel::{nsid, Error as KError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One namespace as read.
#[derive(Debug, Clone)]
pub struct RawNs {
    pub holders: Holders,
    pub links: Vec<LinkDetail>,
    /// The far end of each cross-namespace link, by local index.
    pub far: HashMap<u32, LinkDetail>,
}

/// Reads every namespace of `found`; those that cannot be read (gone
/// since the scan, not a namespace) are left out and described in the
/// second list.
pub fn read_all(found: Vec<Holders>) -> (Vec<RawNs>, Vec<String>) {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(found.len().max(1));
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Result<RawNs, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(h) = found.get(i) else { break };
                    mine.push((i, read_one(h).map_err(|e| e.to_string())));
                }
                if let Ok(mut d) = done.lock() {
                    d.extend(mine);
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_default();
    done.sort_by_key(|(i, _)| *i);
    let mut ok = Vec::with_capacity(done.len());
    let mut failed = Vec::new();
    for (_, r) in done {
        match r {
            Ok(raw) => ok.push(raw),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

fn read_one(h: &Holders) -> Result<RawNs, KError> {
    let name = h.path.display().to_string();
    let ns = nsscan::open(&h.path, &name)?;
    let (links, far) = ns.run(|| -> Result<_, KError> {
        let mut sock = Socket::new()?;
        let links = link_detail::dump(&mut sock, &format!("reading links of namespace {name}"))?;
        let mut far = HashMap::new();
        for l in &links {
            if let (Some(id), Some(peer)) = (l.link.peer_netnsid, l.link.peer_index) {
                let what = format!("reading the far end of {} in namespace {name}", l.link.name);
                // A far end that vanished in between is simply not found.
                if let Ok(Some(d)) = link_detail::in_peer_ns(&mut sock, id, peer, &what) {
                    far.insert(l.link.index, d);
                }
            }
        }
        Ok((links, far))
    })??;
    Ok(RawNs {
        holders: h.clone(),
        links,
        far,
    })
}

/// The pairing's input, from what was read.
pub fn ifaces(nss: &[RawNs]) -> Vec<Vec<Iface>> {
    nss.iter()
        .map(|ns| {
            ns.links
                .iter()
                .map(|l| Iface {
                    index: l.link.index,
                    name: l.link.name.clone(),
                    mac: l.link.mac,
                    veth: l.link.kind.as_deref() == Some("veth"),
                    link: l.link.peer_index,
                    link_nsid: l.link.peer_netnsid,
                    far: ns.far.get(&l.link.index).map(|d| Far {
                        name: d.link.name.clone(),
                        mac: d.link.mac,
                    }),
                })
                .collect()
        })
        .collect()
}

/// Settles ties in `joined` by asking, from inside each near end's
/// namespace, which id it gives each candidate's namespace. A tie that
/// still does not settle (or a namespace gone meanwhile) becomes
/// `Unseen`: better no peer than a wrong one.
pub fn break_ties(nss: &[RawNs], joined: &mut [Vec<Joined>]) {
    for (n, row) in joined.iter_mut().enumerate() {
        let ties: Vec<(usize, Vec<At>)> = row
            .iter()
            .enumerate()
            .filter_map(|(i, j)| match j {
                Joined::Tie(c) => Some((i, c.clone())),
                _ => None,
            })
            .collect();
        if ties.is_empty() {
            continue;
        }
        let mut cand_ns: Vec<usize> = ties
            .iter()
            .flat_map(|(_, c)| c.iter().map(|a| a.0))
            .collect();
        cand_ns.sort_unstable();
        cand_ns.dedup();
        let ids = ids_seen_from(nss, n, &cand_ns).unwrap_or_default();
        for (i, cands) in ties {
            let want = nss[n].links[i].link.peer_netnsid;
            row[i] = want
                .and_then(|w| pair::break_tie(&cands, &ids, w))
                .map_or(Joined::Unseen, Joined::Found);
        }
    }
}

/// The id namespace `n` gives each of the namespaces `others`.
fn ids_seen_from(
    nss: &[RawNs],
    n: usize,
    others: &[usize],
) -> Result<HashMap<usize, Option<i32>>, KError> {
    let name = nss[n].holders.path.display().to_string();
    let near = nsscan::open(&nss[n].holders.path, &name)?;
    let mut opened = Vec::new();
    for &m in others {
        let path = &nss[m].holders.path;
        if let Ok(ns) = nsscan::open(path, &path.display().to_string()) {
            opened.push((m, ns));
        }
    }
    near.run(|| -> Result<_, KError> {
        let mut sock = Socket::new()?;
        let mut ids = HashMap::new();
        for (m, ns) in &opened {
            let what = format!("asking namespace {name} for the id of {}", ns.name);
            ids.insert(*m, nsid::id_of(&mut sock, ns.fd(), &what)?);
        }
        Ok(ids)
    })?
}
