//! Issue 11, items 3, 4, 7, 8 and 9 for the supervisor: `list` and
//! `supervisor status` tell the truth after `kill -9` of `up`, of the
//! supervisor and of `down`; a stopped supervisor is reported and
//! replaced; a process that only looks like a supervisor (by argv) is
//! never killed; the supervisor's files are root only under umask 000.
mod common;
use common::pause::Pause;
use common::*;
use nlab::testing::supervisor::{paths, process};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn nlab() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("nlab"))
}

fn run(args: &[&str]) -> Output {
    nlab().args(args).output().expect("running nlab")
}

/// `nlab up --topo minimal` (h1, h2 on s1) whose links carry a delay,
/// which this kernel (no netem) gives to the userspace emulator: the lab
/// needs its supervisor.
fn up_args(name: &str) -> Vec<String> {
    [
        "up",
        "--topo",
        "minimal",
        "--link",
        "tc,delay=1ms",
        "--name",
        name,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn up_emulated(name: &str) {
    let o = nlab().args(up_args(name)).output().expect("nlab up");
    assert!(
        o.status.success(),
        "up: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The lab's entry in `nlab list --json`.
fn listed(name: &str) -> serde_json::Value {
    let o = run(&["list", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("list --json");
    v.as_array()
        .and_then(|a| a.iter().find(|l| l["name"] == name).cloned())
        .unwrap_or_else(|| panic!("lab {name} not in `nlab list`: {v}"))
}

fn supervisor_pid(name: &str) -> i32 {
    process::from_pid_file(name)
        .unwrap_or_else(|| panic!("lab {name} has no supervisor"))
        .pid
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process this test started or identified.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Kills `child` (a paused nlab) with SIGKILL and reaps it.
fn kill9(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn journal_phase(name: &str) -> String {
    let text = std::fs::read_to_string(format!("/run/nlab/{name}/state.json")).expect("journal");
    let v: serde_json::Value = serde_json::from_str(&text).expect("journal JSON");
    v["phase"].as_str().unwrap_or("?").to_string()
}

#[test]
fn up_killed_before_the_handover_is_degraded_not_up() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("dh");
    let _g = LabGuard(name.clone());
    let p = Pause::new("applied");
    let mut cmd = nlab();
    cmd.args(up_args(&name))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = p.arm(&mut cmd).spawn().expect("nlab up");
    p.wait_reached("applied", Duration::from_secs(60));
    // While `up` holds the lab's lock it is applying, not up.
    assert_eq!(listed(&name)["status"], "applying");
    kill9(child);
    // The journal does not claim more than was done.
    assert_ne!(journal_phase(&name), "applied");
    let l = listed(&name);
    assert_eq!(l["status"], "degraded", "{l}");
    let reason = l["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("supervisor"), "{reason}");
    assert!(reason.contains("drop every packet"), "{reason}");
    // `up` again finishes the job.
    up_emulated(&name);
    let l = listed(&name);
    assert_eq!(l["status"], "up", "{l}");
    assert!(l["reason"].is_null(), "{l}");
    assert_eq!(journal_phase(&name), "applied");
}

#[test]
fn a_killed_supervisor_makes_list_and_supervisor_status_say_so() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("dk");
    let _g = LabGuard(name.clone());
    up_emulated(&name);
    assert_eq!(listed(&name)["status"], "up");
    let pid = supervisor_pid(&name);
    signal(pid, libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(5), || !process::alive(pid)));
    let l = listed(&name);
    assert_eq!(l["status"], "degraded", "{l}");
    let reason = l["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("supervisor not running"), "{reason}");
    assert!(reason.contains("drop every packet"), "{reason}");
    let o = run(&["supervisor", "status", &name]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(!text.contains("nothing in it needs one"), "{text}");
    assert!(text.contains("needs one"), "{text}");
    let o = run(&["supervisor", "status", &name, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json");
    assert_eq!(v["state"], "not-running", "{v}");
    assert_eq!(v["needed"], true, "{v}");
    assert_eq!(v["running"], false, "{v}");
}

#[test]
fn a_stopped_supervisor_is_reported_and_replaced_by_up() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("ds");
    let _g = LabGuard(name.clone());
    up_emulated(&name);
    let old = supervisor_pid(&name);
    signal(old, libc::SIGSTOP);
    // Whatever happens below, the stopped one must not outlive the test.
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            signal(self.0, libc::SIGKILL);
        }
    }
    let _k = KillOnDrop(old);
    let o = run(&["supervisor", "status", &name]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("does not answer"), "{text}");
    assert!(text.contains(&format!("pid {old}")), "{text}");
    let o = run(&["supervisor", "status", &name, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json");
    assert_eq!(v["state"], "not-answering", "{v}");
    let o = run(&["inspect", &name]);
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("does not answer"), "{out}");
    assert_eq!(listed(&name)["status"], "degraded");
    // `up` of the same lab replaces it.
    up_emulated(&name);
    assert!(
        wait_until(Duration::from_secs(3), || !process::alive(old)),
        "the stopped supervisor {old} survived `up`"
    );
    let new = supervisor_pid(&name);
    assert_ne!(new, old);
    let o = run(&["supervisor", "status", &name, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json");
    assert_eq!(v["state"], "running", "{v}");
    assert_eq!(v["pid"], new, "{v}");
    assert_eq!(listed(&name)["status"], "up");
}

#[test]
fn down_killed_midway_leaves_a_lab_that_is_not_up() {
    require_root!();
    let name = lab_name("dd");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "minimal", "--name", &name]);
    assert!(o.status.success());
    let p = Pause::new("down-partial");
    let mut cmd = nlab();
    cmd.args(["down", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = p.arm(&mut cmd).spawn().expect("nlab down");
    p.wait_reached("down-partial", Duration::from_secs(60));
    kill9(child);
    assert!(
        count_ns(&format!("nlab-{name}-")) < 3,
        "down removed nothing"
    );
    let l = listed(&name);
    assert_eq!(l["status"], "degraded", "{l}");
    let reason = l["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("gone"), "{reason}");
    assert!(reason.contains(&format!("nlab down {name}")), "{reason}");
}

/// A process whose argv is exactly `nlab supervise LAB`: bash running a
/// script named `supervise` under argv[0] `nlab` (its own argv stays).
fn fake_supervisor(lab: &str, dir: &std::path::Path, as_nobody: bool) -> Child {
    let script = format!("cd {} && exec -a nlab bash supervise {lab}", dir.display());
    let mut c = if as_nobody {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "bash", "-c", &script]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", &script]);
        c
    };
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting a fake supervisor")
}

/// Fake supervisors and their directory, ended and removed on drop (also
/// when the test fails).
struct Fakes {
    children: Vec<Child>,
    pids: Vec<i32>,
    dir: std::path::PathBuf,
}

impl Drop for Fakes {
    fn drop(&mut self) {
        for &p in &self.pids {
            signal(p, libc::SIGKILL);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_process_that_only_looks_like_a_supervisor_survives_down() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("df");
    let g = LabGuard(name.clone());
    up_emulated(&name);
    let real = supervisor_pid(&name);
    let start = std::fs::read_to_string(paths::pid(&name))
        .expect("pid file")
        .split_whitespace()
        .nth(1)
        .expect("a start time")
        .to_string();
    let mut fakes = Fakes {
        children: Vec::new(),
        pids: Vec::new(),
        dir: std::env::temp_dir().join(format!("nlab-fake-{name}")),
    };
    let dir = fakes.dir.clone();
    std::fs::create_dir_all(&dir).expect("fake dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // It waits on opening a FIFO nobody writes: no child process that
    // would share its argv for a moment after each fork.
    assert!(Command::new("mkfifo")
        .args(["-m", "666"])
        .arg(dir.join("fifo"))
        .status()
        .expect("mkfifo")
        .success());
    std::fs::write(dir.join("supervise"), "read -r _ < ./fifo\n").expect("script");
    fakes.children.push(fake_supervisor(&name, &dir, true));
    fakes.children.push(fake_supervisor(&name, &dir, false));
    // The witness reads argv: both fakes look like supervisors of the lab.
    assert!(
        wait_until(Duration::from_secs(5), || supervisors_of(&name).len() == 3),
        "fakes not running: {:?}",
        supervisors_of(&name)
    );
    fakes.pids = supervisors_of(&name)
        .into_iter()
        .filter(|&p| p != real)
        .collect();
    let root_fake = fakes
        .pids
        .iter()
        .copied()
        .find(|&p| nlab::testing::proc::is_root(p))
        .expect("the root fake");
    let alive = |pids: &[i32]| -> Vec<i32> {
        pids.iter()
            .copied()
            .filter(|&p| process::alive(p))
            .collect()
    };
    // Stopping the lab's supervisor ends the real one only.
    let o = run(&["supervisor", "stop", &name]);
    assert!(o.status.success());
    assert!(wait_until(Duration::from_secs(5), || !process::alive(real)));
    assert_eq!(
        alive(&fakes.pids),
        fakes.pids,
        "`supervisor stop` killed a fake"
    );
    // Its pid file then names the root fake, with the real one's start
    // time: what a reused pid looks like.
    std::fs::write(paths::pid(&name), format!("{root_fake} {start}\n")).expect("pid file");
    let l = listed(&name);
    assert_eq!(l["supervisor"], serde_json::Value::Null, "{l}");
    assert_eq!(l["status"], "degraded", "{l}");
    let o = run(&["down", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(alive(&fakes.pids), fakes.pids, "`nlab down` killed a fake");
    drop(fakes);
    assert!(
        wait_until(Duration::from_secs(3), || supervisors_of(&name).is_empty()),
        "left: {:?}",
        supervisors_of(&name)
    );
    drop(g);
}

/// `nobody` can do `test OP path`.
fn nobody_can(op: &str, path: &std::path::Path) -> bool {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "test", op])
        .arg(path)
        .status()
        .expect("runuser")
        .success()
}

#[test]
fn supervisor_files_are_root_only_under_umask_000() {
    require_root!();
    if !emulator_backend() {
        return;
    }
    let name = lab_name("dp");
    let _g = LabGuard(name.clone());
    let up = up_args(&name).join(" ");
    let bin = assert_cmd::cargo::cargo_bin("nlab");
    let o = Command::new("sh")
        .args(["-c", &format!("umask 000; exec {} {up}", bin.display())])
        .output()
        .expect("sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    supervisor_pid(&name);
    let dir = paths::socket_dir(&name);
    let files = [
        (dir.clone(), 0o700),
        (paths::socket(&name), 0o600),
        (paths::pid(&name), 0o600),
        (paths::log(&name), 0o600),
    ];
    for (p, mode) in &files {
        let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(m.uid(), 0, "{}", p.display());
        assert_eq!(m.mode() & 0o777, *mode, "mode of {}", p.display());
        assert!(!nobody_can("-r", p), "nobody can read {}", p.display());
        assert!(!nobody_can("-w", p), "nobody can write {}", p.display());
    }
    // flock needs only an open descriptor: nobody must not get one.
    let o = Command::new("runuser")
        .args(["-u", "nobody", "--", "flock", "-s", "-n"])
        .arg(paths::pid(&name))
        .arg("true")
        .output()
        .expect("runuser flock");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn a_held_pid_file_lock_fails_start_and_names_the_holder() {
    require_root!();
    let name = lab_name("dl");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "minimal", "--name", &name]);
    assert!(o.status.success());
    // A lab with nothing to supervise still says so, and that is fine.
    let o = run(&["supervisor", "status", &name]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("nothing in it needs one"), "{text}");
    let pid_file = paths::pid(&name);
    std::fs::write(&pid_file, "").expect("pid file");
    std::fs::set_permissions(&pid_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // `-o`: the lock stays with flock itself, so killing it frees it.
    let holder = Group::spawn(
        Command::new("flock")
            .args(["-s", "-o"])
            .arg(&pid_file)
            .args(["sleep", "600"]),
    );
    let holder_pid = holder.id() as i32;
    assert!(wait_until(Duration::from_secs(5), || {
        nlab::testing::proc::flock_holders(&pid_file).contains(&holder_pid)
    }));
    let o = run(&["supervisor", "start", &name]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "started despite the held lock");
    assert!(err.contains(&format!("pid {holder_pid} (flock")), "{err}");
}

#[test]
fn a_supervisor_silent_on_its_socket_is_not_answering_after_5_s_and_replaced() {
    require_root!();
    let name = lab_name("dw");
    let _g = LabGuard(name.clone());
    let o = run(&["up", "--topo", "minimal", "--name", &name]);
    assert!(o.status.success());
    // A root process that accepts on the lab's socket and never answers,
    // recorded in the pid file as the supervisor (as a wedged one would be).
    let dir = paths::socket_dir(&name);
    std::fs::create_dir_all(&dir).expect("socket dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut silent = Command::new("python3")
        .args([
            "-c",
            "import socket,sys\n\
             s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8); held=[]\n\
             while True: held.append(s.accept())",
        ])
        .arg(paths::socket(&name))
        .spawn()
        .expect("python3");
    struct Reap<'a>(&'a mut Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = silent.id() as i32;
    let _r = Reap(&mut silent);
    assert!(wait_until(Duration::from_secs(5), || paths::socket(&name).exists()));
    let start = nlab::testing::proc::stat(pid).expect("stat").start_ticks;
    std::fs::write(paths::pid(&name), format!("{pid} {start}\n")).expect("pid file");
    let t = Instant::now();
    let o = run(&["supervisor", "status", &name, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json");
    assert_eq!(v["state"], "not-answering", "{v}");
    assert_eq!(v["pid"], pid, "{v}");
    // Bounded (not timed tightly): it gave up on its own, well before the
    // old 10 s per call.
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    let o = run(&["supervisor", "start", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(wait_until(Duration::from_secs(3), || !process::alive(pid)));
    assert_ne!(supervisor_pid(&name), pid);
}
