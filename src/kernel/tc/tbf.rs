//! The token bucket filter (`tbf`): rate and burst, with a byte-limited
//! FIFO in front. Layout of `struct tc_tbf_qopt` (pkt_sched.h):
//!
//! ```text
//! struct tc_ratespec { u8 cell_log; u8 linklayer; u16 overhead;
//!                      s16 cell_align; u16 mpu; u32 rate; }      // 12 bytes
//! struct tc_tbf_qopt { tc_ratespec rate, peakrate;
//!                      u32 limit /* bytes */, buffer /* ticks */, mtu; } // 36
//! ```
//! Attributes inside TCA_OPTIONS: TCA_TBF_PARMS 1, TCA_TBF_RATE64 4,
//! TCA_TBF_BURST 6. With `linklayer = TC_LINKLAYER_ETHERNET` the kernel
//! needs no rate table (TCA_TBF_RTAB): it computes transmit times itself.

use super::{nla, Qdisc, TICK_NS};
use crate::topo::conditions::{Impairment, Rate};

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TC_LINKLAYER_ETHERNET: u8 = 1;
pub const HANDLE: u16 = 1;
/// Largest frame a veth hands the qdisc without GSO; the bucket must hold
/// at least a few of them.
const FRAME: u64 = 1514;

/// The bucket when the user gave none: 10 ms of line rate, at least ten
/// full frames (below that, TCP cannot fill the rate).
pub fn default_burst(bits_per_sec: u64) -> u32 {
    let ten_ms = bits_per_sec / 8 / 100;
    ten_ms.max(10 * FRAME).min(u32::MAX as u64) as u32
}

/// The queue in bytes: `limit` packets of full frames, or (unset) 50 ms of
/// line rate plus the bucket, at least 4 frames. A fixed floor in frames
/// would be seconds of queue at low rates: at 1 Mbit/s 64 frames hold
/// 0.8 s, and goodput measured over a few seconds loses what sits in it.
pub fn limit_bytes(r: &Rate, limit_packets: Option<u32>, burst: u32) -> u32 {
    let bytes = match limit_packets {
        Some(p) => p as u64 * FRAME,
        None => (r.bits_per_sec / 8 / 20 + burst as u64).max(4 * FRAME),
    };
    bytes.min(u32::MAX as u64) as u32
}

/// tbf for `imp` (its rate and limit; the rest needs netem). `None` when
/// there is no rate.
pub fn build(imp: &Impairment) -> Option<Qdisc> {
    let r = imp.rate?;
    let bytes_per_sec = (r.bits_per_sec / 8).max(1);
    let burst = r
        .burst_bytes
        .unwrap_or_else(|| default_burst(r.bits_per_sec));
    let limit = limit_bytes(&r, imp.limit, burst);
    // Time to send the bucket at the rate, in scheduler ticks.
    let buffer_ns = burst as u128 * 1_000_000_000 / bytes_per_sec as u128;
    let buffer_ticks = (buffer_ns / TICK_NS as u128).min(u32::MAX as u128) as u32;

    let mut parms = Vec::with_capacity(36);
    // rate: cell_log 0, linklayer ethernet, overhead 0, cell_align -1 as tc
    // sets it, mpu 0, rate (bytes/s, saturated when it needs RATE64).
    parms.push(0u8);
    parms.push(TC_LINKLAYER_ETHERNET);
    parms.extend_from_slice(&0u16.to_ne_bytes());
    parms.extend_from_slice(&(-1i16).to_ne_bytes());
    parms.extend_from_slice(&0u16.to_ne_bytes());
    parms.extend_from_slice(&(bytes_per_sec.min(u32::MAX as u64) as u32).to_ne_bytes());
    parms.extend_from_slice(&[0u8; 12]); // no peak rate
    parms.extend_from_slice(&limit.to_ne_bytes());
    parms.extend_from_slice(&buffer_ticks.to_ne_bytes());
    parms.extend_from_slice(&0u32.to_ne_bytes()); // mtu: only with a peak rate

    let mut options = nla(TCA_TBF_PARMS, &parms);
    if bytes_per_sec >= 1 << 32 {
        options.extend(nla(TCA_TBF_RATE64, &bytes_per_sec.to_ne_bytes()));
    }
    options.extend(nla(TCA_TBF_BURST, &burst.to_ne_bytes()));
    Some(Qdisc {
        kind: "tbf",
        handle_major: HANDLE,
        options,
    })
}

/// Reads back rate, burst and limit (limit in packets of full frames).
pub fn decode(raw: &[u8]) -> Option<Impairment> {
    let mut rate32 = None;
    let mut rate64 = None;
    let mut buffer_ticks = 0u32;
    let mut limit = 0u32;
    let mut burst = None;
    for (kind, payload) in super::netem::attrs(raw) {
        match kind {
            TCA_TBF_PARMS if payload.len() >= 36 => {
                rate32 = Some(u32::from_ne_bytes(payload[8..12].try_into().ok()?));
                limit = u32::from_ne_bytes(payload[24..28].try_into().ok()?);
                buffer_ticks = u32::from_ne_bytes(payload[28..32].try_into().ok()?);
            }
            TCA_TBF_RATE64 if payload.len() >= 8 => {
                rate64 = Some(u64::from_ne_bytes(payload[..8].try_into().ok()?));
            }
            TCA_TBF_BURST if payload.len() >= 4 => {
                burst = Some(u32::from_ne_bytes(payload[..4].try_into().ok()?));
            }
            _ => {}
        }
    }
    let bytes_per_sec = rate64.or(rate32.map(u64::from))?;
    // The kernel reports the bucket as a time; turn it back into bytes.
    let burst = burst.unwrap_or_else(|| {
        (buffer_ticks as u128 * TICK_NS as u128 * bytes_per_sec as u128 / 1_000_000_000) as u32
    });
    Some(Impairment {
        rate: Some(Rate {
            bits_per_sec: bytes_per_sec * 8,
            burst_bytes: Some(burst),
        }),
        limit: Some((limit as u64 / FRAME) as u32),
        ..Impairment::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(bits: u64, burst: Option<u32>) -> Impairment {
        Impairment {
            rate: Some(Rate {
                bits_per_sec: bits,
                burst_bytes: burst,
            }),
            ..Impairment::default()
        }
    }

    #[test]
    fn encodes_like_tc() {
        // tc qdisc add dev X root tbf rate 10mbit burst 32kb limit 151400
        let mut i = rate(10_000_000, Some(32 * 1024));
        i.limit = Some(100);
        let q = build(&i).unwrap();
        assert_eq!(q.kind, "tbf");
        let o = &q.options;
        // TCA_TBF_PARMS header: len 40, type 1.
        assert_eq!(&o[0..4], &[40, 0, 1, 0]);
        let p = &o[4..40];
        assert_eq!(p[1], 1, "linklayer ethernet");
        assert_eq!(u32::from_ne_bytes(p[8..12].try_into().unwrap()), 1_250_000);
        assert_eq!(&p[12..24], &[0u8; 12], "no peak rate");
        assert_eq!(u32::from_ne_bytes(p[24..28].try_into().unwrap()), 151_400);
        // 32768 bytes at 1.25 MB/s = 26.2144 ms = 409600 ticks of 64 ns.
        assert_eq!(u32::from_ne_bytes(p[28..32].try_into().unwrap()), 409_600);
        // No RATE64 below 4 GB/s; then TCA_TBF_BURST.
        assert_eq!(&o[40..44], &[8, 0, 6, 0]);
        assert_eq!(u32::from_ne_bytes(o[44..48].try_into().unwrap()), 32768);
        assert_eq!(o.len(), 48);
        let back = decode(o).unwrap();
        assert_eq!(back.rate, i.rate);
        assert_eq!(back.limit, Some(100));
    }

    #[test]
    fn very_fast_rates_use_rate64() {
        let q = build(&rate(40_000_000_000, None)).unwrap();
        let p = &q.options[4..40];
        assert_eq!(u32::from_ne_bytes(p[8..12].try_into().unwrap()), u32::MAX);
        assert_eq!(&q.options[40..44], &[12, 0, 4, 0]);
        assert_eq!(
            u64::from_ne_bytes(q.options[44..52].try_into().unwrap()),
            5_000_000_000
        );
        assert_eq!(
            decode(&q.options).unwrap().rate.unwrap().bits_per_sec,
            40_000_000_000
        );
    }

    #[test]
    fn defaults_are_sane() {
        assert_eq!(default_burst(1_000_000), 15_140, "ten frames at low rates");
        assert_eq!(default_burst(1_000_000_000), 1_250_000, "10 ms at 1 Gbit/s");
        assert!(build(&Impairment::default()).is_none());
    }
}
