//! Static ARP (`nlab up --topo … --arp`, Mininet's `--arp` and
//! `staticArp()`): every host knows every other host's MAC for good, as a
//! permanent neighbour entry, so no ARP request is ever broadcast between
//! them. Made through netlink in each host's namespace; permanent entries
//! do not count against the host-wide `gc_thresh3` limit.

use super::{Lab, Result};
use crate::kernel::addr::{self, AddrState};
use crate::kernel::netlink::{Request, Socket};
use crate::kernel::netns::NetNs;
use crate::kernel::{link, neigh, Error};
use crate::topo::MacAddr;
use std::net::IpAddr;

/// Namespaces handled at once.
const THREADS: usize = 4;

/// One host as static ARP needs it: where it lives, its IPv4 address, the
/// MAC of the interface that has it, and its addresses (to find the link
/// that reaches each other host).
struct Host {
    name: String,
    ns: String,
    addr: IpAddr,
    mac: Option<MacAddr>,
    addrs: Vec<AddrState>,
}

impl Lab {
    /// Adds a permanent neighbour entry in every host for every other
    /// host on a subnet it is attached to (its first IPv4 address, the
    /// MAC of the interface that holds it). Returns the number of entries
    /// made. Safe to repeat: existing entries are replaced.
    pub fn static_arp(&self) -> Result<usize> {
        let t = self.topology();
        // The hosts `pingall` probes: every node but the switches, by its
        // first IPv4 address.
        let mut hosts: Vec<Host> = t
            .hosts()
            .into_iter()
            .filter_map(|n| {
                Some(Host {
                    name: n.name.clone(),
                    ns: crate::kernel::netns::ns_name(&t.name, &n.name),
                    addr: t.primary_addr(&n.name, false)?,
                    mac: None,
                    addrs: Vec::new(),
                })
            })
            .collect();
        let chunk = hosts.len().div_ceil(THREADS).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .chunks_mut(chunk)
                .map(|part| s.spawn(move || part.iter_mut().try_for_each(read_host)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                .collect::<std::result::Result<Vec<()>, Error>>()
        })?;
        let hosts = &hosts;
        let counts = std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|h| write_entries(h, hosts))
                            .sum::<std::result::Result<usize, Error>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                .sum::<std::result::Result<usize, Error>>()
        })?;
        Ok(counts)
    }
}

fn panicked() -> Error {
    Error::protocol("setting static ARP entries", "a worker thread panicked")
}

/// Reads a host's addresses and the MAC of the interface with its address.
fn read_host(h: &mut Host) -> std::result::Result<(), Error> {
    let ns = NetNs::open(&h.ns)?;
    let (addrs, links) = ns.run(|| -> std::result::Result<_, Error> {
        let mut sock = Socket::new()?;
        let addrs = addr::dump(&mut sock, &format!("reading addresses of {}", h.ns))?;
        let links = link::dump(&mut sock, &format!("reading links of {}", h.ns))?;
        Ok((addrs, links))
    })??;
    let index = addrs.iter().find(|a| a.net.addr == h.addr).map(|a| a.index);
    h.mac = index.and_then(|i| links.iter().find(|l| l.index == i)?.mac);
    h.addrs = addrs;
    Ok(())
}

/// Writes `h`'s entries for every other host it reaches directly.
fn write_entries(h: &Host, all: &[Host]) -> std::result::Result<usize, Error> {
    let mut reqs: Vec<Request> = Vec::new();
    for d in all {
        if d.ns == h.ns || d.name == h.name {
            continue;
        }
        let Some(mac) = d.mac else { continue };
        let Some(index) = connected(&h.addrs, d.addr) else {
            continue;
        };
        let what = format!(
            "adding a permanent neighbour {} ({}) in {}",
            d.addr, d.name, h.ns
        );
        reqs.push(neigh::add_permanent(index, d.addr, mac, what));
    }
    if reqs.is_empty() {
        return Ok(0);
    }
    let n = reqs.len();
    let ns = NetNs::open(&h.ns)?;
    let errors = ns.run(|| -> std::result::Result<Vec<Error>, Error> {
        let mut sock = Socket::new()?;
        Ok(sock.execute(reqs))
    })??;
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(n),
    }
}

/// The link of `addrs` whose prefix holds `dst` (the longest).
fn connected(addrs: &[AddrState], dst: IpAddr) -> Option<u32> {
    addrs
        .iter()
        .filter(|a| a.net.addr != dst && a.net.contains(&dst))
        .max_by_key(|a| a.net.prefix)
        .map(|a| a.index)
}
