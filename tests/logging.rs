//! The library's `tracing` events reach stderr: warnings always, more with
//! `-v`/`-vv` or `RUST_LOG` (issue 12). Before, no subscriber was
//! installed and every event vanished.
mod common;
use assert_cmd::Command;
use common::*;

fn nlab() -> Command {
    Command::cargo_bin("nlab").unwrap()
}

fn stderr_of(args: &[&str], rust_log: Option<&str>) -> String {
    let mut c = nlab();
    c.args(args).env_remove("RUST_LOG");
    if let Some(v) = rust_log {
        c.env("RUST_LOG", v);
    }
    let out = c.assert().success();
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn debug_events_show_with_vv_or_rust_log_and_not_by_default() {
    require_root!();
    let name = lab_name("log");
    let _g = LabGuard(name.clone());
    nlab()
        .args(["up", "--topo", "linear,2", "--name", &name])
        .assert()
        .success();
    // The prober's closing debug event: pairs, waves, deletions.
    let event = "pingall: 2 pairs in 1 waves";
    let quiet = stderr_of(&["pingall", &name], None);
    assert!(!quiet.contains(event), "shown without -v: {quiet}");
    let info = stderr_of(&["-v", "pingall", &name], None);
    assert!(!info.contains(event), "a debug event at -v: {info}");
    let loud = stderr_of(&["pingall", &name, "-vv"], None);
    assert!(
        loud.lines()
            .any(|l| l.starts_with("debug [nlab::services::ping::engine]: ") && l.contains(event)),
        "-vv: {loud}"
    );
    let env = stderr_of(&["pingall", &name], Some("nlab::services::ping=debug"));
    assert!(env.contains(event), "RUST_LOG: {env}");
    let other = stderr_of(&["pingall", &name], Some("nlab::lab=debug"));
    assert!(
        !other.contains(event),
        "RUST_LOG for another module: {other}"
    );
}

#[test]
fn a_bad_rust_log_directive_is_a_warning_not_silence() {
    // `list` needs no root: the warning comes from installing the filter.
    let mut c = nlab();
    c.args(["list"]).env("RUST_LOG", "nlab=loud");
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: RUST_LOG: ignoring `nlab=loud`"),
        "{err}"
    );
}
