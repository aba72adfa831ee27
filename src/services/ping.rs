//! The ICMP prober behind `nlab pingall`: nlab sends the echo requests
//! itself, it never runs `ping`.
//!
//! How it works:
//! - One raw ICMP socket (and one raw ICMPv6 socket if a destination is
//!   IPv6) per source namespace, opened by a few worker threads that each
//!   `setns` into the namespaces of their share. A socket stays bound to the
//!   namespace it was created in after the thread is gone.
//! - A socket filter (`ICMP_FILTER`, `ICMP6_FILTER`) passes only echo
//!   replies, so the requests every node also receives never wake us.
//! - Driver threads, one per CPU, each drive the sockets of their share of
//!   the source namespaces, non-blocking, with one epoll. (One thread was
//!   the first design; but a request to a cold neighbour makes the sending
//!   thread carry the ARP broadcast through the bridge to every port in its
//!   own softirq, so a single thread keeps one core busy and leaves the
//!   others idle.)
//! - A request carries the ICMP id of its source, the destination index as
//!   sequence number and a payload with a per-run nonce, both indices and
//!   the send time (the RTT is measured from it), so a reply is matched
//!   exactly.
//! - At most `max_in_flight` pairs are outstanding, and fewer first
//!   contacts (pairs that broadcast an ARP request; see `cold_limit`).
//!   Pairs start round robin across sources, by distance: every source
//!   sends to its next host, then its second-next, … so no source resolves
//!   many neighbours at once, and the reverse of a pair (which needs no
//!   broadcast: the target learned the source from the ARP request) starts
//!   after it.
//! - An outstanding pair is sent again every `interval` until it answers or
//!   `timeout` after its first request passes. The first request is not
//!   lost while ARP resolves (the kernel queues it), so retries only matter
//!   when something is really dropped.
//! - Host limits matter more than anything here: see [`crate::kernel::limits`]
//!   (a 100-host pingall with the default neighbour table size of 1,024
//!   entries, shared by all namespaces, takes a minute and loses most pairs).

use crate::kernel::limits::{self, Family};
use crate::kernel::netns::NetNs;
use crate::kernel::{Error, Result};
use nix::sched::{setns, CloneFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A host to ping from and to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingHost {
    /// Name shown in reports (`h1`).
    pub name: String,
    /// Network namespace the host lives in (`nlab-demo-h1`). Several hosts
    /// may share a namespace (e.g. two addresses of one node).
    pub ns: String,
    /// The address other hosts ping.
    pub addr: IpAddr,
}

/// How to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOpts {
    /// How long a pair may take in total, from its first request.
    pub timeout: Duration,
    /// Spacing of the requests of an unanswered pair.
    pub interval: Duration,
    /// Pairs outstanding at once, over all sources.
    pub max_in_flight: usize,
    /// Driver threads (0: one per CPU). Sending is where the time goes: a
    /// request to a cold neighbour makes the sending thread carry the ARP
    /// broadcast through the bridge to every port, in its own softirq, so
    /// one thread per CPU keeps every core busy. Each thread drives its
    /// share of the source namespaces with its own epoll.
    pub threads: usize,
}

impl Default for PingOpts {
    fn default() -> Self {
        PingOpts {
            timeout: Duration::from_secs(2),
            interval: Duration::from_millis(250),
            max_in_flight: 256,
            threads: 0,
        }
    }
}

/// The outcome of one ordered pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairResult {
    /// Index of the source in the host list.
    pub src: usize,
    /// Index of the destination in the host list.
    pub dst: usize,
    /// Round-trip time of the request that was answered first; `None` if no
    /// reply came within the timeout.
    pub rtt: Option<Duration>,
    /// Echo requests handed to the kernel for this pair.
    pub sent: u32,
}

impl PairResult {
    pub fn ok(&self) -> bool {
        self.rtt.is_some()
    }
}

/// Totals over a set of pairs, counted the way Mininet's `pingall` does: one
/// "packet" per pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Pairs probed (Mininet's "packets").
    pub pairs: usize,
    /// Pairs that answered.
    pub received: usize,
    /// Echo requests actually sent, retries included.
    pub requests: u64,
    /// Percentage of pairs that did not answer.
    pub dropped_pct: f64,
}

impl Summary {
    pub fn of(results: &[PairResult]) -> Summary {
        let pairs = results.len();
        let received = results.iter().filter(|r| r.ok()).count();
        let requests = results.iter().map(|r| u64::from(r.sent)).sum();
        let dropped_pct = if pairs == 0 {
            0.0
        } else {
            100.0 * (pairs - received) as f64 / pairs as f64
        };
        Summary {
            pairs,
            received,
            requests,
            dropped_pct,
        }
    }

    pub fn dropped(&self) -> usize {
        self.pairs - self.received
    }

    /// The percentage as Mininet prints it (`%i`, truncated).
    pub fn dropped_pct_int(&self) -> usize {
        (100 * self.dropped()).checked_div(self.pairs).unwrap_or(0)
    }
}

/// Every ordered pair `(src, dst)`, `src != dst`, of `hosts`, all probed in
/// parallel. `progress(done, total)` is called as pairs finish (batched, and
/// always once at the end). Results are sorted by `(src, dst)`.
pub fn ping_all(
    hosts: &[PingHost],
    opts: &PingOpts,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<PairResult>> {
    let n = hosts.len();
    let mut pairs = Vec::with_capacity(n.saturating_mul(n.saturating_sub(1)));
    for s in 0..n {
        for d in 0..n {
            if s != d {
                pairs.push((s, d));
            }
        }
    }
    run(hosts, pairs, opts, progress)
}

/// The chosen ordered pairs of indices into `hosts` (duplicates are probed
/// once). Results are sorted by `(src, dst)`.
pub fn ping_pairs(
    hosts: &[PingHost],
    pairs: &[(usize, usize)],
    opts: &PingOpts,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<PairResult>> {
    let mut pairs = pairs.to_vec();
    for &(s, d) in &pairs {
        if s >= hosts.len() || d >= hosts.len() {
            return Err(Error::protocol(
                format!("pinging pair ({s}, {d})"),
                format!("only {} hosts are given", hosts.len()),
            ));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    run(hosts, pairs, opts, progress)
}

/// Mininet's `pingall` output for these results, byte for byte (each line
/// of destinations ends with a space, as Mininet prints it):
///
/// ```text
/// *** Ping: testing ping reachability
/// h1 -> h2 X
/// h2 -> h1 X
/// h3 -> X X
/// *** Results: 66% dropped (2/6 received)
/// ```
///
/// Pairs missing from `results` are left out of their line.
pub fn mininet_report(hosts: &[PingHost], results: &[PairResult]) -> String {
    let mut by_pair: HashMap<(usize, usize), &PairResult> = HashMap::with_capacity(results.len());
    for r in results {
        by_pair.insert((r.src, r.dst), r);
    }
    let mut out = String::from("*** Ping: testing ping reachability\n");
    for (s, host) in hosts.iter().enumerate() {
        let _ = write!(out, "{} -> ", host.name);
        for (d, dst) in hosts.iter().enumerate() {
            if s == d {
                continue;
            }
            match by_pair.get(&(s, d)) {
                Some(r) if r.ok() => {
                    out.push_str(&dst.name);
                    out.push(' ');
                }
                Some(_) => out.push_str("X "),
                None => {}
            }
        }
        out.push('\n');
    }
    let sum = Summary::of(results);
    if sum.pairs == 0 {
        out.push_str("*** Warning: No packets sent\n");
    } else {
        let _ = writeln!(
            out,
            "*** Results: {}% dropped ({}/{} received)",
            sum.dropped_pct_int(),
            sum.received,
            sum.pairs
        );
    }
    out
}

// ---------------------------------------------------------------------------
// The prober.

const MAGIC: [u8; 4] = *b"nlab";
/// ICMP header (8) + magic (4) + nonce (4) + src (4) + dst (4) + sent (8) +
/// attempt (4).
const PKT_LEN: usize = 36;
const ICMP_ECHO: u8 = 8;
const ICMP_ECHOREPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// `ICMP_FILTER` / `ICMP6_FILTER` option numbers (linux/icmp.h, icmpv6.h).
const ICMP_FILTER: libc::c_int = 1;
const ICMP6_FILTER: libc::c_int = 1;
/// Receive buffer per socket: replies of many pairs can arrive together.
const RCVBUF: usize = 1 << 20;
/// Threads opening sockets in the source namespaces.
const OPEN_THREADS: usize = 4;
/// Most driver threads one run uses.
const MAX_THREADS: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Waiting,
    Active,
    Answered,
    Failed,
}

struct Pair {
    src: u32,
    dst: u32,
    sent: u32,
    state: State,
    /// Probably the first contact between the two hosts in this run: its
    /// first request makes the source broadcast an ARP request (or IPv6
    /// neighbour solicitation) that the bridge copies to every port. The
    /// reverse pair, started later, finds the neighbour already known (the
    /// target learns the source from the request).
    cold: bool,
    /// Socket the requests leave from.
    sock: u32,
    /// First request, ns since the start of the run.
    first: u64,
    rtt: u64,
}

/// Sockets of one source namespace.
struct NsSockets {
    v4: Option<Socket>,
    v6: Option<Socket>,
}

fn run(
    hosts: &[PingHost],
    pairs: Vec<(usize, usize)>,
    opts: &PingOpts,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<PairResult>> {
    let total = pairs.len();
    if total == 0 {
        progress(0, 0);
        return Ok(Vec::new());
    }
    if hosts.len() >= u32::MAX as usize {
        return Err(Error::protocol("pinging hosts", "too many hosts"));
    }
    warn_if_host_limits_small(hosts, &pairs);

    // Which namespaces need which sockets.
    let mut ns_index: HashMap<&str, usize> = HashMap::new();
    let mut wants: Vec<(String, bool, bool)> = Vec::new();
    let mut host_ns = vec![usize::MAX; hosts.len()];
    for &(s, d) in &pairs {
        let ns = hosts[s].ns.as_str();
        let i = *ns_index.entry(ns).or_insert_with(|| {
            wants.push((ns.to_string(), false, false));
            wants.len() - 1
        });
        host_ns[s] = i;
        if hosts[d].addr.is_ipv6() {
            wants[i].2 = true;
        } else {
            wants[i].1 = true;
        }
    }
    let opened = open_sockets(&wants)?;

    // Source namespaces are dealt to shards, one driver thread each.
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .clamp(1, MAX_THREADS)
    .min(wants.len());
    let mut shards: Vec<Shard> = (0..threads).map(|_| Shard::default()).collect();
    // Per namespace: (shard, local socket index per family).
    let mut ns_sock: Vec<(usize, [u32; 2])> = Vec::with_capacity(opened.len());
    for (i, o) in opened.into_iter().enumerate() {
        let shard = &mut shards[i % threads];
        let mut ids = [u32::MAX; 2];
        for (k, s) in [o.v4, o.v6].into_iter().enumerate() {
            if let Some(s) = s {
                ids[k] = shard.socks.len() as u32;
                shard.socks.push(s);
                shard.sock_v6.push(k == 1);
            }
        }
        ns_sock.push((i % threads, ids));
    }
    // `pairs` is sorted by (src, dst), so each shard's list is too.
    let n = hosts.len();
    let dist = |s: usize, d: usize| (d + n - s) % n;
    for &(s, d) in &pairs {
        let (shard, ids) = ns_sock[host_ns[s]];
        // Pairs start in order of distance (see `start_order`): of two
        // reverse pairs, the one at the shorter distance goes first.
        let cold = pairs.binary_search(&(d, s)).is_err()
            || dist(s, d) < dist(d, s)
            || (dist(s, d) == dist(d, s) && s < d);
        shards[shard].pairs.push(Pair {
            src: s as u32,
            dst: d as u32,
            sent: 0,
            state: State::Waiting,
            cold,
            sock: ids[usize::from(hosts[d].addr.is_ipv6())],
            first: 0,
            rtt: 0,
        });
    }
    drop(pairs);

    let dests: Vec<SockAddr> = hosts
        .iter()
        .map(|h| SockAddr::from(SocketAddr::new(h.addr, 0)))
        .collect();
    let limits = Limits {
        timeout: opts.timeout.as_nanos().min(u128::from(u64::MAX)) as u64,
        interval: opts
            .interval
            .as_nanos()
            .clamp(1_000_000, u128::from(u64::MAX)) as u64,
        max_in_flight: opts.max_in_flight.max(1).div_ceil(threads),
        max_cold: cold_limit(n),
    };
    let nonce = RandomState::new().hash_one(std::process::id()) as u32;
    let start = Instant::now();
    let done = AtomicUsize::new(0);

    let mut shards = shards.into_iter();
    let first = shards.next();
    let outcome: Vec<Result<Vec<Pair>>> = std::thread::scope(|scope| {
        let ctx = |socks: Vec<Socket>, sock_v6: Vec<bool>| Ctx {
            hosts,
            dests: &dests,
            socks,
            sock_v6,
            nonce,
            start,
        };
        let done = &done;
        let handles: Vec<_> = shards
            .map(|sh| {
                let ctx = ctx(sh.socks, sh.sock_v6);
                scope.spawn(move || ctx.drive(sh.pairs, limits, done, &|| {}))
            })
            .collect();
        let mut out = Vec::with_capacity(threads);
        // The calling thread drives the first shard and reports progress
        // for all of them (the callback need not be thread-safe).
        let reported = Cell::new(usize::MAX);
        let report = || {
            let d = done.load(Ordering::Relaxed);
            if d != reported.get() {
                progress(d, total);
                reported.set(d);
            }
        };
        if let Some(sh) = first {
            out.push(ctx(sh.socks, sh.sock_v6).drive(sh.pairs, limits, done, &report));
        }
        while !handles.iter().all(|h| h.is_finished()) {
            report();
            std::thread::sleep(Duration::from_millis(5));
        }
        for h in handles {
            out.push(h.join().unwrap_or_else(|_| {
                Err(Error::protocol(
                    "probing ICMP pairs",
                    "a driver thread panicked",
                ))
            }));
        }
        report();
        out
    });
    let mut all = Vec::with_capacity(total);
    for r in outcome {
        all.extend(r?);
    }
    all.sort_unstable_by_key(|p| (p.src, p.dst));
    if done.load(Ordering::Relaxed) != total {
        progress(total, total);
    }
    Ok(all
        .into_iter()
        .map(|p| PairResult {
            src: p.src as usize,
            dst: p.dst as usize,
            rtt: (p.state == State::Answered).then(|| Duration::from_nanos(p.rtt)),
            sent: p.sent,
        })
        .collect())
}

/// Sockets and pairs driven by one thread.
#[derive(Default)]
struct Shard {
    socks: Vec<Socket>,
    sock_v6: Vec<bool>,
    pairs: Vec<Pair>,
}

#[derive(Clone, Copy)]
struct Limits {
    timeout: u64,
    interval: u64,
    /// Pairs outstanding per driver thread.
    max_in_flight: usize,
    /// Cold pairs (see [`Pair::cold`]) outstanding per driver thread.
    max_cold: usize,
}

/// How many first contacts one driver thread keeps outstanding.
///
/// Each one floods a broadcast to every port of the segment, and the copies
/// queue on the sending CPU's backlog (`net.core.netdev_max_backlog`, 1,000
/// by default) before the namespaces behind the ports take them. Floods
/// beyond what the backlog holds are dropped: the wasted copies cost CPU,
/// and a dropped copy to the target costs an ARP retry (1 s). So keep the
/// floods of one thread within half the backlog, taking the number of hosts
/// as the size of the segment (an upper bound): 5 for 100 hosts, 1 from
/// 500 on. Measured with 100 hosts on one bridge: the same total time as
/// without a limit, a tenth of the median RTT (3 ms instead of 25 ms), no
/// backlog drops; 1,000 hosts on one bridge (10,000 pairs) answered without
/// a retry. A bridge with as many ports as the backlog holds can still drop
/// copies of a single flood: the lab layer should make the backlog longer
/// ([`limits::raise_host_limits`]).
fn cold_limit(hosts: usize) -> usize {
    let backlog = limits::netdev_backlog().map_or(1000, |b| b as usize);
    (backlog / 2 / hosts.max(1)).max(1)
}

/// Warns when the host's limits make timeouts likely (see
/// [`limits`]): the pairs of one run need up to one neighbour entry each
/// (fewer when destinations are behind a router), in tables shared by all
/// namespaces, and a bridge with as many ports as the backlog holds drops
/// copies of every broadcast. Both are upper bounds taken from the host
/// list; the lab layer, which knows the topology, should raise the limits
/// (`limits::raise_host_limits`) rather than rely on this warning.
fn warn_if_host_limits_small(hosts: &[PingHost], pairs: &[(usize, usize)]) {
    let v6 = pairs
        .iter()
        .filter(|&&(_, d)| hosts[d].addr.is_ipv6())
        .count();
    for (family, need) in [(Family::V4, pairs.len() - v6), (Family::V6, v6)] {
        if need == 0 {
            continue;
        }
        if let Ok(cap) = limits::neigh_gc_thresh3(family) {
            if need as u64 > cap {
                tracing::warn!(
                    "{need} {family} pairs may need up to {need} neighbour entries, but the \
                     kernel's table (shared by all namespaces) holds {cap} \
                     (net.{}.neigh.default.gc_thresh3): expect timeouts",
                    family.sysctl_dir()
                );
            }
        }
    }
    if let Ok(backlog) = limits::netdev_backlog() {
        if hosts.len() as u64 >= backlog {
            tracing::warn!(
                "{} hosts on one bridge would overflow the backlog of {backlog} packets \
                 (net.core.netdev_max_backlog) with every broadcast: expect timeouts",
                hosts.len()
            );
        }
    }
}

/// The order pairs are started in: round robin over sources, each source's
/// pairs by distance `(dst - src) mod n`, so in round k every source pings
/// its k-th next host and no source resolves many neighbours at once.
fn start_order(state: &[Pair], src_start: &[u32], n: usize) -> Vec<u32> {
    let mut per_src: Vec<Vec<u32>> = Vec::new();
    for s in 0..n {
        let lo = src_start[s] as usize;
        let hi = src_start[s + 1] as usize;
        if lo == hi {
            continue;
        }
        let mut v: Vec<u32> = (lo as u32..hi as u32).collect();
        v.sort_by_key(|&p| (state[p as usize].dst as usize + n - s) % n);
        per_src.push(v);
    }
    let rounds = per_src.iter().map(Vec::len).max().unwrap_or(0);
    let mut order = Vec::with_capacity(state.len());
    for r in 0..rounds {
        for v in &per_src {
            if let Some(&p) = v.get(r) {
                order.push(p);
            }
        }
    }
    order
}

/// What one driver thread works with: its sockets and the shared context.
struct Ctx<'a> {
    hosts: &'a [PingHost],
    dests: &'a [SockAddr],
    socks: Vec<Socket>,
    sock_v6: Vec<bool>,
    nonce: u32,
    start: Instant,
}

impl Ctx<'_> {
    /// Probes `state` (sorted by `(src, dst)`, all sent from `self.socks`)
    /// until every pair answered or timed out. Adds finished pairs to
    /// `done_all` and calls `report` as they finish.
    fn drive(
        &self,
        mut state: Vec<Pair>,
        lim: Limits,
        done_all: &AtomicUsize,
        report: &dyn Fn(),
    ) -> Result<Vec<Pair>> {
        let total = state.len();
        if total == 0 {
            return Ok(state);
        }
        let n = self.hosts.len();
        // The pairs of source s are state[src_start[s]..src_start[s + 1]],
        // sorted by dst.
        let mut src_start = vec![0u32; n + 1];
        for p in &state {
            src_start[p.src as usize + 1] += 1;
        }
        for i in 0..n {
            src_start[i + 1] += src_start[i];
        }
        let order = start_order(&state, &src_start, n);

        let mut epoll = Epoll::new()?;
        for (i, s) in self.socks.iter().enumerate() {
            epoll.add(s.as_raw_fd(), i as u64)?;
        }

        let mut timers: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
        let mut next = 0usize;
        let mut in_flight = 0usize;
        let mut cold_in_flight = 0usize;
        let mut done = 0usize;
        let mut events =
            vec![libc::epoll_event { events: 0, u64: 0 }; self.socks.len().clamp(1, 256)];
        let mut pkt = [0u8; PKT_LEN];
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];

        loop {
            let before = done;
            let now = self.now();
            // Retries and expiries that are due.
            while let Some(&Reverse((due, p))) = timers.peek() {
                if due > now {
                    break;
                }
                timers.pop();
                let pair = &mut state[p as usize];
                if pair.state != State::Active {
                    continue;
                }
                let deadline = pair.first.saturating_add(lim.timeout);
                if now >= deadline {
                    pair.state = State::Failed;
                    in_flight -= 1;
                    cold_in_flight -= usize::from(pair.cold);
                    done += 1;
                    continue;
                }
                self.send(pair, now, &mut pkt);
                timers.push(Reverse((now.saturating_add(lim.interval).min(deadline), p)));
            }
            // Start new pairs in order while there is room.
            while in_flight < lim.max_in_flight && next < order.len() {
                let p = order[next];
                let pair = &mut state[p as usize];
                if pair.cold && cold_in_flight >= lim.max_cold {
                    break;
                }
                next += 1;
                pair.state = State::Active;
                pair.first = now;
                in_flight += 1;
                cold_in_flight += usize::from(pair.cold);
                self.send(pair, now, &mut pkt);
                let deadline = now.saturating_add(lim.timeout);
                timers.push(Reverse((now.saturating_add(lim.interval).min(deadline), p)));
            }
            if done != before {
                done_all.fetch_add(done - before, Ordering::Relaxed);
            }
            report();
            if done >= total {
                tracing::debug!(
                    "ICMP driver with {} sockets finished {total} pairs at {:?}",
                    self.socks.len(),
                    self.start.elapsed()
                );
                return Ok(state);
            }

            // Sleep until a reply comes or a timer is due.
            let wake = timers.peek().map_or(u64::MAX, |&Reverse((due, _))| due);
            let wait = wake.saturating_sub(self.now()).min(1_000_000_000);
            let ready = epoll.wait(&mut events, wait)?;
            let before = done;
            for ev in &events[..ready] {
                let sock = ev.u64 as usize;
                // Read what is there, bounded so one busy socket cannot
                // starve the timers.
                for _ in 0..256 {
                    let (len, from) = match self.socks[sock].recv_from(&mut buf) {
                        Ok(r) => r,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // WouldBlock: drained. Anything else (an ICMP error
                        // queued on the socket) says nothing about our pairs.
                        Err(_) => break,
                    };
                    // SAFETY: recv_from initialised the first `len` bytes.
                    let data =
                        unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
                    let Some((src, dst, sent_at)) = self.parse_reply(sock, data, &from) else {
                        continue;
                    };
                    let lo = src_start[src as usize] as usize;
                    let hi = src_start[src as usize + 1] as usize;
                    let Ok(k) = state[lo..hi].binary_search_by_key(&dst, |p| p.dst) else {
                        continue;
                    };
                    let pair = &mut state[lo + k];
                    if pair.state != State::Active || pair.sock as usize != sock {
                        continue;
                    }
                    pair.state = State::Answered;
                    pair.rtt = self.now().saturating_sub(sent_at);
                    in_flight -= 1;
                    cold_in_flight -= usize::from(pair.cold);
                    done += 1;
                }
            }
            if done != before {
                done_all.fetch_add(done - before, Ordering::Relaxed);
            }
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }

    fn id_of(&self, src: u32) -> u16 {
        (self.nonce as u16).wrapping_add(src as u16)
    }

    /// Sends one echo request of `pair`. A failure (no route while a link is
    /// down, a full socket buffer) is not fatal: the pair is retried until it
    /// times out, and `sent` counts only requests the kernel took.
    fn send(&self, pair: &mut Pair, now: u64, pkt: &mut [u8; PKT_LEN]) {
        let v6 = self.sock_v6[pair.sock as usize];
        pkt[0] = if v6 { ICMP6_ECHO_REQUEST } else { ICMP_ECHO };
        pkt[1] = 0;
        pkt[2..4].copy_from_slice(&[0, 0]);
        pkt[4..6].copy_from_slice(&self.id_of(pair.src).to_be_bytes());
        pkt[6..8].copy_from_slice(&(pair.dst as u16).to_be_bytes());
        pkt[8..12].copy_from_slice(&MAGIC);
        pkt[12..16].copy_from_slice(&self.nonce.to_be_bytes());
        pkt[16..20].copy_from_slice(&pair.src.to_be_bytes());
        pkt[20..24].copy_from_slice(&pair.dst.to_be_bytes());
        pkt[24..32].copy_from_slice(&now.to_be_bytes());
        pkt[32..36].copy_from_slice(&pair.sent.to_be_bytes());
        if !v6 {
            // The kernel computes the ICMPv6 checksum, not the ICMP one.
            let sum = checksum(pkt);
            pkt[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        let sock = &self.socks[pair.sock as usize];
        let dest = &self.dests[pair.dst as usize];
        loop {
            match sock.send_to(pkt, dest) {
                Ok(_) => {
                    pair.sent += 1;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// `(src, dst, sent_at)` of a reply to one of our requests received on
    /// socket `sock`, or `None` for anything else.
    fn parse_reply(&self, sock: usize, data: &[u8], from: &SockAddr) -> Option<(u32, u32, u64)> {
        let v6 = self.sock_v6[sock];
        let (icmp, from_ip) = if v6 {
            (data, from.as_socket()?.ip())
        } else {
            // Raw IPv4 sockets deliver the IP header too.
            let first = *data.first()?;
            let ihl = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 || ihl < 20 || data.len() < ihl {
                return None;
            }
            let src: [u8; 4] = data[12..16].try_into().ok()?;
            (&data[ihl..], IpAddr::from(src))
        };
        if icmp.len() < PKT_LEN {
            return None;
        }
        let want = if v6 { ICMP6_ECHO_REPLY } else { ICMP_ECHOREPLY };
        if icmp[0] != want || icmp[1] != 0 || icmp[8..12] != MAGIC {
            return None;
        }
        let be32 =
            |at: usize| u32::from_be_bytes([icmp[at], icmp[at + 1], icmp[at + 2], icmp[at + 3]]);
        if be32(12) != self.nonce {
            return None;
        }
        let src = be32(16);
        let dst = be32(20);
        let host = self.hosts.get(dst as usize)?;
        self.hosts.get(src as usize)?;
        let id = u16::from_be_bytes([icmp[4], icmp[5]]);
        let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        if id != self.id_of(src) || seq != dst as u16 || from_ip != host.addr {
            return None;
        }
        let mut at = [0u8; 8];
        at.copy_from_slice(&icmp[24..32]);
        Some((src, dst, u64::from_be_bytes(at)))
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Opens the sockets of every namespace in `wants` (`(ns, v4, v6)`), on a
/// few threads that enter the namespaces in turn.
fn open_sockets(wants: &[(String, bool, bool)]) -> Result<Vec<NsSockets>> {
    let threads = OPEN_THREADS.min(wants.len()).max(1);
    let chunk = wants.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<NsSockets>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = wants
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> Result<Vec<NsSockets>> {
                    // This thread ends after the loop, so it does not need
                    // to return to its first namespace.
                    part.iter()
                        .map(|(ns, v4, v6)| open_in(ns, *v4, *v6))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::protocol(
                        "opening ICMP sockets",
                        "a worker thread panicked",
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(wants.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Enters `ns` on the calling thread (for good) and opens its sockets.
fn open_in(ns: &str, v4: bool, v6: bool) -> Result<NsSockets> {
    let netns = NetNs::open(ns)?;
    setns(netns.fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys(format!("entering namespace {ns} to open ICMP sockets"), e))?;
    let v4 = if v4 {
        Some(raw_socket(ns, false)?)
    } else {
        None
    };
    let v6 = if v6 {
        Some(raw_socket(ns, true)?)
    } else {
        None
    };
    Ok(NsSockets { v4, v6 })
}

fn raw_socket(ns: &str, v6: bool) -> Result<Socket> {
    let (domain, proto, kind) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6, "ICMPv6")
    } else {
        (Domain::IPV4, Protocol::ICMPV4, "ICMP")
    };
    let what = |op: &str| format!("{op} raw {kind} socket in {ns}");
    let sock = Socket::new(domain, Type::RAW.cloexec(), Some(proto))
        .map_err(|e| Error::io(what("opening"), e))?;
    sock.set_nonblocking(true)
        .map_err(|e| Error::io(what("making non-blocking the"), e))?;
    // Root may exceed rmem_max; fall back to the ordinary option.
    if setsockopt(
        &sock,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &(RCVBUF as libc::c_int),
    )
    .is_err()
    {
        let _ = sock.set_recv_buffer_size(RCVBUF);
    }
    if v6 {
        // Block every type but echo reply (a set bit blocks).
        let mut filter = [u32::MAX; 8];
        let t = usize::from(ICMP6_ECHO_REPLY);
        filter[t >> 5] &= !(1u32 << (t & 31));
        setsockopt(&sock, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
            .map_err(|e| Error::io(what("filtering echo replies on the"), e))?;
    } else {
        let filter: u32 = !(1u32 << ICMP_ECHOREPLY);
        setsockopt(&sock, libc::SOL_RAW, ICMP_FILTER, &filter)
            .map_err(|e| Error::io(what("filtering echo replies on the"), e))?;
    }
    Ok(sock)
}

fn setsockopt<T>(sock: &Socket, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A minimal level-triggered epoll instance.
struct Epoll {
    fd: OwnedFd,
    /// Whether the kernel has `epoll_pwait2` (nanosecond timeouts).
    pwait2: bool,
}

impl Epoll {
    fn new() -> Result<Epoll> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(
                "creating the epoll instance of the ICMP prober",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            pwait2: true,
        })
    }

    fn add(&self, fd: RawFd, data: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: `ev` is a valid epoll_event; both fds are open.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r != 0 {
            return Err(Error::io(
                "adding an ICMP socket to the prober's epoll",
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Waits at most `timeout_ns` (`epoll_pwait2`, Linux 5.11; rounded up
    /// to milliseconds on older kernels).
    fn wait(&mut self, events: &mut [libc::epoll_event], timeout_ns: u64) -> Result<usize> {
        let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        let mut r = -1;
        if self.pwait2 {
            // SAFETY: `events` has room for `max` entries; `ts` is valid.
            r = unsafe {
                libc::epoll_pwait2(
                    self.fd.as_raw_fd(),
                    events.as_mut_ptr(),
                    max,
                    &ts,
                    std::ptr::null(),
                )
            };
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                self.pwait2 = false;
            }
        }
        if !self.pwait2 {
            let ms = timeout_ns.div_ceil(1_000_000).min(i32::MAX as u64) as libc::c_int;
            // SAFETY: `events` has room for `max` entries.
            r = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, ms) };
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(Error::io("waiting for ICMP replies", e));
        }
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> PingHost {
        PingHost {
            name: name.into(),
            ns: format!("nlab-x-{name}"),
            addr: "10.0.0.1".parse().unwrap(),
        }
    }

    fn res(src: usize, dst: usize, ok: bool) -> PairResult {
        PairResult {
            src,
            dst,
            rtt: ok.then(|| Duration::from_micros(50)),
            sent: 1,
        }
    }

    #[test]
    fn report_matches_mininet() {
        let hosts = [host("h1"), host("h2"), host("h3")];
        let mut results = Vec::new();
        for s in 0..3 {
            for d in 0..3 {
                if s != d {
                    results.push(res(s, d, s != 2 && d != 2));
                }
            }
        }
        let want = "*** Ping: testing ping reachability\n\
                    h1 -> h2 X \n\
                    h2 -> h1 X \n\
                    h3 -> X X \n\
                    *** Results: 66% dropped (2/6 received)\n";
        assert_eq!(mininet_report(&hosts, &results), want);
        let all: Vec<_> = results.iter().map(|r| res(r.src, r.dst, true)).collect();
        assert!(mininet_report(&hosts, &all).ends_with("*** Results: 0% dropped (6/6 received)\n"));
        assert_eq!(
            mininet_report(&hosts[..1], &[]),
            "*** Ping: testing ping reachability\nh1 -> \n*** Warning: No packets sent\n"
        );
    }

    #[test]
    fn summary_counts_pairs() {
        let s = Summary::of(&[res(0, 1, true), res(1, 0, false), res(0, 2, true)]);
        assert_eq!((s.pairs, s.received, s.dropped(), s.requests), (3, 2, 1, 3));
        assert_eq!(s.dropped_pct_int(), 33);
    }

    #[test]
    fn checksum_of_known_packet() {
        // Echo request id 1 seq 1, no payload: checksum 0xf7fd.
        let pkt = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(&pkt), 0xf7fd);
        let mut with = pkt;
        with[2..4].copy_from_slice(&0xf7fdu16.to_be_bytes());
        assert_eq!(checksum(&with), 0);
    }

    #[test]
    fn pairs_start_round_robin() {
        let n = 4;
        let mut state = Vec::new();
        for s in 0..n as u32 {
            for d in 0..n as u32 {
                if s != d {
                    state.push(Pair {
                        src: s,
                        dst: d,
                        sent: 0,
                        state: State::Waiting,
                        cold: false,
                        sock: 0,
                        first: 0,
                        rtt: 0,
                    });
                }
            }
        }
        let src_start = [0, 3, 6, 9, 12];
        let order = start_order(&state, &src_start, n);
        let got: Vec<(u32, u32)> = order
            .iter()
            .map(|&p| (state[p as usize].src, state[p as usize].dst))
            .collect();
        assert_eq!(
            &got[..4],
            &[(0, 1), (1, 2), (2, 3), (3, 0)],
            "round 1: every source pings its next host"
        );
        assert_eq!(got.len(), 12);
    }

    #[test]
    fn bad_pair_index_is_an_error() {
        let hosts = [host("h1")];
        let e = ping_pairs(&hosts, &[(0, 3)], &PingOpts::default(), &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains("pinging pair (0, 3)"), "{e}");
    }
}
