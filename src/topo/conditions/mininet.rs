//! Mininet's `--link` option: `tc,bw=10,delay=10ms,loss=1,max_queue_size=100,jitter=1ms`
//! (TCLink's parameters: `bw` in Mbit/s, `loss` in percent without a `%`,
//! `max_queue_size` in packets). `default` means plain links.

use super::units::{self, UResult, UnitError};
use super::{Impairment, Jitter, Loss, Rate};

fn err(msg: String, hint: &str) -> UnitError {
    UnitError {
        msg,
        hint: Some(hint.to_string()),
    }
}

/// The conditions `--link SPEC` gives every link; `None` for plain links.
pub fn parse_link(spec: &str) -> UResult<Option<Impairment>> {
    let mut parts = spec.split(',');
    let kind = parts.next().unwrap_or("").trim();
    match kind {
        "default" | "" => {
            if parts.next().is_some() {
                return Err(err(
                    format!("--link {spec}: `default` links take no parameters"),
                    "use `--link tc,bw=10,delay=10ms`",
                ));
            }
            return Ok(None);
        }
        "tc" => {}
        other => {
            return Err(err(
                format!("--link: unknown link type `{other}`"),
                "nlab knows Mininet's `default` and `tc` links",
            ))
        }
    }
    let mut imp = Impairment::default();
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            return Err(err(
                format!("--link: `{p}` is not key=value"),
                "e.g. --link tc,bw=10,delay=10ms",
            ));
        };
        let (k, v) = (k.trim(), v.trim().trim_matches(|c| c == '\'' || c == '"'));
        match k {
            "bw" => {
                let mbit: f64 = v.parse().map_err(|_| {
                    err(
                        format!("--link bw=`{v}` is not a number"),
                        "bw is in Mbit/s, e.g. bw=10",
                    )
                })?;
                if !(mbit > 0.0 && mbit.is_finite()) {
                    return Err(err(
                        format!("--link bw=`{v}` must be positive"),
                        "e.g. bw=10",
                    ));
                }
                imp.rate = Some(Rate {
                    bits_per_sec: (mbit * 1e6).round() as u64,
                    burst_bytes: None,
                });
            }
            "delay" => imp.delay = units::time("--link delay", v)?,
            "jitter" => {
                imp.jitter = Some(Jitter {
                    amount: units::time("--link jitter", v)?,
                    distribution: Default::default(),
                    correlation: 0.0,
                })
            }
            "loss" => {
                let pct = v.trim_end_matches('%');
                let percent: f64 = pct.parse().map_err(|_| {
                    err(
                        format!("--link loss=`{v}` is not a number"),
                        "loss is in percent, e.g. loss=1",
                    )
                })?;
                units::percent("--link loss", &format!("{pct}%"))?;
                if percent > 0.0 {
                    imp.loss = Some(Loss::Random { percent });
                }
            }
            "max_queue_size" => imp.limit = Some(units::count("--link max_queue_size", v)?),
            other => {
                return Err(err(
                    format!("--link: nlab does not know TCLink's `{other}`"),
                    "supported: bw, delay, jitter, loss, max_queue_size",
                ))
            }
        }
    }
    Ok((!imp.is_none()).then_some(imp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn mininet_spellings() {
        let i = parse_link("tc,bw=10,delay=10ms,loss=1,max_queue_size=100,jitter=1ms")
            .unwrap()
            .unwrap();
        assert_eq!(i.rate.unwrap().bits_per_sec, 10_000_000);
        assert_eq!(i.delay, Duration::from_millis(10));
        assert_eq!(i.loss, Some(Loss::Random { percent: 1.0 }));
        assert_eq!(i.limit, Some(100));
        assert_eq!(i.jitter.unwrap().amount, Duration::from_millis(1));
        assert_eq!(
            parse_link("tc,bw=0.5")
                .unwrap()
                .unwrap()
                .rate
                .unwrap()
                .bits_per_sec,
            500_000
        );
        assert_eq!(parse_link("default").unwrap(), None);
        assert_eq!(parse_link("tc").unwrap(), None);
        assert!(parse_link("tc,bw=fast").is_err());
        assert!(parse_link("tc,loss=150").is_err());
        assert_eq!(
            parse_link("tc,delay=10").unwrap_err().hint.as_deref(),
            Some("10ms?")
        );
        assert!(parse_link("tc,speed=10").is_err());
        assert!(parse_link("ovs").is_err());
    }
}
