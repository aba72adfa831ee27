//! A run: open the namespaces, size the waves from the host's limits, run
//! the waves on the driver threads, clean the neighbour tables between
//! them, and collect the results.
//!
//! Waves. The run's units (see `schedule.rs`) are taken in their fixed
//! order; each wave is the longest stretch of them whose neighbour entries
//! fit the budget, `(gc_thresh3 − entries in the table) × 0.8`, read when
//! the run starts and again (only ever smaller) before each wave, since
//! other labs share the table. Before the next wave starts, every driver
//! deletes the entries of the finished units in its namespaces
//! (`RTM_DELNEIGH`, pipelined per namespace). A wave ends when its pairs
//! are done or only stragglers are left: those (a host that is down) are
//! carried over and count against the next wave's budget (`waves.rs`). A
//! run that fits in one wave deletes nothing: small labs keep warm caches,
//! as Mininet leaves them.
//!
//! If the table overflowed during a wave anyway (its `table_fulls` counter
//! grew: something else filled it meanwhile), the wave's failed pairs are
//! probed again at the end, up to [`RETRY_ROUNDS`] times.

use super::driver::{Cleanup, Shard};
use super::plan::{NsLoc, Pace, Planner, NONE};
use super::schedule::{self, HostInfo, Unit};
use super::socket::{self, NsWant};
use super::sync::{Inbox, Shared};
use super::tables::{self, Tables};
use super::waves::Waves;
use super::{PairResult, PingHost, PingOpts};
use crate::kernel::limits;
use crate::kernel::{Error, Result};
use socket2::SockAddr;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Most driver threads one run uses.
const MAX_THREADS: usize = 16;
/// Extra rounds for pairs that failed while the neighbour table overflowed.
const RETRY_ROUNDS: usize = 2;
/// A cold pair's broadcast is long delivered after this (see `Pace`).
const COLD_HOLD: Duration = Duration::from_millis(20);

pub(super) fn run(
    hosts: &[PingHost],
    pairs: Vec<(usize, usize)>,
    opts: &PingOpts,
    cap: Option<u64>,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<PairResult>> {
    let total = pairs.len();
    if total == 0 {
        progress(0, 0);
        return Ok(Vec::new());
    }
    // Indices travel as u32 (the top bit of a slot marks cold triggers).
    if hosts.len().max(total) >= (u32::MAX / 2) as usize {
        return Err(Error::protocol(
            format!("pinging {total} pairs of {} hosts", hosts.len()),
            "too many for one run",
        ));
    }
    tables::warn_if_backlog_small(hosts.len());

    let (wants, host_ns) = namespaces(hosts, &pairs);
    let info = host_info(hosts, &host_ns);
    let units = schedule::units(&info, &pairs);
    let threads = thread_count(opts.threads, wants.len());
    socket::reserve_fds(fds_needed(&wants, threads))?;
    let targets = lookup_targets(hosts, wants.len());
    let opened = socket::open_all(&wants, targets.as_deref())?;

    // The budget decides whether the run needs waves (and cleanup).
    let need = schedule::total_cost(&units);
    let tables = Tables::read(need, cap);
    let mut reused = reused_entries(&opened, hosts);
    for (i, p) in pinned_entries(&opened, hosts).into_iter().enumerate() {
        reused[i] += p;
    }
    let waved = needs_waves(need, reused, tables.start_budget);
    if waved {
        tracing::info!(
            "pingall: {need:?} neighbour entries ([IPv4, IPv6]) would not fit the host's \
             tables (gc_thresh3 {:?}, budget {:?}): probing in waves",
            tables.thresh3,
            tables.start_budget
        );
    }

    let inboxes: Vec<Inbox> = (0..threads).map(|_| Inbox::new()).collect::<Result<_>>()?;
    let mut dealt = deal(opened, &wants, &inboxes, waved, total)?;
    let dests: Vec<SockAddr> = hosts
        .iter()
        .map(|h| SockAddr::from(SocketAddr::new(h.addr, 0)))
        .collect();
    let backlog = limits::netdev_backlog().unwrap_or(1000);
    let done = AtomicUsize::new(0);
    let sh = Shared {
        hosts,
        dests: &dests,
        nonce: RandomState::new().hash_one(std::process::id()) as u32,
        start: Instant::now(),
        pace: pace(opts, threads, backlog, hosts.len()),
        inboxes: &inboxes,
        done: &done,
        aborted: AtomicBool::new(false),
    };
    let planner = Planner {
        hosts,
        pairs: &pairs,
        host_ns: &host_ns,
        locs: &dealt.locs,
        addrs: &dealt.addrs,
        keep: &dealt.keep,
        threads,
    };
    let reported = Cell::new(usize::MAX);
    let report = || {
        let d = done.load(Ordering::Relaxed).min(total);
        if d != reported.get() {
            progress(d, total);
            reported.set(d);
        }
    };

    let mut results = unanswered(&pairs);
    let mut waves = Waves {
        shards: &mut dealt.shards,
        planner: &planner,
        sh: &sh,
        tables: &tables,
        cleanup: waved,
        wave: 0,
        cleaned: Cleanup::default(),
    };
    probe_all(&mut waves, &units, &info, &pairs, &mut results, &report)?;
    log_end(&mut waves, total);
    if reported.get() != total {
        progress(total, total);
    }
    Ok(results)
}

/// The namespaces of the run in first-use order, with what each needs
/// (raw sockets for the families its sources ping), and each host's
/// namespace index (`u32::MAX`: in no pair).
fn namespaces(hosts: &[PingHost], pairs: &[(usize, usize)]) -> (Vec<NsWant>, Vec<u32>) {
    let mut ns_index: HashMap<&str, u32> = HashMap::new();
    let mut wants: Vec<NsWant> = Vec::new();
    let mut host_ns = vec![u32::MAX; hosts.len()];
    for &(s, d) in pairs {
        for h in [s, d] {
            let ns = hosts[h].ns.as_str();
            host_ns[h] = *ns_index.entry(ns).or_insert_with(|| {
                wants.push(NsWant {
                    name: ns.to_string(),
                    ..NsWant::default()
                });
                (wants.len() - 1) as u32
            });
        }
        let w = &mut wants[host_ns[s] as usize];
        if hosts[d].addr.is_ipv6() {
            w.v6 = true;
        } else {
            w.v4 = true;
        }
    }
    (wants, host_ns)
}

fn host_info(hosts: &[PingHost], host_ns: &[u32]) -> Vec<HostInfo> {
    hosts
        .iter()
        .zip(host_ns)
        .map(|(h, &ns)| HostInfo {
            ns,
            v6: h.addr.is_ipv6(),
        })
        .collect()
}

/// Driver threads: as asked (0: one per CPU), at most [`MAX_THREADS`] and
/// never more than there are namespaces to deal out.
fn thread_count(asked: usize, namespaces: usize) -> usize {
    let t = match asked {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    t.clamp(1, MAX_THREADS).min(namespaces)
}

/// Descriptors the run holds at once: per namespace a netlink socket and
/// a raw socket per family, per driver an epoll and an eventfd.
fn fds_needed(wants: &[NsWant], threads: usize) -> usize {
    wants
        .iter()
        .map(|w| 1 + usize::from(w.v4) + usize::from(w.v6))
        .sum::<usize>()
        + 2 * threads
}

/// Neighbour entries (`[v4, v6]`) the run's namespaces hold already for
/// the run's own addresses (a previous run's): reused, not made again.
fn reused_entries(opened: &[socket::NsOpen], hosts: &[PingHost]) -> [u64; 2] {
    let run_addrs: HashSet<IpAddr> = opened
        .iter()
        .flat_map(|o| o.addrs.iter().map(|a| a.net.addr))
        .chain(hosts.iter().map(|h| h.addr))
        .collect();
    let mut ours = [0u64; 2];
    for dst in opened.iter().flat_map(|o| &o.neigh.dynamic) {
        if run_addrs.contains(dst) {
            ours[usize::from(dst.is_ipv6())] += 1;
        }
    }
    ours
}

/// The run's addresses, when looking their neighbour entries up one by
/// one in every namespace is cheaper than dumping each namespace's
/// entries: a dump walks the host's whole table (all namespaces), so
/// that costs `namespaces × entries`, against `namespaces × hosts` for
/// the lookups (each several times dearer than a step of the walk).
fn lookup_targets(hosts: &[PingHost], namespaces: usize) -> Option<Vec<IpAddr>> {
    let entries: u64 = [limits::Family::V4, limits::Family::V6]
        .into_iter()
        .filter_map(|f| limits::neigh_stats(f).ok())
        .map(|s| s.entries)
        .sum();
    let lookups = hosts.len() as u64 * 8;
    (namespaces > 1 && entries > lookups.max(50_000)).then(|| {
        let mut a: Vec<IpAddr> = hosts.iter().map(|h| h.addr).collect();
        a.sort_unstable();
        a.dedup();
        a
    })
}

/// Permanent neighbour entries (`[v4, v6]`) for the run's addresses
/// (static ARP, `nlab up --arp`): the pairs they serve make no entry and
/// send no broadcast. Permanent entries do not count against
/// `gc_thresh3`, so they take nothing from the budget either.
fn pinned_entries(opened: &[socket::NsOpen], hosts: &[PingHost]) -> [u64; 2] {
    let run_addrs: HashSet<IpAddr> = hosts.iter().map(|h| h.addr).collect();
    let mut pinned = [0u64; 2];
    for (_, dst) in opened.iter().flat_map(|o| &o.neigh.keep) {
        if run_addrs.contains(dst) {
            pinned[usize::from(dst.is_ipv6())] += 1;
        }
    }
    pinned
}

/// Whether the entries the run must make do not fit the budget of some
/// family: then it runs in waves and cleans between them.
fn needs_waves(need: [u64; 2], reused: [u64; 2], budget: [u64; 2]) -> bool {
    (0..2).any(|i| need[i].saturating_sub(reused[i]) > budget[i])
}

/// The opened namespaces dealt to the drivers, and where each went.
struct Dealt {
    shards: Vec<Shard>,
    locs: Vec<NsLoc>,
    addrs: Vec<Vec<crate::kernel::addr::AddrState>>,
    keep: HashSet<(u32, u32, IpAddr)>,
}

/// Deals the namespaces to the drivers round robin. `waved`: the run
/// deletes neighbour entries, so the drivers keep the netlink sockets.
fn deal(
    opened: Vec<socket::NsOpen>,
    wants: &[NsWant],
    inboxes: &[Inbox],
    waved: bool,
    total: usize,
) -> Result<Dealt> {
    let threads = inboxes.len();
    let mut shards: Vec<Shard> = inboxes
        .iter()
        .enumerate()
        .map(|(i, inbox)| Shard::new(i as u32, inbox, total))
        .collect::<Result<_>>()?;
    let mut locs = Vec::with_capacity(opened.len());
    let mut addrs = Vec::with_capacity(opened.len());
    let mut keep = HashSet::new();
    for (g, (o, w)) in opened.into_iter().zip(wants).enumerate() {
        let shard = &mut shards[g % threads];
        let mut socks = [NONE; 2];
        for (k, s) in [o.v4, o.v6].into_iter().enumerate() {
            if let Some(s) = s {
                socks[k] = shard.add_socket(s, k == 1)?;
            }
        }
        locs.push(NsLoc {
            shard: (g % threads) as u32,
            local: shard.nl.len() as u32,
            socks,
        });
        // A run that fits deletes nothing: no need for the socket.
        shard.nl.push((w.name.clone(), o.nl.filter(|_| waved)));
        keep.extend(o.neigh.keep.into_iter().map(|(i, a)| (g as u32, i, a)));
        addrs.push(o.addrs);
    }
    Ok(Dealt {
        shards,
        locs,
        addrs,
        keep,
    })
}

/// Each driver's pace: its share of the pairs in flight, cold pairs the
/// backlog takes, and the run's timeout and interval in nanoseconds.
fn pace(opts: &PingOpts, threads: usize, backlog: u64, hosts: usize) -> Pace {
    let interval = opts.interval.max(Duration::from_millis(1));
    Pace {
        timeout: nanos(opts.timeout),
        interval: nanos(interval),
        max_in_flight: opts.max_in_flight.max(1).div_ceil(threads),
        max_cold: tables::cold_limit(backlog, hosts),
        cold_hold: nanos(COLD_HOLD.min(interval)),
        straggle: nanos(interval),
    }
}

/// Every pair without an answer yet.
fn unanswered(pairs: &[(usize, usize)]) -> Vec<PairResult> {
    pairs
        .iter()
        .map(|&(src, dst)| PairResult {
            src,
            dst,
            rtt: None,
            sent: 0,
        })
        .collect()
}

/// Probes `units` in waves, then the pairs that failed while the
/// neighbour table overflowed again, up to [`RETRY_ROUNDS`] times.
fn probe_all(
    waves: &mut Waves<'_, '_>,
    units: &[Unit],
    info: &[HostInfo],
    pairs: &[(usize, usize)],
    results: &mut [PairResult],
    report: &dyn Fn(),
) -> Result<()> {
    let done = waves.sh.done;
    let mut retry = waves.run_all(units, results, report)?;
    for _ in 0..RETRY_ROUNDS {
        if retry.is_empty() {
            break;
        }
        tracing::info!(
            "pingall: the neighbour table overflowed; probing {} failed pairs again",
            retry.len()
        );
        retry.sort_unstable();
        done.fetch_sub(
            retry.len().min(done.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        let again = retry_units(info, pairs, &retry);
        retry = waves.run_all(&again, results, report)?;
    }
    Ok(())
}

/// The units probing the pairs `retry` (sorted indexes into `pairs`)
/// again, their indexes mapped back to the run's pair list.
fn retry_units(info: &[HostInfo], pairs: &[(usize, usize)], retry: &[u32]) -> Vec<Unit> {
    let sub: Vec<(usize, usize)> = retry.iter().map(|&i| pairs[i as usize]).collect();
    let mut again = schedule::units(info, &sub);
    for u in &mut again {
        u.first = retry[u.first as usize];
        u.second = u.second.map(|s| retry[s as usize]);
    }
    again
}

/// Says what the cleanup could not do, and what the run took.
fn log_end(waves: &mut Waves<'_, '_>, total: usize) {
    let cleaned = std::mem::take(&mut waves.cleaned);
    if let Some(e) = &cleaned.first_error {
        tracing::warn!(
            "pingall: {} of {} neighbour deletions failed, first: {e}",
            cleaned.failed,
            cleaned.requests
        );
    }
    tracing::debug!(
        "pingall: {total} pairs in {} waves, {:?}, {} neighbour deletions",
        waves.wave,
        waves.sh.start.elapsed(),
        cleaned.requests
    );
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, ns: &str, addr: &str) -> PingHost {
        PingHost {
            name: name.into(),
            ns: ns.into(),
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn namespaces_are_numbered_in_first_use_and_want_the_families_their_sources_ping() {
        let hosts = [
            host("h1", "ns-a", "10.0.0.1"),
            host("h1v6", "ns-a", "fd00::1"),
            host("h2", "ns-b", "10.0.0.2"),
            host("h3", "ns-c", "fd00::3"),
            host("idle", "ns-d", "10.0.0.9"),
        ];
        let pairs = [(2, 0), (0, 3), (1, 2)];
        let (wants, host_ns) = namespaces(&hosts, &pairs);
        let names: Vec<&str> = wants.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["ns-b", "ns-a", "ns-c"]);
        assert_eq!(host_ns, [1, 1, 0, 2, u32::MAX]);
        // ns-b pings 10.0.0.1; ns-a pings fd00::3 and 10.0.0.2; ns-c only answers.
        let fam: Vec<(bool, bool)> = wants.iter().map(|w| (w.v4, w.v6)).collect();
        assert_eq!(fam, [(true, false), (true, true), (false, false)]);
        assert_eq!(fds_needed(&wants, 2), (2 + 3 + 1) + 4);
        let info = host_info(&hosts, &host_ns);
        assert!(info[1].v6 && !info[0].v6);
        assert_eq!(info[3].ns, 2);
    }

    #[test]
    fn threads_are_bounded_by_namespaces_and_the_maximum() {
        assert_eq!(thread_count(4, 2), 2);
        assert_eq!(thread_count(64, 100), MAX_THREADS);
        assert_eq!(thread_count(3, 100), 3);
        assert!((1..=MAX_THREADS).contains(&thread_count(0, 100)));
        assert_eq!(thread_count(0, 1), 1);
    }

    #[test]
    fn waves_only_when_the_entries_to_make_exceed_the_budget() {
        assert!(!needs_waves([100, 0], [0, 0], [100, 100]));
        assert!(needs_waves([101, 0], [0, 0], [100, 100]));
        // Entries a previous run left are reused, not made again.
        assert!(!needs_waves([101, 0], [1, 0], [100, 100]));
        assert!(needs_waves([0, 51], [0, 0], [1000, 50]));
    }

    #[test]
    fn pace_shares_in_flight_pairs_among_drivers_and_floors_the_interval() {
        let opts = PingOpts {
            interval: Duration::ZERO,
            max_in_flight: 10,
            ..PingOpts::default()
        };
        let p = pace(&opts, 4, 1000, 100);
        assert_eq!(p.max_in_flight, 3);
        assert_eq!(p.interval, 1_000_000);
        assert_eq!(p.cold_hold, 1_000_000);
        assert_eq!(p.straggle, 1_000_000);
        assert_eq!(p.timeout, 2_000_000_000);
        assert_eq!(p.max_cold, 5);
    }

    #[test]
    fn retried_units_point_back_into_the_runs_pair_list() {
        let hosts = [
            host("h1", "a", "10.0.0.1"),
            host("h2", "b", "10.0.0.2"),
            host("h3", "c", "10.0.0.3"),
        ];
        let pairs = vec![(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)];
        let (_, host_ns) = namespaces(&hosts, &pairs);
        let info = host_info(&hosts, &host_ns);
        let retry = [2u32, 3, 5];
        let units = retry_units(&info, &pairs, &retry);
        let mut covered: Vec<u32> = units
            .iter()
            .flat_map(|u| std::iter::once(u.first).chain(u.second))
            .collect();
        covered.sort_unstable();
        assert_eq!(covered, retry);
        // 0->2 and 2->0 still travel together, as in the first round.
        assert!(units
            .iter()
            .any(|u| { matches!((u.first, u.second), (2, Some(3)) | (3, Some(2))) }));
    }
}
