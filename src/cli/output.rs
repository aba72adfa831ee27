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
        // A program `exec` could not execute: what a shell would say.
        if let Some(code) = cause
            .downcast_ref::<crate::kernel::Error>()
            .and_then(|k| k.exec_status())
        {
            return code;
        }
        if cause.downcast_ref::<BadInput>().is_some()
            || cause
                .downcast_ref::<crate::topo::validate::TopoErrors>()
                .is_some()
        {
            return EXIT_INPUT;
        }
        if let Some(le) = cause.downcast_ref::<crate::lab::Error>() {
            if matches!(
                le,
                crate::lab::Error::NoSuchLab(_)
                    | crate::lab::Error::NoSuchNode { .. }
                    | crate::lab::Error::NoSuchLink { .. }
                    | crate::lab::Error::NoSuchEndpoint { .. }
                    | crate::lab::Error::Store(crate::store::Error::BadLabName(..))
                    | crate::lab::Error::OtherSource { .. }
                    | crate::lab::Error::Invalid(_)
                    | crate::lab::Error::Unavailable(_)
                    | crate::lab::Error::NodeRun(_)
            ) {
                return EXIT_INPUT;
            }
        }
    }
    EXIT_FAIL
}

/// With `--json` an error is also a JSON object on stdout, so a script
/// reading stdout always gets JSON: `{"error": {"kind", "message",
/// "causes", "hints"}}`. The text stays on stderr for people and logs.
pub fn print_error_json(e: &anyhow::Error) {
    let (kind, hints) = error_kind(e);
    let mut causes: Vec<String> = Vec::new();
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            causes.push(text.clone());
        }
        last = text;
    }
    let v = serde_json::json!({
        "error": {
            "kind": kind,
            "message": e.to_string(),
            "causes": causes,
            "hints": hints,
        }
    });
    let _ = print_json(&v);
}

/// A stable name for what went wrong, and what to do about it.
fn error_kind(e: &anyhow::Error) -> (&'static str, Vec<String>) {
    for cause in e.chain() {
        if let Some(le) = cause.downcast_ref::<crate::lab::Error>() {
            use crate::lab::Error as L;
            let hit = match le {
                L::NoSuchLab(_) => {
                    Some(("no_such_lab", "see `nlab list` for the labs that are up"))
                }
                L::NoSuchNode { .. } => {
                    Some(("no_such_node", "see `nlab inspect LAB` for its nodes"))
                }
                L::NoSuchLink { .. } | L::NoSuchEndpoint { .. } => {
                    Some(("no_such_link", "see `nlab link show LAB` for its links"))
                }
                L::Store(crate::store::Error::BadLabName(..)) => {
                    Some(("bad_lab_name", "pick a name as the message says"))
                }
                _ => None,
            };
            if let Some((k, h)) = hit {
                return (k, vec![h.to_string()]);
            }
        }
        if cause
            .downcast_ref::<crate::topo::validate::TopoErrors>()
            .is_some()
        {
            return (
                "topology",
                vec!["fix the topology at the lines named".into()],
            );
        }
        if cause.downcast_ref::<BadInput>().is_some() {
            return ("bad_input", Vec::new());
        }
        if let Some(k) = cause.downcast_ref::<crate::kernel::Error>() {
            if k.exec_status().is_some() {
                return (
                    "not_executable",
                    vec!["check the program's name and PATH".into()],
                );
            }
        }
    }
    ("failed", Vec::new())
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
