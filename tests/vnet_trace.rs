//! `nlab trace` on a realized world: the model's verdict for each packet
//! (through a router, into a port that allows only tcp/22), the real
//! probe agreeing with it, and a probe that disagrees once the kernel
//! drifts from the model (the port's security table removed by hand).
mod common;
mod vnet_world;
use common::{lab_name, nlab, LabGuard};
use nlab::testing::vnet::{apply, Desired, Router, RouterInterface};
use vnet_world::*;

/// a1 (172.16.1.1, open) and c1 (172.16.2.1, only tcp/22 in), joined by
/// a router at .254 on both.
fn world() -> Desired {
    let mut a1 = port("a1", "a0", "a5", "172.16.1.1", 0x11);
    a1.port_security_enabled = true;
    a1.security_rules = vec![egress_any(), ingress("icmp", None)];
    let mut c1 = port("c1", "c0", "c5", "172.16.2.1", 0x31);
    c1.port_security_enabled = true;
    c1.security_rules = vec![egress_any(), ingress("tcp", Some(22))];
    let leg = |p: &str, s: &str, ip: &str| RouterInterface {
        port_id: id(p),
        subnet_id: id(s),
        ip: ip.parse().expect("ip"),
        mac: None,
    };
    Desired {
        networks: vec![net("a0"), net("c0")],
        subnets: vec![
            subnet("a5", "a0", "172.16.1.0/24", Some("172.16.1.254"), false),
            subnet("c5", "c0", "172.16.2.0/24", Some("172.16.2.254"), false),
        ],
        ports: vec![a1, c1],
        routers: vec![Router {
            id: id("f0"),
            interfaces: vec![
                leg("f1", "a5", "172.16.1.254"),
                leg("f2", "c5", "172.16.2.254"),
            ],
            external_gateway: None,
            routes: Vec::new(),
        }],
        ..Default::default()
    }
}

fn trace(lab: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let out = nlab()
        .args(["trace", "--lab", lab, "--port", "a1000000", "--json"])
        .args(args)
        .output()
        .expect("nlab trace");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "trace printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn trace_explains_the_path_and_the_probe_confirms_it() {
    require_root!();
    let lab = lab_name("vt");
    let _g = LabGuard(lab.clone());
    apply(&world(), &lab).expect("apply");

    // tcp/22 crosses the router and is let in; nothing listens, so the
    // probe is refused: it got there.
    let (code, v) = trace(
        &lab,
        &["--dst", "172.16.2.1", "--proto", "tcp", "--dport", "22"],
    );
    assert_eq!(v["verdict"], "delivered", "{v}");
    assert_eq!(v["node"], "i-c1000000", "{v}");
    let nodes: Vec<&str> = v["hops"]
        .as_array()
        .expect("hops")
        .iter()
        .filter_map(|h| h["node"].as_str())
        .collect();
    assert!(nodes.contains(&"qrouter-f0000000"), "{nodes:?}");
    assert_eq!(v["probe"]["outcome"], "answered", "{v}");
    assert_eq!((code, &v["agrees"]), (0, &serde_json::json!(true)), "{v}");

    // A ping is dropped by c1's rules, and no echo comes back.
    let (code, v) = trace(&lab, &["--dst", "172.16.2.1"]);
    assert_eq!(v["verdict"], "dropped", "{v}");
    assert!(v["why"].as_str().unwrap_or("").contains("rule-add"), "{v}");
    assert_eq!(v["probe"]["outcome"], "no_answer", "{v}");
    assert_eq!(code, 0, "{v}");

    // The same port's tcp/80: dropped too, in the model and the kernel.
    let (code, v) = trace(
        &lab,
        &["--dst", "172.16.2.1", "--proto", "tcp", "--dport", "80"],
    );
    assert_eq!((v["verdict"].as_str(), code), (Some("dropped"), 0), "{v}");

    // Drift: someone removes c1's filter. The model still says dropped;
    // the probe gets an echo back, and trace says they differ (exit 1).
    let c1 = ns(&lab, "i-c1000000");
    let rm = run_in(&c1, &["nft", "delete", "table", "inet", "nlab-sg"]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    let (code, v) = trace(&lab, &["--dst", "172.16.2.1"]);
    assert_eq!(v["verdict"], "dropped", "{v}");
    assert_eq!(v["probe"]["outcome"], "answered", "{v}");
    assert_eq!((code, &v["agrees"]), (1, &serde_json::json!(false)), "{v}");
}

#[test]
fn trace_without_a_world_or_with_bad_input_says_what_to_do() {
    let out = nlab()
        .args([
            "trace",
            "--lab",
            "nosuchvnet",
            "--port",
            "abcd",
            "--dst",
            "10.0.0.1",
        ])
        .output()
        .expect("nlab trace");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nlab serve"), "{err}");
    let out = nlab()
        .args([
            "trace", "--port", "abcd", "--dst", "10.0.0.1", "--proto", "tcp",
        ])
        .output()
        .expect("nlab trace");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dport"));
}
