//! When to send: RFC 4861 6.2.4 (unsolicited adverts at a random time
//! between MinRtrAdvInterval and MaxRtrAdvInterval) and 6.2.6 (answers to
//! solicitations after a random delay up to MAX_RA_DELAY_TIME, multicast
//! answers at most one per MIN_DELAY_BETWEEN_RAS).
//!
//! One deliberate difference: the first adverts. RFC 4861 allows at most
//! 16 s between the first three (MAX_INITIAL_RTR_ADVERT_INTERVAL); we send
//! them 0, 1 and 2 s after start, so hosts of a lab that is coming up get
//! their addresses within a second even if their own solicitations went
//! out before the sender started. Pure: time is passed in.

use std::time::{Duration, Instant};

/// MAX_INITIAL_RTR_ADVERTISEMENTS.
pub const INITIAL_ADVERTS: u32 = 3;
/// Gap between the first adverts (see the module comment).
pub const INITIAL_GAP: Duration = Duration::from_secs(1);
/// MAX_RA_DELAY_TIME.
pub const MAX_RA_DELAY: Duration = Duration::from_millis(500);
/// MIN_DELAY_BETWEEN_RAS.
pub const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);

/// Where one interface's sender is in its schedule.
#[derive(Debug, Clone)]
pub struct Timing {
    /// MaxRtrAdvInterval.
    max: Duration,
    sent: u32,
    last_multicast: Option<Instant>,
    next_periodic: Instant,
    /// A pending answer to a solicitation: when, and to whom (`None`:
    /// all nodes).
    pub reply: Option<(Instant, Option<std::net::Ipv6Addr>)>,
    rng: u64,
}

/// What to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// A multicast advert to all nodes.
    Periodic,
    /// An answer to a solicitation, unicast to its source (`Some`) or
    /// multicast.
    Reply(Option<std::net::Ipv6Addr>),
}

impl Timing {
    pub fn new(interval_s: u32, now: Instant, seed: u64) -> Timing {
        Timing {
            max: Duration::from_secs(u64::from(interval_s)),
            sent: 0,
            last_multicast: None,
            next_periodic: now,
            reply: None,
            rng: seed | 1,
        }
    }

    /// A number in `[0, 1)` (xorshift64*: good enough to spread timers).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }

    /// MinRtrAdvInterval's default: 0.33 × MaxRtrAdvInterval.
    fn min(&self) -> Duration {
        self.max.mul_f64(0.33)
    }

    /// The earliest moment something is due.
    pub fn next_deadline(&self) -> Instant {
        match self.reply {
            Some((t, _)) => t.min(self.next_periodic),
            None => self.next_periodic,
        }
    }

    /// A valid solicitation from `from` (unspecified: the host has no
    /// address yet) arrived at `now`.
    pub fn solicited(&mut self, from: std::net::Ipv6Addr, now: Instant) {
        let at = now + MAX_RA_DELAY.mul_f64(self.random());
        if from.is_unspecified() {
            // Multicast answers are rate limited; one pending is enough.
            let earliest = self
                .last_multicast
                .map_or(at, |l| at.max(l + MIN_DELAY_BETWEEN_RAS));
            if self.reply.is_none() {
                self.reply = Some((earliest.min(self.next_periodic), None));
            }
        } else if self.reply.is_none() {
            self.reply = Some((at, Some(from)));
        }
    }

    /// What is due at `now`, if anything, and the schedule moved on past
    /// it. Call until it returns `None`.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        if now >= self.next_periodic {
            self.sent += 1;
            self.last_multicast = Some(now);
            let gap = if self.sent < INITIAL_ADVERTS {
                INITIAL_GAP
            } else {
                let span = self.max.saturating_sub(self.min());
                self.min() + span.mul_f64(self.random())
            };
            self.next_periodic = now + gap;
            // A multicast advert answers every pending multicast reply.
            if matches!(self.reply, Some((_, None))) {
                self.reply = None;
            }
            return Some(Due::Periodic);
        }
        match self.reply {
            Some((t, to)) if now >= t => {
                self.reply = None;
                if to.is_none() {
                    self.last_multicast = Some(now);
                }
                Some(Due::Reply(to))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn three_quick_adverts_then_the_rfc_interval() {
        let t0 = Instant::now();
        let mut t = Timing::new(600, t0, 42);
        assert_eq!(t.due(t0), Some(Due::Periodic));
        assert_eq!(t.due(t0), None);
        assert_eq!(t.next_deadline(), t0 + INITIAL_GAP);
        let t1 = t.next_deadline();
        assert_eq!(t.due(t1), Some(Due::Periodic));
        let t2 = t.next_deadline();
        assert_eq!(t2, t1 + INITIAL_GAP);
        assert_eq!(t.due(t2), Some(Due::Periodic));
        let mut prev = t2;
        for _ in 0..100 {
            let now = t.next_deadline();
            let gap = now - prev;
            assert!(
                gap >= Duration::from_secs(198) && gap <= Duration::from_secs(600),
                "{gap:?}"
            );
            assert_eq!(t.due(now), Some(Due::Periodic));
            prev = now;
        }
    }

    #[test]
    fn a_solicitation_is_answered_within_max_ra_delay() {
        let t0 = Instant::now();
        let mut t = Timing::new(600, t0, 7);
        for i in 0..INITIAL_ADVERTS {
            let now = t.next_deadline();
            assert_eq!(t.due(now), Some(Due::Periodic), "advert {i}");
        }
        let now = t.next_deadline() - Duration::from_secs(100);
        let host: Ipv6Addr = "fe80::1".parse().expect("ip");
        t.solicited(host, now);
        let at = t.next_deadline();
        assert!(at >= now && at <= now + MAX_RA_DELAY);
        assert_eq!(t.due(at), Some(Due::Reply(Some(host))));
        assert_eq!(t.due(at), None);
    }

    #[test]
    fn multicast_answers_keep_min_delay_between_ras() {
        let t0 = Instant::now();
        let mut t = Timing::new(600, t0, 9);
        for _ in 0..INITIAL_ADVERTS {
            let now = t.next_deadline();
            t.due(now);
        }
        let last = t0 + 2 * INITIAL_GAP;
        t.solicited(Ipv6Addr::UNSPECIFIED, last + Duration::from_millis(100));
        let at = t.next_deadline();
        assert!(at >= last + MIN_DELAY_BETWEEN_RAS, "{:?}", at - last);
        assert_eq!(t.due(at), Some(Due::Reply(None)));
    }
}
