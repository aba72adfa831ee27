//! Root integration tests of the lab engine through the library.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};

#[test]
fn star_comes_up_pings_and_goes_away() {
    require_root!();
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

/// Hosts without IPv6 in the topology get no link-local address, so they
/// send no MLD reports for a querier-less bridge to flood to every port;
/// a host given an IPv6 address gets its link-local as usual and reaches
/// another IPv6 host.
#[test]
fn ipv4_only_hosts_stay_quiet_on_ipv6() {
    require_root!();
    let name = lab_name("v6q");
    let _g = LabGuard(name.clone());
    let mut t = star(&name, 3);
    for (i, l) in t.links.iter_mut().enumerate().skip(1) {
        l.endpoints[0]
            .addrs
            .push(format!("fd00::{}/64", i + 1).parse().unwrap());
    }
    let (lab, _) = Lab::up(&t, &UpOptions::default()).expect("up");
    let lls = |h: &str| {
        let v = ip_json(
            &format!("nlab-{name}-{h}"),
            &["-6", "addr", "show", "dev", &format!("{h}-eth0")],
        );
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["scope"] == "link")
            .count()
    };
    assert_eq!(lls("h1"), 0, "an IPv4-only host has a link-local address");
    assert_eq!(lls("h2"), 1, "an IPv6 host lacks its link-local address");
    assert_eq!(lls("h3"), 1);
    // MLD sends each report twice, a second apart: give h1 the time.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let stats = ip_json(
        &format!("nlab-{name}-h1"),
        &["-s", "link", "show", "h1-eth0"],
    );
    assert_eq!(stats[0]["stats64"]["tx"]["packets"], 0, "{stats}");
    // The IPv6 hosts did send theirs (the witness that MLD runs here).
    let s2 = ip_json(
        &format!("nlab-{name}-h2"),
        &["-s", "link", "show", "h2-eth0"],
    );
    assert!(s2[0]["stats64"]["tx"]["packets"].as_u64() > Some(0), "{s2}");
    assert!(ping(&format!("nlab-{name}-h2"), "fd00::3"));
    lab.down().unwrap();
    assert_no_trace(&name);
}
