//! Issue 11, items 1 and 2: a link bounce keeps static routes, default
//! gateways and IPv6 addresses (through `nlab link set`, the console and a
//! supervisor schedule), a route deleted by hand is drift that `up`
//! repairs in place, and a link set down by hand is the recorded, desired
//! state every command shows. Witnesses: `ip -j route`, `ping`, and the
//! namespace inodes (a recreated node would get a new one).
mod common;
use common::*;
use nlab::lab::{Lab, UpOptions};
use nlab::testing::supervisor;
use nlab::topo::conditions::{Step, StepAction};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// h1 – r1 – r2 – h3, static routes on the routers, gateways on the
/// hosts; h1–r1 also carries IPv6 (the kernel drops IPv6 addresses too
/// when an interface goes down).
fn routed(lab: &str) -> String {
    format!(
        "name: {lab}
topology:
  nodes:
    h1: {{gateway: 10.1.0.1, gateway6: 'fd01::1'}}
    h3: {{gateway: 10.3.0.1}}
    r1: {{kind: router, routes: [{{dst: 10.3.0.0/24, via: 10.2.0.2}}]}}
    r2: {{kind: router, routes: [{{dst: 10.1.0.0/24, via: 10.2.0.1}}]}}
  links:
    - endpoints: [{{node: h1, iface: eth0, ip: [10.1.0.10/24, 'fd01::10/64']}}, {{node: r1, iface: lan, ip: [10.1.0.1/24, 'fd01::1/64']}}]
    - endpoints: [{{node: r1, iface: wan, ip: 10.2.0.1/30}}, {{node: r2, iface: wan, ip: 10.2.0.2/30}}]
    - endpoints: [{{node: r2, iface: lan, ip: 10.3.0.1/24}}, {{node: h3, iface: eth0, ip: 10.3.0.10/24}}]
"
    )
}

/// The lab from `routed`, brought up by `nlab up FILE`; returns the file.
fn up_routed(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("r.yaml");
    std::fs::write(&f, routed(name)).unwrap();
    nlab().arg("up").arg(&f).assert().success();
    (d, f)
}

/// Whether `ip` shows a route to `dst` in `node`.
fn has_route(lab: &str, node: &str, family: &str, dst: &str) -> bool {
    let v = ip_json(&ns(lab, node), &[family, "route", "show"]);
    v.as_array()
        .is_some_and(|a| a.iter().any(|r| r["dst"].as_str() == Some(dst)))
}

fn inode(lab: &str, node: &str) -> u64 {
    std::fs::metadata(format!("/run/netns/{}", ns(lab, node)))
        .unwrap()
        .ino()
}

fn inodes(lab: &str) -> Vec<u64> {
    ["h1", "r1", "r2", "h3"]
        .iter()
        .map(|n| inode(lab, n))
        .collect()
}

/// Every route and gateway of the lab is there, and traffic crosses.
fn all_routes_work(lab: &str) {
    assert!(
        has_route(lab, "r1", "-4", "10.3.0.0/24"),
        "r1 lost its route"
    );
    assert!(
        has_route(lab, "r2", "-4", "10.1.0.0/24"),
        "r2 lost its route"
    );
    assert!(has_route(lab, "h1", "-4", "default"), "h1 lost its gateway");
    assert!(
        has_route(lab, "h1", "-6", "default"),
        "h1 lost its IPv6 gateway"
    );
    assert!(has_route(lab, "h3", "-4", "default"), "h3 lost its gateway");
    assert!(ping(&ns(lab, "h1"), "10.3.0.10"), "h1 cannot reach h3");
    assert!(ping(&ns(lab, "h1"), "fd01::1"), "h1 lost its IPv6 address");
}

fn inspect_code(lab: &str) -> (i32, String) {
    let o = nlab().args(["inspect", lab]).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn link_set_bounce_keeps_routes_and_gateways_in_place() {
    require_root!();
    let name = lab_name("rb");
    let _g = LabGuard(name.clone());
    let _f = up_routed(&name);
    all_routes_work(&name);
    let before = inodes(&name);
    for end in ["r1:wan", "h1:eth0"] {
        nlab()
            .args(["link", "set", &name, end, "--down"])
            .assert()
            .success();
        nlab()
            .args(["link", "set", &name, end, "--up"])
            .assert()
            .success();
        all_routes_work(&name);
    }
    assert_eq!(inodes(&name), before, "a node was recreated");
    let (code, out) = inspect_code(&name);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn console_link_bounce_keeps_the_gateway() {
    require_root!();
    let name = lab_name("rc");
    let _g = LabGuard(name.clone());
    let _f = up_routed(&name);
    let before = inodes(&name);
    nlab()
        .args(["cli", &name, "-c", "link h1 r1 down; link r1 h1 up"])
        .assert()
        .success();
    all_routes_work(&name);
    assert_eq!(inodes(&name), before, "a node was recreated");
}

#[test]
fn scheduled_bounce_keeps_routes() {
    require_root!();
    let name = lab_name("rs");
    let _g = LabGuard(name.clone());
    let t = nlab::topo::file::parse(&routed(&name), None).expect("topology");
    Lab::up(&t, &UpOptions::default()).expect("up");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let step = |ms, action| Step {
        at: Duration::from_millis(ms),
        action,
    };
    c.set_schedule(
        "r1:wan",
        vec![step(300, StepAction::Down), step(800, StepAction::Up)],
        None,
    )
    .expect("schedule");
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let end = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < end, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("the schedule never took r1:wan down", &|| {
        !has_route(&name, "r1", "-4", "10.3.0.0/24")
    });
    wait("r1:wan came back without its route", &|| {
        let st = c.status().expect("status");
        st.links[0]
            .schedule
            .as_ref()
            .is_some_and(|s| s.next.is_none())
            && has_route(&name, "r1", "-4", "10.3.0.0/24")
    });
    all_routes_work(&name);
}

#[test]
fn route_deleted_by_hand_is_drift_that_up_repairs_in_place() {
    require_root!();
    let name = lab_name("rd");
    let _g = LabGuard(name.clone());
    let (_d, f) = up_routed(&name);
    let before = inodes(&name);
    let st = std::process::Command::new("ip")
        .args(["-n", &ns(&name, "r2"), "route", "del", "10.1.0.0/24"])
        .status()
        .unwrap();
    assert!(st.success());
    let st = std::process::Command::new("ip")
        .args(["-n", &ns(&name, "h3"), "route", "del", "default"])
        .status()
        .unwrap();
    assert!(st.success());
    let (code, out) = inspect_code(&name);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("node r2: route 10.1.0.0/24 via 10.2.0.1 is missing"),
        "{out}"
    );
    assert!(
        out.contains("node h3: default route via 10.3.0.1 is missing"),
        "{out}"
    );
    let o = nlab().arg("up").arg(&f).arg("--json").output().unwrap();
    assert!(o.status.success());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["changes"], 2, "{r}");
    assert_eq!(inodes(&name), before, "up recreated a node");
    all_routes_work(&name);
    assert_eq!(inspect_code(&name).0, 0);
    let o = nlab().arg("up").arg(&f).arg("--json").output().unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["changes"], 0, "{r}");
}

/// `link show --json`'s entry for the link with end `end`.
fn shown(lab: &str, end: &str) -> serde_json::Value {
    let o = nlab()
        .args(["link", "show", lab, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|l| l["ends"].as_array().unwrap().iter().any(|e| e == end))
        .cloned()
        .unwrap()
}

fn graphed_up(lab: &str, key: &str) -> bool {
    let o = nlab()
        .args(["graph", lab, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let links = v["links"].as_array().unwrap();
    let l = links
        .iter()
        .find(|l| l["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {v}"));
    l["up"].as_bool().unwrap()
}

#[test]
fn link_set_down_is_the_recorded_state_every_command_shows() {
    require_root!();
    let name = lab_name("ru");
    let _g = LabGuard(name.clone());
    let (_d, f) = up_routed(&name);
    let key = "h1:eth0--r1:lan";
    nlab()
        .args(["link", "set", &name, "h1:eth0", "--down"])
        .assert()
        .success();
    let l = shown(&name, "h1:eth0");
    assert_eq!(l["up"], false, "{l}");
    assert_eq!(l["state"], "down (user)", "{l}");
    let table = nlab().args(["link", "show", &name]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.contains("STATE") && table.contains("down (user)"),
        "{table}"
    );
    assert!(!graphed_up(&name, key));
    // Down by choice (and h1's gateway through it absent by design): no drift.
    let (code, out) = inspect_code(&name);
    assert_eq!(code, 0, "{out}");

    // `up` of the same file keeps the user's choice, and says so.
    let o = nlab().arg("up").arg(&f).arg("--json").output().unwrap();
    assert!(o.status.success());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["changes"], 0, "{r}");
    assert_eq!(r["kept_down"], serde_json::json!([key]), "{r}");
    let o = nlab().arg("up").arg(&f).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(s.contains(&format!("kept down: link {key}")), "{s}");
    assert!(!ping(&ns(&name, "h1"), "10.1.0.1"), "the link came back up");
    assert_eq!(shown(&name, "h1:eth0")["state"], "down (user)");

    // `--up` clears it.
    nlab()
        .args(["link", "set", &name, "h1:eth0", "--up"])
        .assert()
        .success();
    let l = shown(&name, "h1:eth0");
    assert_eq!(
        (l["up"].clone(), l["state"].clone()),
        (true.into(), "up".into())
    );
    assert!(graphed_up(&name, key));
    assert_eq!(inspect_code(&name).0, 0);
    all_routes_work(&name);
    let o = nlab().arg("up").arg(&f).arg("--json").output().unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r.get("kept_down").is_none(), "{r}");
}

/// A link the supervisor carries (emulated here, where the kernel has no
/// netem): `link set --down` goes through the supervisor, so its state and
/// the kernel's agree and `inspect` finds nothing to repair.
#[test]
fn link_set_down_of_a_supervised_link_is_no_drift() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    use nlab::topo::conditions::{Directed, Impairment};
    let name = lab_name("re");
    let _g = LabGuard(name.clone());
    let slow = Directed::symmetric(Impairment {
        delay: Duration::from_millis(1),
        ..Impairment::default()
    });
    Lab::up(&pair(&name, slow), &UpOptions::default()).expect("up");
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));
    nlab()
        .args(["link", "set", &name, "h1:eth0", "--down"])
        .assert()
        .success();
    let (code, out) = inspect_code(&name);
    assert_eq!(code, 0, "{out}");
    assert_eq!(shown(&name, "h1:eth0")["state"], "down (user)");
    assert!(
        !ping(&ns(&name, "h1"), "10.0.0.2"),
        "frames cross a link set down"
    );
    nlab()
        .args(["link", "set", &name, "h1:eth0", "--up"])
        .assert()
        .success();
    assert_eq!(inspect_code(&name).0, 0);
    assert!(ping(&ns(&name, "h1"), "10.0.0.2"));
}
