//! Link conditions on the kernel backend, proven with independent
//! witnesses: `iperf3` goodput, `tc -j` and `ip -j` read-backs.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::testing::features;
use nlab::topo::conditions::{Directed, Impairment, Rate};

use std::process::{Command, Stdio};
use std::time::Duration;

fn nlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nlab"))
}

fn rate(mbit: u64) -> Impairment {
    Impairment {
        rate: Some(Rate {
            bits_per_sec: mbit * 1_000_000,
            burst_bytes: None,
        }),
        ..Impairment::default()
    }
}

static PORT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(5301);

/// Starts a one-shot iperf3 server in `ns` on a port of its own (a
/// previous one-shot server may still be exiting) and waits until it
/// listens. Returns the port.
fn iperf_server(ns: &str) -> String {
    let port = PORT
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    let st = Command::new("ip")
        .args(["netns", "exec", ns, "iperf3", "-s", "-1", "-D", "-p", &port])
        .status()
        .unwrap();
    assert!(st.success(), "iperf3 server in {ns}");
    for _ in 0..50 {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "ss",
                "-Hltn",
                &format!("sport = :{port}"),
            ])
            .output()
            .unwrap();
        if !o.stdout.is_empty() {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("iperf3 server in {ns} does not listen");
}

fn iperf_json(
    client_ns: &str,
    server: &str,
    port: &str,
    secs: u32,
    extra: &[&str],
) -> serde_json::Value {
    let secs = secs.to_string();
    let mut args = vec![
        "netns", "exec", client_ns, "iperf3", "-c", server, "-p", port, "-t", &secs, "-J",
    ];
    args.extend_from_slice(extra);
    let o = Command::new("ip").args(&args).output().unwrap();
    assert!(
        o.status.success(),
        "iperf3: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// TCP goodput in Mbit/s measured at the receiver.
fn goodput(client_ns: &str, server_ns: &str, server: &str, reverse: bool) -> f64 {
    let port = iperf_server(server_ns);
    let extra: &[&str] = if reverse { &["-R"] } else { &[] };
    let v = iperf_json(client_ns, server, &port, 4, extra);
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap()
        / 1e6
}

fn near(measured: f64, want: f64, tolerance: f64) -> bool {
    (measured - want).abs() <= want * tolerance
}

#[test]
fn tbf_rate_holds_in_each_direction_independently() {
    require_root!();
    let name = lab_name("cr");
    let _g = LabGuard(name.clone());
    let mut c = Directed {
        a_to_b: rate(10),
        b_to_a: rate(30),
    };
    if let Some(r) = &mut c.b_to_a.rate {
        r.burst_bytes = Some(64 * 1024);
    }
    Lab::up(&pair(&name, c.clone()), &UpOptions::default()).expect("up");
    let (h1, h2) = (ns(&name, "h1"), ns(&name, "h2"));
    // The kernel holds what we asked for (tbf reports bytes per second).
    assert_eq!(root_qdisc(&h1, "eth0")["kind"], "tbf");
    assert_eq!(root_qdisc(&h1, "eth0")["options"]["rate"], 1_250_000);
    assert_eq!(root_qdisc(&h2, "eth0")["options"]["rate"], 3_750_000);
    // The kernel keeps the bucket as a time in 64 ns ticks; tc turns it
    // back into bytes, so a byte or two can round away.
    let burst = root_qdisc(&h2, "eth0")["options"]["burst"]
        .as_i64()
        .unwrap();
    assert!((burst - 65_536).abs() <= 2, "burst {burst}, want 64 KiB");
    let up = goodput(&h1, &h2, "10.0.0.2", false);
    let down = goodput(&h1, &h2, "10.0.0.2", true);
    assert!(near(up, 10.0, 0.2), "h1→h2 {up:.2} Mbit/s, want 10");
    assert!(near(down, 30.0, 0.2), "h2→h1 {down:.2} Mbit/s, want 30");
    // Re-up of the same topology: nothing to do.
    let (_, r) = Lab::up(&pair(&name, c.clone()), &UpOptions::default()).unwrap();
    assert_eq!(r.changes, 0, "{:?}", r.plan);
    // A different burst is a change of conditions only.
    c.b_to_a = rate(30);
    let (_, r) = Lab::up(&pair(&name, c), &UpOptions::default()).unwrap();
    assert_eq!(r.plan.condition_links.len(), 1);
    assert_eq!(r.changes, 1);
}

#[test]
fn live_rate_change_keeps_the_tcp_stream_and_goodput_follows() {
    require_root!();
    let name = lab_name("cl");
    let _g = LabGuard(name.clone());
    Lab::up(
        &pair(&name, Directed::symmetric(rate(5))),
        &UpOptions::default(),
    )
    .expect("up");
    let (h1, h2) = (ns(&name, "h1"), ns(&name, "h2"));
    let index = ip_json(&h1, &["link", "show", "eth0"])[0]["ifindex"].clone();
    let port = iperf_server(&h2);
    let client = Command::new("ip")
        .args([
            "netns", "exec", &h1, "iperf3", "-c", "10.0.0.2", "-p", &port, "-t", "9", "-i", "1",
            "-J",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let o = nlab()
        .args([
            "link",
            "set",
            &name,
            "h1:eth0",
            "--rate",
            "20mbit",
            "--direction",
            "out",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = client.wait_with_output().unwrap();
    assert!(out.status.success(), "the TCP stream survived the change");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let iv: Vec<f64> = v["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sum"]["bits_per_second"].as_f64().unwrap() / 1e6)
        .collect();
    let before = (iv[1] + iv[2]) / 2.0;
    let after = (iv[6] + iv[7] + iv[8]) / 3.0;
    assert!(near(before, 5.0, 0.3), "before {before:.2} in {iv:?}");
    assert!(near(after, 20.0, 0.3), "after {after:.2} in {iv:?}");
    // Same interface (no veth was recreated), new rate, other direction kept.
    assert_eq!(ip_json(&h1, &["link", "show", "eth0"])[0]["ifindex"], index);
    assert_eq!(root_qdisc(&h1, "eth0")["options"]["rate"], 2_500_000);
    assert_eq!(root_qdisc(&h2, "eth0")["options"]["rate"], 625_000);
    // The journal has it: show agrees.
    let lab = Lab::open(&name).unwrap();
    assert_eq!(lab.links()[0].conditions.a_to_b, rate(20));
    assert_eq!(lab.links()[0].conditions.b_to_a, rate(5));
}

#[test]
fn reset_removes_the_qdisc_and_up_reapplies_the_file() {
    require_root!();
    let name = lab_name("cz");
    let _g = LabGuard(name.clone());
    let t = pair(&name, Directed::symmetric(rate(10)));
    Lab::up(&t, &UpOptions::default()).expect("up");
    let (h1, h2) = (ns(&name, "h1"), ns(&name, "h2"));
    assert_eq!(root_qdisc(&h1, "eth0")["kind"], "tbf");
    let o = nlab()
        .args(["link", "reset", &name, "h2:eth0"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for n in [&h1, &h2] {
        assert_eq!(
            root_qdisc(n, "eth0")["kind"],
            "noqueue",
            "plain veth again in {n}"
        );
    }
    let o = nlab()
        .args(["link", "show", &name, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["backend"], "none");
    assert_eq!(v[0]["observed"][0]["qdisc"], "noqueue");
    // The file is the declaration: up puts its conditions back, in place.
    let (_, r) = Lab::up(&t, &UpOptions::default()).unwrap();
    assert_eq!(r.plan.condition_links.len(), 1, "{:?}", r.plan);
    assert_eq!(r.changes, 1);
    assert_eq!(root_qdisc(&h2, "eth0")["options"]["rate"], 1_250_000);
    // A qdisc removed behind nlab's back shows as drift.
    let st = Command::new("tc")
        .args(["-n", &h1, "qdisc", "del", "dev", "eth0", "root"])
        .status()
        .unwrap();
    assert!(st.success());
    let o = nlab()
        .args(["link", "show", &name, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v[0]["drift"][0],
        "h1:eth0 sends through noqueue but the lab has tbf there"
    );
    let o = nlab().args(["link", "show", &name]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("drift: h1:eth0 sends through noqueue"));
    // A bad endpoint is bad input.
    let o = nlab()
        .args(["link", "reset", &name, "h3:eth0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn mtu_changes_live_on_both_ends() {
    require_root!();
    let name = lab_name("cm");
    let _g = LabGuard(name.clone());
    Lab::up(&pair(&name, Directed::default()), &UpOptions::default()).expect("up");
    let o = nlab()
        .args(["link", "set", &name, "h1:eth0", "--mtu", "1400"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for n in ["h1", "h2"] {
        let v = ip_json(&ns(&name, n), &["link", "show", "eth0"]);
        assert_eq!(v[0]["mtu"], 1400, "{n}");
        assert_eq!(
            root_qdisc(&ns(&name, n), "eth0")["kind"],
            "noqueue",
            "no conditions, no qdisc"
        );
    }
    assert_eq!(Lab::open(&name).unwrap().links()[0].mtu, Some(1400));
}

#[test]
fn mininet_link_tc_shapes_every_generated_link() {
    require_root!();
    let name = lab_name("cx");
    let _g = LabGuard(name.clone());
    let o = nlab()
        .args([
            "up",
            "--topo",
            "single,2",
            "--link",
            "tc,bw=10,max_queue_size=100",
            "--name",
            &name,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (node, dev) in [
        ("h1", "h1-eth0"),
        ("h2", "h2-eth0"),
        ("s1", "s1-eth1"),
        ("s1", "s1-eth2"),
    ] {
        let q = root_qdisc(&ns(&name, node), dev);
        assert_eq!(q["kind"], "tbf", "{node}:{dev}");
        assert_eq!(q["options"]["rate"], 1_250_000, "{node}:{dev}");
    }
    let g = goodput(&ns(&name, "h1"), &ns(&name, "h2"), "10.0.0.2", false);
    assert!(
        near(g, 10.0, 0.2),
        "{g:.2} Mbit/s through two shaped hops, want 10"
    );
    let o = nlab()
        .args([
            "up",
            "--topo",
            "single,2",
            "--link",
            "tc,bw=fast",
            "--name",
            &name,
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "bad --link is bad input");
}

/// `tc qdisc add dev lo root …` in a namespace of our own succeeds.
fn tc_accepts(ns: &str, args: &[&str]) -> bool {
    let mut a = vec!["-n", ns, "qdisc", "add", "dev", "lo", "root"];
    a.extend_from_slice(args);
    let ok = Command::new("tc")
        .args(&a)
        .output()
        .unwrap()
        .status
        .success();
    let _ = Command::new("tc")
        .args(["-n", ns, "qdisc", "del", "dev", "lo", "root"])
        .output();
    ok
}

#[test]
fn feature_probe_agrees_with_tc() {
    require_root!();
    let ns = format!("tcprobe{}", std::process::id());
    let st = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(st.success());
    let witness = [
        ("netem", tc_accepts(&ns, &["netem", "delay", "1ms"])),
        (
            "tbf",
            tc_accepts(
                &ns,
                &["tbf", "rate", "1mbit", "burst", "32kb", "latency", "50ms"],
            ),
        ),
        ("htb", tc_accepts(&ns, &["handle", "1:", "htb"])),
    ];
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let f = features::probe().expect("probe");
    for (name, present) in witness {
        let p = f.probes.iter().find(|p| p.name == name).unwrap();
        assert_eq!(p.present, present, "{name}: probe vs tc");
    }
    assert!(f.tbf && f.htb, "tbf and htb exist on this machine");
    assert_eq!(f.netem, witness[0].1);
    // The CLI reports the same.
    let o = nlab().args(["features", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["netem"], f.netem);
    assert_eq!(v["backends"]["rate_and_limit"], "kernel");
}

#[test]
fn a_bare_queue_limit_is_a_pfifo_and_limit_with_rate_sizes_the_tbf_queue() {
    require_root!();
    let name = lab_name("cq");
    let _g = LabGuard(name.clone());
    let mut c = Directed::default();
    c.a_to_b.limit = Some(50);
    c.b_to_a = rate(10);
    c.b_to_a.limit = Some(20);
    Lab::up(&pair(&name, c), &UpOptions::default()).expect("up");
    let q = root_qdisc(&ns(&name, "h1"), "eth0");
    assert_eq!(q["kind"], "pfifo");
    assert_eq!(q["options"]["limit"], 50);
    let o = nlab()
        .args(["link", "show", &name, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["observed"][0]["qdisc"], "pfifo");
    assert_eq!(v[0]["observed"][0]["conditions"]["limit"], 50);
    // tbf's queue is bytes: 20 full frames = 30,280 B. tc shows it as the
    // latency it adds: queue time at 10 Mbit/s (24.224 ms) minus the
    // bucket's (15,140 B: 12.112 ms) = 12,112 µs.
    let lat = root_qdisc(&ns(&name, "h2"), "eth0")["options"]["lat"]
        .as_f64()
        .unwrap();
    assert!((lat - 12_112.0).abs() <= 2.0, "tbf lat {lat} µs");
    // And through `link show`.
    assert_eq!(v[0]["observed"][1]["qdisc"], "tbf");
    assert_eq!(v[0]["observed"][1]["conditions"]["limit"], 20);
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"), "traffic still flows");
}

#[test]
fn bad_conditions_in_a_file_are_reported_with_place_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    let name = lab_name("cb");
    std::fs::write(
        &path,
        format!(
            "name: {name}\ntopology:\n  nodes: {{h1: {{}}, h2: {{}}}}\n  links:\n    - endpoints: [\"h1:eth0\", \"h2:eth0\"]\n      conditions: {{delay: 20, loss: 150%}}\n"
        ),
    )
    .unwrap();
    let o = nlab()
        .args(["up", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.yaml:6:27: delay `20` needs a unit"),
        "{err}"
    );
    assert!(err.contains("hint: 20ms?"), "{err}");
    assert!(
        err.contains("bad.yaml:6:37: loss `150%` is outside 0%–100%"),
        "{err}"
    );
    assert_no_trace(&name);
}

#[test]
fn netem_delay_and_live_change_on_a_lab_link() {
    require_root!();
    let f = features::probe().expect("probe");
    if !f.netem {
        eprintln!("SKIP: netem not in this kernel");
        return;
    }
    let name = lab_name("ce");
    let _g = LabGuard(name.clone());
    Lab::up(&pair(&name, Directed::default()), &UpOptions::default()).expect("up");
    let h1 = ns(&name, "h1");
    let base = rtt_ms(&h1, "10.0.0.2", 10);
    let o = nlab()
        .args([
            "link",
            "set",
            &name,
            "h1:eth0",
            "--delay",
            "20ms",
            "--direction",
            "out",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q = root_qdisc(&h1, "eth0");
    assert_eq!(q["kind"], "netem");
    let with = rtt_ms(&h1, "10.0.0.2", 10);
    assert!(
        with - base >= 0.8 * 20.0,
        "RTT {base:.2} → {with:.2} ms for 20 ms one way"
    );
    let o = nlab()
        .args(["link", "reset", &name, "h1:eth0"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(root_qdisc(&h1, "eth0")["kind"], "noqueue");
}
