//! The data of a wave: pairs, their state and pacing, which driver runs
//! each, and which neighbour entries a finished unit leaves behind.

use super::schedule::Unit;
use super::PingHost;
use crate::kernel::addr::AddrState;
use crate::kernel::neigh;
use std::collections::HashSet;
use std::net::IpAddr;

/// "No driver / slot".
pub(super) const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum State {
    /// Waits for its unit's first pair.
    Held,
    Waiting,
    Active,
    Answered,
    Failed,
}

pub(super) struct Pair {
    /// Index in the run's pair list.
    pub id: u32,
    /// Index of its unit in the list the wave was cut from.
    pub unit: u32,
    pub src: u32,
    pub dst: u32,
    /// Socket (in the driver's share) the requests leave from.
    pub sock: u32,
    pub state: State,
    /// Its first request may broadcast (see [`Pace::max_cold`]).
    pub cold: bool,
    /// It holds one of the driver's cold slots.
    pub holds_cold: bool,
    /// The unit's second pair, triggered by this one: driver and slot.
    pub partner: (u32, u32),
    pub sent: u32,
    /// First request, ns since the start of the run.
    pub first: u64,
    /// Next retry or expiry.
    pub due: u64,
    pub rtt: u64,
}

impl Pair {
    pub fn new(
        id: u32,
        unit: u32,
        (src, dst): (u32, u32),
        sock: u32,
        state: State,
        cold: bool,
    ) -> Pair {
        Pair {
            id,
            unit,
            src,
            dst,
            sock,
            state,
            cold,
            holds_cold: false,
            partner: (NONE, NONE),
            sent: 0,
            first: 0,
            due: 0,
            rtt: 0,
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self.state, State::Answered | State::Failed)
    }
}

/// A neighbour entry to delete: namespace (index in the driver's share),
/// link and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Del {
    pub ns: u32,
    pub index: u32,
    pub addr: IpAddr,
}

/// One driver's part of a wave.
#[derive(Default)]
pub(super) struct Plan {
    /// New pairs of the wave (pairs carried over from the previous wave
    /// are added after them when the wave starts).
    pub pairs: Vec<Pair>,
    /// Slots of the pairs that start on their own, in start order.
    pub order: Vec<u32>,
}

/// How pairs are paced.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pace {
    pub timeout: u64,
    pub interval: u64,
    /// Pairs outstanding per driver.
    pub max_in_flight: usize,
    /// Pairs per driver whose broadcast may still be on its way. A
    /// broadcast on a bridge of N ports puts N copies in the sending CPU's
    /// backlog (`netdev_max_backlog`); copies beyond it are dropped and the
    /// target's costs an ARP retry (1 s).
    pub max_cold: usize,
    /// A cold pair gives its slot back after this long even unanswered: its
    /// broadcast has been delivered (or dropped) long before.
    pub cold_hold: u64,
    /// A pair unanswered for this long straggles: when nothing else of a
    /// wave is left, the driver ends the wave and carries it over to the
    /// next (a host that is down would otherwise hold up every wave until
    /// the timeout).
    pub straggle: u64,
}

/// Where a namespace's things are: its driver, its index in the driver's
/// share, its raw sockets there (`[v4, v6]`).
#[derive(Clone, Copy)]
pub(super) struct NsLoc {
    pub shard: u32,
    pub local: u32,
    pub socks: [u32; 2],
}

/// The run's fixed facts, used to plan each wave.
pub(super) struct Planner<'a> {
    pub hosts: &'a [PingHost],
    pub pairs: &'a [(usize, usize)],
    pub host_ns: &'a [u32],
    pub locs: &'a [NsLoc],
    pub addrs: &'a [Vec<AddrState>],
    pub keep: &'a HashSet<(u32, u32, IpAddr)>,
    pub threads: usize,
}

impl Planner<'_> {
    /// The drivers' plans for `units`, which start at `first` in the list
    /// the wave is cut from.
    pub fn plan(&self, units: &[Unit], first: usize) -> Vec<Plan> {
        let mut plans: Vec<Plan> = (0..self.threads).map(|_| Plan::default()).collect();
        for (i, u) in units.iter().enumerate() {
            let unit = (first + i) as u32;
            let (shard, slot) = self.place(&mut plans, u.first, unit, State::Waiting);
            plans[shard as usize].order.push(slot);
            if let Some(second) = u.second {
                if u.chained {
                    let partner = self.place(&mut plans, second, unit, State::Held);
                    plans[shard as usize].pairs[slot as usize].partner = partner;
                } else {
                    let (s2, slot2) = self.place(&mut plans, second, unit, State::Waiting);
                    plans[s2 as usize].order.push(slot2);
                }
            }
        }
        plans
    }

    /// Adds pair `id` to the plan of its source's driver.
    fn place(&self, plans: &mut [Plan], id: u32, unit: u32, state: State) -> (u32, u32) {
        let (s, d) = self.pairs[id as usize];
        let loc = self.locs[self.host_ns[s] as usize];
        let sock = loc.socks[usize::from(self.hosts[d].addr.is_ipv6())];
        let cold = state != State::Held && self.host_ns[s] != self.host_ns[d] && !self.pinned(s, d);
        let plan = &mut plans[loc.shard as usize];
        let slot = plan.pairs.len() as u32;
        let ends = (s as u32, d as u32);
        plan.pairs
            .push(Pair::new(id, unit, ends, sock, state, cold));
        (loc.shard, slot)
    }

    /// Whether `s` has a permanent neighbour entry for `d` (static ARP):
    /// its first request sends no broadcast, so it needs no cold slot.
    fn pinned(&self, s: usize, d: usize) -> bool {
        let ns = self.host_ns[s];
        let dst = self.hosts[d].addr;
        connected(&self.addrs[ns as usize], dst)
            .is_some_and(|(index, _)| self.keep.contains(&(ns, index, dst)))
    }

    /// The neighbour entries unit `u` may create, routed to the drivers
    /// owning their namespaces.
    pub fn dels(&self, u: &Unit, dels: &mut [Vec<Del>]) {
        let mut found: Vec<(u32, u32, IpAddr)> = Vec::with_capacity(4);
        for id in std::iter::once(u.first).chain(u.second) {
            let (s, d) = self.pairs[id as usize];
            let (ns_s, ns_d) = (self.host_ns[s], self.host_ns[d]);
            if ns_s == ns_d {
                continue;
            }
            let dst = self.hosts[d].addr;
            // The link `s` reaches `dst` on, and the address it sends from.
            let Some((if_s, src)) = connected(&self.addrs[ns_s as usize], dst) else {
                continue; // local, or behind a router: the entry is the gateway's
            };
            let back = connected(&self.addrs[ns_d as usize], src.net.addr);
            let mut add = |ns: u32, index: u32, ip: IpAddr| {
                if !found.contains(&(ns, index, ip)) {
                    found.push((ns, index, ip));
                }
            };
            add(ns_s, if_s, dst);
            if let IpAddr::V6(a) = dst {
                add(ns_s, if_s, IpAddr::V6(neigh::solicited_node(a)));
            }
            if let Some((if_d, _)) = back {
                add(ns_d, if_d, src.net.addr);
                if let IpAddr::V6(a) = src.net.addr {
                    add(ns_d, if_d, IpAddr::V6(neigh::solicited_node(a)));
                }
            }
        }
        for (ns, index, addr) in found {
            if self.keep.contains(&(ns, index, addr)) {
                continue;
            }
            let loc = self.locs[ns as usize];
            dels[loc.shard as usize].push(Del {
                ns: loc.local,
                index,
                addr,
            });
        }
    }
}

/// The link of `addrs` whose prefix holds `dst` (the longest), and the
/// address there; `None` if `dst` is one of `addrs` or on no link.
fn connected(addrs: &[AddrState], dst: IpAddr) -> Option<(u32, &AddrState)> {
    if addrs.iter().any(|a| a.net.addr == dst) {
        return None;
    }
    addrs
        .iter()
        .filter(|a| a.net.contains(&dst))
        .max_by_key(|a| a.net.prefix)
        .map(|a| (a.index, a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::IpNet;

    fn a(index: u32, net: &str) -> AddrState {
        let (ip, p) = net.split_once('/').unwrap();
        AddrState {
            index,
            net: IpNet {
                addr: ip.parse().unwrap(),
                prefix: p.parse().unwrap(),
            },
            scope_global: true,
        }
    }

    #[test]
    fn connected_picks_the_longest_prefix() {
        let addrs = [
            a(1, "127.0.0.1/8"),
            a(2, "10.0.0.1/16"),
            a(3, "10.0.1.1/24"),
            a(2, "fd00::1/64"),
        ];
        let pick = |ip: &str| connected(&addrs, ip.parse().unwrap()).map(|(i, a)| (i, a.net.addr));
        assert_eq!(pick("10.0.1.7"), Some((3, "10.0.1.1".parse().unwrap())));
        assert_eq!(pick("10.0.2.7"), Some((2, "10.0.0.1".parse().unwrap())));
        assert_eq!(pick("fd00::9"), Some((2, "fd00::1".parse().unwrap())));
        assert_eq!(pick("10.0.0.1"), None, "own address");
        assert_eq!(pick("192.168.0.1"), None, "behind a router");
    }
}
