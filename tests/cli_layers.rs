//! The CLI's command files depend on shared helpers (`root`, `output`),
//! never on each other in a circle, and the console reaches the library,
//! not a sibling command file, for what it needs (issue 12). No root
//! needed: this reads the source tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `src/cli/<file>.rs` → the sibling modules it names as `super::<m>`.
fn sibling_uses() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let mut files = BTreeSet::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
            files.insert(stem.to_string());
        }
    }
    let mut uses = BTreeMap::new();
    for f in files.iter().filter(|f| *f != "mod") {
        let p = dir.join(format!("{f}.rs"));
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue; // a directory module (console/)
        };
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut named = BTreeSet::new();
        for other in files.iter().filter(|o| *o != f && *o != "mod") {
            let needles = [format!("super::{other}::"), format!("super::{other};")];
            let braced = text
                .lines()
                .filter(|l| l.trim_start().starts_with("use super::{"))
                .any(|l| {
                    l.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .any(|w| w == other)
                });
            if braced || needles.iter().any(|n| text.contains(n.as_str())) {
                named.insert(other.clone());
            }
        }
        uses.insert(f.clone(), named);
    }
    uses
}

#[test]
fn cli_command_files_do_not_import_each_other_in_a_circle() {
    let uses = sibling_uses();
    // Depth-first search for a cycle.
    fn visit(
        n: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        path.push(n.to_string());
        for m in uses.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, uses, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in uses.keys() {
        let cycle = visit(n, &uses, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "src/cli files import each other: {cycle:?}"
        );
    }
    for (f, named) in &uses {
        assert!(
            !named.contains("lifecycle") || f == "demo",
            "src/cli/{f}.rs reaches into lifecycle.rs; shared helpers belong in root.rs or output.rs"
        );
    }
}

#[test]
fn the_console_reaches_the_library_not_sibling_command_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/console");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains("super::super::"),
            "{} reaches a sibling of the console through super::super",
            p.display()
        );
    }
}
