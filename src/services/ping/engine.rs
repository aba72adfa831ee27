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
use super::schedule::{self, HostInfo};
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

    // Namespaces of the run, and what each needs.
    let mut ns_index: HashMap<&str, u32> = HashMap::new();
    let mut wants: Vec<NsWant> = Vec::new();
    let mut host_ns = vec![u32::MAX; hosts.len()];
    for &(s, d) in &pairs {
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
    let info: Vec<HostInfo> = hosts
        .iter()
        .zip(&host_ns)
        .map(|(h, &ns)| HostInfo {
            ns,
            v6: h.addr.is_ipv6(),
        })
        .collect();
    let units = schedule::units(&info, &pairs);

    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .clamp(1, MAX_THREADS)
    .min(wants.len());
    let fds = wants
        .iter()
        .map(|w| 1 + usize::from(w.v4) + usize::from(w.v6))
        .sum::<usize>()
        + 2 * threads;
    socket::reserve_fds(fds)?;
    let opened = socket::open_all(&wants)?;

    // The budget decides whether the run needs waves (and cleanup). The
    // entries the lab's namespaces hold already (a previous run's) are in
    // the table and are reused, not made again.
    let need = schedule::total_cost(&units);
    let tables = Tables::read(need, cap);
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
    let waved = (0..2).any(|i| need[i].saturating_sub(ours[i]) > tables.start_budget[i]);
    if waved {
        tracing::info!(
            "pingall: {need:?} neighbour entries ([IPv4, IPv6]) would not fit the host's \
             tables (gc_thresh3 {:?}, budget {:?}): probing in waves",
            tables.thresh3,
            tables.start_budget
        );
    }

    // Namespaces are dealt to the drivers round robin.
    let inboxes: Vec<Inbox> = (0..threads).map(|_| Inbox::new()).collect::<Result<_>>()?;
    let mut shards: Vec<Shard> = (0..threads)
        .map(|i| Shard::new(i as u32, &inboxes[i], total))
        .collect::<Result<_>>()?;
    let mut locs = Vec::with_capacity(opened.len());
    let mut addrs = Vec::with_capacity(opened.len());
    let mut keep = HashSet::new();
    for (g, (o, w)) in opened.into_iter().zip(&wants).enumerate() {
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

    let dests: Vec<SockAddr> = hosts
        .iter()
        .map(|h| SockAddr::from(SocketAddr::new(h.addr, 0)))
        .collect();
    let backlog = limits::netdev_backlog().unwrap_or(1000);
    let interval = opts.interval.max(Duration::from_millis(1));
    let pace = Pace {
        timeout: nanos(opts.timeout),
        interval: nanos(interval),
        max_in_flight: opts.max_in_flight.max(1).div_ceil(threads),
        max_cold: tables::cold_limit(backlog, hosts.len()),
        cold_hold: nanos(COLD_HOLD.min(interval)),
        straggle: nanos(interval),
    };
    let done = AtomicUsize::new(0);
    let sh = Shared {
        hosts,
        dests: &dests,
        nonce: RandomState::new().hash_one(std::process::id()) as u32,
        start: Instant::now(),
        pace,
        inboxes: &inboxes,
        done: &done,
        aborted: AtomicBool::new(false),
    };
    let planner = Planner {
        hosts,
        pairs: &pairs,
        host_ns: &host_ns,
        locs: &locs,
        addrs: &addrs,
        keep: &keep,
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

    let mut results: Vec<PairResult> = pairs
        .iter()
        .map(|&(src, dst)| PairResult {
            src,
            dst,
            rtt: None,
            sent: 0,
        })
        .collect();
    let mut waves = Waves {
        shards: &mut shards,
        planner: &planner,
        sh: &sh,
        tables: &tables,
        cleanup: waved,
        wave: 0,
        cleaned: Cleanup::default(),
    };
    let mut retry = waves.run_all(&units, &mut results, &report)?;
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
        let sub: Vec<(usize, usize)> = retry.iter().map(|&i| pairs[i as usize]).collect();
        let mut again = schedule::units(&info, &sub);
        for u in &mut again {
            u.first = retry[u.first as usize];
            u.second = u.second.map(|s| retry[s as usize]);
        }
        retry = waves.run_all(&again, &mut results, &report)?;
    }
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
        sh.start.elapsed(),
        cleaned.requests
    );
    if reported.get() != total {
        progress(total, total);
    }
    Ok(results)
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}
