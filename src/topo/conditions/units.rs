//! The unit spellings of link conditions, as `tc` writes them: times
//! (`20ms`), percentages (`1%`), rates (`10mbit`, or bytes per second as
//! `kbps`/`mbps` like tc) and sizes (`32kb`). Every parser returns a message
//! with a hint on failure, so the file reader and the CLI report the same
//! thing.

use std::time::Duration;

/// A parse failure: what is wrong, and (when obvious) the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    /// What is wrong, naming the value.
    pub msg: String,
    /// How to write it instead; `None` when there is no obvious fix.
    pub hint: Option<String>,
}

impl UnitError {
    fn new(msg: impl Into<String>, hint: Option<String>) -> Self {
        UnitError {
            msg: msg.into(),
            hint,
        }
    }
}

impl std::fmt::Display for UnitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.hint {
            Some(h) => write!(f, "{} ({h})", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

/// The result of the unit parsers.
pub type UResult<T> = Result<T, UnitError>;

/// Splits `20ms` into (20.0, "ms"). The number may be fractional.
fn split_number(s: &str) -> Option<(f64, String)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (num, unit) = s.split_at(end);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    Some((n, unit.trim().to_ascii_lowercase()))
}

/// A time: `ns`, `us`, `ms`, `s` (fractions allowed: `1.5ms`).
pub fn time(what: &str, s: &str) -> UResult<Duration> {
    let Some((n, unit)) = split_number(s) else {
        return Err(UnitError::new(
            format!("{what} `{s}` is not a time"),
            Some("write a number and a unit, e.g. `20ms`".into()),
        ));
    };
    let scale = match unit.as_str() {
        "ns" | "nsec" => 1e-9,
        "us" | "usec" | "µs" => 1e-6,
        "ms" | "msec" => 1e-3,
        "s" | "sec" | "secs" => 1.0,
        "" => {
            return Err(UnitError::new(
                format!("{what} `{s}` needs a unit"),
                Some(format!("{}ms?", trim_num(s))),
            ))
        }
        other => {
            return Err(UnitError::new(
                format!("{what} `{s}`: unknown time unit `{other}`"),
                Some("use ns, us, ms or s".into()),
            ))
        }
    };
    let secs = n * scale;
    if secs > 3600.0 {
        return Err(UnitError::new(
            format!("{what} `{s}` is longer than an hour"),
            None,
        ));
    }
    Ok(Duration::from_nanos((secs * 1e9).round() as u64))
}

fn trim_num(s: &str) -> &str {
    s.trim()
}

/// A percentage from 0 to 100: `1%`, `0.5%`.
pub fn percent(what: &str, s: &str) -> UResult<f64> {
    let t = s.trim();
    let Some(num) = t.strip_suffix('%') else {
        let hint = t
            .parse::<f64>()
            .ok()
            .map(|_| format!("{t}%?"))
            .or_else(|| Some("write a percentage, e.g. `1%`".into()));
        return Err(UnitError::new(
            format!("{what} `{s}` needs a percent sign"),
            hint,
        ));
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        UnitError::new(
            format!("{what} `{s}` is not a percentage"),
            Some("e.g. `1%` or `0.5%`".into()),
        )
    })?;
    if !(0.0..=100.0).contains(&v) {
        return Err(UnitError::new(
            format!("{what} `{s}` is outside 0%–100%"),
            None,
        ));
    }
    Ok(v)
}

/// A rate in bits per second. tc spellings: `bit`, `kbit`, `mbit`, `gbit`,
/// `tbit` (powers of 1000), and `bps`, `kbps`, `mbps`, `gbps` which tc reads
/// as **bytes** per second (so `1mbps` is 8 Mbit/s).
pub fn rate(what: &str, s: &str) -> UResult<u64> {
    let Some((n, unit)) = split_number(s) else {
        return Err(UnitError::new(
            format!("{what} `{s}` is not a rate"),
            Some("write a number and a unit, e.g. `10mbit`".into()),
        ));
    };
    let bits: f64 =
        match unit.as_str() {
            "bit" => 1.0,
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            "tbit" => 1e12,
            "bps" => 8.0,
            "kbps" => 8e3,
            "mbps" => 8e6,
            "gbps" => 8e9,
            "" => {
                return Err(UnitError::new(
                    format!("{what} `{s}` needs a unit"),
                    Some(format!("{}mbit?", s.trim())),
                ))
            }
            other => return Err(UnitError::new(
                format!("{what} `{s}`: unknown rate unit `{other}`"),
                Some(
                    "use bit, kbit, mbit, gbit (or kbps/mbps, which are bytes per second as in tc)"
                        .into(),
                ),
            )),
        };
    let v = (n * bits).round();
    if v < 1.0 {
        return Err(UnitError::new(format!("{what} `{s}` is zero"), None));
    }
    if v > 1e13 {
        return Err(UnitError::new(
            format!("{what} `{s}` is faster than 10 Tbit/s"),
            None,
        ));
    }
    Ok(v as u64)
}

/// A size in bytes: plain bytes, `b`, `k`/`kb`, `m`/`mb`, `g`/`gb` (powers
/// of 1024, as tc reads them).
pub fn size(what: &str, s: &str) -> UResult<u32> {
    let Some((n, unit)) = split_number(s) else {
        return Err(UnitError::new(
            format!("{what} `{s}` is not a size"),
            Some("e.g. `32kb` or `1500`".into()),
        ));
    };
    let scale: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(UnitError::new(
                format!("{what} `{s}`: unknown size unit `{other}`"),
                Some("use b, kb, mb or gb".into()),
            ))
        }
    };
    let v = (n * scale).round();
    if v > u32::MAX as f64 {
        return Err(UnitError::new(
            format!("{what} `{s}` is larger than 4 GiB"),
            None,
        ));
    }
    Ok(v as u32)
}

/// A count (queue length in packets).
pub fn count(what: &str, s: &str) -> UResult<u32> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err(UnitError::new(
            format!("{what} `{s}` must be at least 1"),
            None,
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(UnitError::new(
            format!("{what} `{s}` is not a number of packets"),
            Some("e.g. `1000`".into()),
        )),
    }
}

/// `20ms`, `1.5ms`, `250us`, `2s`: the shortest exact spelling.
pub fn fmt_time(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0ms".into();
    }
    for (unit, per) in [("s", 1_000_000_000u128), ("ms", 1_000_000), ("us", 1_000)] {
        if ns % per == 0 {
            return format!("{}{unit}", ns / per);
        }
    }
    if ns >= 1_000_000 {
        return format!("{}ms", trim_float(ns as f64 / 1e6));
    }
    if ns >= 1_000 {
        return format!("{}us", trim_float(ns as f64 / 1e3));
    }
    format!("{ns}ns")
}

/// `1%`, `0.5%`.
pub fn fmt_percent(p: f64) -> String {
    format!("{}%", trim_float(p))
}

/// `10mbit`, `512kbit`, `1gbit`, `1500bit`.
pub fn fmt_rate(bits: u64) -> String {
    for (unit, per) in [
        ("tbit", 1_000_000_000_000u64),
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bits >= per && bits % per == 0 {
            return format!("{}{unit}", bits / per);
        }
    }
    if bits >= 1_000_000 {
        return format!("{}mbit", trim_float(bits as f64 / 1e6));
    }
    if bits >= 1_000 {
        return format!("{}kbit", trim_float(bits as f64 / 1e3));
    }
    format!("{bits}bit")
}

/// `32kb`, `1mb`, `1500b`.
pub fn fmt_size(bytes: u32) -> String {
    if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 {
        return format!("{}mb", bytes / (1024 * 1024));
    }
    if bytes >= 1024 && bytes % 1024 == 0 {
        return format!("{}kb", bytes / 1024);
    }
    format!("{bytes}b")
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time("delay", "20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(time("delay", "1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(time("delay", "250us"), Ok(Duration::from_micros(250)));
        assert_eq!(time("delay", "2s"), Ok(Duration::from_secs(2)));
        assert_eq!(time("delay", "100ns"), Ok(Duration::from_nanos(100)));
        let e = time("delay", "20").unwrap_err();
        assert_eq!(e.msg, "delay `20` needs a unit");
        assert_eq!(e.hint.as_deref(), Some("20ms?"));
        assert!(time("delay", "20parsecs")
            .unwrap_err()
            .msg
            .contains("unknown time unit"));
        assert!(time("delay", "fast").is_err());
        for d in ["20ms", "1500us", "250us", "2s", "100ns", "1.25us"] {
            assert_eq!(fmt_time(time("t", d).unwrap()), d);
        }
    }

    #[test]
    fn percents() {
        assert_eq!(percent("loss", "1%"), Ok(1.0));
        assert_eq!(percent("loss", "0.5 %"), Ok(0.5));
        assert_eq!(percent("loss", "100%"), Ok(100.0));
        let e = percent("loss", "150%").unwrap_err();
        assert_eq!(e.msg, "loss `150%` is outside 0%–100%");
        let e = percent("loss", "1").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("1%?"));
        assert!(percent("loss", "x%").is_err());
        assert_eq!(fmt_percent(0.5), "0.5%");
        assert_eq!(fmt_percent(30.0), "30%");
    }

    #[test]
    fn rates_follow_tc() {
        assert_eq!(rate("rate", "10mbit"), Ok(10_000_000));
        assert_eq!(rate("rate", "1gbit"), Ok(1_000_000_000));
        assert_eq!(rate("rate", "512kbit"), Ok(512_000));
        assert_eq!(rate("rate", "1.5Mbit"), Ok(1_500_000));
        // tc reads "bps" as bytes per second.
        assert_eq!(rate("rate", "1mbps"), Ok(8_000_000));
        assert_eq!(rate("rate", "100kbps"), Ok(800_000));
        let e = rate("rate", "10").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("10mbit?"));
        assert!(rate("rate", "10furlongs").is_err());
        assert!(rate("rate", "0mbit").is_err());
        for r in [
            "10mbit",
            "1gbit",
            "512kbit",
            "1500kbit",
            "300bit",
            "1.0005mbit",
        ] {
            assert_eq!(fmt_rate(rate("r", r).unwrap()), r);
        }
    }

    #[test]
    fn sizes_are_binary_like_tc() {
        assert_eq!(size("burst", "32kb"), Ok(32 * 1024));
        assert_eq!(size("burst", "32k"), Ok(32 * 1024));
        assert_eq!(size("burst", "1m"), Ok(1024 * 1024));
        assert_eq!(size("burst", "1500"), Ok(1500));
        assert_eq!(size("burst", "1500b"), Ok(1500));
        assert!(size("burst", "5gb").is_err());
        assert!(size("burst", "3 apples").is_err());
        assert_eq!(fmt_size(32 * 1024), "32kb");
        assert_eq!(fmt_size(1500), "1500b");
        assert_eq!(count("limit", "100"), Ok(100));
        assert!(count("limit", "0").is_err());
        assert!(count("limit", "lots").is_err());
    }
}
