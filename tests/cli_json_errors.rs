//! Exit codes and JSON (issue 11, item 16): with `--json` an error is a
//! JSON object on stdout with the same exit code; bad lab names exit 2 for
//! the supervisor too; `exec` of a missing program exits 127 like a shell;
//! `nodes` is a list of `{name, kind}` in `up`, `inspect` and `graph`.
mod common;
use common::*;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(args)
        .output()
        .expect("running nlab")
}

fn json_error(args: &[&str], code: i32, kind: &str) {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "nlab {args:?}: {o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("nlab {args:?}: stdout is not JSON ({e}): {o:?}"));
    let err = &v["error"];
    assert_eq!(err["kind"], kind, "nlab {args:?}: {v}");
    assert!(!err["message"].as_str().unwrap_or("").is_empty(), "{v}");
    assert!(err["hints"].is_array() && err["causes"].is_array(), "{v}");
    // The text stays on stderr for people and logs.
    assert!(String::from_utf8_lossy(&o.stderr).contains("error:"));
}

#[test]
fn errors_are_json_on_stdout_with_json() {
    require_root!();
    let lab = lab_name("nj");
    for cmd in [
        vec!["inspect", &lab, "--json"],
        vec!["down", &lab, "--json"],
        vec!["pingall", &lab, "--json"],
        vec!["supervisor", "status", &lab, "--json"],
        vec!["link", "show", &lab, "--json"],
    ] {
        json_error(&cmd, 2, "no_such_lab");
    }
    json_error(&["up", "--topo", "nosuch,3", "--json"], 2, "topology");
    json_error(&["inspect", "no such lab", "--json"], 2, "bad_lab_name");
    // Without --json, stdout stays empty.
    let o = run(&["inspect", &lab]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn the_supervisor_refuses_bad_lab_names_as_bad_input() {
    for args in [
        &["supervisor", "start", "no such lab"][..],
        &["supervise", "no such lab"][..],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "nlab {args:?}: {o:?}");
    }
}

#[test]
fn exec_exits_like_a_shell_and_nodes_is_one_schema() {
    require_root!();
    let name = lab_name("nx");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "single,2", "--name", &name, "--json"]);
    assert!(o.status.success(), "{o:?}");
    let up: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(up["node_count"], 3, "{up}");
    let o = run(&["inspect", &name, "--json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = run(&["graph", &name, "--format", "json"]);
    let graph: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = run(&["list", "--json"]);
    let labs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let listed = labs
        .as_array()
        .and_then(|a| a.iter().find(|l| l["name"] == name.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in list --json: {labs}"));
    assert_eq!(listed["node_count"], 3, "{listed}");
    let names_kinds = |v: &serde_json::Value| {
        let mut nk: Vec<(String, String)> = v["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("nodes is not a list: {v}"))
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        nk.sort();
        nk
    };
    let want: Vec<(String, String)> = [("h1", "host"), ("h2", "host"), ("s1", "switch")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(names_kinds(&up), want);
    assert_eq!(names_kinds(&inspect), want);
    assert_eq!(names_kinds(&graph), want);
    assert_eq!(names_kinds(&listed), want);

    let o = run(&["exec", &name, "h1", "--", "nosuchcmd-nlab"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("nosuchcmd-nlab"));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "echo hi\n").unwrap();
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let o = run(&["exec", &name, "h1", "--", plain.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    let o = run(&["exec", &name, "h1", "--", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}
