//! Named link profiles. The numbers are typical published figures, not
//! measurements of any one network: one-way delay is half the usual
//! round-trip time, rates are typical (median-ish) downlink figures, and
//! both directions get the same values. Sources are named per preset.

use super::{Distribution, Impairment, Jitter, Loss, Rate};
use serde::Serialize;
use std::time::Duration;

/// A preset with where its numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    /// What the file's `preset: NAME` and `nlab link set --preset` take.
    pub name: &'static str,
    /// One line on the network it stands for.
    pub summary: &'static str,
    /// Where the figures come from (typical published values).
    pub source: &'static str,
    /// What each direction of the link gets.
    pub conditions: Impairment,
}

fn imp(delay_us: u64, jitter_us: u64, loss_pct: f64, rate_bits: u64) -> Impairment {
    Impairment {
        delay: Duration::from_micros(delay_us),
        jitter: (jitter_us > 0).then(|| Jitter {
            amount: Duration::from_micros(jitter_us),
            distribution: Distribution::Normal,
            correlation: 25.0,
        }),
        loss: (loss_pct > 0.0).then_some(Loss::Random { percent: loss_pct }),
        rate: (rate_bits > 0).then_some(Rate {
            bits_per_sec: rate_bits,
            burst_bytes: None,
        }),
        ..Impairment::default()
    }
}

/// Every preset, in the order `nlab link presets` lists them.
pub fn all() -> Vec<Preset> {
    vec![
        Preset {
            name: "lan",
            summary: "wired gigabit LAN",
            source: "1000BASE-T line rate; sub-millisecond switch latency",
            conditions: imp(100, 0, 0.0, 1_000_000_000),
        },
        Preset {
            name: "wifi",
            summary: "home 802.11n/ac Wi-Fi, a room away from the access point",
            source: "typical home Wi-Fi: 2-10 ms RTT, a few ms jitter, ~0.5% loss, ~50 Mbit/s usable",
            conditions: imp(3_000, 2_000, 0.5, 50_000_000),
        },
        Preset {
            name: "lte",
            summary: "4G/LTE mobile",
            source: "median LTE figures in OpenSignal/Ookla reports: ~50 ms RTT, ~20 Mbit/s",
            conditions: imp(25_000, 8_000, 0.5, 20_000_000),
        },
        Preset {
            name: "3g",
            summary: "3G/HSPA mobile",
            source: "HSPA: 100-200 ms RTT, 1-3 Mbit/s (cf. Chrome DevTools' \"Fast 3G\": 1.6 Mbit/s, 150 ms)",
            conditions: imp(75_000, 20_000, 1.0, 2_000_000),
        },
        Preset {
            name: "satellite",
            summary: "geostationary satellite broadband",
            source: "GEO: ~240 ms propagation one way plus processing, 550-650 ms RTT; ~25 Mbit/s plans",
            conditions: imp(300_000, 10_000, 0.5, 25_000_000),
        },
        Preset {
            name: "lossy-dsl",
            summary: "long ADSL line with noise",
            source: "ADSL2: 10-40 ms RTT with interleaving, ~8 Mbit/s on long loops; 2% loss models line noise",
            conditions: imp(15_000, 3_000, 2.0, 8_000_000),
        },
        Preset {
            name: "dialup",
            summary: "V.90 56k modem",
            source: "V.90: 56 kbit/s nominal, 100-200 ms RTT",
            conditions: imp(75_000, 5_000, 0.0, 56_000),
        },
        Preset {
            name: "wan-transatlantic",
            summary: "New York to London over a fibre WAN",
            source: "~70 ms RTT New York-London (speed of light in fibre over ~5,600 km plus routing)",
            conditions: imp(35_000, 1_000, 0.1, 1_000_000_000),
        },
    ]
}

/// The preset named `name`.
pub fn get(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}

/// Names, for messages and suggestions.
pub fn names() -> Vec<&'static str> {
    all().into_iter().map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_sane() {
        let all = all();
        assert!(all.len() >= 5);
        for want in ["wifi", "lte", "3g", "satellite", "lossy-dsl"] {
            assert!(get(want).is_some(), "{want} missing");
        }
        let mut names: Vec<_> = names();
        names.dedup();
        assert_eq!(names.len(), all.len(), "names are unique");
        for p in &all {
            assert!(!p.conditions.is_none(), "{} sets something", p.name);
            assert!(!p.source.is_empty());
            // Every preset re-parses through the text form.
            let mut back = Impairment::default();
            for (k, v) in super::super::spec::to_pairs(&p.conditions) {
                super::super::spec::set(&mut back, k, &v).unwrap();
            }
            assert_eq!(back, p.conditions, "{}", p.name);
        }
        let sat = get("satellite").unwrap().conditions;
        assert!(sat.delay >= Duration::from_millis(250), "GEO is slow");
        assert!(get("3g").unwrap().conditions.needs_netem());
        assert!(get("nope").is_none());
    }
}
