//! One direction of an emulated link: given a frame and the time it
//! arrived, decide whether it is lost, duplicated, corrupted or reordered
//! and when it leaves.
//!
//! Order of decisions, as in netem: duplicate, loss (a lost duplicate still
//! sends the other copy), queue limit (tail drop), corrupt (the first copy
//! only), then reorder or delay. Semantics chosen, following netem:
//! - Constant delay keeps every flow in order (release times only grow).
//! - Jitter reorders packets whose jittered release times cross, unless a
//!   rate is set: with a rate, a frame never leaves before the one ahead
//!   of it (netem does the same since rate works on the queue tail).
//! - Reorder sends the chosen packet at once, skipping delay and rate;
//!   `gap` N makes every Nth packet of a flow a candidate (0 or 1: any).
//! - Rate is a byte token bucket charged on arrival; the delay is added
//!   after the frame's turn on the wire.
//! - `limit` counts frames waiting (default 1,000, netem's default).
//!
//! Every random choice comes from [`FateKey::packet`] with the packet's
//! flow and index in that flow, so a run is repeatable per flow whatever
//! else crosses the link.

use super::fate::{FateKey, Purpose};
use super::flow::{flow_id, FlowTable};
use super::jitter;
use super::loss;
use super::token_bucket::TokenBucket;
use crate::topo::conditions::Impairment;

/// netem's default queue length.
pub const DEFAULT_LIMIT: u32 = 1_000;
/// Loss records kept for repeatability checks (oldest kept, rest counted).
pub const DROP_LOG_MAX: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Loss,
    QueueFull,
}

/// What happens to one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub flow: u64,
    pub index: u64,
    /// 0 (dropped), 1, or 2 (duplicated).
    pub copies: u8,
    pub drop: Option<DropReason>,
    /// Monotonic ns at which the copies leave.
    pub release_ns: u64,
    /// Flip this bit (modulo the packet's bit length) of the first copy.
    pub corrupt_bit: Option<u64>,
    pub reordered: bool,
}

/// A packet lost to the loss model: (flow, index within the flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LossRecord {
    pub flow: u64,
    pub index: u64,
}

#[derive(Debug)]
pub struct Engine {
    key: FateKey,
    imp: Impairment,
    flows: FlowTable,
    bucket: Option<TokenBucket>,
    last_release: u64,
    pub losses: Vec<LossRecord>,
}

impl Engine {
    pub fn new(key: FateKey, imp: &Impairment) -> Engine {
        let mut e = Engine {
            key,
            imp: Impairment::default(),
            flows: FlowTable::default(),
            bucket: None,
            last_release: 0,
            losses: Vec::new(),
        };
        e.set(imp, 0);
        e
    }

    pub fn impairment(&self) -> &Impairment {
        &self.imp
    }

    /// Applies new conditions from now on; flow state, the bucket's credit
    /// and queued frames are kept.
    pub fn set(&mut self, imp: &Impairment, now_ns: u64) {
        self.bucket = match (imp.rate, self.bucket.take()) {
            (None, _) => None,
            (Some(r), Some(mut b)) => {
                let size = r
                    .burst_bytes
                    .unwrap_or_else(|| TokenBucket::default_size(r.bits_per_sec));
                b.reconfigure(r.bits_per_sec, size);
                Some(b)
            }
            (Some(r), None) => {
                let size = r
                    .burst_bytes
                    .unwrap_or_else(|| TokenBucket::default_size(r.bits_per_sec));
                Some(TokenBucket::new(r.bits_per_sec, size, 0, now_ns))
            }
        };
        self.imp = imp.clone();
    }

    pub fn limit(&self) -> usize {
        self.imp.limit.unwrap_or(DEFAULT_LIMIT) as usize
    }

    /// Decides the fate of `frame` (Ethernet, no vnet header) of `wire_len`
    /// bytes arriving at `now_ns` while `queued` frames wait.
    pub fn decide(
        &mut self,
        frame: &[u8],
        wire_len: usize,
        now_ns: u64,
        queued: usize,
    ) -> Decision {
        let flow = flow_id(frame);
        let st = self.flows.get(flow);
        let index = st.next_index;
        st.next_index += 1;
        let d = self.key.packet(flow, index);
        let imp = &self.imp;
        let mut decision = Decision {
            flow,
            index,
            copies: 1,
            drop: None,
            release_ns: now_ns,
            corrupt_bit: None,
            reordered: false,
        };
        if d.chance(Purpose::Duplicate, imp.duplicate) {
            decision.copies = 2;
        }
        if let Some(l) = &imp.loss {
            if loss::lost(l, &mut st.loss, &d) {
                decision.copies -= 1;
                if decision.copies == 0 {
                    if self.losses.len() < DROP_LOG_MAX {
                        self.losses.push(LossRecord { flow, index });
                    }
                    decision.drop = Some(DropReason::Loss);
                    return decision;
                }
            }
        }
        let limit = imp.limit.unwrap_or(DEFAULT_LIMIT) as usize;
        if queued + decision.copies as usize > limit {
            decision.copies = 0;
            decision.drop = Some(DropReason::QueueFull);
            return decision;
        }
        if d.chance(Purpose::Corrupt, imp.corrupt) {
            decision.corrupt_bit = Some(d.bits(Purpose::CorruptBit));
        }
        if let Some(r) = &imp.reorder {
            let gap = r.gap.max(1);
            if st.since_reorder + 1 >= gap && d.chance(Purpose::Reorder, r.percent) {
                st.since_reorder = 0;
                decision.reordered = true;
                return decision;
            }
            st.since_reorder += 1;
        }
        let mut delay = imp.delay.as_nanos() as i64;
        if let Some(j) = &imp.jitter {
            delay += jitter::offset_ns(j, &mut st.jitter, &d);
        }
        let mut release = now_ns;
        if let Some(b) = &mut self.bucket {
            release = b.reserve(now_ns, wire_len);
        }
        release = release.saturating_add(delay.max(0) as u64);
        if self.bucket.is_some() {
            release = release.max(self.last_release);
        }
        self.last_release = self.last_release.max(release);
        decision.release_ns = release;
        decision
    }

    pub fn flows(&self) -> usize {
        self.flows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::flow::tests::{arp, udp4};
    use super::*;
    use crate::topo::conditions::{Jitter, Loss, Rate, Reorder};
    use std::time::Duration;

    fn lossy() -> Impairment {
        Impairment {
            delay: Duration::from_millis(10),
            jitter: Some(Jitter {
                amount: Duration::from_millis(3),
                distribution: Default::default(),
                correlation: 25.0,
            }),
            loss: Some(Loss::Random { percent: 20.0 }),
            duplicate: 5.0,
            corrupt: 5.0,
            reorder: Some(Reorder {
                percent: 10.0,
                gap: 0,
            }),
            ..Impairment::default()
        }
    }

    fn flow_a(i: u16) -> Vec<u8> {
        udp4([10, 0, 0, 1], [10, 0, 0, 2], 5000, 6000, 20 + i as usize)
    }

    /// Decisions for flow A, with relative release times.
    type Trace = Vec<(u64, u8, Option<u64>, bool, u64)>;

    fn run(seed: u64, noise_every: usize) -> Trace {
        run_with(&lossy(), seed, noise_every)
    }

    fn run_with(imp: &Impairment, seed: u64, noise_every: usize) -> Trace {
        let mut e = Engine::new(FateKey::new(seed, "h1:eth0-h2:eth0", 0), imp);
        let mut out = Vec::new();
        let mut t = 0;
        for i in 0..2_000u16 {
            if noise_every > 0 && i as usize % noise_every == 0 {
                e.decide(&arp(), 42, t, 0);
                let other = udp4([10, 0, 0, 3], [10, 0, 0, 2], 1, 2, 60);
                e.decide(&other, 102, t, 0);
            }
            let f = flow_a(i);
            let d = e.decide(&f, f.len(), t, 0);
            out.push((
                d.index,
                d.copies,
                d.corrupt_bit,
                d.reordered,
                d.release_ns - t,
            ));
            t += 1_000_000;
        }
        out
    }

    #[test]
    fn same_seed_same_decisions_different_seed_different_ones() {
        assert_eq!(run(1, 0), run(1, 0));
        assert_ne!(run(1, 0), run(2, 0));
    }

    #[test]
    fn other_flows_in_between_change_nothing() {
        assert_eq!(run(9, 0), run(9, 3));
        assert_eq!(run(9, 0), run(9, 1));
        // The Gilbert-Elliott chain is per flow too.
        let ge = Impairment {
            loss: Some(Loss::GilbertElliott {
                p: 5.0,
                r: 30.0,
                one_minus_h: 80.0,
                one_minus_k: 1.0,
            }),
            ..lossy()
        };
        let quiet = run_with(&ge, 4, 0);
        assert_eq!(quiet, run_with(&ge, 4, 1));
        assert!(quiet.iter().any(|d| d.1 == 0), "no loss at all");
    }

    #[test]
    fn duplicate_and_corrupt_counts_match_their_rates() {
        let imp = Impairment {
            duplicate: 10.0,
            corrupt: 5.0,
            ..Impairment::default()
        };
        let mut e = Engine::new(FateKey::new(3, "l", 0), &imp);
        let n = 100_000u64;
        let (mut dup, mut cor) = (0f64, 0f64);
        for i in 0..n {
            let f = flow_a((i % 1000) as u16);
            let d = e.decide(&f, f.len(), i, 0);
            dup += (d.copies == 2) as u8 as f64;
            cor += d.corrupt_bit.is_some() as u8 as f64;
        }
        for (got, p) in [(dup, 0.10), (cor, 0.05)] {
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!((got - n as f64 * p).abs() < 2.576 * sd, "{got} vs {p}");
        }
    }

    #[test]
    fn constant_delay_keeps_order_and_rate_paces() {
        let imp = Impairment {
            delay: Duration::from_millis(50),
            rate: Some(Rate {
                bits_per_sec: 8_000_000,
                burst_bytes: Some(1_000),
            }),
            ..Impairment::default()
        };
        let mut e = Engine::new(FateKey::new(3, "l", 0), &imp);
        let f = udp4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 958);
        assert_eq!(f.len(), 1_000);
        let times: Vec<u64> = (0..10)
            .map(|_| e.decide(&f, 1_000, 0, 0).release_ns)
            .collect();
        // 1 byte per µs: the bucket pays the first, then one per ms.
        for (i, t) in times.iter().enumerate() {
            assert_eq!(*t, 50_000_000 + i as u64 * 1_000_000);
        }
    }

    #[test]
    fn jitter_without_rate_may_reorder_with_rate_never() {
        let mut imp = Impairment {
            delay: Duration::from_millis(10),
            jitter: Some(Jitter {
                amount: Duration::from_millis(5),
                distribution: Default::default(),
                correlation: 0.0,
            }),
            ..Impairment::default()
        };
        let order = |imp: &Impairment| {
            let mut e = Engine::new(FateKey::new(3, "l", 0), imp);
            let f = flow_a(1);
            (0..1_000u64)
                .map(|i| e.decide(&f, 64, i * 100_000, 0).release_ns)
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[1] < w[0])
                .count()
        };
        assert!(order(&imp) > 100);
        imp.rate = Some(Rate {
            bits_per_sec: 1_000_000_000,
            burst_bytes: None,
        });
        assert_eq!(order(&imp), 0);
    }

    #[test]
    fn a_full_queue_drops_the_tail() {
        let imp = Impairment {
            limit: Some(10),
            delay: Duration::from_millis(1),
            ..Impairment::default()
        };
        let mut e = Engine::new(FateKey::new(3, "l", 0), &imp);
        let f = flow_a(1);
        assert_eq!(e.decide(&f, 64, 0, 9).drop, None);
        assert_eq!(e.decide(&f, 64, 0, 10).drop, Some(DropReason::QueueFull));
    }

    #[test]
    fn reorder_sends_at_once_at_about_its_rate() {
        let imp = Impairment {
            delay: Duration::from_millis(10),
            reorder: Some(Reorder {
                percent: 25.0,
                gap: 0,
            }),
            ..Impairment::default()
        };
        let mut e = Engine::new(FateKey::new(3, "l", 0), &imp);
        let f = flow_a(1);
        let n = 10_000;
        let r = (0..n)
            .filter(|&i| {
                let d = e.decide(&f, 64, i, 0);
                assert_eq!(d.reordered, d.release_ns == i);
                d.reordered
            })
            .count();
        assert!((2_300..2_700).contains(&r), "{r}");
    }

    #[test]
    fn losses_are_logged_per_flow_index() {
        let imp = Impairment {
            loss: Some(Loss::Random { percent: 30.0 }),
            ..Impairment::default()
        };
        let mut e = Engine::new(FateKey::new(3, "l", 0), &imp);
        let f = flow_a(1);
        let dropped: Vec<u64> = (0..100)
            .filter_map(|i| {
                let d = e.decide(&f, 64, i, 0);
                d.drop.map(|_| d.index)
            })
            .collect();
        let logged: Vec<u64> = e.losses.iter().map(|r| r.index).collect();
        assert_eq!(dropped, logged);
        assert!(!dropped.is_empty());
    }
}
