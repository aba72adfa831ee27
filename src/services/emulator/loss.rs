//! Which packets are lost: independent (random) or Gilbert-Elliott bursts.
//!
//! The Gilbert-Elliott chain follows netem's `gemodel` step for step: in
//! the current state, first draw the transition, then lose the packet with
//! the loss probability of the state the packet arrived in. Its state lives
//! per flow, like the packet index, so another flow's packets do not move
//! this flow's chain (a burst is then a burst *of this flow*, which is also
//! what a TCP connection sees).

use super::fate::{Draws, Purpose};
use crate::topo::conditions::Loss;

/// Per-flow state of the loss model.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossState {
    bad: bool,
}

/// Whether this packet is lost; advances `st`.
pub fn lost(loss: &Loss, st: &mut LossState, d: &Draws) -> bool {
    match *loss {
        Loss::Random { percent } => d.chance(Purpose::Loss, percent),
        Loss::GilbertElliott {
            p,
            r,
            one_minus_h,
            one_minus_k,
        } => {
            let was_bad = st.bad;
            let flip = if was_bad { r } else { p };
            if d.chance(Purpose::LossState, flip) {
                st.bad = !was_bad;
            }
            let loss = if was_bad { one_minus_h } else { one_minus_k };
            d.chance(Purpose::Loss, loss)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fate::FateKey;
    use super::*;

    /// 99% two-sided binomial interval (normal approximation) for n draws
    /// at probability p.
    pub fn interval(n: f64, p: f64) -> (f64, f64) {
        let sd = (n * p * (1.0 - p)).sqrt();
        (n * p - 2.576 * sd, n * p + 2.576 * sd)
    }

    #[test]
    fn random_loss_rate_is_in_the_99_percent_interval() {
        for (seed, pct) in [(1u64, 1.0), (2, 10.0), (3, 20.0), (4, 50.0)] {
            let k = FateKey::new(seed, "link", 0);
            let mut st = LossState::default();
            let l = Loss::Random { percent: pct };
            let n = 100_000u64;
            let lost_n = (0..n)
                .filter(|&i| lost(&l, &mut st, &k.packet(9, i)))
                .count() as f64;
            let (lo, hi) = interval(n as f64, pct / 100.0);
            assert!(
                lo <= lost_n && lost_n <= hi,
                "{pct}%: {lost_n} not in [{lo}, {hi}]"
            );
        }
    }

    #[test]
    fn gilbert_elliott_bursts_match_the_model() {
        // Bad state loses everything, good state nothing: loss bursts are
        // exactly the stays in the bad state, geometric with mean 1/r, and
        // the loss rate is p / (p + r).
        let (p, r) = (1.0, 30.0);
        let l = Loss::GilbertElliott {
            p,
            r,
            one_minus_h: 100.0,
            one_minus_k: 0.0,
        };
        let k = FateKey::new(7, "link", 0);
        let mut st = LossState::default();
        let n = 200_000u64;
        let (mut lost_n, mut bursts, mut run) = (0u64, 0u64, 0u64);
        for i in 0..n {
            if lost(&l, &mut st, &k.packet(1, i)) {
                lost_n += 1;
                run += 1;
            } else if run > 0 {
                bursts += 1;
                run = 0;
            }
        }
        let mean_burst = lost_n as f64 / bursts as f64;
        let want = 100.0 / r;
        assert!(
            (mean_burst - want).abs() < 0.1 * want,
            "mean burst {mean_burst:.2}, model {want:.2}"
        );
        let rate = lost_n as f64 / n as f64;
        let want_rate = p / (p + r);
        assert!(
            (rate - want_rate).abs() < 0.1 * want_rate,
            "loss rate {rate:.4}, model {want_rate:.4}"
        );
    }
}
