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
