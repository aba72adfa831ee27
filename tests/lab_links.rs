//! `Lab::set_link_up`: both ends of every link between two nodes, checked
//! with `ip` as the witness and with traffic.
mod common;
use common::*;
use nlab::lab::{Error, Lab, UpOptions};

fn is_up(ns: &str, iface: &str) -> bool {
    let v = ip_json(ns, &["link", "show", iface]);
    v[0]["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "UP"))
}

#[test]
fn set_link_up_and_down_changes_both_ends() {
    require_root!();
    let name = lab_name("ln");
    let _g = LabGuard(name.clone());
    let (mut lab, _) = Lab::up(&star(&name, 2), &UpOptions::default()).unwrap();
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));

    // Either order of the two nodes names the same link.
    let changed = lab.set_link_up("s1", "h1", false).unwrap();
    assert_eq!(changed, vec!["h1:h1-eth0", "s1:s1-eth1"]);
    assert!(!is_up(&ns(&name, "h1"), "h1-eth0"));
    assert!(!is_up(&ns(&name, "s1"), "s1-eth1"));
    assert!(
        is_up(&ns(&name, "s1"), "s1-eth2"),
        "another link was touched"
    );
    assert!(!ping(&ns(&name, "h1"), "10.0.0.2"));

    lab.set_link_up("h1", "s1", true).unwrap();
    assert!(is_up(&ns(&name, "h1"), "h1-eth0") && is_up(&ns(&name, "s1"), "s1-eth1"));
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));

    match lab.set_link_up("h1", "h2", false) {
        Err(e @ Error::NoSuchLink { .. }) => {
            assert!(
                e.to_string().contains("no link between `h1` and `h2`"),
                "{e}"
            )
        }
        other => panic!("expected NoSuchLink, got {other:?}"),
    }
    assert!(matches!(
        lab.set_link_up("h1", "h9", false),
        Err(Error::NoSuchNode { .. })
    ));
}
