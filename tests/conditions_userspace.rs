//! Link conditions that need netem on a kernel without it: the lab makes
//! the link of two TAPs and its supervisor runs the userspace emulator.
//! Witnesses: `ip -d -j link` (device kinds), `ping` (RTT, lost sequence
//! numbers), `iperf3` (a TCP stream across a live change), /proc (the
//! supervisor process).
mod common;
use common::*;

use nlab::lab::{Lab, UpOptions};
use nlab::topo::conditions::{Directed, Impairment, Loss};

use std::process::Command;
use std::time::Duration;

fn delay(ms: u64) -> Directed {
    Directed::symmetric(Impairment {
        delay: Duration::from_millis(ms),
        ..Impairment::default()
    })
}

#[test]
fn a_delayed_link_is_two_taps_the_emulator_joins() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("ud");
    let _g = LabGuard(name.clone());
    let (lab, _) = Lab::up(&pair(&name, delay(25)), &UpOptions::default()).expect("up");
    assert_eq!(eth0_kind(&name, "h1"), "tun");
    assert_eq!(eth0_kind(&name, "h2"), "tun");
    assert_eq!(supervisors_of(&name).len(), 1, "one supervisor runs it");
    let rtt = h1_rtt_ms(&name, 5);
    assert!(
        (50.0..60.0).contains(&rtt),
        "RTT {rtt} ms, want 25 ms each way"
    );
    let view = lab.inspect().expect("inspect");
    assert!(view.drift.is_empty(), "{:?}", view.drift);
    // Re-applying the same topology changes nothing and keeps the emulator.
    let (_, rep) = Lab::up(&pair(&name, delay(25)), &UpOptions::default()).expect("re-up");
    assert_eq!(rep.changes, 0, "{:?}", rep.plan);
    assert!(h1_rtt_ms(&name, 3) > 45.0);
    lab.down().expect("down");
    assert!(supervisors_of(&name).is_empty());
    assert_no_trace(&name);
}

#[test]
fn live_changes_move_between_veth_and_emulator_and_keep_tcp() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("uv");
    let _g = LabGuard(name.clone());
    let (_, _) = Lab::up(&pair(&name, Directed::default()), &UpOptions::default()).expect("up");
    assert_eq!(eth0_kind(&name, "h1"), "veth");
    assert!(
        supervisors_of(&name).is_empty(),
        "no conditions, no process"
    );
    let mut lab = Lab::open(&name).expect("open");
    lab.set_link_conditions(0, delay(10))
        .expect("to the emulator");
    assert_eq!(eth0_kind(&name, "h1"), "tun");
    let rtt = h1_rtt_ms(&name, 5);
    assert!(
        (20.0..28.0).contains(&rtt),
        "RTT {rtt} ms, want 10 ms each way"
    );

    // A TCP stream runs while the delay changes twice: it must finish.
    let h2 = ns(&name, "h2");
    let st = Command::new("ip")
        .args([
            "netns", "exec", &h2, "iperf3", "-s", "-1", "-D", "-p", "5411",
        ])
        .status()
        .expect("iperf3 server");
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    let client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns(&name, "h1"),
            "iperf3",
            "-c",
            "10.0.0.2",
        ])
        .args(["-p", "5411", "-t", "3", "-J"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("iperf3 client");
    std::thread::sleep(Duration::from_millis(800));
    lab.set_link_conditions(0, delay(30)).expect("live change");
    std::thread::sleep(Duration::from_millis(800));
    lab.set_link_conditions(0, delay(5)).expect("live change");
    let out = client.wait_with_output().expect("iperf3 client");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(
        out.status.success() && v["error"].is_null(),
        "the stream broke: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(v["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0) > 0);

    // Back to no conditions: a plain veth again, and no supervisor.
    lab.set_link_conditions(0, Directed::default())
        .expect("reset");
    assert_eq!(eth0_kind(&name, "h1"), "veth");
    assert!(h1_rtt_ms(&name, 3) < 5.0);
    assert!(supervisors_of(&name).is_empty());
}

/// Sequence numbers of the pings that got no reply.
fn lost_pings(lab: &str, n: u32) -> Vec<u32> {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns(lab, "h1"),
            "ping",
            "-i",
            "0.01",
            "-W",
            "1",
        ])
        .args(["-c", &n.to_string(), "10.0.0.2"])
        .output()
        .expect("ping");
    let s = String::from_utf8_lossy(&o.stdout);
    let got: std::collections::BTreeSet<u32> = s
        .lines()
        .filter_map(|l| l.split("icmp_seq=").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    (1..=n).filter(|i| !got.contains(i)).collect()
}

/// h1 and h2 of a `pair` know each other's MAC for good (`nud permanent`).
fn static_neighbours(lab: &str) {
    let mac = |node: &str| {
        let v = ip_json(&ns(lab, node), &["link", "show", "dev", "eth0"]);
        v[0]["address"].as_str().expect("eth0's MAC").to_string()
    };
    for (node, peer, addr) in [("h1", "h2", "10.0.0.2"), ("h2", "h1", "10.0.0.1")] {
        let ok = Command::new("ip")
            .args(["-n", &ns(lab, node), "neigh", "replace", addr, "lladdr"])
            .arg(mac(peer))
            .args(["dev", "eth0", "nud", "permanent"])
            .status()
            .expect("ip neigh replace");
        assert!(ok.success(), "a permanent neighbour in {node}");
    }
}

#[test]
fn the_same_seed_loses_the_same_pings() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let lossy = Directed {
        a_to_b: Impairment {
            loss: Some(Loss::Random { percent: 20.0 }),
            ..Impairment::default()
        },
        b_to_a: Impairment::default(),
    };
    let mut runs = Vec::new();
    for seed in [5u64, 5, 6] {
        let name = lab_name("us");
        let _g = LabGuard(name.clone());
        let opts = UpOptions {
            seed: Some(seed),
            ..UpOptions::default()
        };
        let (lab, rep) = Lab::up(&pair(&name, lossy.clone()), &opts).expect("up");
        assert_eq!(rep.seed, seed);
        // Permanent neighbours: no ARP frame (whose timing varies with
        // the machine's load) takes a draw of the loss model, so the
        // first counted ping meets its first draw in every run.
        static_neighbours(&name);
        runs.push(lost_pings(&name, 300));
        lab.down().expect("down");
    }
    let lost = runs[0].len() as f64 / 300.0;
    assert!((0.12..0.29).contains(&lost), "lost {lost} of pings at 20%");
    assert_eq!(runs[0], runs[1], "same seed, same lost pings");
    assert_ne!(runs[0], runs[2], "another seed, other lost pings");
}

#[test]
fn a_schedule_from_the_file_runs_in_the_supervisor() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("uf");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            "name: {name}\ntopology:\n  nodes: {{h1: {{}}, h2: {{}}}}\n  links:\n    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, {{node: h2, iface: eth0, ip: 10.0.0.2/24}}]\n      conditions: {{delay: 2ms}}\n      schedule:\n        - {{at: 1500ms, delay: 40ms}}\n        - {{at: 3s, down: true}}\n"
        ),
    )
    .expect("write topology");
    let out = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .arg("up")
        .arg(&file)
        .output()
        .expect("nlab up");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("userspace emulator"), "{stdout}");
    assert!(h1_rtt_ms(&name, 3) < 10.0, "before the first step");
    std::thread::sleep(Duration::from_millis(1700));
    let rtt = h1_rtt_ms(&name, 3);
    assert!(rtt > 75.0, "RTT {rtt} ms after the step to 40 ms each way");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!ping(&ns(&name, "h1"), "10.0.0.2"), "down after 3 s");
    let show = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["link", "show", &name, "--json"])
        .output()
        .expect("link show");
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(v[0]["backend"], "userspace");
    assert!(
        v[0]["emulator"]["a_to_b"]["rx"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
}

#[test]
fn a_killed_supervisor_is_restarted_by_up_and_the_emulated_link_resumes() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("uk");
    let _g = LabGuard(name.clone());
    let t = pair(&name, delay(5));
    Lab::up(&t, &UpOptions::default()).expect("up");
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));
    for pid in supervisors_of(&name) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for _ in 0..50 {
        if supervisors_of(&name).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The TAPs stay, but nothing moves frames between them, and inspect
    // says so.
    assert!(!ping(&ns(&name, "h1"), "10.0.0.2"));
    let lab = Lab::open(&name).expect("open");
    let view = lab.inspect().expect("inspect");
    assert!(
        view.drift
            .iter()
            .any(|d| d.contains("supervisor is not running") && d.contains("no frame crosses")),
        "{:?}",
        view.drift
    );
    let (_, rep) = Lab::up(&t, &UpOptions::default()).expect("re-up");
    assert_eq!(rep.changes, 0, "the kernel side is intact: {:?}", rep.plan);
    assert_eq!(supervisors_of(&name).len(), 1);
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"), "resumed");
    let view = lab.inspect().expect("inspect after the restart");
    assert!(view.drift.is_empty(), "{:?}", view.drift);
}

/// Average RTT h1 -> h2 (10.0.0.2) over `n` pings, after one that
/// resolves the neighbour.
fn h1_rtt_ms(lab: &str, n: u32) -> f64 {
    let _ = ping_output(&ns(lab, "h1"), "10.0.0.2");
    rtt_ms(&ns(lab, "h1"), "10.0.0.2", n)
}
