//! Bad input: a clear message with file and line, exit code 2, and
//! nothing created.
mod common;
use assert_cmd::Command;
use common::*;

/// Runs `nlab up` on `yaml` and returns stderr; asserts exit 2 and that no
/// namespace of the lab was created.
fn up_fails(lab: &str, yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::cargo_bin("nlab")
        .unwrap()
        .arg("up")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_no_trace(lab);
    err
}

fn head(lab: &str) -> String {
    format!("name: {lab}\ntopology:\n  nodes:\n    h1: {{kind: host}}\n    h2: {{kind: host}}\n    s1: {{kind: switch}}\n")
}

#[test]
fn unknown_key_names_the_line_and_suggests() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoint: [\"h1:eth0\", \"s1:p1\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("bad.yaml:8"), "{e}");
    assert!(e.contains("endpoints"), "{e}");
}

#[test]
fn dangling_endpoint() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [\"h1:eth0\", \"s2:p1\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("bad.yaml:8") && e.contains("s2"), "{e}");
}

#[test]
fn interface_name_too_long() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [\"h1:averyveryverylongname\", \"s1:p1\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("15"), "{e}");
    assert!(e.contains("bad.yaml:8"), "{e}");
}

#[test]
fn endpoint_used_twice() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [\"h1:eth0\", \"s1:p1\"]\n    - endpoints: [\"h2:eth0\", \"s1:p1\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("s1:p1") && e.contains("bad.yaml:9"), "{e}");
}

#[test]
fn duplicate_address_in_a_segment() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, \"s1:p1\"]\n    - endpoints: [{{node: h2, iface: eth0, ip: 10.0.0.1/24}}, \"s1:p2\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("10.0.0.1"), "{e}");
    assert!(e.contains("bad.yaml:"), "{e}");
}

#[test]
fn malformed_address() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.300/24}}, \"s1:p1\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("10.0.0.300") && e.contains("bad.yaml:8"), "{e}");
}

#[test]
fn malformed_mac() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [{{node: h1, iface: eth0, mac: \"zz:00:00:00:00:01\"}}, \"s1:p1\"]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("MAC") && e.contains("bad.yaml:8"), "{e}");
}

#[test]
fn unreachable_gateway() {
    let lab = lab_name("e");
    let y = format!(
        "name: {lab}\ntopology:\n  nodes:\n    h1: {{kind: host, gateway: 192.168.9.1}}\n    s1: {{kind: switch}}\n  links:\n    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, \"s1:p1\"]\n"
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("192.168.9.1") && e.contains("bad.yaml:4"), "{e}");
}

#[test]
fn unknown_kind() {
    let lab = lab_name("e");
    let y = format!("name: {lab}\ntopology:\n  nodes:\n    h1: {{kind: toaster}}\n  links: []\n");
    let e = up_fails(&lab, &y);
    assert!(e.contains("toaster") && e.contains("bad.yaml:4"), "{e}");
}

#[test]
fn yaml_syntax_error() {
    let lab = lab_name("e");
    let y = format!("name: {lab}\ntopology:\n  nodes: [unclosed\n");
    let e = up_fails(&lab, &y);
    assert!(e.contains("bad.yaml:"), "{e}");
}

#[test]
fn bad_lab_name() {
    // `-` is allowed since issue 11, item 17; `.` is not.
    let e = up_fails(
        "bad.name",
        "name: bad.name\ntopology:\n  nodes:\n    h1: {kind: host}\n",
    );
    assert!(e.contains("bad.name") && e.contains("bad.yaml:1"), "{e}");
}

#[test]
fn address_on_a_switch_port() {
    let lab = lab_name("e");
    let y = format!(
        "{}  links:\n    - endpoints: [\"h1:eth0\", {{node: s1, iface: p1, ip: 10.0.0.9/24}}]\n",
        head(&lab)
    );
    let e = up_fails(&lab, &y);
    assert!(e.contains("switch") && e.contains("bad.yaml:8"), "{e}");
}

#[test]
fn bad_generator_spec() {
    let out = Command::cargo_bin("nlab")
        .unwrap()
        .args(["up", "--topo", "ring,4", "--name", "tbadspec"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("linear") && e.contains("tree"), "{e}");
    assert_no_trace("tbadspec");
}

#[test]
fn a_lab_argument_that_is_not_a_lab_name_is_refused() {
    require_root!();
    // `a:b` would not parse back from a namespace name (`:` is the
    // separator after a lab name with `-`).
    let out = Command::cargo_bin("nlab")
        .unwrap()
        .args(["down", "a:b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a lab name"));
}
