//! Running waves: every driver probes its share of a wave (and what it
//! carried over), then every driver deletes the neighbour entries of the
//! units that finished, before the next wave is cut from the budget.

use super::driver::{Cleanup, Shard};
use super::plan::{Del, Plan, Planner, State};
use super::schedule::{self, Unit};
use super::sync::{self, Gate, Shared};
use super::tables::Tables;
use super::PairResult;
use crate::kernel::{Error, Result};
use std::time::{Duration, Instant};

/// Runs waves over a list of units.
pub(super) struct Waves<'a, 'b> {
    pub shards: &'a mut [Shard],
    pub planner: &'a Planner<'a>,
    pub sh: &'a Shared<'b>,
    pub tables: &'a Tables,
    pub cleanup: bool,
    /// Waves run so far.
    pub wave: u32,
    pub cleaned: Cleanup,
}

impl Waves<'_, '_> {
    /// Probes `units` in waves, storing outcomes in `results`. Returns the
    /// failed pairs of waves during which the neighbour table overflowed.
    pub fn run_all(
        &mut self,
        units: &[Unit],
        results: &mut [PairResult],
        report: &dyn Fn(),
    ) -> Result<Vec<u32>> {
        let mut retry = Vec::new();
        // Pairs of each unit not finished yet, and the entries of units
        // carried over (started, not finished: their entries are in use).
        let mut left: Vec<u8> = units
            .iter()
            .map(|u| 1 + u8::from(u.second.is_some()))
            .collect();
        let mut carried = [0u64; 2];
        let mut dels: Vec<Vec<Del>> = vec![Vec::new(); self.shards.len()];
        let mut start = 0;
        loop {
            if self.cleanup {
                self.delete(&mut dels);
            }
            let carrying = self.shards.iter().any(|s| !s.carry.is_empty());
            if start == units.len() && !carrying {
                return Ok(retry);
            }
            let end = if self.cleanup {
                let cap = self.tables.wave_cap(carried);
                if start < units.len() {
                    schedule::wave_end(units, start, cap)
                } else {
                    start
                }
            } else {
                units.len()
            };
            let t = Instant::now();
            let fulls = self.tables.fulls();
            for u in &units[start..end] {
                carried[0] += u64::from(u.cost[0]);
                carried[1] += u64::from(u.cost[1]);
            }
            let mut plans = self.planner.plan(&units[start..end], start);
            self.drive(&mut plans, end < units.len(), report)?;
            let overflowed = self.tables.fulls() > fulls;
            let mut failed = 0;
            for p in plans.iter().flat_map(|plan| &plan.pairs) {
                if !p.finished() {
                    continue; // held back by an aborted run
                }
                let r = &mut results[p.id as usize];
                r.sent = r.sent.saturating_add(p.sent);
                if p.state == State::Answered {
                    r.rtt = Some(Duration::from_nanos(p.rtt));
                } else {
                    failed += 1;
                    if overflowed {
                        retry.push(p.id);
                    }
                }
                let unit = p.unit as usize;
                left[unit] -= 1;
                if left[unit] == 0 {
                    let u = &units[unit];
                    carried[0] -= u64::from(u.cost[0]);
                    carried[1] -= u64::from(u.cost[1]);
                    if self.cleanup {
                        self.planner.dels(u, &mut dels);
                    }
                }
            }
            let carry: usize = self.shards.iter().map(|s| s.carry.len()).sum();
            tracing::debug!(
                "pingall wave {}: {} units in {:?}, {failed} failed, {carry} carried over{}",
                self.wave,
                end - start,
                t.elapsed(),
                if overflowed { ", table overflowed" } else { "" }
            );
            self.wave += 1;
            start = end;
        }
    }

    /// Every driver deletes its share of `dels`.
    fn delete(&mut self, dels: &mut [Vec<Del>]) {
        if dels.iter().all(Vec::is_empty) {
            return;
        }
        let outcome: Vec<Cleanup> = std::thread::scope(|scope| {
            let mut work = self.shards.iter_mut().zip(dels.iter_mut());
            let first = work.next();
            let handles: Vec<_> = work
                .map(|(shard, d)| scope.spawn(move || shard.delete(d)))
                .collect();
            let mut out = Vec::with_capacity(handles.len() + 1);
            if let Some((shard, d)) = first {
                out.push(shard.delete(d));
            }
            for h in handles {
                out.push(h.join().unwrap_or_else(|_| Cleanup {
                    failed: 1,
                    first_error: Some("a cleanup thread panicked".into()),
                    ..Cleanup::default()
                }));
            }
            out
        });
        for c in outcome {
            self.cleaned.add(c);
        }
        for d in dels {
            d.clear();
        }
    }

    /// Every driver probes its plan (and its carried pairs).
    fn drive(&mut self, plans: &mut [Plan], may_carry: bool, report: &dyn Fn()) -> Result<()> {
        let gate = Gate::new(self.shards.len());
        let sh = self.sh;
        let outcome: Vec<Result<()>> = std::thread::scope(|scope| {
            let (Some((s0, srest)), Some((p0, prest))) =
                (self.shards.split_first_mut(), plans.split_first_mut())
            else {
                return vec![Err(Error::protocol("probing ICMP pairs", "no driver"))];
            };
            let gate = &gate;
            let handles: Vec<_> = srest
                .iter_mut()
                .zip(prest.iter_mut())
                .map(|(shard, plan)| {
                    scope.spawn(move || drive_one(shard, plan, may_carry, sh, gate, &|| {}))
                })
                .collect();
            let mut out = vec![drive_one(s0, p0, may_carry, sh, gate, report)];
            // The calling thread reports progress for all drivers meanwhile
            // (the callback need not be thread-safe).
            while !gate.wait(Some(Duration::from_millis(5))) {
                report();
            }
            out.extend(handles.into_iter().map(|h| sync::joined(h.join())));
            out
        });
        outcome.into_iter().collect()
    }
}

/// Marks a driver done when dropped, and aborts the run if it failed or
/// panicked, so no other driver waits for its triggers.
struct Finish<'a, 'b> {
    sh: &'a Shared<'b>,
    gate: &'a Gate,
    ok: bool,
}

impl Drop for Finish<'_, '_> {
    fn drop(&mut self) {
        if !self.ok || std::thread::panicking() {
            self.sh.abort();
        }
        self.gate.done();
    }
}

fn drive_one(
    shard: &mut Shard,
    plan: &mut Plan,
    may_carry: bool,
    sh: &Shared,
    gate: &Gate,
    report: &dyn Fn(),
) -> Result<()> {
    let mut fin = Finish {
        sh,
        gate,
        ok: false,
    };
    let r = shard.drive(plan, may_carry, sh, report);
    fin.ok = r.is_ok();
    r
}
