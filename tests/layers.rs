//! The layering of `src/` (see `src/lib.rs`), checked on the source so it
//! cannot rot: arrows only point down, and `lab` reaches `services` only
//! through the supervisor's facade (`services::supervisor::api`).
//! No root needed.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code lines of `src/<layer>` (comment lines left out), each with
/// the `file:line: text` that names it in a failure.
fn code_lines(layer: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//") {
                let at = format!("{}:{}: {}", f.display(), i + 1, line.trim());
                out.push((code.to_string(), at));
            }
        }
    }
    out
}

/// Lines of `src/<layer>` (comments aside) that name one of `forbidden`,
/// as `crate::<module>` paths or in a `use crate::{...}` group.
fn uses(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for (code, at) in code_lines(layer) {
        for m in forbidden {
            let path = format!("crate::{m}");
            let named = code.match_indices(&path).any(|(i, _)| {
                !code[i + path.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            let grouped = code.contains("use crate::{")
                && code
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == *m);
            if named || grouped {
                hits.push(at.clone());
            }
        }
    }
    hits
}

#[test]
fn services_do_not_use_lab() {
    let hits = uses("services", &["lab"]);
    assert!(
        hits.is_empty(),
        "services/ imports lab/:\n{}",
        hits.join("\n")
    );
}

#[test]
fn store_kernel_and_topo_use_neither_lab_nor_services() {
    for layer in ["store", "kernel", "topo"] {
        let hits = uses(layer, &["lab", "services", "cli"]);
        assert!(
            hits.is_empty(),
            "{layer}/ imports a higher layer:\n{}",
            hits.join("\n")
        );
    }
    let hits = uses("topo", &["store", "kernel"]);
    assert!(hits.is_empty(), "topo/ is plain data:\n{}", hits.join("\n"));
}

#[test]
fn lab_reaches_services_only_through_the_supervisor_api() {
    let mut hits = Vec::new();
    for (code, at) in code_lines("lab") {
        for (i, _) in code.match_indices("crate::services") {
            if !code[i..].starts_with("crate::services::supervisor::api") {
                hits.push(at.clone());
            }
        }
    }
    assert!(
        hits.is_empty(),
        "lab/ uses services beyond services::supervisor::api:\n{}",
        hits.join("\n")
    );
}

/// The library's public surface is `lab` and `topo` (plus the hidden
/// command line and the test-only `testing` re-exports): a new `pub mod`
/// at the crate root widens it, and `testing` names items, not layers.
#[test]
fn the_public_surface_is_lab_and_topo() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    assert!(
        lib.contains("#![warn(missing_docs)]"),
        "lib.rs must warn on missing docs"
    );
    let mut public: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    public.sort_unstable();
    assert_eq!(public, ["cli", "lab", "testing", "topo"], "lib.rs");
    let testing = std::fs::read_to_string(src.join("testing.rs")).expect("read testing.rs");
    for layer in ["kernel", "services", "store"] {
        for whole in [format!("crate::{layer};"), format!("crate::{layer}::*")] {
            assert!(
                !testing.contains(&whole),
                "testing.rs re-exports all of {layer}"
            );
        }
    }
}
