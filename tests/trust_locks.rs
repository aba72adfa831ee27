//! Issue 11, items 6, 8, 10 and 17 (`--replace`): the lab lock keeps
//! locking across `down`, every wait for it is bounded and names the
//! holder, a journal cannot redirect nlab to another lab or make it delete
//! what it did not make, and `up` does not reshape a lab from another
//! source unless told to.
mod common;
use common::pause::Pause;
use common::*;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn nlab_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("nlab"));
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn run(args: &[&str]) -> Output {
    nlab_cmd(args).output().expect("running nlab")
}

fn finish(c: Child) -> Output {
    c.wait_with_output().expect("waiting for nlab")
}

fn node_count(lab: &str) -> usize {
    let o = run(&["inspect", lab, "--json"]);
    assert!(o.status.success(), "inspect {lab}: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["drift"].as_array().map(Vec::len), Some(0), "{v}");
    v["nodes"].as_array().map(Vec::len).unwrap_or(0)
}

/// Item 6: `down` holds the lock, an `up` (A) waits for it; once `down` has
/// removed the lab, A builds it fresh, and while A holds the lock a third
/// command (B) stays out. Before the fix `down` deleted the lock file: A
/// held a lock on the deleted inode and B locked a new file and ran at once.
#[test]
fn the_lock_keeps_locking_across_down() {
    require_root!();
    let name = lab_name("lr");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "single,3", "--name", &name]);
    assert!(o.status.success(), "{}", text(&o));

    let pd = Pause::new("down-locked");
    let down = pd
        .arm(&mut nlab_cmd(&["down", &name]))
        .spawn()
        .expect("down");
    pd.wait_reached("down-locked", Duration::from_secs(20));

    let pa = Pause::new("up-locked");
    let a = pa
        .arm(&mut nlab_cmd(&[
            "up", "--topo", "single,4", "--name", &name,
        ]))
        .spawn()
        .expect("up A");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !pa.reached("up-locked"),
        "up A ran while down held the lock"
    );
    pd.go("down-locked");
    let od = finish(down);
    assert!(od.status.success(), "down: {}", text(&od));

    pa.wait_reached("up-locked", Duration::from_secs(20));
    let pb = Pause::new("up-locked");
    let b = pb
        .arm(&mut nlab_cmd(&[
            "up",
            "--topo",
            "linear,2",
            "--name",
            &name,
            "--replace",
        ]))
        .spawn()
        .expect("up B");
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !pb.reached("up-locked"),
        "up B took the lab's lock while up A held it"
    );
    pa.go("up-locked");
    let oa = finish(a);
    assert!(oa.status.success(), "up A: {}", text(&oa));
    assert!(
        text(&oa).contains("5 nodes"),
        "A built single,4 fresh: {}",
        text(&oa)
    );
    pb.wait_reached("up-locked", Duration::from_secs(20));
    pb.go("up-locked");
    let ob = finish(b);
    assert!(ob.status.success(), "up B: {}", text(&ob));
    for o in [&oa, &ob] {
        assert!(
            !text(o).to_lowercase().contains("file exists"),
            "{}",
            text(o)
        );
    }
    // B replaced A's lab, and the kernel matches the journal.
    assert_eq!(node_count(&name), 4);
    assert_eq!(count_ns(&format!("nlab-{name}-")), 4);
}

/// Item 8: a root process holding the lab's lock makes `down --wait 1`
/// fail within seconds, naming the holder's pid and the way out.
#[test]
fn a_held_lock_fails_in_time_and_names_its_holder() {
    require_root!();
    let name = lab_name("lw");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "minimal", "--name", &name]);
    assert!(o.status.success(), "{}", text(&o));
    let lock = nlab::testing::lock_path(&name);
    assert!(lock.exists(), "{} missing", lock.display());
    // flock(1) as an independent holder: it locks, then becomes sleep.
    let holder = Group::spawn(
        Command::new("flock")
            .arg("--no-fork")
            .arg(&lock)
            .args(["sleep", "60"]),
    );
    let t = Instant::now();
    while nlab::testing::LabLock::acquire_within(&name, Duration::ZERO).is_ok() {
        assert!(t.elapsed() < Duration::from_secs(5), "flock never locked");
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    let o = run(&["down", &name, "--wait", "1"]);
    let took = start.elapsed();
    let pid = holder.id().to_string();
    drop(holder);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(5), "down took {took:?}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(err.contains("--wait SECS"), "{err}");
    assert!(err.contains("sleep 60"), "the holder's command: {err}");
    // Nothing was removed while the lock was held; with it free, down works.
    assert_eq!(node_count(&name), 3);
    let o = run(&["down", &name]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!lock.exists(), "down leaves no lock file behind");
}

/// `--replace` (item 17): `up` from another source refuses (exit 2) and
/// says how; with `--replace` the old lab goes and the new one comes.
/// The lab's own source, edited, still applies only the difference.
#[test]
fn up_from_another_source_needs_replace() {
    require_root!();
    let name = lab_name("rp");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "linear,2", "--name", &name]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["up", "--topo", "single,2", "--name", &name]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--replace"), "{}", text(&o));
    assert_eq!(node_count(&name), 4, "the refused up changed nothing");
    let o = run(&["up", "--topo", "single,2", "--name", &name, "--replace"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(node_count(&name), 3);

    // Files: another path is another source; the same file, edited, is not.
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = |hosts: usize| {
        let mut s = format!("name: {name}\ntopology:\n  nodes:\n    s1: {{kind: switch}}\n");
        let mut links = String::from("  links:\n");
        for i in 1..=hosts {
            s.push_str(&format!("    h{i}: {{}}\n"));
            links.push_str(&format!("    - endpoints: [\"h{i}:eth0\", \"s1:p{i}\"]\n"));
        }
        s + &links
    };
    let (fa, fb) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    std::fs::write(&fa, yaml(2)).expect("a.yaml");
    std::fs::write(&fb, yaml(3)).expect("b.yaml");
    let (pa, pb) = (fa.to_str().expect("path"), fb.to_str().expect("path"));
    let o = run(&["up", pa, "--replace"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["up", pb]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--replace"), "{}", text(&o));
    let h1_ns = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", ns(&name, "h1")))
            .expect("h1's namespace")
            .ino()
    };
    let h1_before = h1_ns();
    std::fs::write(&fa, yaml(3)).expect("a.yaml edited");
    let o = run(&["up", pa]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(node_count(&name), 4);
    assert_eq!(
        h1_ns(),
        h1_before,
        "an edit of the lab's own file is applied in place"
    );
}

/// Item 10: the journal's `lab` field (and its topology's name) do not
/// decide which lab `up` reads, writes or inspects: the path does.
#[test]
fn a_journal_naming_another_lab_changes_only_its_own() {
    require_root!();
    let (l1, l2) = (lab_name("ja"), lab_name("jb"));
    let (_g1, _g2) = (LabGuard(l1.clone()), LabGuard(l2.clone()));
    for l in [&l1, &l2] {
        let o = run(&["up", "--topo", "single,2", "--name", l]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let p1 = format!("/run/nlab/{l1}/state.json");
    let p2 = format!("/run/nlab/{l2}/state.json");
    let mut j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p1).expect("journal")).expect("json");
    j["lab"] = l2.clone().into();
    j["topology"]["name"] = l2.clone().into();
    std::fs::write(&p1, serde_json::to_vec(&j).expect("json")).expect("writing journal");
    let before = std::fs::read_to_string(&p2).expect("other journal");
    let o = run(&["up", "--topo", "single,3", "--name", &l1]);
    assert!(o.status.success(), "{}", text(&o));
    let after = std::fs::read_to_string(&p2).expect("other journal");
    assert!(after == before, "up of {l1} rewrote {p2}:\n{after}");
    assert_eq!(node_count(&l1), 4);
    assert_eq!(node_count(&l2), 3);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p1).expect("journal")).expect("json");
    assert_eq!(j["lab"], l1.as_str());

    // The supervisor's journal likewise: saved where it was read from.
    use nlab::testing::supervisor::desired::Desired;
    let s1 = format!("/run/nlab/{l1}/supervisor.json");
    let d = Desired::empty(&l2);
    d.save().expect("saving");
    let s2 = format!("/run/nlab/{l2}/supervisor.json");
    std::fs::rename(&s2, &s1).expect("moving it into the other lab");
    let d = Desired::load(&l1).expect("loading");
    assert_eq!(d.lab, l1);
    d.save().expect("saving");
    assert!(!std::path::Path::new(&s2).exists(), "written to {s2}");
}

/// Item 10: an interface entry in the journal that nlab did not make (a
/// veth whose peer is in a foreign namespace) is not deleted by `up`.
#[test]
fn up_never_deletes_a_veth_nlab_did_not_make() {
    require_root!();
    let name = lab_name("jf");
    let _g = LabGuard(name.clone());
    let foreign = format!("{name}-foreign");
    struct NsGuard(String);
    impl Drop for NsGuard {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _f = NsGuard(foreign.clone());
    let t = star(&name, 2);
    nlab::lab::Lab::up(&t, &nlab::lab::UpOptions::default()).expect("up");
    let ok = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    assert!(ok(&["netns", "add", &foreign]));
    let h1 = ns(&name, "h1");
    assert!(ok(&[
        "-n", &foreign, "link", "add", "fy0", "type", "veth", "peer", "name", "fx0", "netns", &h1
    ]));
    // The journal is made to claim fx0 as one end of a link that goes.
    let p = format!("/run/nlab/{name}/state.json");
    let mut j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("journal")).expect("json");
    let mut fake = j["topology"]["links"][0].clone();
    fake["endpoints"][0]["node"] = "h1".into();
    fake["endpoints"][0]["iface"] = "fx0".into();
    fake["endpoints"][1]["node"] = "h2".into();
    fake["endpoints"][1]["iface"] = "fz0".into();
    for e in 0..2 {
        fake["endpoints"][e]["addrs"] = serde_json::json!([]);
    }
    j["topology"]["links"]
        .as_array_mut()
        .expect("links")
        .push(fake);
    std::fs::write(&p, serde_json::to_vec(&j).expect("json")).expect("writing journal");
    nlab::lab::Lab::up(&t, &nlab::lab::UpOptions::default()).expect("re-up");
    assert!(
        ok(&["-n", &foreign, "link", "show", "fy0"]),
        "up deleted a veth it did not make (and its peer in {foreign})"
    );
    assert!(ok(&["-n", &h1, "link", "show", "fx0"]));
}

/// Item 6: `cleanup` removes lock files of labs that are gone, but never
/// one somebody holds (a waiter that opened a removed file re-checks the
/// path after locking and locks the new one).
#[test]
fn stale_locks_go_held_ones_stay() {
    require_root!();
    use nlab::testing::{lock_path, remove_stale_locks, LabLock};
    let (stale, held) = (lab_name("ls"), lab_name("lh"));
    let lock = LabLock::acquire(&stale).expect("lock");
    drop(lock);
    let holding = LabLock::acquire(&held).expect("lock");
    assert!(lock_path(&stale).exists() && lock_path(&held).exists());
    remove_stale_locks();
    assert!(!lock_path(&stale).exists(), "a stale lock file stayed");
    assert!(lock_path(&held).exists(), "a held lock file was removed");
    // Whoever comes next still takes turns with the holder.
    assert!(LabLock::acquire_within(&held, Duration::from_millis(50)).is_err());
    holding.remove();
    assert!(!lock_path(&held).exists());
}
