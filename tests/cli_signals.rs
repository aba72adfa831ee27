//! `up --cli --rm` removes its lab when the console is told to go: SIGTERM,
//! or SIGHUP when its terminal closes (issue 11, item 18).
mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn removed_on(sig: i32) {
    let name = lab_name("sg");
    let _g = LabGuard(name.clone());
    // stdin a pipe held open: the console waits for commands, as at a
    // terminal nobody types into.
    let mut child = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["up", "--topo", "single,2", "--name", &name, "--cli", "--rm"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting nlab up --cli --rm");
    let journal = format!("/run/nlab/{name}/state.json");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"applied\"")) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the lab never came up"
        );
        assert!(child.try_wait().unwrap().is_none(), "nlab exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count_ns(&format!("nlab-{name}-")), 3);
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "nlab did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _stdin = child.stdin.take();
    assert_eq!(status.code(), Some(128 + sig), "{status}");
    assert_no_trace(&name);
}

#[test]
fn sigterm_removes_the_lab_of_up_cli_rm() {
    require_root!();
    removed_on(libc::SIGTERM);
}

#[test]
fn sighup_removes_the_lab_of_up_cli_rm() {
    require_root!();
    removed_on(libc::SIGHUP);
}
