//! `--help` describes every argument of every command (issue 11, item 16).
use std::process::Command;

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(path)
        .arg("-h")
        .output()
        .expect("running nlab -h");
    assert!(out.status.success(), "nlab {path:?} -h failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Entries of one section (`Commands:`, `Arguments:`, `Options:`) of a
/// short help, without the continuation lines of wrapped descriptions.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let entries: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    if title == "Commands:" {
        return entries
            .into_iter()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .collect();
    }
    entries
        .into_iter()
        .filter(|l| l.trim_start().starts_with(['-', '<', '[']))
        .collect()
}

#[test]
fn every_argument_of_every_command_is_described() {
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    // The hidden supervisor process has a help too.
    todo.push(vec!["supervise".into()]);
    let mut seen = 0;
    let mut undescribed = Vec::new();
    while let Some(path) = todo.pop() {
        let text = help(&path);
        seen += 1;
        for l in section(&text, "Commands:") {
            let name = l.split_whitespace().next().unwrap_or("");
            if name != "help" {
                let mut p = path.clone();
                p.push(name.to_string());
                todo.push(p);
            }
        }
        for title in ["Arguments:", "Options:"] {
            for l in section(&text, title) {
                // `  --json  Print …`: the name, two spaces, a description.
                if !l.trim().contains("  ") {
                    undescribed.push(format!("nlab {}: {}", path.join(" "), l.trim()));
                }
            }
        }
    }
    assert!(seen > 15, "walked only {seen} commands");
    assert!(
        undescribed.is_empty(),
        "undescribed:\n{}",
        undescribed.join("\n")
    );
}

#[test]
fn up_help_names_every_generator_and_the_supervisor_says_what_it_hosts() {
    let up = help(&["up".into()]);
    for g in [
        "minimal",
        "single,N",
        "reversed,N",
        "linear,N",
        "tree,D,F",
        "torus,X,Y",
    ] {
        assert!(up.contains(g), "up -h does not mention {g}:\n{up}");
    }
    let top = help(&[]);
    assert!(!top.contains("later"), "{top}");
    assert!(top.contains("emulator"), "{top}");
}
