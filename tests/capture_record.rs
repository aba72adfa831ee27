//! Root tests of `capture:` on a link: the lab's supervisor records it for
//! the lab's lifetime. The files are read by tools nobody here wrote
//! (`tshark -r`, `capinfos`, `tcpdump -r`), which must count exactly the
//! ICMP packets `ping` sent; `--list` (text and JSON) agrees; a tiny cap
//! rotates files and keeps the newest; a supervisor killed with -9 and
//! restarted records into a new file and leaves every old one readable;
//! removing `capture:` stops the recording without touching the link;
//! `down` leaves no process and no file; bad settings are refused at
//! their line with nothing built.
mod common;

use common::{gone, lab_name, nlab, supervisors_of, text, wait_until, LabGuard};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// h1 — s1 — h2, the h1 link recorded with `capture` (if any).
fn topology(lab: &str, capture: Option<&str>) -> String {
    let cap = capture.map_or(String::new(), |c| format!("      capture: {c}\n"));
    format!(
        "name: {lab}\ntopology:\n  nodes:\n    h1: {{}}\n    h2: {{}}\n    s1: {{kind: switch}}\n  links:\n    \
         - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, \"s1:p1\"]\n{cap}    \
         - endpoints: [{{node: h2, iface: eth0, ip: 10.0.0.2/24}}, \"s1:p2\"]\n"
    )
}

const LINK: &str = "h1:eth0--s1:p1";

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("lab.yaml");
    std::fs::write(&p, text).expect("write topology");
    p
}

fn up(file: &Path) -> String {
    let o = nlab().arg("up").arg(file).output().expect("run nlab up");
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

fn ping(lab: &str, args: &[&str]) {
    let o = nlab()
        .args(["exec", lab, "h1", "--", "ping", "-q"])
        .args(args)
        .arg("10.0.0.2")
        .output()
        .expect("run ping");
    assert!(o.status.success(), "ping failed: {}", text(&o));
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    assert!(o.status.success(), "{cmd} {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `nlab capture LAB --list --json`: the recordings.
fn list(lab: &str) -> Vec<serde_json::Value> {
    let o = nlab()
        .args(["capture", lab, "--list", "--json"])
        .output()
        .expect("capture --list");
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["lab"], lab);
    v["recordings"].as_array().cloned().unwrap_or_default()
}

/// Waits until the recording's count `key` (`packets` in the kept files,
/// or `received`, the kernel's count, read every 250 ms) has stayed the
/// same for 300 ms and is at least `min`; returns the recording.
fn settled(lab: &str, key: &str, min: u64) -> serde_json::Value {
    let mut last = u64::MAX;
    let mut rec = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(300));
        rec = list(lab)
            .into_iter()
            .find(|r| r["link"] == LINK)
            .unwrap_or_default();
        let n = rec[key].as_u64().unwrap_or(0);
        let still = n == last && n >= min;
        last = n;
        still
    });
    assert!(ok, "the recording's {key} did not settle at {min}+: {rec}");
    rec
}

fn files_of(rec: &serde_json::Value) -> Vec<String> {
    rec["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_recorded_link_holds_exactly_the_pings_and_list_shows_it() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("rc");
    let g = LabGuard(lab.clone());
    up(&write(dir.path(), &topology(&lab, Some("true"))));
    ping(&lab, &["-c", "10", "-i", "0.05"]);
    let rec = settled(&lab, "packets", 20);
    assert_eq!(rec["running"], true, "{rec}");
    assert_eq!(rec["interfaces"], serde_json::json!(["h1:eth0"]), "{rec}");
    assert_eq!(rec["dropped"], 0, "{rec}");
    let files = files_of(&rec);
    assert_eq!(files.len(), 1, "{rec}");
    let f = files[0].as_str();
    assert_eq!(f, format!("/run/nlab/{lab}/capture/{LINK}.000001.pcapng"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f).expect("file").permissions());
    assert_eq!(mode & 0o777, 0o600);
    // Witnesses: exactly the 10 requests and 10 replies, and as many
    // packets in all as --list says.
    let icmp = tool(
        "tshark",
        &[
            "-r",
            f,
            "-Y",
            "icmp",
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "icmp.type",
        ],
    );
    assert_eq!(
        icmp.lines().filter(|l| *l == "h1:eth0\t8").count(),
        10,
        "{icmp}"
    );
    assert_eq!(
        icmp.lines().filter(|l| *l == "h1:eth0\t0").count(),
        10,
        "{icmp}"
    );
    assert_eq!(icmp.lines().count(), 20, "{icmp}");
    let ci = tool("capinfos", &["-c", "-M", f]);
    let total = rec["packets"].as_u64().expect("packets");
    assert!(
        ci.contains(&format!("Number of packets:   {total}")),
        "{ci}\n{rec}"
    );
    let td = tool("tcpdump", &["-nr", f]);
    assert_eq!(
        td.lines()
            .filter(|l| l.contains("ICMP echo request"))
            .count(),
        10,
        "{td}"
    );
    assert_eq!(td.lines().count() as u64, total, "{td}");
    // The table says the same.
    let o = nlab()
        .args(["capture", &lab, "--list"])
        .output()
        .expect("list");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("| {LINK} | h1:eth0    | 1 of 4 |")),
        "{out}"
    );
    assert!(out.contains("| recording |"), "{out}");
    assert!(out.contains(&format!("  {f}  ")), "{out}");
    // A link `up` makes again (a new MTU) is recorded from a new file.
    let mtu = topology(&lab, Some("true")).replace(
        "      capture: true\n",
        "      capture: true\n      mtu: 1400\n",
    );
    up(&write(dir.path(), &mtu));
    ping(&lab, &["-c", "2", "-i", "0.05"]);
    let rec = settled(&lab, "received", 4);
    let files = files_of(&rec);
    assert_eq!(files.len(), 2, "{rec}");
    let icmp = tool("tshark", &["-r", &files[1], "-Y", "icmp"]);
    assert_eq!(icmp.lines().count(), 4, "{icmp}");
    // `--list` with interfaces is a usage error.
    let o = nlab()
        .args(["capture", &lab, "h1:eth0", "--list"])
        .output()
        .expect("list");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    drop(g);
    assert!(files.iter().all(|f| !Path::new(f).exists()));
}

#[test]
fn rotation_kill_9_and_removal_keep_every_file_readable() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("rr");
    let g = LabGuard(lab.clone());
    let file = write(
        dir.path(),
        &topology(&lab, Some("{max_size: 8kb, files: 3}")),
    );
    up(&file);
    // 120 packets of about 1 KiB: more than ten 8 KiB files.
    ping(&lab, &["-c", "60", "-i", "0.01", "-s", "1000"]);
    let rec = settled(&lab, "received", 120);
    let files = files_of(&rec);
    assert_eq!(files.len(), 3, "{rec}");
    let seqs: Vec<u64> = files
        .iter()
        .map(|f| {
            let n = f
                .trim_end_matches(".pcapng")
                .rsplit('.')
                .next()
                .unwrap_or("");
            n.parse().expect("number")
        })
        .collect();
    assert!(
        seqs[0] > 5 && seqs[1] == seqs[0] + 1 && seqs[2] == seqs[1] + 1,
        "{seqs:?}"
    );
    let on_disk = std::fs::read_dir(format!("/run/nlab/{lab}/capture"))
        .expect("dir")
        .count();
    assert_eq!(on_disk, 3);
    for f in &files {
        assert!(std::fs::metadata(f).expect("file").len() <= 8192, "{f}");
        tool("capinfos", &["-c", f]);
    }
    // kill -9 of the supervisor; a new one records into the next file.
    let pids = supervisors_of(&lab);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let _ = Command::new("kill")
        .args(["-9", &pids[0].to_string()])
        .status();
    assert!(wait_until(Duration::from_secs(3), || pids
        .iter()
        .all(|&p| gone(p))));
    let o = nlab()
        .args(["capture", &lab, "--list"])
        .output()
        .expect("list");
    assert!(text(&o).contains("no supervisor running"), "{}", text(&o));
    let o = nlab()
        .args(["supervisor", "start", &lab])
        .output()
        .expect("supervisor start");
    assert!(o.status.success(), "{}", text(&o));
    ping(&lab, &["-c", "3", "-i", "0.05"]);
    let rec = settled(&lab, "received", 6);
    let after = files_of(&rec);
    let newest = format!("/run/nlab/{lab}/capture/{LINK}.{:06}.pcapng", seqs[2] + 1);
    assert_eq!(after.last(), Some(&newest), "{rec}");
    assert_eq!(&after[..2], &files[1..], "{rec}");
    for f in &after {
        tool("capinfos", &["-c", f]);
    }
    let icmp = tool("tshark", &["-r", &newest, "-Y", "icmp"]);
    assert_eq!(icmp.lines().count(), 6, "{icmp}");
    // Without `capture:` the link stays as it is and nothing is recorded:
    // the supervisor, needed for nothing else, goes; the files stay.
    let index = |lab: &str| {
        common::ip_json(&common::ns(lab, "h1"), &["link", "show", "eth0"])[0]["ifindex"].clone()
    };
    let before = index(&lab);
    let out = up(&write(dir.path(), &topology(&lab, None)));
    assert!(out.contains("0 changes"), "{out}");
    assert_eq!(index(&lab), before);
    assert!(supervisors_of(&lab).is_empty());
    let rec = list(&lab);
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0]["running"], false);
    assert_eq!(files_of(&rec[0]), after);
    assert!(
        rec[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("no longer recorded"),
        "{rec:?}"
    );
    // `down`: no process, no file (the guard checks the lab's directory).
    drop(g);
    assert!(!Path::new(&after[0]).exists());
}

#[test]
fn bad_capture_settings_are_refused_at_their_line() {
    require_root!();
    let dir = tempfile::tempdir().expect("tmp");
    let lab = lab_name("rb");
    let _g = LabGuard(lab.clone());
    let file = write(
        dir.path(),
        &topology(&lab, Some("{max_size: 1kb, files: 0}")),
    );
    let o = nlab().arg("up").arg(&file).output().expect("up");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let at = format!("{}:9:", file.display());
    for msg in [
        format!(
            "`max_size` 1024 bytes of the recording of link {LINK} is out of range 4kb..=2048mb"
        ),
        format!("`files` 0 of the recording of link {LINK} is out of range 1..=1000"),
    ] {
        let line = out.lines().find(|l| l.contains(&msg)).unwrap_or_default();
        assert!(line.contains(&at), "{msg} not at {at}:\n{out}");
    }
    assert!(!Path::new(&format!("/run/nlab/{lab}")).exists(), "{out}");
    // A lab without recordings lists none.
    let o = nlab()
        .args(["up", "--topo", "minimal", "--name", &lab])
        .output()
        .expect("up");
    assert!(o.status.success(), "{}", text(&o));
    let o = nlab()
        .args(["capture", &lab, "--list"])
        .output()
        .expect("list");
    assert!(text(&o).contains("records no links"), "{}", text(&o));
    assert!(list(&lab).is_empty());
}
