//! Delay variation, with netem's distributions and correlation.
//!
//! Correlation works as in netem's `get_crandom`: the uniform value a
//! packet uses is `(1 - c)·fresh + c·previous`, with `previous` kept per
//! flow (so other flows cannot move it). Like netem's, this narrows the
//! spread as `c` grows; that is the behaviour users of netem know.
//!
//! Distributions (offset from the base delay, in units of `amount`):
//! - uniform: `[-1, 1]`;
//! - normal: standard normal (Box-Muller over two hashed uniforms);
//! - pareto: Pareto with shape 3, shifted to mean 0 and scaled to
//!   standard deviation 1 (long tail to the late side), as iproute2's
//!   `pareto.dist` table;
//! - paretonormal: `0.25·normal + 0.75·pareto`, as iproute2's table.
//!
//! A delay never goes below zero.

use super::fate::{Draws, Purpose};
use crate::topo::conditions::{Distribution, Jitter};

/// Per-flow jitter memory (for correlation).
#[derive(Debug, Clone, Copy)]
pub struct JitterState {
    last: f64,
}

impl Default for JitterState {
    fn default() -> Self {
        JitterState { last: 0.5 }
    }
}

/// Pareto shape 3: mean 1.5·xm, sd √3/2·xm; xm makes the sd 1.
const PARETO_XM: f64 = 1.154_700_538_379_251_7;

fn normal(u1: f64, u2: f64) -> f64 {
    let r = (-2.0 * (1.0 - u1).ln()).sqrt();
    r * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pareto(u: f64) -> f64 {
    PARETO_XM * ((1.0 - u).powf(-1.0 / 3.0) - 1.5)
}

/// The signed delay offset in nanoseconds for this packet.
pub fn offset_ns(j: &Jitter, st: &mut JitterState, d: &Draws) -> i64 {
    let c = (j.correlation / 100.0).clamp(0.0, 1.0);
    let u = (1.0 - c) * d.uniform(Purpose::Jitter) + c * st.last;
    st.last = u;
    let u2 = d.uniform(Purpose::JitterExtra);
    let x = match j.distribution {
        Distribution::Uniform => 2.0 * u - 1.0,
        Distribution::Normal => normal(u, u2),
        Distribution::Pareto => pareto(u),
        Distribution::Paretonormal => 0.25 * normal(u, u2) + 0.75 * pareto(u),
    };
    (x * j.amount.as_nanos() as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::super::fate::FateKey;
    use super::*;
    use std::time::Duration;

    fn moments(dist: Distribution, corr: f64) -> (f64, f64, f64, f64) {
        let j = Jitter {
            amount: Duration::from_millis(10),
            distribution: dist,
            correlation: corr,
        };
        let k = FateKey::new(5, "l", 0);
        let mut st = JitterState::default();
        let xs: Vec<f64> = (0..50_000)
            .map(|i| offset_ns(&j, &mut st, &k.packet(1, i)) as f64 / 1e7)
            .collect();
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let min = xs.iter().cloned().fold(f64::MAX, f64::min);
        let max = xs.iter().cloned().fold(f64::MIN, f64::max);
        (mean, sd, min, max)
    }

    #[test]
    fn distributions_have_their_shapes() {
        let (m, sd, lo, hi) = moments(Distribution::Uniform, 0.0);
        assert!(
            m.abs() < 0.02 && (sd - 0.577).abs() < 0.02,
            "uniform {m} {sd}"
        );
        assert!(lo >= -1.0 && hi <= 1.0);
        let (m, sd, _, _) = moments(Distribution::Normal, 0.0);
        assert!(m.abs() < 0.03 && (sd - 1.0).abs() < 0.03, "normal {m} {sd}");
        let (m, _, lo, hi) = moments(Distribution::Pareto, 0.0);
        assert!(m.abs() < 0.05, "pareto mean {m}");
        assert!(lo > -0.6 && hi > 3.0, "pareto tail {lo} {hi}");
        let (m, _, _, _) = moments(Distribution::Paretonormal, 0.0);
        assert!(m.abs() < 0.05, "paretonormal mean {m}");
    }

    #[test]
    fn correlation_ties_neighbours_together() {
        let j = Jitter {
            amount: Duration::from_millis(10),
            distribution: Distribution::Uniform,
            correlation: 90.0,
        };
        let k = FateKey::new(5, "l", 0);
        let mut st = JitterState::default();
        let xs: Vec<i64> = (0..10_000)
            .map(|i| offset_ns(&j, &mut st, &k.packet(1, i)))
            .collect();
        let mean_step = xs.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<i64>() / 9_999;
        // Uncorrelated uniform over ±10 ms steps by ≈6.7 ms on average.
        assert!(mean_step < 2_000_000, "mean step {mean_step} ns");
    }
}
