//! A link's schedule: steps timed from a wall-clock start, run against the
//! monotonic clock.
//!
//! The start is stored as wall-clock time so that a restarted supervisor
//! knows where the schedule stands; while running, step deadlines are
//! monotonic instants (wall-clock jumps do not move them). `done` counts
//! the steps already applied, so a resumed schedule applies each overdue
//! step once, in order, and never replays from the start.

use super::protocol::{action_name, Applied, NextStep, ScheduleStatus};
use crate::topo::conditions::Step;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Applied steps kept per link (for `status` and for checking a resume).
pub const HISTORY: usize = 64;

pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub steps: Vec<Step>,
    pub start_unix_ns: u64,
    /// The first `done` steps have been applied.
    pub done: usize,
    #[serde(default)]
    pub history: Vec<Applied>,
}

/// Steps must be in time order: a schedule is read as a timeline.
pub fn check_order(steps: &[Step]) -> Result<(), String> {
    for (i, w) in steps.windows(2).enumerate() {
        if w[1].at < w[0].at {
            return Err(format!(
                "step {} (at {:?}) comes before step {} (at {:?}): steps must be in time order",
                i + 1,
                w[1].at,
                i,
                w[0].at
            ));
        }
    }
    Ok(())
}

/// Maps a wall-clock instant onto the monotonic clock, taken together
/// once so every schedule of a process shares the same reference.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_ns: u64,
    mono: Instant,
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            wall_ns: wall_ns(),
            mono: Instant::now(),
        }
    }

    /// Nanoseconds from `unix_ns` to the monotonic instant `t` (negative
    /// when `t` is before it).
    pub fn since(&self, unix_ns: u64, t: Instant) -> i128 {
        let base = self.wall_ns as i128 - unix_ns as i128;
        let moved = if t >= self.mono {
            t.duration_since(self.mono).as_nanos() as i128
        } else {
            -(self.mono.duration_since(t).as_nanos() as i128)
        };
        base + moved
    }

    /// The monotonic instant at which `offset` after `unix_ns` falls.
    /// Instants before this clock's reading (long overdue steps) come back
    /// as that reading: they are due at once either way.
    pub fn instant(&self, unix_ns: u64, offset: Duration) -> Instant {
        let due = unix_ns as i128 + offset.as_nanos() as i128 - self.wall_ns as i128;
        if due <= 0 {
            self.mono
        } else {
            self.mono + Duration::from_nanos(due.min(u64::MAX as i128) as u64)
        }
    }

    /// The wall-clock time of the monotonic instant `t`.
    pub fn wall_at(&self, t: Instant) -> u64 {
        (self.since(0, t)).max(0) as u64
    }
}

impl Schedule {
    pub fn new(steps: Vec<Step>, start_unix_ns: u64) -> Schedule {
        Schedule {
            steps,
            start_unix_ns,
            done: 0,
            history: Vec::new(),
        }
    }

    /// Index of the next step if it is due at `now`.
    pub fn due(&self, clock: &Clock, now: Instant) -> Option<usize> {
        let step = self.steps.get(self.done)?;
        (clock.since(self.start_unix_ns, now) >= step.at.as_nanos() as i128).then_some(self.done)
    }

    /// When the next step is due, if there is one.
    pub fn next_deadline(&self, clock: &Clock) -> Option<Instant> {
        let step = self.steps.get(self.done)?;
        Some(clock.instant(self.start_unix_ns, step.at))
    }

    /// Records that step `index` was applied (successfully or not: a step
    /// is never retried, the schedule moves on).
    pub fn mark_done(
        &mut self,
        index: usize,
        (began_unix_ns, applied_unix_ns): (u64, u64),
        error: Option<String>,
    ) {
        let step = &self.steps[index];
        self.history.push(Applied {
            index,
            action: action_name(&step.action).to_string(),
            due_unix_ns: self.start_unix_ns + step.at.as_nanos() as u64,
            began_unix_ns,
            applied_unix_ns,
            pid: std::process::id(),
            error,
        });
        if self.history.len() > HISTORY {
            self.history.remove(0);
        }
        self.done = index + 1;
    }

    pub fn status(&self, clock: &Clock, now: Instant) -> ScheduleStatus {
        let elapsed = clock.since(self.start_unix_ns, now);
        ScheduleStatus {
            start_unix_ns: self.start_unix_ns,
            steps: self.steps.len(),
            done: self.done,
            next: self.steps.get(self.done).map(|s| NextStep {
                index: self.done,
                at_ns: s.at.as_nanos() as u64,
                action: action_name(&s.action).to_string(),
                in_ms: (s.at.as_nanos() as i128 - elapsed) as f64 / 1e6,
            }),
            history: self.history.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::conditions::StepAction;

    fn steps() -> Vec<Step> {
        [
            (1, StepAction::Down),
            (2, StepAction::Up),
            (5, StepAction::Down),
        ]
        .into_iter()
        .map(|(s, action)| Step {
            at: Duration::from_secs(s),
            action,
        })
        .collect()
    }

    #[test]
    fn due_steps_follow_the_wall_clock_start() {
        let clock = Clock::now();
        let now = Instant::now();
        // Started 2.5 s ago: steps 0 and 1 are due, step 2 is not.
        let start = wall_ns() - 2_500_000_000;
        let mut s = Schedule::new(steps(), start);
        let mut applied = Vec::new();
        while let Some(i) = s.due(&clock, now) {
            applied.push(i);
            s.mark_done(i, (wall_ns(), wall_ns()), None);
        }
        assert_eq!(applied, vec![0, 1]);
        let next = s.next_deadline(&clock).expect("a next step");
        let wait = next.duration_since(now).as_secs_f64();
        assert!((2.4..2.6).contains(&wait), "step 2 in {wait}s");
        let st = s.status(&clock, now);
        assert_eq!(st.done, 2);
        assert_eq!(st.next.as_ref().map(|n| n.index), Some(2));
    }

    #[test]
    fn resume_does_not_replay_done_steps() {
        let clock = Clock::now();
        let start = wall_ns() - 10_000_000_000;
        let mut s = Schedule::new(steps(), start);
        s.mark_done(0, (wall_ns(), wall_ns()), None);
        // As persisted and read back by a new process.
        let back: Schedule =
            serde_json::from_str(&serde_json::to_string(&s).expect("encode")).expect("decode");
        let mut applied = Vec::new();
        let mut b = back;
        while let Some(i) = b.due(&clock, Instant::now()) {
            applied.push(i);
            b.mark_done(i, (wall_ns(), wall_ns()), None);
        }
        assert_eq!(applied, vec![1, 2]);
        assert_eq!(
            b.history.iter().map(|h| h.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(b.next_deadline(&clock).is_none());
    }

    #[test]
    fn a_future_start_waits() {
        let clock = Clock::now();
        let s = Schedule::new(steps(), wall_ns() + 3_000_000_000);
        assert_eq!(s.due(&clock, Instant::now()), None);
        let wait = s
            .next_deadline(&clock)
            .expect("next")
            .duration_since(Instant::now())
            .as_secs_f64();
        assert!((3.9..4.1).contains(&wait), "{wait}");
    }

    #[test]
    fn out_of_order_steps_are_refused() {
        let mut v = steps();
        v.swap(0, 2);
        let e = check_order(&v).expect_err("unordered");
        assert!(e.contains("time order"), "{e}");
        assert!(check_order(&steps()).is_ok());
    }
}
