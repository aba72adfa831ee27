//! Crash safety: `kill -9` in the middle of `nlab up`, then `nlab cleanup`
//! leaves nothing. Kept in its own test binary because `cleanup` removes
//! every lab on the host, and cargo runs test binaries one at a time.
mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn kill_9_halfway_through_up_then_cleanup_leaves_nothing() {
    let name = lab_name("k");
    let prefix = format!("nlab-{name}-");
    let bin = assert_cmd::cargo::cargo_bin("nlab");
    let mut child = Command::new(&bin)
        .args(["up", "--topo", "single,200", "--name", &name])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it is halfway through creating namespaces.
    let deadline = Instant::now() + Duration::from_secs(20);
    while count_ns(&prefix) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    let made = count_ns(&prefix);
    assert!(made > 0, "nlab up made nothing before it was killed");
    let st = Command::new(&bin).arg("cleanup").status().unwrap();
    assert!(st.success());
    assert_no_trace(&name);
    // And cleanup is idempotent.
    assert!(Command::new(&bin)
        .arg("cleanup")
        .status()
        .unwrap()
        .success());
}
