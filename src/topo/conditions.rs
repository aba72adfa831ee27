//! Typed link conditions: what one direction of a link does to the packets
//! sent through it. This is the contract between the topology file (which
//! spells conditions as strings like `20ms`, `1%`, `10mbit`), the kernel
//! backend (`tc` htb/tbf/netem) and the userspace emulator: both backends
//! take an [`Impairment`] per direction and nothing else.
//!
//! Units are the natural ones: [`Duration`] for times, percent (0–100) for
//! probabilities, bits per second for rates, bytes for bursts and packets
//! for queue lengths.

pub mod mininet;
pub mod presets;
pub mod spec;
pub mod units;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How jitter is distributed around the base delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform in `[delay - jitter, delay + jitter]` (netem without a table).
    #[default]
    Uniform,
    /// Normal with standard deviation `jitter` (netem `distribution normal`).
    Normal,
    /// Pareto (heavy tail), netem `distribution pareto`.
    Pareto,
    /// netem's `paretonormal` mix.
    Paretonormal,
}

/// Variation of the delay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Jitter {
    /// How far a packet's delay strays from the base delay (the first
    /// word of the file's `jitter: 2ms 25% normal`); never zero.
    pub amount: Duration,
    /// The shape of the variation (the file's `uniform`, `normal`,
    /// `pareto`, `paretonormal`; uniform when not given).
    #[serde(default)]
    pub distribution: Distribution,
    /// Correlation with the previous packet's jitter, percent.
    #[serde(default)]
    pub correlation: f64,
}

/// Which packets are lost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum Loss {
    /// Each packet independently, with this probability (percent).
    Random {
        /// 0–100 (the file's `loss: 1%`).
        percent: f64,
    },
    /// Gilbert-Elliott burst loss, in netem's `gemodel` terms (all percent):
    /// `p` good→bad, `r` bad→good, `one_minus_h` loss in the bad state,
    /// `one_minus_k` loss in the good state.
    /// The file spells it `loss: gemodel P R 1-H 1-K`; left out values
    /// default to r = 100%, 1-h = 100%, 1-k = 0%.
    GilbertElliott {
        /// Chance of moving from the good state to the bad one.
        p: f64,
        /// Chance of moving from the bad state back to the good one.
        r: f64,
        /// Chance a packet is lost in the bad state.
        one_minus_h: f64,
        /// Chance a packet is lost in the good state.
        one_minus_k: f64,
    },
}

/// Reordering: this share of packets (percent) skips the delay and is sent
/// at once, overtaking those queued before it (netem `reorder`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reorder {
    /// 0–100 (the file's `reorder: 25%`, or `25% gap 5`). netem reorders
    /// only delayed packets: it needs a `delay`.
    pub percent: f64,
    /// Every `gap`-th packet is a candidate (netem's gap); 0 = any packet.
    #[serde(default)]
    pub gap: u32,
}

/// A token-bucket rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// The file's `rate: 10mbit` (tc's units: `kbit`, `mbit`, `gbit`, or
    /// bytes per second as `kbps`, `mbps`).
    pub bits_per_sec: u64,
    /// Bucket size in bytes; `None` lets the backend pick a sane one for
    /// the rate (enough for a few milliseconds of line rate).
    #[serde(default)]
    pub burst_bytes: Option<u32>,
}

/// Everything one direction of a link does to its packets. The default is
/// "nothing": a link whose two directions are both default stays a plain
/// veth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Impairment {
    /// One-way base delay.
    #[serde(with = "duration_serde")]
    pub delay: Duration,
    /// Variation of the delay; `None` keeps every packet at `delay`.
    pub jitter: Option<Jitter>,
    /// `None` loses nothing (but what an overflowing queue drops).
    pub loss: Option<Loss>,
    /// Percent of packets sent twice.
    pub duplicate: f64,
    /// `None` keeps packets in order.
    pub reorder: Option<Reorder>,
    /// Percent of packets with one bit flipped.
    pub corrupt: f64,
    /// `None`: as fast as the host can move packets.
    pub rate: Option<Rate>,
    /// Queue length in packets (netem/tbf `limit`); `None`: 1000 packets
    /// for netem and the emulator, about 50 ms at `rate` for tbf.
    pub limit: Option<u32>,
}

impl Impairment {
    /// True when this direction is left as the kernel does it.
    pub fn is_none(&self) -> bool {
        *self == Impairment::default()
    }

    /// True when something other than a rate or queue limit is asked for:
    /// that needs netem, or the userspace emulator where netem is missing.
    pub fn needs_netem(&self) -> bool {
        !self.delay.is_zero()
            || self.jitter.is_some()
            || self.loss.is_some()
            || self.duplicate > 0.0
            || self.reorder.is_some()
            || self.corrupt > 0.0
    }
}

/// A link's conditions, one [`Impairment`] per direction. Directions are
/// named by the sending end: `a_to_b` is what packets sent by
/// `endpoints[0]` meet on their way to `endpoints[1]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Directed {
    /// What packets sent by the link's first end meet.
    pub a_to_b: Impairment,
    /// What packets sent by the link's second end meet.
    pub b_to_a: Impairment,
}

impl Directed {
    /// The same impairment both ways.
    pub fn symmetric(i: Impairment) -> Directed {
        Directed {
            a_to_b: i.clone(),
            b_to_a: i,
        }
    }

    /// True when neither direction has conditions: the link stays a plain
    /// veth.
    pub fn is_none(&self) -> bool {
        self.a_to_b.is_none() && self.b_to_a.is_none()
    }

    /// True when either direction needs netem (see
    /// [`Impairment::needs_netem`]).
    pub fn needs_netem(&self) -> bool {
        self.a_to_b.needs_netem() || self.b_to_a.needs_netem()
    }
}

/// One timed change of a link, run by the lab's supervisor: `at` counts
/// from the moment the lab (or the schedule) started. The file spells a
/// step as a partial change (`{at: 10s, loss: 30%}`); the parser resolves
/// it against the link's conditions so far, so [`StepAction::Set`] always
/// carries the complete conditions from that moment on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When, from the start of the schedule (the file's `at: 10s`).
    #[serde(with = "duration_serde")]
    pub at: Duration,
    /// What happens then.
    pub action: StepAction,
}

/// What a [`Step`] does to its link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepAction {
    /// From now on the link has exactly these conditions.
    Set(Box<Directed>),
    /// Both ends administratively up.
    Up,
    /// Both ends administratively down.
    Down,
}

/// Which machinery carries a link's conditions; reported per link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// No conditions: a plain veth.
    None,
    /// Kernel qdiscs: htb/tbf for rate, netem for the rest.
    Kernel,
    /// The built-in userspace emulator (TAP ends and a forwarding loop in
    /// the lab's supervisor), used where the kernel lacks netem.
    Userspace,
}

/// Durations as integer nanoseconds in JSON (the journal), so a round trip
/// is exact.
mod duration_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_nanos().min(u64::MAX as u128) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_alone_needs_no_netem() {
        let i = Impairment {
            rate: Some(Rate {
                bits_per_sec: 10_000_000,
                burst_bytes: None,
            }),
            limit: Some(100),
            ..Impairment::default()
        };
        assert!(!i.is_none());
        assert!(!i.needs_netem());
        let d = Impairment {
            delay: Duration::from_millis(5),
            ..Impairment::default()
        };
        assert!(d.needs_netem());
        assert!(Directed::default().is_none());
        assert!(Directed::symmetric(d).needs_netem());
    }

    #[test]
    fn journal_round_trip_is_exact() {
        let i = Impairment {
            delay: Duration::from_micros(1500),
            jitter: Some(Jitter {
                amount: Duration::from_millis(2),
                distribution: Distribution::Normal,
                correlation: 25.0,
            }),
            loss: Some(Loss::GilbertElliott {
                p: 1.0,
                r: 30.0,
                one_minus_h: 100.0,
                one_minus_k: 0.0,
            }),
            ..Impairment::default()
        };
        let d = Directed {
            a_to_b: i,
            b_to_a: Impairment::default(),
        };
        let back: Directed =
            serde_json::from_str(&serde_json::to_string(&d).expect("serialize")).expect("parse");
        assert_eq!(back, d);
    }
}
