//! Each link condition proved through a lab (`Lab::up` with a `Topology`)
//! with a witness that is not nlab's own report: `ping` (RTT spread, reply
//! order, lost and duplicated sequence numbers), `iperf3` (UDP datagrams
//! lost to a queue), `tc -j qdisc` (the kernel's qdisc and its drops), UDP
//! sockets that check every byte they receive and the receiver's checksum
//! error counters. Emulator counters from `nlab link show --json` are
//! checked against them, never alone.
//!
//! The tests take a shared lock: they measure time and loss, and two of
//! them at once on a 2-core machine would measure each other.
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::testing::features;
use nlab::testing::netns::NetNs;
use nlab::topo::conditions::{Directed, Distribution, Impairment, Jitter, Loss, Rate, Reorder};

use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Brings up h1 -- h2 with `c`, ARP resolved; returns the lab and its seed.
fn up(name: &str, c: Directed) -> (Lab, u64) {
    let (lab, rep) = Lab::up(&pair(name, c), &UpOptions::default()).expect("up");
    for _ in 0..10 {
        if ping(&ns(name, "h1"), "10.0.0.2") {
            break;
        }
    }
    (lab, rep.seed)
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// `ping ARGS 10.0.0.2` from h1; its stdout.
fn ping_h2(lab: &str, args: &[&str]) -> String {
    let o = Command::new("ip")
        .args(["netns", "exec", &ns(lab, "h1"), "ping"])
        .args(args)
        .arg("10.0.0.2")
        .output()
        .expect("ping");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (icmp_seq, rtt ms) of each reply line, in the order ping printed them.
fn replies(out: &str) -> Vec<(u32, f64)> {
    out.lines()
        .filter(|l| l.contains("icmp_seq=") && !l.contains("DUP!"))
        .filter_map(|l| {
            let seq = l.split("icmp_seq=").nth(1)?.split_whitespace().next()?;
            let t = l.split("time=").nth(1)?.split_whitespace().next()?;
            Some((seq.parse().ok()?, t.parse().ok()?))
        })
        .collect()
}

/// (avg, mdev) from ping's summary line.
fn summary(out: &str) -> (f64, f64) {
    let line = out
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .unwrap_or_else(|| panic!("no RTT summary in {out}"));
    let v: Vec<f64> = line
        .split('=')
        .nth(1)
        .expect("rtt values")
        .split_whitespace()
        .next()
        .expect("rtt values")
        .split('/')
        .map(|x| x.parse().expect("rtt number"))
        .collect();
    (v[1], v[3])
}

/// (number of runs of consecutive lost sequence numbers, mean run length).
fn runs(lost: &[u32]) -> (usize, f64) {
    if lost.is_empty() {
        return (0, 0.0);
    }
    let n = 1 + lost.windows(2).filter(|w| w[1] != w[0] + 1).count();
    (n, lost.len() as f64 / n as f64)
}

fn link_show(lab: &str) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["link", "show", lab, "--json"])
        .output()
        .expect("nlab link show");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("link show json")
}

/// An iperf3 server in h2 for one test, killed on drop.
struct Iperf(std::process::Child);

impl Iperf {
    fn server(lab: &str, port: u16) -> Iperf {
        let c = Command::new("ip")
            .args(["netns", "exec", &ns(lab, "h2"), "iperf3", "-s", "-1"])
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 -s");
        std::thread::sleep(ms(300));
        Iperf(c)
    }
}

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A UDP flood from h1 to h2 at `mbit` for `secs`, calling `during`
/// every 20 ms while it runs: iperf3's `end.sum`.
fn udp_flood(
    lab: &str,
    port: u16,
    mbit: u32,
    secs: u32,
    mut during: impl FnMut(),
) -> serde_json::Value {
    let _server = Iperf::server(lab, port);
    let mut c = Command::new("ip")
        .args(["netns", "exec", &ns(lab, "h1"), "iperf3", "-c", "10.0.0.2"])
        .args(["-p", &port.to_string(), "-u", "-l", "1400", "-J"])
        .args(["-b", &format!("{mbit}M"), "-t", &secs.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 -c");
    while c.try_wait().expect("iperf3 -c").is_none() {
        during();
        std::thread::sleep(ms(20));
    }
    let o = c.wait_with_output().expect("iperf3 -c");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert!(
        o.status.success() && v["error"].is_null(),
        "iperf3 failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    v["end"]["sum"].clone()
}

// (a) Jitter: the RTT spreads, its mean stays at twice the delay, and the
// distribution shows in the tails.
#[test]
fn jitter_spreads_the_rtt_around_twice_the_delay() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let _s = serial();
    let jittered = |d: Option<Distribution>| {
        Directed::symmetric(Impairment {
            delay: ms(20),
            jitter: d.map(|distribution| Jitter {
                amount: ms(10),
                distribution,
                correlation: 0.0,
            }),
            ..Impairment::default()
        })
    };
    let n = 300;
    let mut got = Vec::new();
    for (tag, dist) in [
        ("jn", None),
        ("ju", Some(Distribution::Uniform)),
        ("jg", Some(Distribution::Normal)),
    ] {
        let name = lab_name(tag);
        let _g = LabGuard(name.clone());
        let (lab, seed) = up(&name, jittered(dist));
        let out = ping_h2(&name, &["-c", &n.to_string(), "-i", "0.02", "-W", "2"]);
        let r = replies(&out);
        assert!(r.len() >= n - 3, "{} replies of {n} (seed {seed})", r.len());
        let (avg, mdev) = summary(&out);
        // Outside [17, 63] ms: beyond the ±20 ms a uniform ±10 ms each way
        // can reach (with 3 ms for the forwarding path).
        let tails = r.iter().filter(|x| x.1 < 17.0 || x.1 > 63.0).count() as f64 / r.len() as f64;
        eprintln!("{dist:?}: avg {avg:.2} ms, mdev {mdev:.2} ms, tails {tails:.3} (seed {seed})");
        got.push((avg, mdev, tails, seed));
        lab.down().expect("down");
    }
    let (none, uni, norm) = (got[0], got[1], got[2]);
    assert!(none.1 < 2.0, "no jitter: mdev {} ms", none.1);
    assert!((39.0..45.0).contains(&none.0), "no jitter: avg {}", none.0);
    // Uniform ±10 ms each way: RTT sd 10·√2/√3 = 8.2 ms.
    assert!(
        (35.0..47.0).contains(&uni.0),
        "uniform: avg {} ms, want ≈ 40 (seed {})",
        uni.0,
        uni.3
    );
    assert!(
        (4.5..13.0).contains(&uni.1) && uni.1 > 3.0 * none.1,
        "uniform: mdev {} ms, want ≈ 8.2, no jitter {} (seed {})",
        uni.1,
        none.1,
        uni.3
    );
    assert!(uni.2 < 0.03, "uniform: {} of RTTs outside ±23 ms", uni.2);
    // Normal, sd 10 ms each way: RTT sd 14.1 ms, ≈ 10% beyond ±23 ms.
    assert!(
        (35.0..47.0).contains(&norm.0),
        "normal: avg {} ms, want ≈ 40 (seed {})",
        norm.0,
        norm.3
    );
    assert!(
        (9.0..20.0).contains(&norm.1) && norm.1 > 1.25 * uni.1,
        "normal: mdev {} ms, want ≈ 14.1 and above uniform's {} (seed {})",
        norm.1,
        uni.1,
        norm.3
    );
    assert!(
        norm.2 > 0.04,
        "normal: only {} of RTTs outside ±23 ms (seed {})",
        norm.2,
        norm.3
    );
}

/// Places in ping's output where a reply came after a later one.
fn inversions(r: &[(u32, f64)]) -> usize {
    r.windows(2).filter(|w| w[1].0 < w[0].0).count()
}

// (b) Reorder: chosen requests skip the 50 ms delay and overtake those
// sent before them, so ping prints replies out of sequence.
#[test]
fn reorder_makes_ping_replies_arrive_out_of_sequence() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let _s = serial();
    let n = 200usize;
    let args = ["-c", "200", "-i", "0.005", "-W", "2"];
    let delayed = |reorder: Option<Reorder>| {
        one_way(Impairment {
            delay: ms(50),
            reorder,
            ..Impairment::default()
        })
    };

    let name = lab_name("rn");
    let g = LabGuard(name.clone());
    let (lab, _) = up(&name, delayed(None));
    let r = replies(&ping_h2(&name, &args));
    assert!(r.len() >= n - 2, "{} replies", r.len());
    assert_eq!(inversions(&r), 0, "a constant delay reordered: {r:?}");
    assert!(r.iter().all(|x| x.1 >= 49.0), "{r:?}");
    lab.down().expect("down");
    drop(g);

    let name = lab_name("rr");
    let _g = LabGuard(name.clone());
    let (_lab, seed) = up(
        &name,
        delayed(Some(Reorder {
            percent: 50.0,
            gap: 0,
        })),
    );
    let out = ping_h2(&name, &args);
    let r = replies(&out);
    assert!(r.len() >= n - 2, "{} replies", r.len());
    let inv = inversions(&r);
    let fast = r.iter().filter(|x| x.1 < 10.0).count();
    eprintln!(
        "reorder 50%: {inv} inversions, {fast} of {} undelayed (seed {seed})",
        r.len()
    );
    // Half the requests go at once (binomial, 99%: 82..118 of 200).
    assert!((60..=140).contains(&fast), "{fast} undelayed (seed {seed})");
    // A 5 ms interval leaves ~10 delayed requests in flight for each
    // undelayed one to overtake: most undelayed replies break the order.
    assert!(
        inv >= 20,
        "only {inv} out-of-order replies (seed {seed}):\n{out}"
    );
    let v = link_show(&name);
    let reordered = v[0]["emulator"]["a_to_b"]["reordered"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        reordered >= fast as u64,
        "emulator reordered {reordered}: {v}"
    );
}

// (c) Gilbert-Elliott: losses come in bursts of mean length 1/r, where
// random loss at the same rate gives runs near 1.
#[test]
fn gilbert_elliott_loses_pings_in_bursts() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let _s = serial();
    let n = 1000u32;
    // p 5%, r 25%: loss rate p/(p+r) = 16.7%, bursts of mean 1/r = 4.
    let models = [
        Loss::GilbertElliott {
            p: 5.0,
            r: 25.0,
            one_minus_h: 100.0,
            one_minus_k: 0.0,
        },
        Loss::Random {
            percent: 100.0 / 6.0,
        },
    ];
    let mut got = Vec::new();
    for (tag, model) in ["lg", "lr"].into_iter().zip(models) {
        let name = lab_name(tag);
        let _g = LabGuard(name.clone());
        let (lab, seed) = up(
            &name,
            one_way(Impairment {
                loss: Some(model),
                ..Impairment::default()
            }),
        );
        let out = ping_h2(&name, &["-c", &n.to_string(), "-i", "0.01", "-W", "1"]);
        let lost = lost_seqs(&out, n);
        let (bursts, mean) = runs(&lost);
        let rate = lost.len() as f64 / n as f64;
        let longest = lost
            .iter()
            .fold((0u32, 0u32, 0u32), |(best, cur, prev), &s| {
                let cur = if s == prev + 1 { cur + 1 } else { 1 };
                (best.max(cur), cur, s)
            })
            .0;
        eprintln!(
            "{model:?}: {} lost of {n} ({rate:.3}), {bursts} runs, mean {mean:.2}, longest {longest} (seed {seed})",
            lost.len()
        );
        let emu = link_show(&name)[0]["emulator"]["a_to_b"]["lost"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            emu >= lost.len() as u64,
            "emulator lost {emu}, ping missed {}",
            lost.len()
        );
        got.push((rate, mean, seed));
        lab.down().expect("down");
    }
    let (ge, random) = (got[0], got[1]);
    assert!(
        (0.08..0.28).contains(&ge.0),
        "GE loss rate {} (model 0.167, seed {})",
        ge.0,
        ge.2
    );
    // ~42 bursts, geometric with sd 3.5: the mean is 4 ± 0.55.
    assert!(
        (2.5..6.5).contains(&ge.1),
        "GE mean run {} (model 4, seed {})",
        ge.1,
        ge.2
    );
    assert!(
        (0.10..0.24).contains(&random.0),
        "random loss rate {} (seed {})",
        random.0,
        random.2
    );
    // Independent loss at q = 1/6: runs of mean 1/(1-q) = 1.2.
    assert!(
        (1.0..1.5).contains(&random.1),
        "random mean run {} (model 1.2, seed {})",
        random.1,
        random.2
    );
    assert!(ge.1 > 1.8 * random.1);
}

// (d) limit, emulator: a 5-frame queue behind a 10 Mbit/s rate drops a
// third of a 15 Mbit/s, 1 s UDP flood at the queue; the default queue
// (1,000 frames) takes the same flood whole and drains it.
#[test]
fn a_small_queue_drops_a_udp_flood_in_the_emulator() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let _s = serial();
    let shaped = |limit: Option<u32>| {
        Directed::symmetric(Impairment {
            delay: ms(1),
            rate: Some(Rate {
                bits_per_sec: 10_000_000,
                burst_bytes: None,
            }),
            limit,
            ..Impairment::default()
        })
    };

    let name = lab_name("qs");
    let g = LabGuard(name.clone());
    let (lab, _) = up(&name, shaped(Some(5)));
    assert_eq!(eth0_kind(&name, "h1"), "tun");
    let sum = udp_flood(&name, 5421, 15, 1, || {});
    let lost = sum["lost_packets"].as_u64().unwrap_or(0);
    let pct = sum["lost_percent"].as_f64().unwrap_or(0.0);
    let v = link_show(&name);
    let dropped = v[0]["emulator"]["a_to_b"]["queue_dropped"]
        .as_u64()
        .unwrap_or(0);
    eprintln!("limit 5: iperf3 lost {lost} ({pct:.1}%), emulator queue drops {dropped}");
    // 15 Mbit/s into 10: a third cannot pass.
    assert!(
        (20.0..50.0).contains(&pct),
        "lost {pct}% of the flood: {sum}"
    );
    assert!(
        dropped >= lost * 9 / 10 && dropped <= lost + lost / 5 + 50,
        "queue drops {dropped} vs iperf3 lost {lost}: {v}"
    );
    assert_eq!(v[0]["emulator"]["a_to_b"]["lost"], 0);
    lab.down().expect("down");
    drop(g);

    // Control: 15 Mbit/s for 1 s peaks at ~450 frames waiting, inside the
    // default limit of 1,000: nothing is dropped.
    let name = lab_name("qd");
    let _g = LabGuard(name.clone());
    let (_lab, _) = up(&name, shaped(None));
    let overflows = || udp_rcvbuf_errors(&ns(&name, "h2"));
    let before = overflows();
    let sum = udp_flood(&name, 5422, 15, 1, || {});
    let receiver_dropped = overflows() - before;
    let v = link_show(&name);
    let dropped = v[0]["emulator"]["a_to_b"]["queue_dropped"]
        .as_u64()
        .unwrap_or(0);
    eprintln!(
        "default limit: iperf3 {sum}, queue drops {dropped}, receiver socket overflows {receiver_dropped}"
    );
    assert_eq!(dropped, 0, "{v}");
    assert_eq!(v[0]["emulator"]["a_to_b"]["lost"], 0, "{v}");
    // All of the flood crossed the link: what iperf3 misses, if anything,
    // its own socket dropped when the machine was too busy to read it.
    let lost = sum["lost_packets"].as_u64().unwrap_or(u64::MAX);
    assert!(
        lost <= receiver_dropped,
        "iperf3 lost {lost}, its socket dropped {receiver_dropped}: {sum}"
    );
}

/// UDP datagrams the kernel dropped at full receive buffers in `ns`
/// (`RcvbufErrors` of `/proc/net/snmp`, which is per network namespace).
fn udp_rcvbuf_errors(ns: &str) -> u64 {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
        .output()
        .expect("ip netns exec cat");
    let text = String::from_utf8_lossy(&o.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        panic!("no Udp lines in /proc/net/snmp of {ns}: {text}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no RcvbufErrors in {names}"))
}

// (d) limit, kernel: where no netem condition is set, rate + limit is a
// tbf and a bare limit a pfifo; the tbf's small queue drops a flood.
#[test]
fn a_rate_only_limit_is_a_kernel_tbf_that_drops_at_its_queue() {
    require_root!();
    let _s = serial();
    let name = lab_name("qk");
    let _g = LabGuard(name.clone());
    let c = Directed {
        a_to_b: Impairment {
            rate: Some(Rate {
                bits_per_sec: 10_000_000,
                burst_bytes: None,
            }),
            limit: Some(5),
            ..Impairment::default()
        },
        b_to_a: Impairment {
            limit: Some(5),
            ..Impairment::default()
        },
    };
    let (_lab, _) = up(&name, c);
    assert_eq!(eth0_kind(&name, "h1"), "veth");
    assert!(supervisors_of(&name).is_empty(), "no emulator, no process");
    let v = link_show(&name);
    assert_eq!(v[0]["backend"], "kernel", "{v}");
    assert_eq!(root_qdisc(&ns(&name, "h1"), "eth0")["kind"], "tbf");
    let q2 = root_qdisc(&ns(&name, "h2"), "eth0");
    assert_eq!(q2["kind"], "pfifo", "{q2}");
    assert_eq!(q2["options"]["limit"], 5, "{q2}");

    let before = root_qdisc(&ns(&name, "h1"), "eth0")["drops"]
        .as_u64()
        .unwrap_or(0);
    let (mut max_qlen, mut max_backlog) = (0u64, 0u64);
    let sum = udp_flood(&name, 5423, 15, 1, || {
        let q = root_qdisc(&ns(&name, "h1"), "eth0");
        max_qlen = max_qlen.max(q["qlen"].as_u64().unwrap_or(0));
        max_backlog = max_backlog.max(q["backlog"].as_u64().unwrap_or(0));
    });
    let q1 = root_qdisc(&ns(&name, "h1"), "eth0");
    let drops = q1["drops"].as_u64().unwrap_or(0) - before;
    eprintln!(
        "tbf limit 5: {drops} qdisc drops, queue at most {max_qlen} packets / {max_backlog} B, \
         iperf3 lost {} ({}%)",
        sum["lost_packets"], sum["lost_percent"]
    );
    // 15 Mbit/s offered for 1 s, 10 pass: about a third dropped (~440).
    assert!(drops > 200, "tbf dropped {drops}: {q1}");
    // The queue held no more than 5 full frames' worth of bytes (7,570 B;
    // tbf counts its limit in bytes, so smaller frames can be more than 5),
    // where tbf's default for 10 Mbit/s (50 ms) would be 62,500 B.
    assert!(
        max_qlen >= 1 && max_backlog <= 5 * 1514,
        "tbf queue reached {max_qlen} packets, {max_backlog} B"
    );
}

/// UDP sockets made inside the lab's namespaces: 1,000 datagrams of 512
/// bytes from h1 to h2, each byte a function of its sequence number.
/// Returns (intact datagrams received, damaged datagrams received).
fn udp_check(lab: &str) -> (usize, usize) {
    use std::net::UdpSocket;
    let rx = NetNs::open(&ns(lab, "h2"))
        .expect("h2 namespace")
        .run(|| UdpSocket::bind("10.0.0.2:5431"))
        .expect("entering h2")
        .expect("bind in h2");
    let tx = NetNs::open(&ns(lab, "h1"))
        .expect("h1 namespace")
        .run(|| UdpSocket::bind("10.0.0.1:0"))
        .expect("entering h1")
        .expect("bind in h1");
    rx.set_read_timeout(Some(ms(1500))).unwrap();
    let payload = |seq: u32| -> Vec<u8> {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend((0..508u32).map(|i| (seq.wrapping_mul(31).wrapping_add(i * 7)) as u8));
        p
    };
    let reader = std::thread::spawn(move || {
        let (mut good, mut bad) = (std::collections::BTreeSet::new(), 0usize);
        let mut buf = [0u8; 2048];
        while let Ok(n) = rx.recv(&mut buf) {
            let seq = u32::from_be_bytes(buf[..4].try_into().unwrap());
            if n == 512 && seq < 1000 && buf[..n] == payload(seq)[..] && good.insert(seq) {
                continue;
            }
            bad += 1;
        }
        (good.len(), bad)
    });
    for seq in 0..1000u32 {
        tx.send_to(&payload(seq), "10.0.0.2:5431").expect("send");
        std::thread::sleep(Duration::from_micros(200));
    }
    reader.join().expect("reader")
}

/// Checksum errors seen by h2's kernel (IP header, UDP, ICMP…).
fn csum_errors(lab: &str) -> u64 {
    let read = || {
        let mut total = 0u64;
        for f in [
            "/proc/thread-self/net/snmp",
            "/proc/thread-self/net/netstat",
        ] {
            let s = std::fs::read_to_string(f).unwrap_or_default();
            let lines: Vec<&str> = s.lines().collect();
            for pair in lines.chunks(2) {
                if pair.len() < 2 {
                    continue;
                }
                let names = pair[0].split_whitespace();
                let vals = pair[1].split_whitespace();
                for (k, v) in names.zip(vals) {
                    if k == "InCsumErrors" {
                        total += v.parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
        total
    };
    NetNs::open(&ns(lab, "h2"))
        .expect("h2 namespace")
        .run(read)
        .expect("entering h2")
}

// (e) Duplicate and corrupt through a lab link: ping sees DUP! replies;
// corrupted datagrams are dropped by the receiver's checksums and the
// application gets only intact ones.
#[test]
fn duplicate_shows_dup_and_corrupt_frames_never_reach_the_application() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let _s = serial();
    let name = lab_name("xd");
    let g = LabGuard(name.clone());
    let (lab, seed) = up(
        &name,
        one_way(Impairment {
            duplicate: 50.0,
            ..Impairment::default()
        }),
    );
    let out = ping_h2(&name, &["-c", "100", "-i", "0.01", "-W", "1"]);
    let dups = out.lines().filter(|l| l.contains("DUP!")).count();
    let v = link_show(&name);
    let dup_n = v[0]["emulator"]["a_to_b"]["duplicated"]
        .as_u64()
        .unwrap_or(0);
    eprintln!("duplicate 50%: {dups} DUP! of 100, emulator duplicated {dup_n} (seed {seed})");
    // 100 at 50%: 99% interval 37..63.
    assert!(
        (30..=70).contains(&dups),
        "{dups} DUP! (seed {seed}):\n{out}"
    );
    assert!(dup_n >= dups as u64, "{v}");
    assert!(replies(&out).len() >= 99, "every request still answered");
    lab.down().expect("down");
    drop(g);

    let name = lab_name("xc");
    let _g = LabGuard(name.clone());
    let (_lab, seed) = up(
        &name,
        one_way(Impairment {
            corrupt: 30.0,
            ..Impairment::default()
        }),
    );
    let errs_before = csum_errors(&name);
    let (good, bad) = udp_check(&name);
    let errs = csum_errors(&name) - errs_before;
    let v = link_show(&name);
    let corrupted = v[0]["emulator"]["a_to_b"]["corrupted"]
        .as_u64()
        .unwrap_or(0);
    eprintln!(
        "corrupt 30%: {good} of 1000 datagrams intact, {bad} damaged delivered, \
         emulator corrupted {corrupted}, h2 checksum errors {errs} (seed {seed})"
    );
    assert_eq!(bad, 0, "corrupted datagrams reached the application");
    // 1000 at 30%: 99% interval 663..737 intact.
    assert!((600..=800).contains(&good), "{good} intact (seed {seed})");
    assert!(corrupted >= (1000 - good) as u64, "{v}");
    assert!(errs > 0, "h2 counted no checksum errors");
}

// (f) The feature probe picks the backend of a delay-only link.
#[test]
fn the_feature_probe_picks_the_backend_of_a_delayed_link() {
    require_root!();
    let _s = serial();
    let f = features::probe().expect("probe");
    let name = lab_name("fp");
    let _g = LabGuard(name.clone());
    let (_lab, _) = up(
        &name,
        Directed::symmetric(Impairment {
            delay: ms(5),
            ..Impairment::default()
        }),
    );
    let v = link_show(&name);
    let (backend, dev) = if f.netem {
        ("kernel", "veth")
    } else {
        ("userspace", "tun")
    };
    assert_eq!(v[0]["backend"], backend, "netem {}: {v}", f.netem);
    assert_eq!(eth0_kind(&name, "h1"), dev);
    assert_eq!(eth0_kind(&name, "h2"), dev);
    if f.netem {
        assert_eq!(root_qdisc(&ns(&name, "h1"), "eth0")["kind"], "netem");
        assert!(supervisors_of(&name).is_empty());
    } else {
        assert!(v[0]["emulator"].is_object(), "{v}");
        assert_eq!(supervisors_of(&name).len(), 1);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_nlab"))
        .args(["features", "--json"])
        .output()
        .expect("nlab features");
    let fv: serde_json::Value = serde_json::from_slice(&o.stdout).expect("features json");
    assert_eq!(fv["netem"], f.netem);
    assert_eq!(fv["backends"]["delay_loss_and_the_rest"], backend);
    // And the delay is there, whichever carries it.
    let (avg, _) = summary(&ping_h2(&name, &["-c", "5", "-i", "0.05", "-W", "2"]));
    assert!((9.5..16.0).contains(&avg), "RTT {avg} ms, want ≈ 10");
}
