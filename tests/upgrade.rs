//! Upgrades: a lab made by the previous release (c9dae2b, before `store/`)
//! is listed, inspected, re-applied and removed by this one. Its journal
//! lacks the fields added since (`origin`, `down_by_user`) and its lock
//! file sat in the lab's directory (`/run/nlab/LAB/lock`), not in
//! `/run/nlab/.locks/`.
mod common;
use common::*;

/// The keys the previous release wrote in `state.json`.
const OLD_KEYS: [&str; 8] = [
    "version", "lab", "phase", "topology", "created", "updated", "pid", "seed",
];

/// Rewrites the lab's journal as the previous release wrote it: only its
/// keys, version 1, and its lock file inside the lab's directory.
fn make_it_old(lab: &str) {
    let path = format!("/run/nlab/{lab}/state.json");
    let text = std::fs::read_to_string(&path).expect("journal");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("journal is json");
    let obj = v.as_object_mut().expect("journal is an object");
    assert_eq!(obj["version"], 1, "the journal format changed: {text}");
    assert!(obj.contains_key("origin"), "`up --topo` records its origin");
    obj.retain(|k, _| OLD_KEYS.contains(&k.as_str()));
    assert_eq!(obj.len(), OLD_KEYS.len(), "{text}");
    let old = serde_json::to_string_pretty(&v).expect("encodes");
    std::fs::write(&path, old).expect("old journal written");
    std::fs::write(format!("/run/nlab/{lab}/lock"), "").expect("old lock file");
}

fn listed(lab: &str) -> serde_json::Value {
    let out = nlab().args(["list", "--json"]).output().expect("list");
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list json");
    v.as_array()
        .expect("list is an array")
        .iter()
        .find(|l| l["name"] == lab)
        .cloned()
        .unwrap_or_else(|| panic!("{lab} not listed: {v}"))
}

#[test]
fn a_lab_of_the_previous_release_is_listed_inspected_and_removed() {
    require_root!();
    let lab = lab_name("upg");
    let g = LabGuard(lab.clone());
    let up = ["up", "--topo", "linear,2", "--name", &lab];
    let out = nlab().args(up).output().expect("up");
    assert!(out.status.success(), "{}", text(&out));
    make_it_old(&lab);

    // The old lock file is nobody's lock: the lab is up, not "applying".
    let me = listed(&lab);
    assert_eq!(me["status"], "up", "{me}");
    assert_eq!(me["reason"], serde_json::Value::Null, "{me}");
    assert_eq!(me["node_count"], 4, "{me}");

    let out = nlab().args(["inspect", &lab]).output().expect("inspect");
    assert!(out.status.success(), "{}", text(&out));

    // Same input, nothing to do; and no wait on the old lock file.
    let out = nlab().args(up).args(["--wait", "1"]).output().expect("up");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(" 0 changes "), "{}", text(&out));
    // That up wrote the journal anew, still readable as version 1.
    let st = std::fs::read_to_string(format!("/run/nlab/{lab}/state.json")).expect("journal");
    assert!(st.contains("\"version\": 1"), "{st}");

    make_it_old(&lab);
    let out = nlab().args(["down", &lab]).output().expect("down");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !std::path::Path::new(&format!("/run/nlab/{lab}/lock")).exists(),
        "the old lock file is left"
    );
    assert_no_trace(&lab);
    drop(g);
}

/// A supervisor the previous release started: a root process holding the
/// lab's pid file (pid only, as that release wrote it) and listening on
/// the old socket in the lab's directory. Python stands in for it; what
/// nlab sees of it (pid file, open descriptor, uid, socket) is the same.
const OLD_SUPERVISOR: &str = r#"
import fcntl, os, socket, sys, time
lab = sys.argv[1]
d = f"/run/nlab/{lab}"
f = open(f"{d}/supervisor.pid", "w")
fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
f.write(f"{os.getpid()}\n"); f.flush()
s = socket.socket(socket.AF_UNIX); s.bind(f"{d}/supervisor.sock"); s.listen()
print("ready", flush=True)
time.sleep(600)
"#;

#[test]
fn a_supervisor_of_the_previous_release_is_named_and_replaced() {
    require_root!();
    let lab = lab_name("ups");
    let g = LabGuard(lab.clone());
    let out = nlab()
        .args(["up", "--topo", "linear,2", "--name", &lab])
        .output()
        .expect("up");
    assert!(out.status.success(), "{}", text(&out));
    let mut old = std::process::Command::new("python3")
        .args(["-c", OLD_SUPERVISOR, &lab])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(old.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("ready line");
    assert_eq!(line.trim(), "ready");

    // Named as what it is at once, not "starting" for its first seconds.
    let out = nlab()
        .args(["supervisor", "status", &lab, "--json"])
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(v["state"], "not-answering", "{v}");
    assert_eq!(v["pid"], old.id(), "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("previous nlab release"), "{v}");
    assert!(reason.contains("supervisor start"), "{v}");

    // `supervisor start` replaces it with one of this release.
    let out = nlab()
        .args(["supervisor", "start", &lab])
        .output()
        .expect("supervisor start");
    assert!(out.status.success(), "{}", text(&out));
    let ended = old.wait().expect("wait");
    assert!(
        !ended.success(),
        "the old supervisor was not ended: {ended:?}"
    );
    let out = nlab()
        .args(["supervisor", "status", &lab, "--json"])
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(v["state"], "running", "{v}");
    assert!(!std::path::Path::new(&format!("/run/nlab/{lab}/supervisor.sock")).exists());

    let out = nlab().args(["down", &lab]).output().expect("down");
    assert!(out.status.success(), "{}", text(&out));
    assert_no_trace(&lab);
    drop(g);
}
