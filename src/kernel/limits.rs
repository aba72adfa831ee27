//! Host-wide kernel limits that a big lab outgrows.
//!
//! The neighbour tables (ARP for IPv4, NDP for IPv6) are one table per
//! family for the whole host, shared by every namespace: `gc_thresh3` caps
//! the entries of all namespaces together, and entries younger than 5 s are
//! not collected to make room. With the default 1,024, a `pingall` over 100
//! hosts on one bridge (9,900 entries) stalls on "neighbor table overflow"
//! and most pairs time out. Mininet raises these limits when it starts
//! (`fixLimits`: 4,096 / 8,192 / 16,384); [`raise_neigh_limits`] does the
//! same, sized to the lab, only ever raising, and says what it changed so
//! the caller can journal or restore it.
//!
//! The backlog (`net.core.netdev_max_backlog`, 1,000 packets per CPU) is
//! the other one: a broadcast on a bridge is copied to every port, and the
//! copies queue on the CPU's backlog before the namespaces behind the ports
//! take them. A bridge with about as many ports as the backlog holds drops
//! copies of every broadcast, always those to its last ports, so some
//! neighbours resolve only on the second ARP try (1 s later) or not at all.
//! [`raise_host_limits`] raises both.

use super::netns::{read_sysctl, write_sysctl};
use super::{Error, Result};
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

/// One sysctl value changed by [`raise_neigh_limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlChange {
    pub key: String,
    pub old: u64,
    pub new: u64,
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
/// namespaces (`net.ipv4.neigh.default.gc_thresh3`).
pub fn neigh_gc_thresh3(family: Family) -> Result<u64> {
    read_u64(&family.key("gc_thresh3"))
}

/// The `(gc_thresh1, gc_thresh2, gc_thresh3)` that fit `entries`
/// neighbours with room to spare, in Mininet's ratios (1/4, 1/2, 1).
///
/// `gc_thresh2` itself must stay above `entries`, not only `gc_thresh3`:
/// above it every new entry starts a forced collection that walks the whole
/// table for up to 1 ms (every 5 s), and a walk that does not finish in
/// time (a large table of fresh entries) is repeated by the next allocation.
pub fn neigh_limits_for(entries: usize) -> (u64, u64, u64) {
    let want = (entries as u64).saturating_mul(5) / 4;
    let t2 = want.max(512).checked_next_power_of_two().unwrap_or(1 << 62);
    (t2 / 2, t2, t2.saturating_mul(2))
}

/// Raises `gc_thresh1/2/3` of both neighbour tables so that `entries`
/// neighbours (over all namespaces of the host) fit. Never lowers a value.
/// Returns what changed. Must run where these sysctls are visible (the
/// initial user namespace); they are host-wide, whatever the namespace.
pub fn raise_neigh_limits(entries: usize) -> Result<Vec<SysctlChange>> {
    let (t1, t2, t3) = neigh_limits_for(entries);
    let mut changes = Vec::new();
    for family in [Family::V4, Family::V6] {
        // Raise thresh3 first so thresh1 ≤ thresh2 ≤ thresh3 holds all along.
        for (var, want) in [("gc_thresh3", t3), ("gc_thresh2", t2), ("gc_thresh1", t1)] {
            let key = family.key(var);
            let old = read_u64(&key)?;
            if old < want {
                write_sysctl(&key, &want.to_string())?;
                changes.push(SysctlChange {
                    key,
                    old,
                    new: want,
                });
            }
        }
    }
    Ok(changes)
}

/// The backlog a bridge of `ports` ports needs: room for the copies of two
/// broadcasts at once, and never less than the default 1,000.
pub fn backlog_for(ports: usize) -> u64 {
    (ports as u64).saturating_mul(2).max(1000)
}

/// Raises `net.core.netdev_max_backlog` to at least `min` packets. Never
/// lowers it. Returns the change, if any.
pub fn raise_netdev_backlog(min: u64) -> Result<Option<SysctlChange>> {
    let key = "net.core.netdev_max_backlog";
    let old = read_u64(key)?;
    if old >= min {
        return Ok(None);
    }
    write_sysctl(key, &min.to_string())?;
    Ok(Some(SysctlChange {
        key: key.to_string(),
        old,
        new: min,
    }))
}

/// What a lab needs from the host, like Mininet's `fixLimits`: neighbour
/// tables for `neigh_entries` entries (over all namespaces; one per pair of
/// hosts on a segment that talk, so `n × (n − 1)` for a `pingall` of `n`
/// hosts on one switch) and a backlog for a bridge of `largest_bridge`
/// ports. Only raises. Returns what changed, for the journal or
/// [`restore`].
pub fn raise_host_limits(neigh_entries: usize, largest_bridge: usize) -> Result<Vec<SysctlChange>> {
    let mut changes = raise_neigh_limits(neigh_entries)?;
    changes.extend(raise_netdev_backlog(backlog_for(largest_bridge))?);
    Ok(changes)
}

/// The current `net.core.netdev_max_backlog`.
pub fn netdev_backlog() -> Result<u64> {
    read_u64("net.core.netdev_max_backlog")
}

/// Puts back values changed by the `raise_*` functions, in reverse order,
/// skipping any that someone changed again in the meantime.
pub fn restore(changes: &[SysctlChange]) -> Result<()> {
    for c in changes.iter().rev() {
        if read_u64(&c.key)? == c.new {
            write_sysctl(&c.key, &c.old.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fit_the_lab() {
        assert_eq!(neigh_limits_for(10), (256, 512, 1024));
        assert_eq!(neigh_limits_for(9_900), (8192, 16384, 32768));
        assert_eq!(neigh_limits_for(999_000), (1 << 20, 1 << 21, 1 << 22));
        assert_eq!(backlog_for(100), 1000);
        assert_eq!(backlog_for(1000), 2000);
    }
}
