//! Where the library's `tracing` events go: stderr, filtered by `-v`
//! (info), `-vv` (debug), `-vvv` (trace) and `RUST_LOG`; warnings show by
//! default. A subscriber of our own: `tracing-subscriber` is not a
//! dependency, and nlab needs only a level per target and one line per
//! event.
//!
//! `RUST_LOG` takes comma-separated directives as `env_logger` does:
//! `debug` (every target), `crate::services::ping=trace` (a target and the
//! modules under it), a bare target (everything of it), `off`. The most
//! specific target wins; `-v` raises the default level, never lowers it.

use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A default level and per-target levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    default: LevelFilter,
    /// Longer (more specific) targets first.
    targets: Vec<(String, LevelFilter)>,
}

fn verbosity(v: u8) -> LevelFilter {
    match v {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

impl Filter {
    /// The filter from `RUST_LOG`'s value (if set) and the count of `-v`.
    /// Directives that are not understood are returned, to be reported.
    pub fn new(rust_log: Option<&str>, verbose: u8) -> (Filter, Vec<String>) {
        let mut f = Filter {
            default: LevelFilter::WARN,
            targets: Vec::new(),
        };
        let mut bad = Vec::new();
        for d in rust_log.unwrap_or("").split(',').map(str::trim) {
            if d.is_empty() {
                continue;
            }
            match d.split_once('=') {
                Some((target, level)) => match level.trim().parse::<LevelFilter>() {
                    Ok(l) if !target.trim().is_empty() => {
                        f.targets.push((target.trim().to_string(), l));
                    }
                    _ => bad.push(d.to_string()),
                },
                None => match d.parse::<LevelFilter>() {
                    Ok(l) => f.default = l,
                    Err(_) if is_target(d) => f.targets.push((d.to_string(), LevelFilter::TRACE)),
                    Err(_) => bad.push(d.to_string()),
                },
            }
        }
        f.default = f.default.max(verbosity(verbose));
        f.targets.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        (f, bad)
    }

    /// The level that applies to events of `target`.
    fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(t, _)| {
                target == t
                    || target
                        .strip_prefix(t.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .map_or(self.default, |(_, l)| *l)
    }

    fn enabled(&self, level: &Level, target: &str) -> bool {
        self.level_for(target) >= *level
    }

    fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, LevelFilter::max)
    }
}

fn is_target(s: &str) -> bool {
    s.split("::")
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// One line per event: `warning: …`; below info also the target.
pub fn format_line(level: &Level, target: &str, message: &str, fields: &str) -> String {
    let mut line = match *level {
        Level::ERROR => format!("error: {message}"),
        Level::WARN => format!("warning: {message}"),
        Level::INFO => format!("info: {message}"),
        Level::DEBUG => format!("debug [{target}]: {message}"),
        Level::TRACE => format!("trace [{target}]: {message}"),
    };
    line.push_str(fields);
    line
}

/// Collects an event's message and its other fields (` key=value`).
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

/// Writes the events the filter lets through to stderr. Spans carry no
/// output of their own.
struct Stderr(Filter);

impl Subscriber for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m.level(), m.target())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.0.max())
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, e: &Event<'_>) {
        let m = e.metadata();
        let mut f = Fields::default();
        e.record(&mut f);
        let line = format_line(m.level(), m.target(), &f.message, &f.rest);
        // A closed stderr must not stop the work.
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the stderr subscriber for this process (once; later calls do
/// nothing).
pub fn init(verbose: u8) {
    let env = std::env::var("RUST_LOG").ok();
    let (filter, bad) = Filter::new(env.as_deref(), verbose);
    if tracing::subscriber::set_global_default(Stderr(filter)).is_ok() {
        for d in bad {
            tracing::warn!("RUST_LOG: ignoring `{d}`: not a level, a target or target=level");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_by_default_and_each_v_one_level_more() {
        let at = |v| Filter::new(None, v).0;
        assert!(at(0).enabled(&Level::WARN, "nlab"));
        assert!(!at(0).enabled(&Level::INFO, "nlab"));
        assert!(at(1).enabled(&Level::INFO, "nlab"));
        assert!(!at(1).enabled(&Level::DEBUG, "nlab"));
        assert!(at(2).enabled(&Level::DEBUG, "nlab::lab"));
        assert!(at(5).enabled(&Level::TRACE, "x"));
    }

    #[test]
    fn rust_log_levels_per_target_most_specific_wins() {
        let (f, bad) = Filter::new(
            Some("info, crate::services=debug,crate::services::ping=off, crate::kernel,bogus=loud"),
            0,
        );
        assert_eq!(bad, ["bogus=loud"]);
        assert!(f.enabled(&Level::INFO, "nlab::lab"));
        assert!(!f.enabled(&Level::DEBUG, "nlab::lab"));
        assert!(f.enabled(&Level::DEBUG, "crate::services::emulator"));
        assert!(!f.enabled(&Level::ERROR, "crate::services::ping::engine"));
        assert!(f.enabled(&Level::TRACE, "crate::kernel::exec"));
        // A prefix counts only at a module boundary.
        assert!(!f.enabled(&Level::DEBUG, "crate::kernelx"));
        assert_eq!(f.max(), LevelFilter::TRACE);
        // -v raises the default over RUST_LOG's, never lowers it.
        assert!(Filter::new(Some("error"), 1).0.enabled(&Level::INFO, "a"));
        assert!(Filter::new(Some("debug"), 1).0.enabled(&Level::DEBUG, "a"));
    }

    #[test]
    fn lines_name_the_level_and_below_info_the_target() {
        assert_eq!(
            format_line(&Level::WARN, "crate::x", "3 of 9 failed", ""),
            "warning: 3 of 9 failed"
        );
        assert_eq!(
            format_line(&Level::DEBUG, "crate::x", "done", " waves=2"),
            "debug [crate::x]: done waves=2"
        );
    }
}
