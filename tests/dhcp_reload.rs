//! Reservations changed on a running lab (a topology file re-applied, as
//! a virtual network's port bind does): the DHCP server takes them
//! without a restart. Witnessed from outside: the supervisor's pid and
//! start time, the server's and the built-in client's sockets (`ss`, by
//! inode) and the lease file stay; busybox `udhcpc` gets the new fixed
//! address and no offer for the removed one. A new server address still
//! restarts the server (a new socket).
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Server `d1` on `server`, pool .100-.199, with reservations `reserved`
/// (MAC suffix, address suffix); h1 (the built-in client,
/// 02:00:00:00:00:31) and the witnesses c1 (…:21), c2 (…:22).
fn topology(lab: &str, server: &str, reserved: &[(u8, u8)]) -> String {
    let res: String = reserved
        .iter()
        .map(|(m, a)| format!("          - {{mac: \"02:00:00:00:00:{m:02}\", ip: 10.0.0.{a}}}\n"))
        .collect();
    format!(
        "name: {lab}
topology:
  nodes:
    d1:
      kind: dhcp
      dhcp:
        pool: 10.0.0.100-10.0.0.199
        lease: 3600
        reservations:
{res}    s1: {{kind: switch}}
    h1: {{}}
    c1: {{}}
    c2: {{}}
  links:
    - endpoints: [{{node: d1, iface: eth0, ip: {server}/24}}, \"s1:p1\"]
    - endpoints: [{{node: h1, iface: eth0, ip: dhcp, mac: \"02:00:00:00:00:31\"}}, \"s1:p2\"]
    - endpoints: [{{node: c1, iface: eth0, mac: \"02:00:00:00:00:21\"}}, \"s1:p3\"]
    - endpoints: [{{node: c2, iface: eth0, mac: \"02:00:00:00:00:22\"}}, \"s1:p4\"]
"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing a test file");
    p
}

fn up(file: &Path) -> String {
    let o = nlab().arg("up").arg(file).output().expect("nlab up");
    assert!(o.status.success(), "up failed: {}", text(&o));
    text(&o)
}

/// The inode of the UDP socket on `port` in `node`'s namespace, as `ss`
/// reports it: a restarted server or client has a new one.
fn udp_inode(lab: &str, node: &str, port: u16) -> Option<u64> {
    let o = Command::new("ip")
        .args(["netns", "exec", &ns(lab, node), "ss", "-uanpe"])
        .arg(format!("sport = :{port}"))
        .output()
        .expect("ss");
    let out = String::from_utf8_lossy(&o.stdout);
    let inodes: Vec<u64> = out
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("ino:")?.parse().ok())
        .collect();
    assert!(inodes.len() <= 1, "one socket on port {port}: {out}");
    inodes.first().copied()
}

/// The supervisor's pid and start time (field 22 of its stat).
fn supervisor(lab: &str) -> (i32, String) {
    let pids = supervisors_of(lab);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let f = stat_fields(&format!("/proc/{}/stat", pids[0])).expect("supervisor stat");
    (pids[0], f[19].clone())
}

/// busybox's client once in `node`: the address it was given, or None
/// when no server offered one (`-n`: it gives up after its tries).
fn udhcpc(lab: &str, node: &str, dir: &Path) -> Option<String> {
    let out = dir.join(format!("{node}.ip"));
    let _ = std::fs::remove_file(&out);
    let script = write(
        dir,
        "udhcpc.sh",
        &format!(
            "#!/bin/sh\ncase $1 in bound|renew) echo $ip > {} ;; esac\n",
            out.display()
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let o = Command::new("ip")
        .args(["netns", "exec", &ns(lab, node), "udhcpc", "-n", "-q", "-f"])
        .args(["-i", "eth0", "-t", "3", "-T", "1", "-s"])
        .arg(&script)
        .output()
        .expect("udhcpc");
    let got = std::fs::read_to_string(&out)
        .ok()
        .map(|s| s.trim().to_string());
    assert_eq!(o.status.success(), got.is_some(), "udhcpc: {}", text(&o));
    got
}

fn lease_file(lab: &str) -> serde_json::Value {
    let p = format!("/run/nlab/{lab}/dhcp/d1.leases.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("lease file")).expect("lease JSON")
}

#[test]
fn reservations_change_without_a_restart_and_a_new_address_restarts() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("dr");
    let _g = LabGuard(lab.clone());
    let before = topology(&lab, "10.0.0.2", &[(21, 21), (31, 31)]);
    up(&write(dir.path(), "t.yaml", &before));
    assert_eq!(udhcpc(&lab, "c1", dir.path()).as_deref(), Some("10.0.0.21"));
    assert_eq!(
        udhcpc(&lab, "c2", dir.path()).as_deref(),
        Some("10.0.0.100"),
        "not reserved yet: from the pool"
    );
    let sup = supervisor(&lab);
    let (server, client) = (udp_inode(&lab, "d1", 67), udp_inode(&lab, "h1", 68));
    assert!(
        server.is_some() && client.is_some(),
        "{server:?} {client:?}"
    );
    let h1_lease = lease_file(&lab)["leases"]["10.0.0.31"].clone();
    assert_eq!(h1_lease["state"], "bound", "{h1_lease}");

    // c1's reservation goes, c2's comes, h1's stays.
    let after = topology(&lab, "10.0.0.2", &[(22, 22), (31, 31)]);
    let out = up(&write(dir.path(), "t.yaml", &after));
    assert!(out.contains("0 changes"), "no kernel change: {out}");
    assert_eq!(supervisor(&lab), sup, "the same supervisor process");
    assert_eq!(udp_inode(&lab, "d1", 67), server, "the server's socket");
    assert_eq!(udp_inode(&lab, "h1", 68), client, "h1's client's socket");
    assert_eq!(udhcpc(&lab, "c2", dir.path()).as_deref(), Some("10.0.0.22"));
    let c1 = udhcpc(&lab, "c1", dir.path());
    assert_eq!(
        c1.as_deref(),
        Some("10.0.0.100"),
        "10.0.0.21 is no longer offered to c1: a pool address instead (the one c2 left for its reservation)"
    );
    // h1 was not asked again: its lease is the one it had (same ACK time).
    assert_eq!(lease_file(&lab)["leases"]["10.0.0.31"], h1_lease);
    let ip = ip_json(&ns(&lab, "h1"), &["-4", "addr", "show", "dev", "eth0"]);
    assert_eq!(ip[0]["addr_info"][0]["local"], "10.0.0.31", "{ip}");

    // A new server address needs a new socket: the server restarts, in
    // the same supervisor, and serves from its new address.
    let moved = topology(&lab, "10.0.0.3", &[(22, 22), (31, 31)]);
    up(&write(dir.path(), "t.yaml", &moved));
    assert_eq!(supervisor(&lab), sup);
    let again = udp_inode(&lab, "d1", 67);
    assert!(
        again.is_some() && again != server,
        "{again:?} vs {server:?}"
    );
    assert_eq!(udhcpc(&lab, "c2", dir.path()).as_deref(), Some("10.0.0.22"));
}
