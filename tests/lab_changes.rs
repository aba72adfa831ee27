//! Re-applying: only differences are applied, and drift is repaired.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use std::process::Command;

fn ifindex(ns: &str, dev: &str) -> Option<u64> {
    ip_json(ns, &["link", "show", dev])[0]["ifindex"].as_u64()
}

#[test]
fn edit_and_reapply_changes_only_what_changed() {
    require_root!();
    let name = lab_name("ed");
    let _g = LabGuard(name.clone());
    let t = star(&name, 3);
    Lab::up(&t, &UpOptions::default()).expect("up");
    let (h1, h2) = (ns(&name, "h1"), ns(&name, "h2"));
    let h1_idx = ifindex(&h1, "h1-eth0").unwrap();
    let h2_idx = ifindex(&h2, "h2-eth0").unwrap();

    // Change h2's address, drop h3, add h4.
    let mut u = star(&name, 4);
    u.links[1].endpoints[0].addrs[0] = "10.0.0.22/24".parse().unwrap();
    u.nodes.remove("h3");
    u.links.remove(2);
    let (_, r) = Lab::up(&u, &UpOptions::default()).expect("re-up");
    assert_eq!(r.plan.create_nodes, vec!["h4".to_string()]);
    assert_eq!(r.plan.delete_nodes, vec!["h3".to_string()]);
    assert_eq!(r.plan.create_links.len(), 2, "{:?}", r.plan);
    // h1 was untouched: same interface, same index.
    assert_eq!(ifindex(&h1, "h1-eth0"), Some(h1_idx));
    // h2's link was recreated with the new address.
    assert_ne!(ifindex(&h2, "h2-eth0"), Some(h2_idx));
    assert!(ping(&h1, "10.0.0.22"));
    assert!(ping(&h1, "10.0.0.4"));
    assert!(!std::path::Path::new(&format!("/run/netns/{}", ns(&name, "h3"))).exists());
    // And once more: nothing to do.
    let (_, r) = Lab::up(&u, &UpOptions::default()).expect("re-up");
    assert_eq!(r.changes, 0);
}

#[test]
fn a_veth_deleted_by_hand_is_reported_and_repaired() {
    require_root!();
    let name = lab_name("dr");
    let _g = LabGuard(name.clone());
    let t = star(&name, 2);
    let (lab, _) = Lab::up(&t, &UpOptions::default()).expect("up");
    let st = Command::new("ip")
        .args(["-n", &ns(&name, "h2"), "link", "del", "h2-eth0"])
        .status()
        .unwrap();
    assert!(st.success());
    let view = lab.inspect().unwrap();
    assert!(
        view.drift
            .iter()
            .any(|d| d.contains("h2:h2-eth0 is missing")),
        "{:?}",
        view.drift
    );
    let (_, r) = Lab::up(&t, &UpOptions::default()).expect("repair");
    assert_eq!(r.plan.create_links.len(), 1);
    assert!(!r.drift.is_empty());
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));
    assert!(lab.inspect().unwrap().drift.is_empty());
}

#[test]
fn a_namespace_deleted_by_hand_is_recreated() {
    require_root!();
    let name = lab_name("dn");
    let _g = LabGuard(name.clone());
    let t = star(&name, 2);
    Lab::up(&t, &UpOptions::default()).expect("up");
    assert!(Command::new("ip")
        .args(["netns", "del", &ns(&name, "h1")])
        .status()
        .unwrap()
        .success());
    let (_, r) = Lab::up(&t, &UpOptions::default()).expect("repair");
    assert_eq!(r.plan.create_nodes, vec!["h1".to_string()]);
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));
}

#[test]
fn down_ends_processes_and_is_idempotent() {
    require_root!();
    let name = lab_name("pr");
    let _g = LabGuard(name.clone());
    let (lab, _) = Lab::up(&star(&name, 2), &UpOptions::default()).expect("up");
    // A background process holds h1's namespace.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns(&name, "h1"), "sleep", "300"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let r = lab.down().unwrap();
    assert!(r.processes >= 1, "{r:?}");
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_no_trace(&name);
    // Again: nothing to do, no error.
    nlab::lab::down(&name).unwrap();
    assert_no_trace(&name);
}
