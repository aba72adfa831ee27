//! Conditions as `key: text` pairs, the one spelling shared by the topology
//! file, `nlab link set` flags and `nlab link show`: [`set`] applies one
//! key to an [`Impairment`], [`to_pairs`] writes an impairment back so that
//! setting every pair again gives the same impairment.
//!
//! Keys and their text forms:
//! - `delay: 20ms`
//! - `jitter: 2ms`, `2ms normal`, `2ms 25% pareto` (amount, optional
//!   correlation, optional distribution: uniform, normal, pareto,
//!   paretonormal)
//! - `loss: 1%` or `gemodel P R 1-H 1-K` (Gilbert-Elliott, percents; R,
//!   1-H, 1-K optional with netem's defaults 100%, 100%, 0%)
//! - `duplicate: 1%`, `corrupt: 0.1%`
//! - `reorder: 25%` or `25% gap 5`
//! - `rate: 10mbit` or `10mbit burst 32kb`; `burst: 32kb` (needs a rate)
//! - `limit: 1000` (packets)
//! - `preset: lte` (replaces everything set before it)

use super::units::{self, UResult, UnitError};
use super::{presets, Distribution, Impairment, Jitter, Loss, Rate, Reorder};

/// Every key, in the order they are applied (so `burst` follows `rate`
/// and `preset` comes first whatever order a mapping has).
pub const KEYS: &[&str] = &[
    "preset",
    "delay",
    "jitter",
    "loss",
    "duplicate",
    "reorder",
    "corrupt",
    "rate",
    "burst",
    "limit",
];

fn err(msg: impl Into<String>, hint: Option<String>) -> UnitError {
    UnitError {
        msg: msg.into(),
        hint,
    }
}

/// Sets `key` from its text form.
pub fn set(imp: &mut Impairment, key: &str, value: &str) -> UResult<()> {
    let v = value.trim();
    match key {
        "preset" => {
            let p = presets::get(v).ok_or_else(|| {
                err(
                    format!("unknown preset `{v}`"),
                    Some(format!(
                        "presets: {} (see `nlab link presets`)",
                        presets::names().join(", ")
                    )),
                )
            })?;
            *imp = p.conditions;
        }
        "delay" => imp.delay = units::time("delay", v)?,
        "jitter" => imp.jitter = Some(jitter(v)?),
        "loss" => imp.loss = Some(loss(v)?),
        "duplicate" => imp.duplicate = units::percent("duplicate", v)?,
        "corrupt" => imp.corrupt = units::percent("corrupt", v)?,
        "reorder" => imp.reorder = Some(reorder(v)?),
        "rate" => imp.rate = Some(rate(v)?),
        "burst" => {
            let b = units::size("burst", v)?;
            match &mut imp.rate {
                Some(r) => r.burst_bytes = Some(b),
                None => {
                    return Err(err(
                        "`burst` without a `rate`",
                        Some(
                            "a burst is the bucket of a rate limit: add e.g. `rate: 10mbit`".into(),
                        ),
                    ))
                }
            }
        }
        "limit" => imp.limit = Some(units::count("limit", v)?),
        other => {
            return Err(err(
                format!("unknown condition `{other}`"),
                crate::topo::suggest::closest(other, KEYS.iter().copied())
                    .map(|k| format!("did you mean `{k}`?")),
            ))
        }
    }
    Ok(())
}

/// Clears `key` (the CLI's `--delay 0`/`none`).
pub fn clear(imp: &mut Impairment, key: &str) {
    match key {
        "delay" => imp.delay = Default::default(),
        "jitter" => imp.jitter = None,
        "loss" => imp.loss = None,
        "duplicate" => imp.duplicate = 0.0,
        "corrupt" => imp.corrupt = 0.0,
        "reorder" => imp.reorder = None,
        "rate" => imp.rate = None,
        "burst" => {
            if let Some(r) = &mut imp.rate {
                r.burst_bytes = None
            }
        }
        "limit" => imp.limit = None,
        _ => {}
    }
}

fn distribution(s: &str) -> Option<Distribution> {
    match s {
        "uniform" => Some(Distribution::Uniform),
        "normal" => Some(Distribution::Normal),
        "pareto" => Some(Distribution::Pareto),
        "paretonormal" => Some(Distribution::Paretonormal),
        _ => None,
    }
}

fn jitter(v: &str) -> UResult<Jitter> {
    let mut words = v.split_whitespace();
    let amount = units::time("jitter", words.next().unwrap_or(""))?;
    if amount.is_zero() {
        return Err(err(
            "jitter `0` does nothing",
            Some("remove `jitter` instead".into()),
        ));
    }
    let mut j = Jitter {
        amount,
        distribution: Distribution::Uniform,
        correlation: 0.0,
    };
    for w in words {
        if w.ends_with('%') {
            j.correlation = units::percent("jitter correlation", w)?;
        } else if let Some(d) = distribution(w) {
            j.distribution = d;
        } else {
            return Err(err(
                format!("jitter: `{w}` is neither a correlation nor a distribution"),
                Some(
                    "e.g. `2ms 25% normal`; distributions: uniform, normal, pareto, paretonormal"
                        .into(),
                ),
            ));
        }
    }
    Ok(j)
}

fn loss(v: &str) -> UResult<Loss> {
    let words: Vec<&str> = v.split_whitespace().collect();
    match words.as_slice() {
        [p] => Ok(Loss::Random {
            percent: units::percent("loss", p)?,
        }),
        ["random", p] => Ok(Loss::Random {
            percent: units::percent("loss", p)?,
        }),
        ["gemodel", rest @ ..] if (1..=4).contains(&rest.len()) => {
            let get = |i: usize, name: &str, default: f64| -> UResult<f64> {
                match rest.get(i) {
                    Some(t) => units::percent(&format!("gemodel {name}"), t),
                    None => Ok(default),
                }
            };
            Ok(Loss::GilbertElliott {
                p: get(0, "p", 0.0)?,
                r: get(1, "r", 100.0)?,
                one_minus_h: get(2, "1-h", 100.0)?,
                one_minus_k: get(3, "1-k", 0.0)?,
            })
        }
        _ => Err(err(
            format!("loss `{v}` is not a loss setting"),
            Some("write `1%` or `gemodel 1% 30% 100% 0%` (p, r, 1-h, 1-k)".into()),
        )),
    }
}

fn reorder(v: &str) -> UResult<Reorder> {
    let words: Vec<&str> = v.split_whitespace().collect();
    let (p, gap) = match words.as_slice() {
        [p] => (p, None),
        [p, "gap", g] => (p, Some(g)),
        _ => {
            return Err(err(
                format!("reorder `{v}` is not a reorder setting"),
                Some("write `25%` or `25% gap 5`".into()),
            ))
        }
    };
    let gap = match gap {
        Some(g) => g.parse::<u32>().map_err(|_| {
            err(
                format!("reorder gap `{g}` is not a packet count"),
                Some("e.g. `25% gap 5`".into()),
            )
        })?,
        None => 0,
    };
    Ok(Reorder {
        percent: units::percent("reorder", p)?,
        gap,
    })
}

fn rate(v: &str) -> UResult<Rate> {
    let words: Vec<&str> = v.split_whitespace().collect();
    match words.as_slice() {
        [r] => Ok(Rate {
            bits_per_sec: units::rate("rate", r)?,
            burst_bytes: None,
        }),
        [r, "burst", b] => Ok(Rate {
            bits_per_sec: units::rate("rate", r)?,
            burst_bytes: Some(units::size("burst", b)?),
        }),
        _ => Err(err(
            format!("rate `{v}` is not a rate setting"),
            Some("write `10mbit` or `10mbit burst 32kb`".into()),
        )),
    }
}

/// Checks that hold across keys (what netem would refuse).
pub fn check(imp: &Impairment) -> UResult<()> {
    if imp.reorder.is_some() && imp.delay.is_zero() {
        return Err(err(
            "`reorder` without a `delay`",
            Some("reordered packets overtake delayed ones: add e.g. `delay: 10ms`".into()),
        ));
    }
    if let Some(j) = &imp.jitter {
        if j.distribution != Distribution::Uniform && imp.delay.is_zero() {
            return Err(err(
                "a jitter distribution without a `delay`",
                Some("add e.g. `delay: 20ms`".into()),
            ));
        }
    }
    Ok(())
}

/// The text form of every key that is set, in [`KEYS`] order. `burst`
/// stays inside `rate` so each pair stands alone.
pub fn to_pairs(imp: &Impairment) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !imp.delay.is_zero() {
        out.push(("delay", units::fmt_time(imp.delay)));
    }
    if let Some(j) = &imp.jitter {
        let mut s = units::fmt_time(j.amount);
        if j.correlation > 0.0 {
            s += &format!(" {}", units::fmt_percent(j.correlation));
        }
        if j.distribution != Distribution::Uniform {
            s += match j.distribution {
                Distribution::Normal => " normal",
                Distribution::Pareto => " pareto",
                Distribution::Paretonormal => " paretonormal",
                Distribution::Uniform => "",
            };
        }
        out.push(("jitter", s));
    }
    match &imp.loss {
        Some(Loss::Random { percent }) => out.push(("loss", units::fmt_percent(*percent))),
        Some(Loss::GilbertElliott {
            p,
            r,
            one_minus_h,
            one_minus_k,
        }) => out.push((
            "loss",
            format!(
                "gemodel {} {} {} {}",
                units::fmt_percent(*p),
                units::fmt_percent(*r),
                units::fmt_percent(*one_minus_h),
                units::fmt_percent(*one_minus_k)
            ),
        )),
        None => {}
    }
    if imp.duplicate > 0.0 {
        out.push(("duplicate", units::fmt_percent(imp.duplicate)));
    }
    if let Some(r) = &imp.reorder {
        let mut s = units::fmt_percent(r.percent);
        if r.gap > 0 {
            s += &format!(" gap {}", r.gap);
        }
        out.push(("reorder", s));
    }
    if imp.corrupt > 0.0 {
        out.push(("corrupt", units::fmt_percent(imp.corrupt)));
    }
    if let Some(r) = &imp.rate {
        let mut s = units::fmt_rate(r.bits_per_sec);
        if let Some(b) = r.burst_bytes {
            s += &format!(" burst {}", units::fmt_size(b));
        }
        out.push(("rate", s));
    }
    if let Some(l) = imp.limit {
        out.push(("limit", l.to_string()));
    }
    out
}

/// One line: `delay 20ms, loss 1%, rate 10mbit`; `-` for nothing.
pub fn summary(imp: &Impairment) -> String {
    let p = to_pairs(imp);
    if p.is_empty() {
        return "-".into();
    }
    p.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A link's conditions in the file's shape: the keys themselves when both
/// directions agree, else one mapping per sending end (`ends` are the
/// link's endpoint ids). Empty when there is nothing.
pub fn file_form(d: &super::Directed, ends: [&str; 2]) -> Vec<(String, FileValue)> {
    let flat = |i: &Impairment| {
        to_pairs(i)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Vec<_>>()
    };
    if d.a_to_b == d.b_to_a {
        return flat(&d.a_to_b)
            .into_iter()
            .map(|(k, v)| (k, FileValue::Text(v)))
            .collect();
    }
    let mut out = Vec::new();
    for (end, imp) in [(ends[0], &d.a_to_b), (ends[1], &d.b_to_a)] {
        if !imp.is_none() {
            out.push((end.to_string(), FileValue::Map(flat(imp))));
        }
    }
    out
}

/// A value of [`file_form`]: a condition's text, or one end's conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum FileValue {
    /// A condition's value as the file spells it (`20ms`).
    Text(String),
    /// One sending end's conditions: (key, value) pairs.
    Map(Vec<(String, String)>),
}

impl FileValue {
    /// As JSON: a string, or an object of strings.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FileValue::Text(t) => serde_json::Value::String(t.clone()),
            FileValue::Map(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
        }
    }
}

/// `delay 20ms, loss 1%` when both directions agree, else
/// `h1:eth0→ rate 1mbit; s1:p1→ -`.
pub fn directed_summary(d: &super::Directed, ends: [&str; 2]) -> String {
    if d.a_to_b == d.b_to_a {
        return summary(&d.a_to_b);
    }
    format!(
        "{}→ {}; {}→ {}",
        ends[0],
        summary(&d.a_to_b),
        ends[1],
        summary(&d.b_to_a)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(pairs: &[(&str, &str)]) -> UResult<Impairment> {
        let mut i = Impairment::default();
        for (k, v) in pairs {
            set(&mut i, k, v)?;
        }
        check(&i)?;
        Ok(i)
    }

    #[test]
    fn every_form_parses_and_round_trips() {
        let i = parse(&[
            ("delay", "20ms"),
            ("jitter", "2ms 25% normal"),
            ("loss", "gemodel 1% 30%"),
            ("duplicate", "1%"),
            ("reorder", "25% gap 5"),
            ("corrupt", "0.1%"),
            ("rate", "10mbit"),
            ("burst", "32kb"),
            ("limit", "100"),
        ])
        .unwrap();
        assert_eq!(i.delay, Duration::from_millis(20));
        let j = i.jitter.unwrap();
        assert_eq!(j.distribution, Distribution::Normal);
        assert_eq!(j.correlation, 25.0);
        assert_eq!(
            i.loss,
            Some(Loss::GilbertElliott {
                p: 1.0,
                r: 30.0,
                one_minus_h: 100.0,
                one_minus_k: 0.0
            })
        );
        assert_eq!(
            i.reorder,
            Some(Reorder {
                percent: 25.0,
                gap: 5
            })
        );
        assert_eq!(i.rate.unwrap().burst_bytes, Some(32 * 1024));
        let mut back = Impairment::default();
        for (k, v) in to_pairs(&i) {
            set(&mut back, k, &v).unwrap();
        }
        assert_eq!(back, i);
        assert!(summary(&i).starts_with("delay 20ms, jitter 2ms 25% normal"));
        assert_eq!(summary(&Impairment::default()), "-");
    }

    #[test]
    fn bad_values_say_why() {
        let e = parse(&[("delay", "20")]).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("20ms?"));
        assert!(parse(&[("loss", "150%")])
            .unwrap_err()
            .msg
            .contains("outside"));
        assert!(parse(&[("burst", "32kb")])
            .unwrap_err()
            .msg
            .contains("without a `rate`"));
        assert!(parse(&[("reorder", "25%")])
            .unwrap_err()
            .msg
            .contains("without a `delay`"));
        assert!(parse(&[("jitter", "2ms gaussian")]).is_err());
        assert!(parse(&[("jitter", "0ms")]).is_err());
        assert!(parse(&[("loss", "gemodel")]).is_err());
        assert!(parse(&[("reorder", "25% gap x")]).is_err());
        let e = parse(&[("dealy", "5ms")]).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `delay`?"));
        let e = parse(&[("preset", "5g")]).unwrap_err();
        assert!(e.hint.unwrap().contains("lte"));
    }

    #[test]
    fn preset_then_overrides() {
        let i = parse(&[("preset", "lte"), ("loss", "5%")]).unwrap();
        let lte = presets::get("lte").unwrap().conditions;
        assert_eq!(i.delay, lte.delay);
        assert_eq!(i.loss, Some(Loss::Random { percent: 5.0 }));
        let mut c = i.clone();
        clear(&mut c, "loss");
        assert_eq!(c.loss, None);
    }
}
