//! The library's builder against the kernel: a lab written in a few
//! chained calls comes up, passes traffic and goes away without a trace.
mod common;
use common::*;
use nlab::lab::Lab;

#[test]
fn a_built_lab_pings_across_and_goes_away() {
    require_root!();
    let name = lab_name("bld");
    let _g = LabGuard(name.clone());
    let lab = Lab::builder(&name)
        .host("h1")
        .host("h2")
        .switch("s1")
        .link("h1", "s1")
        .addr("h1", "10.0.0.1/24")
        .link("h2", "s1")
        .addr("h2", "10.0.0.2/24")
        .up()
        .expect("up");
    // The interfaces carry the generators' names.
    let port = ip_json(&ns(&name, "s1"), &["link", "show", "s1-eth2"]);
    assert_eq!(port[0]["master"], "s1", "{port}");
    // By name (the lab's /etc/hosts) and by address.
    let out = lab
        .exec_output("h1", &["ping", "-c1", "-W2", "h2"])
        .expect("exec");
    assert!(out.status.success(), "{out:?}");
    assert!(ping(&ns(&name, "h2"), "10.0.0.1"));
    lab.down().expect("down");
    assert_no_trace(&name);
}
