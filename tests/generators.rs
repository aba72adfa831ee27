//! Every built-in topology comes up and reaches 0% loss, checked with
//! nlab's own prober and with `ping` as an independent witness.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::testing::ping::{self, PingHost, PingOpts};
use nlab::topo::generate;
use std::time::{Duration, Instant};

fn all_pairs_answer(spec: &str, settle: Duration) {
    let name = lab_name("g");
    let _g = LabGuard(name.clone());
    let t = generate::from_spec(spec, &name, false).expect("generator");
    let (lab, _) = Lab::up(&t, &UpOptions::default()).expect("up");
    let hosts: Vec<PingHost> = t
        .hosts()
        .iter()
        .map(|n| PingHost {
            name: n.name.clone(),
            ns: ns(&name, &n.name),
            addr: t.primary_addr(&n.name, false).expect("address"),
        })
        .collect();
    // Looped topologies run spanning tree: ports forward only after it
    // converged, so retry until `settle` has passed.
    let start = Instant::now();
    loop {
        let r = ping::ping_all(&hosts, &PingOpts::default(), &|_, _| {}).expect("pingall");
        let lost = r.iter().filter(|p| p.rtt.is_none()).count();
        if lost == 0 {
            break;
        }
        assert!(
            start.elapsed() < settle,
            "{spec}: {lost} of {} pairs lost after {:?}",
            r.len(),
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The witness: the system's ping, first host to last, by name.
    let first = &hosts[0].name;
    let last = &hosts[hosts.len() - 1].name;
    let out = lab
        .exec_output(first, &["ping", "-c1", "-W2", last])
        .expect("exec ping");
    assert!(out.status.success(), "{spec}: {first} cannot ping {last}");
}

#[test]
fn minimal() {
    require_root!();
    all_pairs_answer("minimal", Duration::ZERO);
}

#[test]
fn single() {
    require_root!();
    all_pairs_answer("single,6", Duration::ZERO);
}

#[test]
fn linear() {
    require_root!();
    all_pairs_answer("linear,5", Duration::ZERO);
}

#[test]
fn tree() {
    require_root!();
    all_pairs_answer("tree,depth=2,fanout=3", Duration::ZERO);
}

#[test]
fn torus_with_spanning_tree() {
    require_root!();
    all_pairs_answer("torus,3,3", Duration::from_secs(20));
}
