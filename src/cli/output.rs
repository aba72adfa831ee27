//! Shared output helpers: tables, JSON, errors and exit codes.

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;
use std::io::IsTerminal;

/// Exit code for bad input (topology errors, unknown lab or node).
pub const EXIT_INPUT: i32 = 2;
/// Exit code for a failed operation.
pub const EXIT_FAIL: i32 = 1;

/// Marks an error as the user's input being wrong (exit code 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    if !std::io::stdout().is_terminal() {
        // Piped output: plain ASCII, no width games.
        t.load_preset(presets::ASCII_MARKDOWN);
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    t
}

pub fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// The exit code an error deserves.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if cause.downcast_ref::<BadInput>().is_some()
            || cause
                .downcast_ref::<nlab::topo::validate::TopoErrors>()
                .is_some()
        {
            return EXIT_INPUT;
        }
        if let Some(le) = cause.downcast_ref::<nlab::lab::Error>() {
            if matches!(
                le,
                nlab::lab::Error::NoSuchLab(_)
                    | nlab::lab::Error::NoSuchNode { .. }
                    | nlab::lab::Error::NoSuchLink { .. }
                    | nlab::lab::Error::NoSuchEndpoint { .. }
                    | nlab::lab::Error::BadLabName(..)
                    | nlab::lab::Error::OtherSource { .. }
            ) {
                return EXIT_INPUT;
            }
        }
    }
    EXIT_FAIL
}

/// Prints an error and its causes, short, no backtrace.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        // Layers often quote their cause in their own message already.
        if !last.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        last = text;
    }
}

/// Seconds with a sensible number of digits.
pub fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 0.1 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}
