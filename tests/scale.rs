//! Correctness at scale: 2,000 nodes come up, match the topology when read
//! back from the kernel, carry traffic end to end, and leave nothing behind.
//! (Timings are measured by bench/scale.sh, never asserted here.)
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::topo::generate;

#[test]
fn two_thousand_nodes_up_and_down_cleanly() {
    let name = lab_name("sc");
    let _g = LabGuard(name.clone());
    // 1,000 switches in a chain, one host on each: 2,000 namespaces.
    let t = generate::from_spec("linear,1000", &name, false).expect("generator");
    assert_eq!(t.nodes.len(), 2000);
    let (lab, report) = Lab::up(&t, &UpOptions::default()).expect("up");
    eprintln!("2,000 nodes up in {:?}", report.elapsed);
    let pinned = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("nlab-{name}-"))
        })
        .count();
    assert_eq!(pinned, 2000);
    let view = lab.inspect().expect("inspect");
    assert!(
        view.drift.is_empty(),
        "{:?}",
        &view.drift[..view.drift.len().min(5)]
    );
    // Neighbours, and the two ends of the 1,000-bridge chain. Right after
    // up, every host's IPv6 multicast reports flood the whole chain for a
    // few seconds (and the neighbour table is shared by the whole host), so
    // reachability is checked with patience, not on the first packet.
    let reach = |dst: &str| {
        (0..20).any(|_| {
            ping(&ns(&name, "h1"), dst) || {
                std::thread::sleep(std::time::Duration::from_secs(1));
                false
            }
        })
    };
    assert!(reach("10.0.0.2"));
    assert!(reach("10.0.3.232"), "h1 cannot reach h1000");
    lab.down().expect("down");
    // The kernel frees 2,000 namespaces in the background, holding the
    // rtnl lock for seconds: let it finish before the next test binary's
    // timing-sensitive tests (the supervisor's schedules) run.
    wait_for_netns_cleanup(std::time::Duration::from_secs(60));
    assert_no_trace(&name);
}
