//! Root integration tests of the userspace link emulator: two namespaces
//! `nlab-<lab>-a` and `nlab-<lab>-b`, each with a persistent TAP (`a-eth0`,
//! `b-eth0`, 10.9.0.1/24 and 10.9.0.2/24, configured over the crate's
//! netlink), joined by a `Running` emulator. Witnesses: `ping` (RTT, lost
//! sequence numbers, `DUP!`), `iperf3` (goodput, a TCP stream surviving a
//! live change) and `ip` (what is left afterwards).
//!
//! Bounds are generous (the machine is shared); accuracy is measured by
//! `bench/emulator.sh`, not asserted here.

mod common;

use common::{lost_seqs, one_way, LabGuard};
use nlab::testing::emulator::{EmulatedLink, Running, TapEnd};
use nlab::testing::netlink::Socket;
use nlab::testing::netns::{self, NetNs};
use nlab::testing::{addr, link, tap};
use nlab::topo::conditions::{Directed, Impairment, Loss, Rate};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Pair {
    guard: LabGuard,
    a: String,
    b: String,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        Pair::build(tag, Some("10.9.0.2/24"))
    }

    /// `b_addr` None leaves `b-eth0` without an address (a bridge port).
    fn build(tag: &str, b_addr: Option<&str>) -> Pair {
        let lab = common::lab_name(tag);
        let guard = LabGuard(lab.clone());
        netns::prepare_run_dir().expect("preparing /run/netns");
        let mut names = Vec::new();
        for (node, ip) in [("a", Some("10.9.0.1/24")), ("b", b_addr)] {
            let ns = netns::ns_name(&lab, node);
            netns::create_pinned(&ns, |_| Ok(())).expect("creating namespace");
            let iface = format!("{node}-eth0");
            tap::create(&ns, &iface).expect("creating tap");
            configure(&ns, &iface, ip);
            names.push(ns);
        }
        let b = names.pop().unwrap_or_default();
        let a = names.pop().unwrap_or_default();
        Pair { guard, a, b }
    }

    fn link(&self, cond: Directed, seed: u64) -> EmulatedLink {
        EmulatedLink {
            key: "a:eth0-b:eth0".into(),
            a: TapEnd {
                ns: self.a.clone(),
                iface: "a-eth0".into(),
            },
            b: TapEnd {
                ns: self.b.clone(),
                iface: "b-eth0".into(),
            },
            cond,
            seed,
        }
    }

    fn start(&self, cond: Directed, seed: u64) -> Running {
        Running::start(&self.link(cond, seed)).expect("starting the emulator")
    }
}

/// `lo` and the TAP up, the address on the TAP: all over netlink.
fn configure(ns: &str, iface: &str, ip: Option<&str>) {
    let h = NetNs::open(ns).expect("opening namespace");
    let net: Option<nlab::topo::IpNet> = ip.map(|ip| ip.parse().expect("address"));
    std::thread::scope(|s| {
        s.spawn(|| {
            h.run(|| {
                let mut sock = Socket::new().expect("netlink socket");
                let links = link::dump(&mut sock, "reading links").expect("dump");
                for l in &links {
                    if l.name == "lo" || l.name == iface {
                        sock.request(link::set_up(l.index, true, format!("{} up", l.name)))
                            .expect("link up");
                    }
                    if let (true, Some(net)) = (l.name == iface, &net) {
                        sock.request(addr::add(l.index, net, format!("address on {iface}")))
                            .expect("address");
                    }
                }
            })
            .expect("entering namespace")
        });
    });
}

fn ip_netns(ns: &str, args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("running a witness")
}

/// Runs `ping` from `ns` and returns its output.
fn ping(ns: &str, args: &[&str]) -> String {
    let mut a = vec!["ping", "-n"];
    a.extend_from_slice(args);
    a.push("10.9.0.2");
    String::from_utf8_lossy(&ip_netns(ns, &a).stdout).into_owned()
}

fn avg_rtt_ms(out: &str) -> f64 {
    // rtt min/avg/max/mdev = 0.041/0.050/0.064/0.008 ms
    out.lines()
        .find(|l| l.contains("min/avg/max"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rtt summary in ping output:\n{out}"))
}

fn delay(ms: u64) -> Directed {
    one_way(Impairment {
        delay: Duration::from_millis(ms),
        ..Impairment::default()
    })
}

#[test]
fn ping_crosses_delay_adds_rtt_down_drops_and_stop_leaves_no_carrier() {
    require_root!();
    let p = Pair::new("em");
    let run = p.start(Directed::default(), 1);
    let warm = ping(&p.a, &["-c", "1", "-W", "2"]);
    assert!(
        warm.contains("1 received"),
        "no ping through the emulator:\n{warm}"
    );
    let base = avg_rtt_ms(&ping(&p.a, &["-c", "10", "-i", "0.05"]));
    run.update(&delay(50));
    let slow = avg_rtt_ms(&ping(&p.a, &["-c", "10", "-i", "0.05"]));
    // One way 50 ms: RTT grows by 50 ms (within 10%).
    let grew = slow - base;
    assert!(
        (45.0..=55.0).contains(&grew),
        "RTT grew by {grew} ms (base {base}, now {slow})"
    );
    run.update(&Directed::default());
    run.set_up(false);
    let down = ping(&p.a, &["-c", "3", "-i", "0.2", "-W", "1"]);
    assert!(
        down.contains(" 0 received"),
        "ping crossed a down link:\n{down}"
    );
    assert!(run.stats().a_to_b.down_dropped >= 3);
    run.set_up(true);
    let up = ping(&p.a, &["-c", "1", "-W", "2"]);
    assert!(
        up.contains("1 received"),
        "link did not come back up:\n{up}"
    );
    let st = run.stats();
    assert!(st.a_to_b.rx >= 20 && st.b_to_a.tx >= 20, "{st:?}");
    run.stop();
    // Without a queue attached a TAP has no carrier.
    let show = ip_netns(&p.a, &["ip", "link", "show", "dev", "a-eth0"]);
    let show = String::from_utf8_lossy(&show.stdout);
    eprintln!("stopped emulator, `ip link show dev a-eth0`:\n{show}");
    assert!(show.contains("NO-CARRIER"), "{show}");
    for (ns, iface) in [(&p.a, "a-eth0"), (&p.b, "b-eth0")] {
        tap::delete(ns, iface).expect("deleting tap");
        let o = ip_netns(ns, &["ip", "link", "show", "dev", iface]);
        assert!(!o.status.success(), "{iface} still exists after delete");
    }
    drop(p.guard);
}

const PINGS: u32 = 1_000;

/// One run: a fresh emulator with `seed`, ARP warmed up without loss, then
/// 1,000 pings at 2 ms with 20% loss on the way out.
fn lossy_run(p: &Pair, seed: u64) -> Vec<u32> {
    let run = p.start(Directed::default(), seed);
    let warm = ping(&p.a, &["-c", "1", "-W", "2"]);
    assert!(warm.contains("1 received"), "{warm}");
    run.update(&one_way(Impairment {
        loss: Some(Loss::Random { percent: 20.0 }),
        ..Impairment::default()
    }));
    let count = PINGS.to_string();
    let out = ping(&p.a, &["-c", &count, "-i", "0.002", "-W", "1"]);
    let [log, _] = run.losses();
    run.stop();
    let lost = lost_seqs(&out, PINGS);
    // The emulator's record of the ping flow (the flow with the most
    // losses; ARP and IPv6 ND are flows of their own) names the same count.
    let mut per_flow = std::collections::HashMap::new();
    for r in &log {
        *per_flow.entry(r.flow).or_insert(0usize) += 1;
    }
    let icmp = per_flow.values().max().copied().unwrap_or(0);
    assert_eq!(lost.len(), icmp, "ping and the emulator disagree");
    lost
}

#[test]
fn loss_rate_is_binomial_and_the_same_seed_loses_the_same_pings() {
    require_root!();
    let p = Pair::new("el");
    let first = lossy_run(&p, 7);
    let n = PINGS as f64;
    let sd = (n * 0.2 * 0.8).sqrt();
    let (lo, hi) = (n * 0.2 - 2.576 * sd, n * 0.2 + 2.576 * sd);
    let got = first.len() as f64;
    assert!(
        lo <= got && got <= hi,
        "lost {got} of {n}, 99% interval [{lo:.0}, {hi:.0}]"
    );
    let again = lossy_run(&p, 7);
    assert_eq!(first, again, "same seed, different lost sequence numbers");
    let other = lossy_run(&p, 8);
    assert_ne!(first, other, "a different seed lost the same pings");
}

#[test]
fn duplicate_shows_dup_replies() {
    require_root!();
    let p = Pair::new("ed");
    let run = p.start(
        one_way(Impairment {
            duplicate: 50.0,
            ..Impairment::default()
        }),
        3,
    );
    let out = ping(&p.a, &["-c", "40", "-i", "0.02", "-W", "1"]);
    let dups = out.lines().filter(|l| l.contains("DUP!")).count();
    let st = run.stats();
    // Other frames (ARP, IPv6 ND) may be duplicated too, never fewer.
    let others = st.a_to_b.rx - 40;
    let dup_n = st.a_to_b.duplicated;
    assert!(
        dups as u64 <= dup_n && dup_n - dups as u64 <= others,
        "ping saw {dups}: {st:?}"
    );
    // 40 pings at 50%: 20 expected; 99% interval ≈ [12, 28].
    assert!((8..=32).contains(&dups), "{dups} DUP! replies:\n{out}");
}

struct Iperf {
    server: std::process::Child,
}

impl Iperf {
    fn server(ns: &str) -> Iperf {
        let server = Command::new("ip")
            .args(["netns", "exec", ns, "iperf3", "-s", "-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting iperf3 -s");
        std::thread::sleep(Duration::from_millis(300));
        Iperf { server }
    }
}

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Receiver goodput (bit/s) of a TCP iperf3 run from `ns`, and its error.
fn iperf_tcp(ns: &str, secs: u32) -> (f64, Option<String>) {
    let t = secs.to_string();
    let o = ip_netns(ns, &["iperf3", "-c", "10.9.0.2", "-t", &t, "-J"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let err = v["error"].as_str().map(str::to_string);
    (bps, err)
}

#[test]
fn rate_limits_tcp_goodput() {
    require_root!();
    if Command::new("iperf3").arg("-v").output().is_err() {
        eprintln!("SKIP: iperf3 is not installed");
        return;
    }
    let p = Pair::new("er");
    let _run = p.start(
        one_way(Impairment {
            rate: Some(Rate {
                bits_per_sec: 10_000_000,
                burst_bytes: None,
            }),
            ..Impairment::default()
        }),
        1,
    );
    let _srv = Iperf::server(&p.b);
    let (bps, err) = iperf_tcp(&p.a, 4);
    assert_eq!(err, None);
    let mbit = bps / 1e6;
    assert!(
        (8.0..=12.0).contains(&mbit),
        "goodput {mbit:.2} Mbit/s for a 10 Mbit/s link"
    );
}

#[test]
fn live_update_keeps_a_tcp_stream_alive() {
    require_root!();
    if Command::new("iperf3").arg("-v").output().is_err() {
        eprintln!("SKIP: iperf3 is not installed");
        return;
    }
    let p = Pair::new("eu");
    let run = p.start(Directed::default(), 1);
    let _srv = Iperf::server(&p.b);
    let (bps, err) = std::thread::scope(|s| {
        let client = s.spawn(|| iperf_tcp(&p.a, 5));
        std::thread::sleep(Duration::from_millis(1500));
        let mut i = Impairment {
            delay: Duration::from_millis(20),
            rate: Some(Rate {
                bits_per_sec: 50_000_000,
                burst_bytes: None,
            }),
            ..Impairment::default()
        };
        run.update(&Directed::symmetric(i.clone()));
        std::thread::sleep(Duration::from_millis(1500));
        i.loss = Some(Loss::Random { percent: 5.0 });
        run.update(&Directed::symmetric(i));
        std::thread::sleep(Duration::from_millis(1000));
        run.update(&Directed::default());
        client
            .join()
            .unwrap_or((0.0, Some("client thread panicked".into())))
    });
    assert_eq!(err, None, "the TCP stream broke on a live change");
    assert!(bps > 1e6, "goodput {bps} bit/s");
    let st = run.stats();
    assert!(st.a_to_b.lost > 0 || st.b_to_a.lost > 0, "{st:?}");
}

#[test]
fn corrupt_frames_fail_their_checksums() {
    require_root!();
    let p = Pair::new("ec");
    let run = p.start(Directed::default(), 5);
    let warm = ping(&p.a, &["-c", "1", "-W", "2"]);
    assert!(warm.contains("1 received"), "{warm}");
    run.update(&one_way(Impairment {
        corrupt: 30.0,
        ..Impairment::default()
    }));
    // A single flipped bit in the IP header or the ICMP message fails its
    // checksum at the receiver, so a corrupted echo request gets no reply.
    let out = ping(&p.a, &["-c", "200", "-i", "0.005", "-W", "1"]);
    let lost = lost_seqs(&out, 200).len() as f64;
    let sd = (200.0f64 * 0.3 * 0.7).sqrt();
    let (lo, hi) = (60.0 - 2.576 * sd, 60.0 + 2.576 * sd);
    assert!(
        lo <= lost && lost <= hi,
        "{lost} unanswered of 200, 99% interval [{lo:.0}, {hi:.0}]"
    );
    let st = run.stats();
    assert!(st.a_to_b.corrupted as f64 >= lost, "{st:?}");
    assert_eq!(st.a_to_b.lost, 0);
}

/// The TAP end is an ordinary interface for the rest of nlab: a switch
/// end enslaved to a bridge carries traffic like a veth end.
#[test]
fn a_tap_end_works_as_a_bridge_port() {
    require_root!();
    let p = Pair::build("eb", None);
    let h = NetNs::open(&p.b).expect("opening namespace");
    let net = "10.9.0.3/24".parse().expect("address");
    std::thread::scope(|s| {
        s.spawn(|| {
            h.run(|| {
                let mut sock = Socket::new().expect("netlink socket");
                let opts = link::BridgeOpts { stp: false };
                sock.request(link::new_bridge("br0", None, 0, opts, "bridge br0".into()))
                    .expect("creating br0");
                let links = link::dump(&mut sock, "reading links").expect("dump");
                let idx = |n: &str| links.iter().find(|l| l.name == n).map(|l| l.index);
                let (br, port) = (idx("br0").expect("br0"), idx("b-eth0").expect("b-eth0"));
                sock.request(link::set_master(port, br, "enslaving b-eth0".into()))
                    .expect("enslaving the tap");
                sock.request(addr::add(br, &net, "address on br0".into()))
                    .expect("address");
            })
            .expect("entering namespace")
        });
    });
    let run = p.start(Directed::default(), 1);
    let out = ip_netns(
        &p.a,
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.9.0.3"],
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.contains("2 received"),
        "no ping across the bridged tap:\n{out}"
    );
    let master = ip_netns(&p.b, &["ip", "-o", "link", "show", "dev", "b-eth0"]);
    assert!(String::from_utf8_lossy(&master.stdout).contains("master br0"));
    run.stop();
}

#[test]
fn starting_on_a_missing_tap_fails_and_creates_nothing() {
    require_root!();
    let p = Pair::new("em");
    let mut l = p.link(Directed::default(), 1);
    l.b.iface = "b-eth9".into();
    let err = match Running::start(&l) {
        Ok(_) => panic!("started on a tap that does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("b-eth9") && err.contains("No such device"),
        "{err}"
    );
    let o = ip_netns(&p.b, &["ip", "link", "show", "dev", "b-eth9"]);
    assert!(!o.status.success(), "a tap b-eth9 appeared");
}

#[test]
fn a_tap_deleted_under_a_running_link_is_reported() {
    require_root!();
    let p = Pair::new("ex");
    let run = p.start(Directed::default(), 1);
    assert!(ping(&p.a, &["-c", "1", "-W", "2"]).contains("1 received"));
    assert!(!run.detached());
    let o = ip_netns(&p.b, &["ip", "link", "del", "b-eth0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = ping(&p.a, &["-c", "1", "-W", "1"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(run.detached(), "{:?}", run.stats());
    run.stop();
}

/// The nice value of a thread of this process, from `/proc` (field 19).
fn thread_nice(tid: u32) -> i32 {
    let f = common::stat_fields(&format!("/proc/self/task/{tid}/stat"))
        .unwrap_or_else(|| panic!("cannot read the stat of thread {tid}"));
    f.get(16)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no nice value in the stat of thread {tid}: {f:?}"))
}

/// Waits (up to 3 s, pinging so each thread takes up its conditions)
/// until the two forwarding threads have the nice values `want`.
fn wait_for_nice(p: &Pair, run: &Running, want: [i32; 2]) {
    let mut last = [None, None];
    for _ in 0..30 {
        let ids = run.thread_ids();
        last = ids.map(|t| t.map(thread_nice));
        if last == want.map(Some) {
            return;
        }
        ping(&p.a, &["-c", "1", "-W", "1"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("forwarders' nice values (a→b, b→a) are {last:?}, want {want:?}");
}

#[test]
fn forwarders_run_ahead_of_processes_only_while_they_time_frames() {
    require_root!();
    let p = Pair::new("emnice");
    // a→b delays, b→a only passes frames on.
    let run = p.start(delay(5), 1);
    wait_for_nice(&p, &run, [-10, 0]);
    // Loss alone times nothing.
    run.update(&one_way(Impairment {
        loss: Some(Loss::Random { percent: 1.0 }),
        ..Impairment::default()
    }));
    wait_for_nice(&p, &run, [0, 0]);
    let rate = Impairment {
        rate: Some(Rate {
            bits_per_sec: 100_000_000,
            burst_bytes: None,
        }),
        ..Impairment::default()
    };
    run.update(&Directed {
        a_to_b: rate.clone(),
        b_to_a: rate,
    });
    wait_for_nice(&p, &run, [-10, -10]);
    drop(run);
    drop(p.guard);
}
