//! Mininet's `mn` flags on `nlab up --topo`: `--arp` (permanent
//! neighbours for every host pair), `--test` (its exit status is the
//! test's), `--ipbase`, through the real binary.
mod common;
use common::*;
use std::process::Command;

/// `ip -n NS neigh show` of node `node`: `(address, lladdr, state)`.
fn neighbours(lab: &str, node: &str) -> Vec<(String, String, String)> {
    let v = ip_json(&ns(lab, node), &["neigh", "show"]);
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
                    let state = e["state"]
                        .as_array()
                        .map(|st| {
                            st.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    (s("dst"), s("lladdr"), state)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn mac_of(lab: &str, node: &str) -> String {
    let v = ip_json(&ns(lab, node), &["link", "show", &format!("{node}-eth0")]);
    v[0]["address"].as_str().unwrap_or("").to_string()
}

#[test]
fn arp_gives_every_host_a_permanent_entry_for_every_other_and_pingall_passes() {
    require_root!();
    let name = lab_name("ma");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args([
            "up", "--topo", "single,4", "--name", &name, "--arp", "--test", "pingall",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    assert!(
        s.contains("*** Static ARP: 12 permanent neighbour entries"),
        "{s}"
    );
    assert!(
        s.contains("*** Results: 0% dropped (12/12 received)"),
        "{s}"
    );
    for (i, h) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        let n = neighbours(&name, h);
        for (j, other) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
            if i == j {
                continue;
            }
            let addr = format!("10.0.0.{}", j + 1);
            let e = n.iter().find(|e| e.0 == addr);
            let Some(e) = e else {
                panic!("{h} has no entry for {other}: {n:?}");
            };
            assert_eq!(e.1, mac_of(&name, other), "{h} -> {other}");
            assert!(e.2.contains("PERMANENT"), "{h} -> {other}: {e:?}");
        }
    }
}

#[test]
fn test_exit_status_follows_the_result() {
    require_root!();
    let name = lab_name("mt");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args([
            "up", "--topo", "single,2", "--name", &name, "--test", "pingpair",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    assert!(s.contains("*** Results: 0% dropped (2/2 received)"), "{s}");
    // h2 drops every ICMP packet: the same up (nothing to change) with
    // --test pingall now fails, and says which.
    let h2 = ns(&name, "h2");
    let nft = Command::new("ip")
        .args(["netns", "exec", &h2, "nft", "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in meta l4proto icmp drop"])
        .status()
        .expect("nft");
    assert!(nft.success(), "nft in {h2}");
    let out = nlab()
        .args([
            "up", "--topo", "single,2", "--name", &name, "--test", "pingall",
        ])
        .assert()
        .code(1);
    let s = text(out.get_output());
    assert!(
        s.contains("*** Results: 100% dropped (0/2 received)"),
        "{s}"
    );
    nlab()
        .args([
            "up", "--topo", "single,2", "--name", &name, "--test", "none",
        ])
        .assert()
        .code(0);
    let out = nlab()
        .args([
            "up", "--topo", "single,2", "--name", &name, "--test", "pingal",
        ])
        .assert()
        .code(2);
    assert!(text(out.get_output()).contains("pingall"));
}

#[test]
fn ipbase_numbers_hosts_from_the_given_network() {
    require_root!();
    let name = lab_name("mi");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args([
            "up",
            "--topo",
            "linear,3",
            "--name",
            &name,
            "--ipbase",
            "192.168.77.0/24",
            "--test",
            "pingall",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    assert!(s.contains("192.168.77.3/24"), "{s}");
    assert!(s.contains("0% dropped (6/6 received)"), "{s}");
    let v = ip_json(&ns(&name, "h2"), &["addr", "show", "h2-eth0"]);
    let addrs: Vec<String> = v[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    assert_eq!(addrs, ["192.168.77.2/24"]);
    let out = nlab()
        .args([
            "up",
            "--topo",
            "single,9",
            "--name",
            "mibad",
            "--ipbase",
            "10.9.0.0/29",
        ])
        .assert()
        .code(2);
    assert!(text(out.get_output()).contains("has room for 6 host addresses"));
}

/// `--test iperf`: TCP between the first and the last host, in Mininet's
/// (natural) order, with Mininet's result line: a server and a client
/// rate, each a positive number with its unit. No figure is compared.
#[test]
fn test_iperf_runs_between_the_first_and_last_host() {
    require_root!();
    let name = lab_name("mp");
    let _g = LabGuard(name.clone());
    let out = nlab()
        .args([
            "up",
            "--topo",
            "single,10",
            "--name",
            &name,
            "--test",
            "iperf",
        ])
        .assert()
        .code(0);
    let s = text(out.get_output());
    assert!(
        s.contains("*** Iperf: testing TCP bandwidth between h1 and h10"),
        "{s}"
    );
    let line = s
        .lines()
        .find(|l| l.starts_with("*** Results: ['"))
        .unwrap_or_else(|| panic!("no results line: {s}"));
    // *** Results: ['9.41 Gbits/sec', '9.43 Gbits/sec']
    let inner = line
        .trim_start_matches("*** Results: [")
        .trim_end_matches(']');
    let rates: Vec<&str> = inner.split(", ").map(|r| r.trim_matches('\'')).collect();
    assert_eq!(rates.len(), 2, "{line}");
    for r in rates {
        let (num, unit) = r.split_once(' ').unwrap_or_else(|| panic!("{line}"));
        let v: f64 = num.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(v > 0.0, "{line}");
        assert!(
            ["Gbits/sec", "Mbits/sec", "Kbits/sec", "bits/sec"].contains(&unit),
            "{line}"
        );
    }
    assert!(s.contains("*** (measured by "), "{s}");
}
