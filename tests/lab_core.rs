//! Root integration tests of the lab engine through the library.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};

#[test]
fn star_comes_up_pings_and_goes_away() {
    let name = lab_name("star");
    let _g = LabGuard(name.clone());
    let t = star(&name, 3);
    let (lab, rep) = Lab::up(&t, &UpOptions::default()).expect("up");
    assert_eq!(rep.changes, 7);
    let h1 = format!("nlab-{name}-h1");
    assert!(ping(&h1, "10.0.0.2"));
    assert!(ping(&h1, "10.0.0.3"));
    // The switch end is a bridge port, as `ip` sees it.
    let links = ip_json(&format!("nlab-{name}-s1"), &["link", "show", "s1-eth1"]);
    assert_eq!(links[0]["master"], "s1");
    // Bridged frames skip the switch namespace's IP firewall hooks (where
    // the kernel has br_netfilter at all).
    let nf = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("nlab-{name}-s1"), "cat"])
        .arg("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .output()
        .expect("ip netns exec");
    if nf.status.success() {
        assert_eq!(String::from_utf8_lossy(&nf.stdout).trim(), "0");
    } else {
        eprintln!("SKIP (part): this kernel has no br_netfilter sysctls");
    }
    // The machine's hostname resolves inside nodes without asking the
    // machine's DNS server (which is outside the lab).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let got = std::process::Command::new("ip")
        .args(["netns", "exec", &h1, "getent", "hosts", host.trim()])
        .output()
        .expect("getent");
    assert!(
        String::from_utf8_lossy(&got.stdout).starts_with("127.0.1.1"),
        "{got:?}"
    );
    // Re-applying the same topology changes nothing.
    let (_, rep2) = Lab::up(&t, &UpOptions::default()).expect("re-up");
    assert_eq!(rep2.changes, 0, "{:?}", rep2.plan);
    let view = lab.inspect().unwrap();
    assert!(view.drift.is_empty(), "{:?}", view.drift);
    let h1v = view.nodes.iter().find(|n| n.name == "h1").unwrap();
    assert_eq!(h1v.interfaces[0].peer.as_deref(), Some("s1:s1-eth1"));
    lab.down().unwrap();
    assert_no_trace(&name);
}
