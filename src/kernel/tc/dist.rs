//! netem delay distribution tables, generated the way iproute2's
//! `netem/normal.c`, `pareto.c` and `paretonormal.c` generate the `.dist`
//! files tc loads: 4096 signed 16-bit values of the inverse CDF scaled by
//! `NETEM_DIST_SCALE` (8192), so that `jitter * value / 8192` is a sample.

use crate::topo::conditions::Distribution;

pub const NETEM_DIST_SCALE: f64 = 8192.0;
const TABLESIZE: usize = 16384;
pub const ENTRIES: usize = TABLESIZE / 4;

// The C library's erf, the one normal.c calls: the tables come out
// identical to the files iproute2 ships.
extern "C" {
    fn erf(x: f64) -> f64;
}

fn normal_cdf(x: f64) -> f64 {
    // SAFETY: erf is a pure function of a double.
    0.5 + 0.5 * unsafe { erf(x / std::f64::consts::SQRT_2) }
}

/// x for each of TABLESIZE+1 CDF steps, by sweeping x as normal.c does.
fn normal_inverse() -> Vec<f64> {
    let mut table = vec![0.0f64; TABLESIZE + 1];
    let mut x = -10.0f64;
    while x < 10.05 {
        let i = (TABLESIZE as f64 * normal_cdf(x)).round_ties_even() as usize;
        if let Some(slot) = table.get_mut(i) {
            *slot = x;
        }
        x += 0.00005;
    }
    table
}

fn clamp16(v: i64) -> i16 {
    v.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

fn normal() -> Vec<i16> {
    let t = normal_inverse();
    (0..TABLESIZE)
        .step_by(4)
        .map(|i| clamp16((t[i] * NETEM_DIST_SCALE).round_ties_even() as i64))
        .collect()
}

/// pareto.c's value for numerator `i` (65536 down to 16).
fn pareto_value(i: u32) -> i64 {
    const A: f64 = 3.0;
    let mut d = i as f64 / 65536.0;
    d = 1.0 / d.powf(1.0 / A);
    d -= 1.5;
    d *= (4.0 / 3.0) * NETEM_DIST_SCALE;
    if d > 32767.0 {
        d = 32767.0;
    }
    d.round_ties_even() as i64
}

fn pareto() -> Vec<i16> {
    (0..ENTRIES as u32)
        .map(|n| clamp16(pareto_value(65536 - 16 * n)))
        .collect()
}

fn paretonormal() -> Vec<i16> {
    let t = normal_inverse();
    (0..TABLESIZE)
        .step_by(4)
        .map(|i| {
            let norm = (t[i] * NETEM_DIST_SCALE).round_ties_even() as i64;
            let par = pareto_value(65536 - 4 * i as u32);
            // C integer division truncates toward zero, as Rust's does.
            clamp16((norm + 3 * par) / 4)
        })
        .collect()
}

/// The table for `d`; `None` for uniform (netem's built-in default).
pub fn table(d: Distribution) -> Option<Vec<i16>> {
    match d {
        Distribution::Uniform => None,
        Distribution::Normal => Some(normal()),
        Distribution::Pareto => Some(pareto()),
        Distribution::Paretonormal => Some(paretonormal()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_is_a_standard_normal_inverse_cdf() {
        let t = normal();
        assert_eq!(t.len(), ENTRIES);
        // Monotone, symmetric around the middle, median 0.
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(t[ENTRIES / 2], 0);
        assert!(
            (t[1024] as i32 + t[3072] as i32).abs() <= 1,
            "quartiles are symmetric"
        );
        // The lower quartile of N(0,1) is -0.6745: -0.6745 * 8192 = -5525.
        assert!((t[1024] as i32 + 5525).abs() <= 2, "{}", t[1024]);
        // As in iproute2's normal.dist: starts at the clamp.
        assert_eq!(t[0], i16::MIN);
    }

    /// The tables iproute2 ships, where this machine has them.
    #[test]
    fn identical_to_the_shipped_dist_files() {
        let dirs = [
            "/usr/lib/x86_64-linux-gnu/tc",
            "/usr/lib/tc",
            "/usr/lib64/tc",
        ];
        let Some(dir) = dirs
            .iter()
            .find(|d| std::path::Path::new(d).join("normal.dist").exists())
        else {
            eprintln!("SKIP: no iproute2 .dist files on this machine to compare with");
            return;
        };
        for (name, d) in [
            ("normal", Distribution::Normal),
            ("pareto", Distribution::Pareto),
            ("paretonormal", Distribution::Paretonormal),
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{name}.dist")).unwrap();
            let shipped: Vec<i16> = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .flat_map(|l| l.split_whitespace().map(|w| w.parse::<i16>().unwrap()))
                .collect();
            let ours = table(d).unwrap();
            assert_eq!(ours.len(), shipped.len(), "{name}");
            let differ = ours.iter().zip(&shipped).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "{name}: {differ} entries differ");
        }
    }

    #[test]
    fn pareto_matches_the_formula() {
        let t = pareto();
        assert_eq!(t.len(), ENTRIES);
        // First entry: i = 65536 → (1 - 1.5) * 4/3 * 8192 = -5461.33.
        assert_eq!(t[0], -5461);
        assert_eq!(*t.last().unwrap(), i16::MAX, "heavy tail clamps");
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        let pn = paretonormal();
        assert_eq!(pn.len(), ENTRIES);
        assert_eq!(table(Distribution::Uniform), None);
    }
}
