//! The ICMP prober behind `nlab pingall`: nlab sends the echo requests
//! itself, it never runs `ping`.
//!
//! How it works:
//! - One raw ICMP socket (and one raw ICMPv6 socket if a destination is
//!   IPv6) per source namespace, opened by a few threads that each `setns`
//!   into the namespaces of their share; a socket stays bound to the
//!   namespace it was created in. A socket filter passes only echo replies.
//!   See `socket.rs`.
//! - Driver threads, one per CPU, each own the sockets of a share of the
//!   namespaces and drive them non-blocking with one epoll (a request to a
//!   cold neighbour makes the sending thread carry the ARP broadcast through
//!   the bridge to every port in its own softirq, so one thread would keep
//!   one core busy and leave the others idle). See `driver.rs`.
//! - The kernel keeps ONE neighbour table per address family for the whole
//!   host, shared by all namespaces, capped by `gc_thresh3` (1,024 entries
//!   by default), and a full table only makes room from entries older than
//!   about 5 s. A pair of hosts that talk holds two entries (each learns the
//!   other), so a 100-host pingall would need 9,900 entries at once. nlab
//!   never changes the host's limits: it reads them (`tables.rs`) and, when
//!   the run would not fit in 80% of the free room, probes in waves that
//!   do, deleting (`RTM_DELNEIGH`, pipelined, in each namespace) the entries
//!   of finished units before the next wave starts (`waves.rs`). Runs that
//!   fit keep their warm caches, as Mininet leaves them, and a later run
//!   counts the lab's own entries as reusable.
//! - The two directions of a pair of hosts form a unit: `a → b` first (its
//!   ARP request is the broadcast, and it teaches `b` about `a`), then
//!   `b → a`, started when `a → b` answers, so it needs no broadcast. Units
//!   are ordered by distance round the ring of hosts, so every wave loads
//!   the hosts evenly (`schedule.rs`). Broadcasts are paced against
//!   `net.core.netdev_max_backlog` (read only).
//! - A request carries the ICMP id of its source, the destination index as
//!   sequence number, and a payload with a per-run nonce, both indices, the
//!   send time (the RTT is measured from it) and the pair's index, so a
//!   reply is matched exactly and in O(1).
//! - An outstanding pair is sent again every `interval` until it answers or
//!   `timeout` after its first request passes. The first request is not lost
//!   while ARP resolves (the kernel queues it), so retries only matter when
//!   something is really dropped. A wave does not wait for pairs that have
//!   gone unanswered for an `interval` (a host that is down): they carry on
//!   into the next wave, their entries counted against its budget.
//! - If the table overflowed anyway during a wave (something else filled
//!   it), the wave's failed pairs are probed again at the end.

mod driver;
mod engine;
mod plan;
mod schedule;
mod socket;
mod sources;
mod sync;
mod tables;
mod waves;

pub use sources::{not_sources, report_skipping, without_sources, VM_NOTE};

use crate::kernel::{Error, Result};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

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
    engine::run(hosts, all_pairs(hosts.len()), opts, None, progress)
}

/// [`ping_all`] holding at most `max_entries` neighbour entries of each
/// family at once (fewer if the host's tables have less room): a lab can
/// leave more of the shared tables to others, and tests get waves whatever
/// the host's limits are.
pub fn ping_all_capped(
    hosts: &[PingHost],
    opts: &PingOpts,
    max_entries: usize,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<PairResult>> {
    let cap = Some(max_entries as u64);
    engine::run(hosts, all_pairs(hosts.len()), opts, cap, progress)
}

/// The hosts `pingall` probes in the lab of topology `t`: every node but
/// the switches, with its first IPv4 (`v6`: IPv6) address, in natural name
/// order, as Mininet's pingall takes them. Nodes without such an address
/// are left out.
pub fn hosts_of(t: &crate::topo::Topology, v6: bool) -> Vec<PingHost> {
    t.hosts()
        .into_iter()
        .filter_map(|n| {
            t.primary_addr(&n.name, v6).map(|addr| PingHost {
                name: n.name.clone(),
                ns: crate::kernel::netns::ns_name(&t.name, &n.name),
                addr,
            })
        })
        .collect()
}

/// Every ordered pair `(src, dst)`, `src != dst`, of `n` hosts, sorted.
pub fn all_pairs(n: usize) -> Vec<(usize, usize)> {
    let mut pairs = Vec::with_capacity(n.saturating_mul(n.saturating_sub(1)));
    for s in 0..n {
        for d in 0..n {
            if s != d {
                pairs.push((s, d));
            }
        }
    }
    pairs
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
    engine::run(hosts, pairs, opts, None, progress)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labs_hosts_are_its_non_switch_nodes_with_their_namespaces() {
        let t = crate::topo::generate::from_spec("linear,3", "demo", false).unwrap();
        let hosts = hosts_of(&t, false);
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["h1", "h2", "h3"]);
        assert_eq!(hosts[1].ns, "nlab-demo-h2");
        assert_eq!(Some(hosts[2].addr), t.primary_addr("h3", false));
        assert!(hosts_of(&t, true).is_empty(), "linear,3 has no IPv6");
        assert_eq!(
            all_pairs(3),
            [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
        );
    }

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
    fn bad_pair_index_is_an_error() {
        let hosts = [host("h1")];
        let e = ping_pairs(&hosts, &[(0, 3)], &PingOpts::default(), &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains("pinging pair (0, 3)"), "{e}");
    }
}
