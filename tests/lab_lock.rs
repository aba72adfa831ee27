//! Two `nlab up` processes working on one lab take turns.
mod common;
use common::*;
use std::process::Command;

#[test]
fn two_ups_of_one_lab_are_serialized() {
    require_root!();
    let name = lab_name("lk");
    let _g = LabGuard(name.clone());
    let bin = assert_cmd::cargo::cargo_bin("nlab");
    let a = Command::new(&bin)
        .args(["up", "--topo", "single,60", "--name", &name])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let b = Command::new(&bin)
        .args(["up", "--topo", "single,80", "--name", &name])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(a.wait_with_output().unwrap().status.success());
    assert!(b.wait_with_output().unwrap().status.success());
    // Whichever ran last won, and the kernel matches its journal exactly.
    let out = Command::new(&bin)
        .args(["inspect", &name, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["drift"].as_array().unwrap().len(), 0);
    let n = v["nodes"].as_array().unwrap().len();
    assert!(n == 61 || n == 81, "{n} nodes");
    assert_eq!(count_ns(&format!("nlab-{name}-")), n);
}
