//! What the host allows: the neighbour tables' room (read, never
//! changed) and the backlog that paces broadcasts.

use super::schedule;
use crate::kernel::limits::{self, Family};

/// What the table is assumed to hold when its statistics cannot be read.
const UNKNOWN_FILL_DEN: u64 = 2;
const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

/// The host's neighbour tables as this run found them.
pub(super) struct Tables {
    /// Per family (`[v4, v6]`), only for families the run uses.
    pub used: [bool; 2],
    pub thresh3: [u64; 2],
    /// The budget at the start; waves never take more.
    pub start_budget: [u64; 2],
}

impl Tables {
    /// Reads the tables of the families `need` has entries for; `cap`
    /// bounds the budget further.
    pub fn read(need: [u64; 2], cap: Option<u64>) -> Tables {
        let mut t = Tables {
            used: [need[0] > 0, need[1] > 0],
            thresh3: [0; 2],
            start_budget: [u64::MAX; 2],
        };
        for (i, f) in FAMILIES.into_iter().enumerate() {
            if t.used[i] {
                t.thresh3[i] = limits::neigh_gc_thresh3(f).unwrap_or_else(|e| {
                    tracing::debug!("{e}: assuming the kernel's default of 1,024 entries");
                    1024
                });
                t.start_budget[i] = t.budget_now(i).min(cap.unwrap_or(u64::MAX));
            }
        }
        t
    }

    fn budget_now(&self, i: usize) -> u64 {
        let entries = match limits::neigh_stats(FAMILIES[i]) {
            Ok(s) => s.entries,
            Err(e) => {
                tracing::debug!("{e}: assuming the table is half full");
                self.thresh3[i] / UNKNOWN_FILL_DEN
            }
        };
        schedule::budget(self.thresh3[i], entries)
    }

    /// The budget of the next wave: the start's, less the entries of units
    /// still running (`busy`), or less if the table filled up meanwhile
    /// (what is in it now includes `busy`).
    pub fn wave_cap(&self, busy: [u64; 2]) -> [u64; 2] {
        let mut cap = [u64::MAX; 2];
        for (i, c) in cap.iter_mut().enumerate() {
            if self.used[i] {
                *c = self.start_budget[i]
                    .saturating_sub(busy[i])
                    .min(self.budget_now(i));
            }
        }
        cap
    }

    pub fn fulls(&self) -> u64 {
        (0..2)
            .filter(|&i| self.used[i])
            .filter_map(|i| limits::neigh_stats(FAMILIES[i]).ok())
            .map(|s| s.table_fulls)
            .sum()
    }
}

/// How many first contacts one driver keeps outstanding: each floods a
/// broadcast to every port of the segment, and the copies queue on the
/// sending CPU's backlog (`net.core.netdev_max_backlog`, 1,000 by default)
/// before the namespaces behind the ports take them; copies beyond it are
/// dropped, and a dropped copy to the target costs an ARP retry (1 s). So
/// the floods of one driver stay within half the backlog, taking the number
/// of hosts as the size of the segment (an upper bound): 5 for 100 hosts,
/// 1 from 500 on.
pub(super) fn cold_limit(backlog: u64, hosts: usize) -> usize {
    (backlog as usize / 2 / hosts.max(1)).max(1)
}

/// A bridge with as many ports as the backlog holds drops copies of every
/// broadcast; nlab does not raise the host's backlog, so say so.
pub(super) fn warn_if_backlog_small(hosts: usize) {
    if let Ok(backlog) = limits::netdev_backlog() {
        if hosts as u64 >= backlog {
            tracing::warn!(
                "{hosts} hosts on one bridge may overflow the backlog of {backlog} packets \
                 (net.core.netdev_max_backlog) with each broadcast: expect ARP retries"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_limit_follows_backlog() {
        assert_eq!(cold_limit(1000, 100), 5);
        assert_eq!(cold_limit(1000, 1000), 1);
        assert_eq!(cold_limit(1000, 3), 166);
    }
}
