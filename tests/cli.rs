//! The real binary, command by command, checked with independent
//! witnesses (`ip`, `ping`).
mod common;
use common::*;
use predicates::prelude::*;

#[test]
fn help_teaches_the_commands() {
    let out = nlab().arg("--help").assert().success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for cmd in [
        "up", "down", "cleanup", "list", "inspect", "exec", "shell", "pingall", "graph", "demo",
    ] {
        assert!(s.contains(cmd), "--help lacks {cmd}: {s}");
    }
    nlab()
        .args(["up", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("tree,D,F"));
}

#[test]
fn a_generated_lab_through_every_command() {
    require_root!();
    let name = lab_name("cli");
    let _g = LabGuard(name.clone());
    nlab()
        .args(["up", "--topo", "linear,3", "--name", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "Lab {name} is up: 6 nodes, 5 links"
        )));
    // Witness: ip sees h1's address, and h1 reaches h3 by name.
    let addrs = ip_json(&ns(&name, "h1"), &["addr", "show", "h1-eth0"]);
    assert_eq!(addrs[0]["addr_info"][0]["local"], "10.0.0.1");
    nlab()
        .args(["exec", &name, "h1", "--", "ping", "-c1", "-W2", "h3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("10.0.0.3"));
    // Exit codes pass through.
    nlab()
        .args(["exec", &name, "h2", "--", "sh", "-c", "exit 7"])
        .assert()
        .code(7);
    // Again with the same input: nothing to do.
    nlab()
        .args(["up", "--topo", "linear,3", "--name", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 changes"));
    nlab()
        .args(["pingall", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "*** Results: 0% dropped (6/6 received)",
        ));
    let out = nlab().args(["list", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let me = v
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name.as_str())
        .expect("lab listed");
    assert_eq!(me["node_count"], 6);
    assert_eq!(me["nodes"].as_array().map(Vec::len), Some(6), "{me}");
    assert_eq!(me["nodes"][0]["name"], "h1", "{me}");
    assert_eq!(me["status"], "up");
    let out = nlab().args(["inspect", &name, "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["drift"].as_array().unwrap().len(), 0);
    let h1 = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "h1")
        .unwrap();
    assert_eq!(h1["interfaces"][0]["peer"], "s1:s1-eth1");
    nlab()
        .args(["inspect", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains("kernel matches the topology"));
    nlab()
        .args(["graph", &name, "--format", "dot"])
        .assert()
        .success()
        .stdout(predicate::str::contains("h1").and(predicate::str::contains("s3")));
    nlab()
        .args(["graph", &name, "--format", "mermaid"])
        .assert()
        .success()
        .stdout(predicate::str::contains("graph"));
    nlab()
        .args(["exec", &name, "h9", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no node `h9`"));
    nlab()
        .args(["down", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains("is down: removed 6 namespaces"));
    assert_no_trace(&name);
    // A second down finds no lab: bad input, as for every command that
    // names an unknown lab, and still nothing left.
    nlab()
        .args(["down", &name])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("no lab named `{name}`")));
    assert_no_trace(&name);
    nlab()
        .args(["inspect", &name])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no lab named"));
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    require_root!();
    let name = lab_name("dry");
    let _g = LabGuard(name.clone());
    nlab()
        .args(["up", "--topo", "single,2", "--name", &name, "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("+ node h1 (host)")
                .and(predicate::str::contains("nothing applied")),
        );
    assert!(!std::path::Path::new(&format!("/run/netns/{}", ns(&name, "h1"))).exists());
    nlab()
        .args(["up", "--topo", "single,2", "--name", &name])
        .assert()
        .success();
    nlab()
        .args([
            "up",
            "--topo",
            "single,3",
            "--name",
            &name,
            "--dry-run",
            "--json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\"create_nodes\": [\n      \"h3\"\n    ]",
        ));
    assert!(!std::path::Path::new(&format!("/run/netns/{}", ns(&name, "h3"))).exists());
}

#[test]
fn a_topology_file_comes_up_with_routes_and_names() {
    require_root!();
    let name = lab_name("file");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.yaml");
    std::fs::write(
        &path,
        format!(
            r#"name: {name}
topology:
  nodes:
    h1: {{kind: host, gateway: 10.1.0.1}}
    h2: {{kind: host, gateway: 10.2.0.1}}
    r1: {{kind: router}}
  links:
    - endpoints:
        - {{node: h1, iface: eth0, ip: 10.1.0.10/24}}
        - {{node: r1, iface: eth0, ip: 10.1.0.1/24}}
    - endpoints:
        - {{node: r1, iface: eth1, ip: 10.2.0.1/24}}
        - {{node: h2, iface: eth0, ip: 10.2.0.10/24}}
"#
        ),
    )
    .unwrap();
    nlab().arg("up").arg(&path).assert().success();
    nlab()
        .args(["exec", &name, "h1", "--", "ping", "-c1", "-W2", "h2"])
        .assert()
        .success();
    nlab()
        .args(["pingall", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains("0% dropped"));
}

#[test]
fn shipped_example_topologies_parse() {
    for entry in std::fs::read_dir("examples/topologies").unwrap() {
        let path = entry.unwrap().path();
        nlab()
            .args(["graph", path.to_str().unwrap(), "--format", "json"])
            .assert()
            .success()
            .stdout(predicate::str::contains("\"nodes\""));
    }
}

#[test]
fn exec_passes_stdin_and_shell_runs_inside_the_node() {
    require_root!();
    let name = lab_name("sh");
    let _g = LabGuard(name.clone());
    nlab()
        .args(["up", "--topo", "minimal", "--name", &name])
        .assert()
        .success();
    nlab()
        .args(["exec", &name, "h1", "--", "cat"])
        .write_stdin("through stdin\n")
        .assert()
        .success()
        .stdout("through stdin\n");
    // A shell reading commands from stdin sees the node's interfaces only.
    nlab()
        .args(["shell", &name, "h2"])
        .env("SHELL", "/bin/sh")
        .write_stdin("ls /sys/class/net; echo node=$NLAB_NODE\nexit 3\n")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("h2-eth0").and(predicate::str::contains("node=h2")))
        .stdout(predicate::str::contains("h1-eth0").not());
}
