//! The output side: a closed stdout never interrupts work on the kernel,
//! and files that are not topology files are refused at once.
mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("nlab")
}

/// Runs nlab with stdout (and stderr) on a pipe whose reader is already
/// closed, so every write fails with EPIPE. Returns the exit code and
/// stderr (empty when `stderr_too` puts stderr on the closed pipe too).
fn with_closed_stdout(args: &[&str], stderr_too: bool) -> (Option<i32>, String) {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    drop(r);
    let w2 = w.try_clone().expect("dup");
    let mut c = Command::new(bin());
    c.args(args).stdout(Stdio::from(w));
    if stderr_too {
        c.stderr(Stdio::from(w2));
    } else {
        drop(w2);
        c.stderr(Stdio::piped());
    }
    let out = c.output().expect("run nlab");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_output_pipe_neither_panics_nor_stops_the_work() {
    require_root!();
    let name = lab_name("pipe");
    let _g = LabGuard(name.clone());
    let (code, err) = with_closed_stdout(&["up", "--topo", "linear,3", "--name", &name], true);
    assert_eq!(code, Some(0), "up with a closed stdout and stderr");
    assert!(!err.contains("panicked"), "{err}");
    // The work was finished: the lab is up and matches the kernel.
    let st = Command::new(bin())
        .args(["inspect", &name])
        .output()
        .expect("inspect");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["inspect", &name, "--json"],
        vec!["pingall", &name],
        vec!["link", "show", &name],
        vec!["features"],
        vec!["--help"],
    ] {
        let (code, err) = with_closed_stdout(&args, false);
        assert_eq!(code, Some(0), "nlab {args:?}: {err}");
        assert!(!err.contains("panicked"), "nlab {args:?}: {err}");
    }
    // A command's own status still comes through: an unknown node is 2.
    let (code, err) = with_closed_stdout(&["exec", &name, "h9", "--", "true"], false);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = with_closed_stdout(&["down", &name], true);
    assert_eq!(code, Some(0), "down with a closed stdout: {err}");
    assert_no_trace(&name);
}

#[test]
fn up_refuses_devices_and_fifos_at_once() {
    let start = Instant::now();
    let out = Command::new(bin())
        .args(["up", "/dev/zero"])
        .output()
        .expect("run nlab");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("character device"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("lab.yml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let out = Command::new(bin())
        .arg("up")
        .arg(&fifo)
        .output()
        .expect("run nlab");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO"));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
