//! netem: delay, jitter, loss, duplication, reordering, corruption, and
//! its own rate and queue limit. Unlike tbf, netem's `TCA_OPTIONS` starts
//! with a fixed struct and the attributes follow it directly:
//!
//! ```text
//! struct tc_netem_qopt { u32 latency /* ticks */, limit /* packets */,
//!                        loss, gap, duplicate, jitter /* ticks */; } // 24
//! TCA_NETEM_CORR 1      { u32 delay_corr, loss_corr, dup_corr; }
//! TCA_NETEM_DELAY_DIST 2  s16[]
//! TCA_NETEM_REORDER 3   { u32 probability, correlation; }
//! TCA_NETEM_CORRUPT 4   { u32 probability, correlation; }
//! TCA_NETEM_LOSS 5 (nested) NETEM_LOSS_GE 2 { u32 p, r, h, k1; }
//! TCA_NETEM_RATE 6      { u32 rate /* bytes/s */; s32 packet_overhead;
//!                         u32 cell_size; s32 cell_overhead; }
//! TCA_NETEM_RATE64 8    u64,  TCA_NETEM_LATENCY64 10 s64 ns,
//! TCA_NETEM_JITTER64 11 s64 ns
//! ```
//! Attribute order follows q_netem.c. Probabilities are fractions of
//! `u32::MAX`; Gilbert-Elliott's `h` goes to the kernel as `h`, the file
//! says `1-h` (q_netem.c converts the same way).

use super::{dist, nla, prob, Qdisc, NLA_F_NESTED, TICK_NS};
use crate::topo::conditions::{Distribution, Impairment, Jitter, Loss, Rate, Reorder};
use std::time::Duration;

const TCA_NETEM_CORR: u16 = 1;
const TCA_NETEM_DELAY_DIST: u16 = 2;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_LOSS: u16 = 5;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
const NETEM_LOSS_GE: u16 = 2;
pub const HANDLE: u16 = 2;
/// tc's default queue length.
pub const DEFAULT_LIMIT: u32 = 1000;

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn ticks(d: Duration) -> u32 {
    (d.as_nanos() / TICK_NS as u128).min(u32::MAX as u128) as u32
}

/// netem for everything in `imp` (rate and limit included).
pub fn build(imp: &Impairment) -> Qdisc {
    let jitter = imp.jitter.map(|j| j.amount).unwrap_or_default();
    let (loss, ge) = match imp.loss {
        Some(Loss::Random { percent }) => (prob(percent), None),
        Some(Loss::GilbertElliott {
            p,
            r,
            one_minus_h,
            one_minus_k,
        }) => (
            0,
            Some([
                prob(p),
                prob(r),
                u32::MAX - prob(one_minus_h),
                prob(one_minus_k),
            ]),
        ),
        None => (0, None),
    };
    // Reordering needs a gap; tc makes 0 into 1 ("any packet").
    let gap = imp.reorder.map(|r| r.gap.max(1)).unwrap_or(0);
    let qopt = u32s(&[
        ticks(imp.delay),
        imp.limit.unwrap_or(DEFAULT_LIMIT),
        loss,
        gap,
        prob(imp.duplicate),
        ticks(jitter),
    ]);
    let mut o = qopt;
    let delay_corr = imp.jitter.map(|j| prob(j.correlation)).unwrap_or(0);
    if delay_corr > 0 {
        o.extend(nla(TCA_NETEM_CORR, &u32s(&[delay_corr, 0, 0])));
    }
    if let Some(r) = imp.reorder {
        o.extend(nla(TCA_NETEM_REORDER, &u32s(&[prob(r.percent), 0])));
    }
    if imp.corrupt > 0.0 {
        o.extend(nla(TCA_NETEM_CORRUPT, &u32s(&[prob(imp.corrupt), 0])));
    }
    if let Some(ge) = ge {
        let inner = nla(NETEM_LOSS_GE, &u32s(&ge));
        o.extend(nla(TCA_NETEM_LOSS | NLA_F_NESTED, &inner));
    }
    if let Some(r) = imp.rate {
        let bytes = r.bits_per_sec / 8;
        let rate32 = if bytes >= 1 << 32 {
            o.extend(nla(TCA_NETEM_RATE64, &bytes.to_ne_bytes()));
            u32::MAX
        } else {
            bytes as u32
        };
        o.extend(nla(TCA_NETEM_RATE, &u32s(&[rate32, 0, 0, 0])));
    }
    if let Some(j) = imp.jitter {
        if let Some(table) = dist::table(j.distribution) {
            let bytes: Vec<u8> = table.iter().flat_map(|v| v.to_ne_bytes()).collect();
            o.extend(nla(TCA_NETEM_DELAY_DIST, &bytes));
        }
    }
    // 64-bit nanoseconds: the ticks above lose precision below 64 ns and
    // overflow past 4.6 minutes; the kernel prefers these when present.
    if !imp.delay.is_zero() {
        let ns = imp.delay.as_nanos().min(i64::MAX as u128) as i64;
        o.extend(nla(TCA_NETEM_LATENCY64, &ns.to_ne_bytes()));
    }
    if !jitter.is_zero() {
        let ns = jitter.as_nanos().min(i64::MAX as u128) as i64;
        o.extend(nla(TCA_NETEM_JITTER64, &ns.to_ne_bytes()));
    }
    Qdisc {
        kind: "netem",
        handle_major: HANDLE,
        options: o,
    }
}

/// The attributes of a run of netlink attributes: (type without flags,
/// payload).
pub(crate) fn attrs(mut raw: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while raw.len() >= 4 {
        let len = u16::from_ne_bytes([raw[0], raw[1]]) as usize;
        let kind = u16::from_ne_bytes([raw[2], raw[3]]) & !NLA_F_NESTED;
        if len < 4 || len > raw.len() {
            break;
        }
        out.push((kind, &raw[4..len]));
        let next = (len + 3) & !3;
        raw = raw.get(next..).unwrap_or(&[]);
    }
    out
}

fn pct(v: u32) -> f64 {
    // Back to percent with the precision tc prints (0.0001%).
    (v as f64 / u32::MAX as f64 * 100.0 * 10_000.0).round() / 10_000.0
}

fn read_u32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(i * 4..i * 4 + 4)?.try_into().ok()?,
    ))
}

/// Reads netem's settings back (the distribution comes back as uniform:
/// the kernel does not return the table).
pub fn decode(raw: &[u8]) -> Option<Impairment> {
    let q = raw.get(..24)?;
    let mut imp = Impairment {
        delay: Duration::from_nanos(read_u32(q, 0)? as u64 * TICK_NS),
        limit: Some(read_u32(q, 1)?),
        duplicate: pct(read_u32(q, 4)?),
        ..Impairment::default()
    };
    let loss = read_u32(q, 2)?;
    if loss > 0 {
        imp.loss = Some(Loss::Random { percent: pct(loss) });
    }
    let gap = read_u32(q, 3)?;
    let mut jitter = Duration::from_nanos(read_u32(q, 5)? as u64 * TICK_NS);
    let mut corr = 0.0;
    for (kind, p) in attrs(raw.get(24..)?) {
        match kind {
            TCA_NETEM_CORR => corr = pct(read_u32(p, 0)?),
            TCA_NETEM_REORDER => {
                let percent = pct(read_u32(p, 0)?);
                if percent > 0.0 {
                    imp.reorder = Some(Reorder {
                        percent,
                        gap: if gap == 1 { 0 } else { gap },
                    });
                }
            }
            TCA_NETEM_CORRUPT => imp.corrupt = pct(read_u32(p, 0)?),
            TCA_NETEM_LOSS => {
                for (k, ge) in attrs(p) {
                    if k == NETEM_LOSS_GE {
                        imp.loss = Some(Loss::GilbertElliott {
                            p: pct(read_u32(ge, 0)?),
                            r: pct(read_u32(ge, 1)?),
                            one_minus_h: pct(u32::MAX - read_u32(ge, 2)?),
                            one_minus_k: pct(read_u32(ge, 3)?),
                        });
                    }
                }
            }
            TCA_NETEM_RATE if imp.rate.is_none() => {
                let r = read_u32(p, 0)? as u64;
                if r > 0 {
                    imp.rate = Some(Rate {
                        bits_per_sec: r * 8,
                        burst_bytes: None,
                    });
                }
            }
            TCA_NETEM_RATE64 => {
                let r = u64::from_ne_bytes(p.get(..8)?.try_into().ok()?);
                imp.rate = Some(Rate {
                    bits_per_sec: r * 8,
                    burst_bytes: None,
                });
            }
            TCA_NETEM_LATENCY64 => {
                imp.delay = Duration::from_nanos(
                    i64::from_ne_bytes(p.get(..8)?.try_into().ok()?).max(0) as u64,
                )
            }
            TCA_NETEM_JITTER64 => {
                jitter = Duration::from_nanos(
                    i64::from_ne_bytes(p.get(..8)?.try_into().ok()?).max(0) as u64,
                )
            }
            _ => {}
        }
    }
    if !jitter.is_zero() {
        imp.jitter = Some(Jitter {
            amount: jitter,
            distribution: Distribution::Uniform,
            correlation: corr,
        });
    }
    Some(imp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(v: &[u8]) -> u32 {
        u32::from_ne_bytes(v.try_into().unwrap())
    }

    /// `tc qdisc add dev X root netem delay 20ms 5ms 25% loss 1%`, byte for
    /// byte as q_netem.c builds it on a kernel with 64 ns ticks.
    #[test]
    fn delay_jitter_loss_bytes() {
        let imp = Impairment {
            delay: Duration::from_millis(20),
            jitter: Some(Jitter {
                amount: Duration::from_millis(5),
                distribution: Distribution::Uniform,
                correlation: 25.0,
            }),
            loss: Some(Loss::Random { percent: 1.0 }),
            ..Impairment::default()
        };
        let o = build(&imp).options;
        // qopt: latency 20 ms = 312500 ticks, limit 1000, loss 1% =
        // rint(0.01 * 4294967295) = 42949673, gap 0, duplicate 0, jitter
        // 5 ms = 78125 ticks.
        assert_eq!(le(&o[0..4]), 312_500);
        assert_eq!(le(&o[4..8]), 1000);
        assert_eq!(le(&o[8..12]), 42_949_673);
        assert_eq!(le(&o[12..16]), 0);
        assert_eq!(le(&o[16..20]), 0);
        assert_eq!(le(&o[20..24]), 78_125);
        // TCA_NETEM_CORR: len 16, type 1, delay_corr 25% = 1073741824.
        assert_eq!(&o[24..28], &[16, 0, 1, 0]);
        assert_eq!(le(&o[28..32]), 1_073_741_824);
        assert_eq!(&o[32..40], &[0; 8]);
        // TCA_NETEM_LATENCY64: len 12, type 10, 20,000,000 ns.
        assert_eq!(&o[40..44], &[12, 0, 10, 0]);
        assert_eq!(
            i64::from_ne_bytes(o[44..52].try_into().unwrap()),
            20_000_000
        );
        // TCA_NETEM_JITTER64: len 12, type 11, 5,000,000 ns.
        assert_eq!(&o[52..56], &[12, 0, 11, 0]);
        assert_eq!(i64::from_ne_bytes(o[56..64].try_into().unwrap()), 5_000_000);
        assert_eq!(o.len(), 64);
        assert_eq!(
            decode(&o),
            Some(Impairment {
                limit: Some(1000),
                ..imp
            })
        );
    }

    /// `netem delay 10ms reorder 25% gap 5 corrupt 0.1% duplicate 1%
    /// loss gemodel 1% 30% 100% 0% rate 10mbit limit 50`.
    #[test]
    fn reorder_corrupt_gemodel_rate_bytes() {
        let imp = Impairment {
            delay: Duration::from_millis(10),
            loss: Some(Loss::GilbertElliott {
                p: 1.0,
                r: 30.0,
                one_minus_h: 100.0,
                one_minus_k: 0.0,
            }),
            duplicate: 1.0,
            reorder: Some(Reorder {
                percent: 25.0,
                gap: 5,
            }),
            corrupt: 0.1,
            rate: Some(Rate {
                bits_per_sec: 10_000_000,
                burst_bytes: None,
            }),
            limit: Some(50),
            ..Impairment::default()
        };
        let o = build(&imp).options;
        assert_eq!(le(&o[4..8]), 50);
        assert_eq!(le(&o[8..12]), 0, "GE loss is not the random loss field");
        assert_eq!(le(&o[12..16]), 5, "gap");
        assert_eq!(le(&o[16..20]), 42_949_673, "duplicate 1%");
        let a = attrs(&o[24..]);
        let kinds: Vec<u16> = a.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec![3, 4, 5, 6, 10], "q_netem.c's order");
        assert_eq!(a[0].1, &u32s(&[1_073_741_824, 0])[..]);
        // 0.1% = rint(0.001 * 4294967295) = 4294967.
        assert_eq!(a[1].1, &u32s(&[4_294_967, 0])[..]);
        // Nested flag on TCA_NETEM_LOSS, then NETEM_LOSS_GE { p, r, h, k1 }
        // with h = 1 - (1-h) = 0.
        let off = 24 + 12 + 12;
        assert_eq!(&o[off..off + 4], &[24, 0, 5, 0x80]);
        assert_eq!(&o[off + 4..off + 8], &[20, 0, 2, 0]);
        assert_eq!(
            &o[off + 8..off + 24],
            &u32s(&[42_949_673, 1_288_490_189, 0, 0])[..]
        );
        assert_eq!(a[3].1, &u32s(&[1_250_000, 0, 0, 0])[..], "bytes per second");
        let back = decode(&o).unwrap();
        assert_eq!(back.loss, imp.loss);
        assert_eq!(back.reorder, imp.reorder);
        assert_eq!(back.rate, imp.rate);
        assert_eq!(back.corrupt, 0.1);
    }

    #[test]
    fn distributions_ship_their_table() {
        let imp = Impairment {
            delay: Duration::from_millis(50),
            jitter: Some(Jitter {
                amount: Duration::from_millis(10),
                distribution: Distribution::Normal,
                correlation: 0.0,
            }),
            ..Impairment::default()
        };
        let o = build(&imp).options;
        let a = attrs(&o[24..]);
        let (k, table) = a[0];
        assert_eq!(k, TCA_NETEM_DELAY_DIST);
        assert_eq!(table.len(), dist::ENTRIES * 2);
    }
}
