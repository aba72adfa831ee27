//! What is probed together: units (the two directions of a pair of hosts),
//! their fair order, the neighbour entries they cost, and waves that fit a
//! budget of entries. Plain data, no syscalls.
//!
//! Cost model. An ordered pair `a → b` between two namespaces makes `a`
//! resolve `b` (an entry in `a`) and, from `a`'s ARP request or neighbour
//! solicitation, makes `b` learn `a` (an entry in `b`): 2 entries. IPv6
//! also leaves an entry for the solicited-node group of `b` in `a` (a
//! `NOARP` one, which the kernel may collect, but it counts until then): 3.
//! The reverse `b → a` finds both entries when it runs after `a → b`, so a
//! unit of both directions costs what one direction does. Pairs inside one
//! namespace go over `lo` and cost nothing. Destinations behind a router
//! cost less than counted (the entries are the gateway's): the estimate
//! only errs on the safe side.

/// Neighbour entries of one ordered pair between two namespaces.
const COST_V4: u32 = 2;
const COST_V6: u32 = 3;

/// One or two ordered pairs of the same two hosts, probed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unit {
    /// The pair sent first (index into the run's sorted pair list).
    pub first: u32,
    /// The other direction, if it is probed too.
    pub second: Option<u32>,
    /// `second` waits for `first` to answer (or to be slow): both run in
    /// the same family between two namespaces, so `first`'s broadcast
    /// teaches the target everything `second` needs.
    pub chained: bool,
    /// Neighbour entries the unit may create, per family (`[v4, v6]`).
    pub cost: [u32; 2],
}

/// What the schedule needs to know of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HostInfo {
    /// Index of the host's namespace (equal: same namespace).
    pub ns: u32,
    /// The host's address is IPv6.
    pub v6: bool,
}

fn pair_cost(hosts: &[HostInfo], s: usize, d: usize) -> [u32; 2] {
    if hosts[s].ns == hosts[d].ns {
        [0, 0]
    } else if hosts[d].v6 {
        [0, COST_V6]
    } else {
        [COST_V4, 0]
    }
}

/// Groups `pairs` (sorted, no duplicates, indices into `hosts`) into units,
/// in a fair, deterministic order.
///
/// The order walks distances: a unit `{s, s + k mod n}` has distance `k`
/// (the shorter way round the ring of host indices), and units are sorted
/// by `(k, s)`. So every stretch of the order spreads over many hosts, each
/// in about the same number of units (two per distance): any wave cut from
/// it loads the hosts evenly, and no host resolves many neighbours at once.
/// The first pair of a unit is `s → s + k`, which also sends every host's
/// broadcasts round robin.
pub(super) fn units(hosts: &[HostInfo], pairs: &[(usize, usize)]) -> Vec<Unit> {
    let n = hosts.len().max(1);
    let mut keyed: Vec<((usize, usize), Unit)> = Vec::with_capacity(pairs.len());
    for (id, &(s, d)) in pairs.iter().enumerate() {
        let reverse = if s == d {
            None
        } else {
            pairs.binary_search(&(d, s)).ok()
        };
        if reverse.is_some_and(|r| r < id) {
            continue; // the unit was made at its first pair
        }
        let (lo, hi) = (s.min(d), s.max(d));
        let ahead = hi - lo;
        // The unit starts at `from` and reaches the other host `dist` ahead.
        let (dist, from) = if ahead <= n - ahead {
            (ahead, lo)
        } else {
            (n - ahead, hi)
        };
        let id = id as u32;
        let unit = match reverse {
            None => Unit {
                first: id,
                second: None,
                chained: false,
                cost: pair_cost(hosts, s, d),
            },
            Some(r) => {
                let r = r as u32;
                // `id` is `(s, d)`; lead with the pair that leaves `from`.
                let (first, second) = if s == from { (id, r) } else { (r, id) };
                let there = pair_cost(hosts, s, d);
                let back = pair_cost(hosts, d, s);
                let chained = hosts[s].ns != hosts[d].ns && hosts[s].v6 == hosts[d].v6;
                let cost = if chained {
                    there
                } else {
                    [there[0] + back[0], there[1] + back[1]]
                };
                Unit {
                    first,
                    second: Some(second),
                    chained,
                    cost,
                }
            }
        };
        keyed.push(((dist, from), unit));
    }
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, u)| u).collect()
}

/// Total neighbour entries of `units`, per family.
pub(super) fn total_cost(units: &[Unit]) -> [u64; 2] {
    let mut t = [0u64; 2];
    for u in units {
        t[0] += u64::from(u.cost[0]);
        t[1] += u64::from(u.cost[1]);
    }
    t
}

/// The end of the wave that starts at `units[start]`: the longest run of
/// units, in order, whose entries fit `cap` in both families. Always takes
/// at least one unit, so a run makes progress whatever the budget.
pub(super) fn wave_end(units: &[Unit], start: usize, cap: [u64; 2]) -> usize {
    let mut used = [0u64; 2];
    let mut end = start;
    while end < units.len() {
        let c = units[end].cost;
        let next = [used[0] + u64::from(c[0]), used[1] + u64::from(c[1])];
        if end > start && (next[0] > cap[0] || next[1] > cap[1]) {
            break;
        }
        used = next;
        end += 1;
    }
    end
}

/// Share of the free part of the table a run may fill: the rest is left to
/// whatever else on the host makes neighbours meanwhile (other labs, the
/// host's own traffic).
const SHARE_NUM: u64 = 4;
const SHARE_DEN: u64 = 5;

/// The neighbour entries one wave may hold, given the table's cap
/// (`gc_thresh3`) and the entries in it now: 80% of the free room, and at
/// least a small floor (an eighth of the cap, 8 to 64 entries). The table
/// can free more than it looks: the kernel collects entries older than 5 s,
/// failed ones and multicast ones when it is full, so a busy table is not a
/// dead end, and a wave of the floor's size still progresses.
pub(super) fn budget(thresh3: u64, entries: u64) -> u64 {
    let room = thresh3.saturating_sub(entries);
    let floor = (thresh3 / 8).clamp(8, 64);
    (room.saturating_mul(SHARE_NUM) / SHARE_DEN).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn star(n: usize, v6: bool) -> Vec<HostInfo> {
        (0..n).map(|i| HostInfo { ns: i as u32, v6 }).collect()
    }

    fn all_pairs(n: usize) -> Vec<(usize, usize)> {
        (0..n)
            .flat_map(|s| (0..n).map(move |d| (s, d)))
            .filter(|(s, d)| s != d)
            .collect()
    }

    #[test]
    fn units_cover_every_pair_once() {
        for n in [2, 3, 4, 7, 10] {
            let pairs = all_pairs(n);
            let us = units(&star(n, false), &pairs);
            assert_eq!(us.len(), n * (n - 1) / 2, "n = {n}");
            let mut seen: Vec<u32> = us
                .iter()
                .flat_map(|u| std::iter::once(u.first).chain(u.second))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..pairs.len() as u32).collect::<Vec<_>>());
            assert!(us.iter().all(|u| u.chained && u.cost == [2, 0]));
            assert_eq!(total_cost(&us), [(n * (n - 1)) as u64, 0]);
        }
    }

    #[test]
    fn order_walks_distances_round_robin() {
        let n = 5;
        let pairs = all_pairs(n);
        let us = units(&star(n, false), &pairs);
        let firsts: Vec<(usize, usize)> = us.iter().map(|u| pairs[u.first as usize]).collect();
        assert_eq!(
            firsts,
            [
                (0, 1),
                (1, 2),
                (2, 3),
                (3, 4),
                (4, 0),
                (0, 2),
                (1, 3),
                (2, 4),
                (3, 0),
                (4, 1)
            ]
        );
        // The second pair is the reverse of the first.
        for u in &us {
            let (s, d) = pairs[u.first as usize];
            assert_eq!(pairs[u.second.unwrap() as usize], (d, s));
        }
    }

    #[test]
    fn waves_load_hosts_evenly() {
        let n = 100;
        let us = units(&star(n, false), &all_pairs(n));
        let mut start = 0;
        let mut waves = 0;
        while start < us.len() {
            let end = wave_end(&us, start, [800, 800]);
            let mut per_host = vec![0u32; n];
            let pairs = all_pairs(n);
            for u in &us[start..end] {
                let (s, d) = pairs[u.first as usize];
                per_host[s] += 1;
                per_host[d] += 1;
            }
            let max = *per_host.iter().max().unwrap();
            let min = *per_host.iter().min().unwrap();
            assert!(total_cost(&us[start..end])[0] <= 800);
            assert!(max - min <= 2, "wave {waves}: {min}..{max} units per host");
            start = end;
            waves += 1;
        }
        assert_eq!(waves, 13, "9,900 entries in waves of at most 800");
    }

    #[test]
    fn costs_follow_family_and_namespace() {
        // Hosts 0 and 1 share a namespace; 2 is IPv6; 3 is IPv4.
        let hosts = [
            HostInfo { ns: 0, v6: false },
            HostInfo { ns: 0, v6: false },
            HostInfo { ns: 1, v6: true },
            HostInfo { ns: 2, v6: false },
        ];
        let pairs = vec![(0, 0), (0, 1), (1, 0), (2, 3), (3, 2), (0, 2)];
        let mut pairs = pairs;
        pairs.sort_unstable();
        let us = units(&hosts, &pairs);
        let cost_of = |a: (usize, usize)| {
            us.iter()
                .find(|u| {
                    pairs[u.first as usize] == a || u.second.map(|s| pairs[s as usize]) == Some(a)
                })
                .unwrap()
                .clone()
        };
        assert_eq!(cost_of((0, 0)).cost, [0, 0]);
        assert_eq!(cost_of((0, 1)).cost, [0, 0]);
        assert!(!cost_of((0, 1)).chained);
        // A v6 host and a v4 host: two independent directions.
        let mixed = cost_of((2, 3));
        assert!(!mixed.chained);
        assert_eq!(mixed.cost, [2, 3]);
        assert_eq!(cost_of((0, 2)).cost, [0, 3]);
        assert_eq!(cost_of((0, 2)).second, None);
    }

    #[test]
    fn a_wave_always_takes_a_unit() {
        let us = units(&star(3, true), &all_pairs(3));
        assert_eq!(wave_end(&us, 0, [0, 0]), 1);
        assert_eq!(wave_end(&us, 0, [0, 6]), 2);
        assert_eq!(wave_end(&us, 2, [0, 6]), 3);
        assert_eq!(wave_end(&us, 3, [0, 6]), 3);
    }

    #[test]
    fn budget_is_most_of_the_free_room() {
        assert_eq!(budget(1024, 0), 819);
        assert_eq!(budget(1024, 1000), 64);
        assert_eq!(budget(1024, 5000), 64);
        assert_eq!(budget(32, 0), 25);
        assert_eq!(budget(16, 16), 8);
        assert_eq!(budget(1 << 20, 100), 838_780);
    }
}
