//! Per-node limits and isolation: what the processes nlab starts in a node
//! (`nlab exec`, the console, the node's `exec:` list) may use and see.
//! Plain data; `lab` turns it into cgroups and namespaces.
//!
//! ```yaml
//! h1:
//!   cpu: 0.5            # CPU time: half of one core (containerlab's cpu)
//!   cpu_shares: 512     # relative weight under contention (1024 = default)
//!   memory: 256m        # bytes; k, m, g suffixes (powers of 1024)
//!   pids: 64            # at most 64 tasks (processes and threads)
//!   isolation: {uts: true, tmp: true, pid: true}
//!   dns: [10.0.0.53]    # the node's own /etc/resolv.conf
//!   binds: ["/srv/www:/var/www:ro"]
//!   sysctls: {net.ipv4.ip_forward: 1}
//!   env: {HTTP_PORT: "8080"}
//!   exec: ["ip -br addr", "sysctl net.ipv4.ip_forward"]
//! ```
//!
//! Mininet's `--host cfs,cpu=0.1` is a fraction of the whole machine
//! (all cores together), as Mininet's `CPULimitedHost` takes it: it stays
//! [`Cpu::MachineFraction`] here and becomes cores where the number of
//! CPUs is known (the lab layer).

use super::model::Loc;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The smallest memory limit nlab accepts: below it no program starts
/// (the kernel charges the new process's page tables, stack and the
/// pages of the binary it maps).
pub const MIN_MEMORY: u64 = 4 << 20;
/// The default CFS period (what Mininet and the kernel use): 100 ms.
pub const DEFAULT_PERIOD_US: u64 = 100_000;

/// How much CPU time a node's processes get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cpu {
    /// `cpu: 0.5`: at most this many cores' worth of time per period.
    Cores(f64),
    /// Mininet's `--host cfs,cpu=F`: a fraction of all cores together.
    MachineFraction {
        /// The share of all cores together, 0 to 1 (`cpu=0.1`).
        fraction: f64,
        /// The CFS period in microseconds (default 100,000).
        #[serde(default = "default_period")]
        period_us: u64,
    },
    /// Mininet's `--host rt,cpu=F`: real-time group scheduling. The
    /// node's programs run `SCHED_RR` (priority 20, as Mininet's `chrt`)
    /// and the group may run F of each period on each CPU.
    RealTime {
        /// The share of each period, 0 to 1 (`cpu=0.1`).
        fraction: f64,
        /// The real-time period in microseconds (default 100,000).
        #[serde(default = "default_period")]
        period_us: u64,
    },
}

/// The real-time priority of a `--host rt` node's programs (Mininet's
/// `CPULimitedHost.rtprio`).
pub const RT_PRIORITY: i32 = 20;

fn default_period() -> u64 {
    DEFAULT_PERIOD_US
}

impl Cpu {
    /// `(quota_us, period_us)` of the CFS bandwidth limit on a machine
    /// with `cpus` CPUs. A quota under 1 ms (the kernel's minimum)
    /// stretches the period instead, as Mininet does.
    pub fn quota(&self, cpus: usize) -> (u64, u64) {
        let (cores, period) = match *self {
            Cpu::Cores(c) => (c, DEFAULT_PERIOD_US),
            Cpu::MachineFraction {
                fraction,
                period_us,
            } => (fraction * cpus.max(1) as f64, period_us),
            Cpu::RealTime { .. } => return (0, DEFAULT_PERIOD_US),
        };
        let quota = (period as f64 * cores).round() as u64;
        if quota < 1000 && cores > 0.0 {
            return (1000, (1000.0 / cores).round() as u64);
        }
        (quota, period)
    }

    /// `(runtime_us, period_us)` of real-time group scheduling, or `None`
    /// for CFS bandwidth. Real-time runtime is wall-clock time per CPU,
    /// so it is not multiplied by the CPUs (Mininet's `rtInfo`).
    pub fn rt_runtime(&self) -> Option<(u64, u64)> {
        match *self {
            Cpu::RealTime {
                fraction,
                period_us,
            } => Some(((period_us as f64 * fraction).round() as u64, period_us)),
            _ => None,
        }
    }
}

/// What a node's processes are separated from, beyond the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// Its own hostname (a UTS namespace): `hostname` prints the node's name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uts: bool,
    /// Its own `/tmp` and `/run`, shared by the node's processes only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tmp: bool,
    /// Its own PID namespace: `ps` shows the node's processes only (one
    /// small init process per node holds it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pid: bool,
}

impl Isolation {
    /// Whether any of them is asked for.
    pub fn any(&self) -> bool {
        self.uts || self.tmp || self.pid
    }
}

/// A `resolv.conf` word (a search domain, an option): printable, no
/// blanks, no `#`/`;` (comments to the resolver).
pub fn resolv_word(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.len() > 253 {
        return Err(format!("`{s}` is empty or longer than 253 characters"));
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '#' && c != ';')
    {
        return Err(format!(
            "`{s}` has a blank, `#`, `;` or a character outside printable ASCII"
        ));
    }
    Ok(t.to_string())
}

/// A bind mount in the node's processes' view (containerlab's `binds`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// The path on the host (absolute).
    pub src: String,
    /// Where the node's processes see it (absolute).
    pub dst: String,
    /// Mounted read-only (`:ro`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ro: bool,
}

impl Bind {
    /// `SRC:DST` or `SRC:DST:ro|rw`.
    pub fn parse(s: &str) -> Result<Bind, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (src, dst, ro) = match parts[..] {
            [src, dst] => (src, dst, false),
            [src, dst, "ro"] => (src, dst, true),
            [src, dst, "rw"] => (src, dst, false),
            [_, _, opt] => {
                return Err(format!(
                    "bind `{s}`: unknown option `{opt}` (expected ro or rw)"
                ))
            }
            _ => return Err(format!("bind `{s}` is not SRC:DST or SRC:DST:ro")),
        };
        for (what, p) in [("source", src), ("target", dst)] {
            if !p.starts_with('/') {
                return Err(format!(
                    "bind `{s}`: the {what} `{p}` is not an absolute path"
                ));
            }
            if p.split('/').any(|c| c == "..") {
                return Err(format!("bind `{s}`: the {what} `{p}` contains `..`"));
            }
        }
        Ok(Bind {
            src: src.to_string(),
            dst: dst.to_string(),
            ro,
        })
    }
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}{}",
            self.src,
            self.dst,
            if self.ro { ":ro" } else { "" }
        )
    }
}

/// Where each setting was written (file parser only), for errors.
#[derive(Debug, Clone, Default)]
pub struct RunLocs {
    /// `cpu:` (or `--host`).
    pub cpu: Loc,
    /// `memory:`.
    pub memory: Loc,
    /// `pids:`.
    pub pids: Loc,
    /// `isolation:`.
    pub isolation: Loc,
    /// Each entry of `binds:`.
    pub binds: Vec<Loc>,
    /// Each key of `sysctls:`.
    pub sysctls: BTreeMap<String, Loc>,
    /// Each key of `env:`.
    pub env: BTreeMap<String, Loc>,
    /// Each entry of `exec:`.
    pub exec: Vec<Loc>,
}

/// Locations are not part of what is built (see `Topology`'s equality).
impl PartialEq for RunLocs {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// How nlab runs processes in one node: limits, isolation, environment,
/// and the commands it runs there after `up`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeRun {
    /// A CFS bandwidth limit (`cpu:`, or `--host cfs,cpu=F`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// cgroup v1 `cpu.shares` (2..=262144, default 1024); v2 gets the
    /// matching `cpu.weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    /// The memory limit in bytes (`memory: 256m`), swap included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// The most tasks (processes and threads) at once (`pids:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    /// What the node's processes are separated from (`isolation:`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub isolation: Isolation,
    /// Name servers for the node's own `resolv.conf`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
    /// `search` domains of the node's own `resolv.conf` (`dns_search:`,
    /// containerlab's `dns.search`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// `options` of the node's own `resolv.conf` (`dns_options:`,
    /// containerlab's `dns.options`, e.g. `ndots:2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// Bind mounts (`binds:`, containerlab's spelling).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<Bind>,
    /// Per-namespace sysctls (`net.ipv4.*`, `net.ipv6.*`, `net.core.*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// Environment variables of the programs nlab starts in the node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Shell commands (`sh -c`) run in the node after `up` creates it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
    /// Where each setting was written (file parser only), for errors.
    #[serde(default, skip)]
    pub locs: RunLocs,
}

fn is_default(i: &Isolation) -> bool {
    *i == Isolation::default()
}

impl NodeRun {
    /// The node has its own `resolv.conf`.
    pub fn own_resolv_conf(&self) -> bool {
        !(self.dns.is_empty() && self.dns_search.is_empty() && self.dns_options.is_empty())
    }

    /// Nothing set: the node is a bare namespace, as before.
    pub fn is_empty(&self) -> bool {
        *self == NodeRun::default()
    }

    /// Any cgroup limit is set.
    pub fn has_limits(&self) -> bool {
        self.cpu.is_some()
            || self.cpu_shares.is_some()
            || self.memory.is_some()
            || self.pids.is_some()
    }
}

/// `256m`, `1g`, `512k`, `1048576` (bytes; suffixes are powers of 1024,
/// `b` and a trailing `i`/`b` as in `256Mi`, `256MB` accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let bad = || format!("`{s}` is not a size (e.g. 256m, 1g, 512k or bytes)");
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("`{s}` must be more than 0"));
    }
    let bytes = v * mult as f64;
    if bytes > (1u64 << 60) as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(bytes as u64)
}

/// A size as people write it: `256 MiB`, `1 GiB`, `4096 B`.
pub fn show_size(b: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if b >= 1 << shift && b % (1 << shift) == 0 {
            return format!("{} {unit}", b >> shift);
        }
    }
    if b >= 1 << 20 {
        return format!("{:.1} MiB", b as f64 / (1 << 20) as f64);
    }
    format!("{b} B")
}

/// `cpu: 0.5` (cores, more than 0).
pub fn parse_cores(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of CPUs (e.g. 0.5 for half a core)"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("`cpu: {s}` must be more than 0"));
    }
    if v > 4096.0 {
        return Err(format!("`cpu: {s}` is more CPUs than Linux supports"));
    }
    Ok(v)
}

/// Mininet's `--host` spelling: `proc` (no limit), `cfs` (optionally
/// `cpu=F`, `period_us=N`), `rt` (`cpu=F` required, `period_us=N`:
/// real-time group scheduling, which `up` checks the kernel has).
pub fn parse_mininet_host(spec: &str) -> Result<Option<Cpu>, String> {
    let mut parts = spec.split(',').map(str::trim);
    let class = parts.next().unwrap_or("");
    match class {
        "proc" | "" => {
            if parts.next().is_some() {
                return Err(format!("--host {spec}: `proc` takes no parameters"));
            }
            return Ok(None);
        }
        "cfs" | "rt" => {}
        other => {
            return Err(format!(
                "--host {spec}: unknown host class `{other}` (expected proc, cfs or rt)"
            ))
        }
    }
    let (mut fraction, mut period_us) = (None, DEFAULT_PERIOD_US);
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--host {spec}: `{p}` is not KEY=VALUE"))?;
        match k.trim() {
            "cpu" => {
                let f: f64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("--host {spec}: cpu=`{v}` is not a number"))?;
                // Mininet's -1 means "no limit".
                fraction = (f > 0.0).then_some(f);
                if f == 0.0 || f > 1.0 {
                    return Err(format!(
                        "--host {spec}: cpu={v} is a fraction of the whole machine, in (0, 1] \
                         (or -1 for no limit)"
                    ));
                }
            }
            "period_us" => {
                period_us = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p| (1000..=1_000_000).contains(p))
                    .ok_or_else(|| {
                        format!("--host {spec}: period_us={v} is not in 1000..=1000000")
                    })?;
            }
            other => {
                return Err(format!(
                    "--host {spec}: unknown parameter `{other}` ({class} takes cpu= and period_us=)"
                ))
            }
        }
    }
    if class == "rt" {
        // Mininet: "Please set a positive CPU fraction for sched=rt".
        let fraction = fraction.ok_or_else(|| {
            format!(
                "--host {spec}: `rt` needs a positive CPU fraction, e.g. `rt,cpu=0.1` (real-time \
                 scheduling has no unlimited setting)"
            )
        })?;
        return Ok(Some(Cpu::RealTime {
            fraction,
            period_us,
        }));
    }
    Ok(fraction.map(|fraction| Cpu::MachineFraction {
        fraction,
        period_us,
    }))
}

/// v1 `cpu.shares` as v2 `cpu.weight` (the mapping runc and systemd use).
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// Sysctl keys a node may set: those that belong to its network
/// namespace (whether the kernel has the key is checked at `up`).
pub fn sysctl_allowed(key: &str) -> bool {
    ["net.ipv4.", "net.ipv6.", "net.core."]
        .iter()
        .any(|p| key.starts_with(p) && key.len() > p.len())
        && key.split('.').all(|c| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512Ki"), Ok(512 << 10));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("0.5g"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1m").is_err());
        assert_eq!(show_size(256 << 20), "256 MiB");
        assert_eq!(show_size(1 << 30), "1 GiB");
    }

    #[test]
    fn cpu_quotas() {
        assert_eq!(Cpu::Cores(0.5).quota(2), (50_000, 100_000));
        assert_eq!(Cpu::Cores(1.5).quota(2), (150_000, 100_000));
        // Mininet: quota = period × fraction × cores.
        let m = Cpu::MachineFraction {
            fraction: 0.1,
            period_us: DEFAULT_PERIOD_US,
        };
        assert_eq!(m.quota(2), (20_000, 100_000));
        // Under 1 ms of quota, the period stretches instead.
        assert_eq!(Cpu::Cores(0.005).quota(1), (1000, 200_000));
        assert!(parse_cores("0").is_err() && parse_cores("x").is_err());
        assert_eq!(parse_cores("1.5"), Ok(1.5));
    }

    #[test]
    fn mininet_host_spelling() {
        assert_eq!(parse_mininet_host("proc"), Ok(None));
        assert_eq!(parse_mininet_host("cfs"), Ok(None));
        assert_eq!(parse_mininet_host("cfs,cpu=-1"), Ok(None));
        assert_eq!(
            parse_mininet_host("cfs,cpu=.1"),
            Ok(Some(Cpu::MachineFraction {
                fraction: 0.1,
                period_us: 100_000
            }))
        );
        assert_eq!(
            parse_mininet_host("cfs,cpu=0.5,period_us=50000"),
            Ok(Some(Cpu::MachineFraction {
                fraction: 0.5,
                period_us: 50_000
            }))
        );
        let rt = parse_mininet_host("rt,cpu=0.1").unwrap().unwrap();
        assert_eq!(rt.rt_runtime(), Some((10_000, 100_000)));
        assert_eq!(
            parse_mininet_host("rt,cpu=0.25,period_us=40000")
                .unwrap()
                .and_then(|c| c.rt_runtime()),
            Some((10_000, 40_000))
        );
        let e = parse_mininet_host("rt").unwrap_err();
        assert!(e.contains("positive CPU fraction"), "{e}");
        assert!(parse_mininet_host("rt,cpu=-1").is_err());
        assert_eq!(
            parse_mininet_host("cfs,cpu=0.1")
                .unwrap()
                .unwrap()
                .rt_runtime(),
            None
        );
        assert!(parse_mininet_host("cfs,cpu=2").is_err());
        assert!(parse_mininet_host("cfs,cores=1").is_err());
        assert!(parse_mininet_host("docker").is_err());
    }

    #[test]
    fn binds() {
        let b = Bind::parse("/srv:/var/www:ro").unwrap();
        assert_eq!(
            (b.src.as_str(), b.dst.as_str(), b.ro),
            ("/srv", "/var/www", true)
        );
        assert_eq!(b.to_string(), "/srv:/var/www:ro");
        assert!(!Bind::parse("/a:/b").unwrap().ro);
        assert!(Bind::parse("a:/b").is_err());
        assert!(Bind::parse("/a/../etc:/b").is_err());
        assert!(Bind::parse("/a:/b:rx").is_err());
        assert!(Bind::parse("/a").is_err());
    }

    #[test]
    fn sysctl_keys() {
        assert!(sysctl_allowed("net.ipv4.ip_forward"));
        assert!(sysctl_allowed("net.ipv6.conf.all.forwarding"));
        assert!(sysctl_allowed("net.core.somaxconn"));
        assert!(sysctl_allowed("net.ipv4.conf.h1-eth0.rp_filter"));
        assert!(!sysctl_allowed("kernel.pid_max"));
        assert!(!sysctl_allowed("vm.swappiness"));
        assert!(!sysctl_allowed("net.ipv4."));
        assert!(!sysctl_allowed("net.ipv4.../x"));
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
