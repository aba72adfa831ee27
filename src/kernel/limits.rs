//! Host-wide kernel limits that a big lab runs into. Read only: nlab never
//! changes the host's (root namespace) settings as a side effect.
//!
//! The neighbour tables (ARP for IPv4, NDP for IPv6) are one table per
//! family for the whole host, shared by every namespace: `gc_thresh3`
//! (1,024 by default) caps the entries of all namespaces together, and a
//! full table only makes room by collecting entries that have not been
//! updated for 5 s (or are failed / multicast). A `pingall` over 100 hosts
//! on one bridge would hold 9,900 entries at once; past the cap the kernel
//! logs "neighbor table overflow", drops ARP requests and answers `sendmsg`
//! with ENOBUFS. So the prober reads [`neigh_gc_thresh3`] and
//! [`neigh_stats`] and probes in waves that fit, deleting what each wave
//! created (see `services::ping`).
//!
//! The sysctl (`neigh.default.gc_thresh3`) and `/proc/net/stat/*_cache`
//! exist only in the initial network namespace: the table's default
//! parameters belong to `init_net`. The limit still holds for a process
//! in any other namespace (the table, its count and its cap are global),
//! so there both are read from the table itself with `RTM_GETNEIGHTBL`,
//! which every namespace may dump (what `ip ntable` shows).
//!
//! The backlog (`net.core.netdev_max_backlog`, 1,000 packets per CPU) is
//! the other one: a broadcast on a bridge is copied to every port, and the
//! copies queue on the CPU's backlog before the namespaces behind the ports
//! take them. The prober paces its ARP broadcasts by [`netdev_backlog`].

use super::netlink::Socket;
use super::netns::read_sysctl;
use super::{Error, Result};
use netlink_packet_route::neighbour_table::{NeighbourTableAttribute, NeighbourTableMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::fmt;

/// An address family with its own neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// `ipv4` / `ipv6`, as in `net.ipv4.neigh.default.gc_thresh3`.
    pub fn sysctl_dir(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The table's statistics file under `/proc/net/stat`.
    pub fn stat_file(self) -> &'static str {
        match self {
            Family::V4 => "arp_cache",
            Family::V6 => "ndisc_cache",
        }
    }

    fn address_family(self) -> AddressFamily {
        match self {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        }
    }

    fn key(self, var: &str) -> String {
        format!("net.{}.neigh.default.{var}", self.sysctl_dir())
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

fn read_u64(key: &str) -> Result<u64> {
    let v = read_sysctl(key)?;
    v.parse().map_err(|_| {
        Error::protocol(
            format!("reading sysctl {key}"),
            format!("not a number: {v:?}"),
        )
    })
}

/// Entries the host's neighbour table of `family` holds at most, over all
/// namespaces (`net.ipv4.neigh.default.gc_thresh3`). The value is the same
/// in every namespace that shows it (it belongs to the table); outside the
/// initial namespace, which has no such sysctl, it comes from the table.
pub fn neigh_gc_thresh3(family: Family) -> Result<u64> {
    read_u64(&family.key("gc_thresh3")).or_else(|sysctl| {
        let t = neigh_table(family).map_err(|_| sysctl)?;
        Ok(t.thresh3)
    })
}

/// The current `net.core.netdev_max_backlog` (packets per CPU). A global
/// whose sysctl only the initial namespace has, and no netlink message
/// carries: elsewhere an error, and callers assume the kernel's default.
pub fn netdev_backlog() -> Result<u64> {
    read_u64("net.core.netdev_max_backlog")
}

/// What `/proc/net/stat/arp_cache` (or `ndisc_cache`) says about the
/// host's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeighStats {
    /// Entries in the table now, over all namespaces.
    pub entries: u64,
    /// Times an entry could not be made because the table was full
    /// (summed over CPUs; only ever grows).
    pub table_fulls: u64,
}

/// Reads the host's neighbour table statistics of `family`.
///
/// The file exists only in the initial network namespace, so it is read
/// through `/proc/self/net`: the namespace of the process's main thread,
/// whatever namespace the calling thread is in. A process that lives in
/// another namespace reads the table itself over netlink instead.
pub fn neigh_stats(family: Family) -> Result<NeighStats> {
    let path = format!("/proc/self/net/stat/{}", family.stat_file());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let proc_err = Error::io(format!("reading {path}"), e);
            return neigh_table(family).map(|t| t.stats).map_err(|_| proc_err);
        }
    };
    parse_neigh_stats(&text)
        .ok_or_else(|| Error::protocol(format!("reading {path}"), "unexpected format"))
}

/// The limit and statistics of one neighbour table as `RTM_GETNEIGHTBL`
/// reports them: the same global table from any namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighTable {
    pub thresh3: u64,
    pub stats: NeighStats,
}

/// Dumps the neighbour tables of `family` in the calling thread's
/// namespace and picks the table itself (`arp_cache` / `ndisc_cache`).
pub fn neigh_table(family: Family) -> Result<NeighTable> {
    let what = format!(
        "reading the {family} neighbour table ({})",
        family.stat_file()
    );
    let mut sock = Socket::new()?;
    let msgs = sock.dump(
        RouteNetlinkMessage::GetNeighbourTable(neigh_table_request(family)),
        &what,
    )?;
    msgs.iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewNeighbourTable(t) => table_of(t, family),
            _ => None,
        })
        .ok_or_else(|| Error::protocol(what, "the kernel reported no such table"))
}

fn neigh_table_request(family: Family) -> NeighbourTableMessage {
    let mut msg = NeighbourTableMessage::default();
    msg.header.family = family.address_family();
    msg
}

/// The table's figures from one message of the dump: the message naming
/// the table with its threshold and counters (the dump also has one per
/// device's parameters, which carry neither).
fn table_of(msg: &NeighbourTableMessage, family: Family) -> Option<NeighTable> {
    let (mut name, mut thresh3, mut entries, mut fulls) = (None, None, None, 0);
    for a in &msg.attributes {
        match a {
            NeighbourTableAttribute::Name(n) => name = Some(n.as_str()),
            NeighbourTableAttribute::Threshold3(t) => thresh3 = Some(u64::from(*t)),
            NeighbourTableAttribute::Config(c) => entries = Some(u64::from(c.entries)),
            NeighbourTableAttribute::Stats(s) => fulls = s.table_fulls,
            _ => {}
        }
    }
    if name != Some(family.stat_file()) {
        return None;
    }
    Some(NeighTable {
        thresh3: thresh3?,
        stats: NeighStats {
            entries: entries?,
            table_fulls: fulls,
        },
    })
}

/// Parses a `/proc/net/stat/*_cache` file: a header line, then one line of
/// hexadecimal counters per CPU. `entries` (first column) is the table's
/// and repeated on every line; the other counters are per CPU.
pub fn parse_neigh_stats(text: &str) -> Option<NeighStats> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    if header.first() != Some(&"entries") {
        return None;
    }
    let fulls_col = header.iter().position(|h| *h == "table_fulls");
    let mut stats = NeighStats::default();
    let mut first = true;
    for line in lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let hex = |i: usize| cols.get(i).and_then(|c| u64::from_str_radix(c, 16).ok());
        if first {
            stats.entries = hex(0)?;
            first = false;
        }
        if let Some(c) = fulls_col {
            stats.table_fulls = stats.table_fulls.saturating_add(hex(c)?);
        }
    }
    (!first).then_some(stats)
}

/// The soft limit on open descriptors of this process (`RLIMIT_NOFILE`),
/// which bounds how many namespaces an apply may hold open at once.
/// `None` when it cannot be read; `u64::MAX` when unlimited.
pub fn open_files_soft() -> Option<u64> {
    open_files().map(|(soft, _)| soft)
}

/// This process's soft and hard `RLIMIT_NOFILE` (`u64::MAX`: unlimited).
pub fn open_files() -> Option<(u64, u64)> {
    rlimit(libc::RLIMIT_NOFILE)
}

/// This process's soft and hard `RLIMIT_NPROC` (`u64::MAX`: unlimited).
pub fn processes() -> Option<(u64, u64)> {
    rlimit(libc::RLIMIT_NPROC)
}

fn rlimit(resource: libc::__rlimit_resource_t) -> Option<(u64, u64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a valid struct.
    if unsafe { libc::getrlimit(resource, &mut rl) } != 0 {
        return None;
    }
    let unlimited = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            v
        }
    };
    Some((unlimited(rl.rlim_cur), unlimited(rl.rlim_max)))
}

/// Raises (or lowers) this process's own soft `RLIMIT_NOFILE` to `soft`,
/// keeping the hard limit: a per-process limit, nothing host-wide.
pub fn set_open_files_soft(soft: u64) -> Result<()> {
    let (_, hard) = open_files().ok_or_else(|| {
        Error::io(
            "reading this process's open files limit",
            std::io::Error::last_os_error(),
        )
    })?;
    let raised = libc::rlimit {
        rlim_cur: soft,
        rlim_max: if hard == u64::MAX {
            libc::RLIM_INFINITY
        } else {
            hard
        },
    };
    // SAFETY: plain setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(Error::io(
            "raising this process's open files limit",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_neigh_stats() {
        let text = "entries  allocs   destroys hash_grows lookups  hits     res_failed \
                    rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs \
                    unresolved_discards table_fulls\n\
                    0000002a 000edefe 000dbbb1 00000000 0733ffca 028e34c5 000002d9 \
                    00000000 00000000 00000000 0000d572 00000000 00000010\n\
                    0000002a 000eb37e 000fd6cb 0000000e 07381d94 028ba4b8 0000026b \
                    00000000 00000000 000000db 00014ffe 00000000 00000001\n";
        assert_eq!(
            parse_neigh_stats(text),
            Some(NeighStats {
                entries: 42,
                table_fulls: 17
            })
        );
        assert_eq!(parse_neigh_stats("entries allocs\n"), None);
        assert_eq!(parse_neigh_stats("garbage\n1 2\n"), None);
    }

    #[test]
    fn picks_the_table_not_a_devices_parameters() {
        use netlink_packet_route::neighbour_table::NeighbourTableConfig;
        let mut table = neigh_table_request(Family::V4);
        assert_eq!(table.header.family, AddressFamily::Inet);
        // struct ndt_config as the kernel sends it: key_len 4, entry_size
        // 336, entries 49, then six u32 the prober does not use.
        let mut raw = Vec::new();
        raw.extend_from_slice(&4u16.to_ne_bytes());
        raw.extend_from_slice(&336u16.to_ne_bytes());
        raw.extend_from_slice(&49u32.to_ne_bytes());
        raw.extend_from_slice(&[0; 24]);
        let config = NeighbourTableConfig::parse(&raw).expect("an ndt_config");
        table.attributes = vec![
            NeighbourTableAttribute::Name("arp_cache".into()),
            NeighbourTableAttribute::Threshold3(1024),
            NeighbourTableAttribute::Config(config),
        ];
        assert_eq!(
            table_of(&table, Family::V4),
            Some(NeighTable {
                thresh3: 1024,
                stats: NeighStats {
                    entries: 49,
                    table_fulls: 0
                }
            })
        );
        // The other family's table, and a device's parameters (a name only).
        assert_eq!(table_of(&table, Family::V6), None);
        let mut parms = neigh_table_request(Family::V4);
        parms.attributes = vec![NeighbourTableAttribute::Name("arp_cache".into())];
        assert_eq!(table_of(&parms, Family::V4), None);
    }

    #[test]
    fn open_files_round_trip() {
        let (soft, hard) = open_files().unwrap();
        assert!(soft <= hard);
        // Setting the soft limit to what it is changes nothing.
        set_open_files_soft(soft).unwrap();
        assert_eq!(open_files(), Some((soft, hard)));
    }

    #[test]
    fn reads_this_hosts_limits() {
        // Present on any Linux host; only reads.
        if let Ok(t) = neigh_gc_thresh3(Family::V4) {
            assert!(t > 0);
        }
        if let Ok(s) = neigh_stats(Family::V4) {
            assert!(s.entries < 1 << 40);
        }
    }
}
