//! Root integration tests of the per-lab supervisor: its process, its
//! socket, the schedule runner on a real lab link (witnessed by `ping` and
//! `ip link`), resume after `kill -9`, and teardown.
mod common;
use common::*;
use nlab::lab::{self as teardown, Lab, UpOptions};
use nlab::testing::supervisor::{self, paths, process, protocol::Applied, Client};
use nlab::topo::conditions::{Step, StepAction};
use std::process::Command;
use std::time::Duration;

/// h1, h2 on s1, up, with a guard.
fn two_hosts(tag: &str) -> (String, LabGuard) {
    let name = lab_name(tag);
    let g = LabGuard(name.clone());
    Lab::up(&star(&name, 2), &UpOptions::default()).expect("up");
    (name, g)
}

/// Supervisor processes of `lab`, as `pgrep` (not nlab) sees them.
fn pgrep(lab: &str) -> Vec<i32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("nlab supervise {lab}$")])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        // pgrep lists zombies too; they hold nothing.
        .filter(|&p| process::alive(p))
        .collect()
}

/// Whether `ip` shows the interface administratively up.
fn ip_up(ns: &str, iface: &str) -> bool {
    let v = ip_json(ns, &["link", "show", iface]);
    v[0]["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "UP"))
}

fn step(ms: u64, action: StepAction) -> Step {
    Step {
        at: Duration::from_millis(ms),
        action,
    }
}

fn wall_ns() -> u64 {
    supervisor::schedule::wall_ns()
}

fn history(c: &Client) -> Vec<Applied> {
    let st = c.status().expect("status");
    st.links[0]
        .schedule
        .as_ref()
        .expect("a schedule")
        .history
        .clone()
}

/// Polls until the interface's admin state is `up`; false if it is not by
/// `until_ms` after `start` (chosen before the schedule's next step, so a
/// loaded machine gets slack without a later step hiding a missed one).
fn becomes(ns: &str, iface: &str, up: bool, start: u64, until_ms: u64) -> bool {
    loop {
        if ip_up(ns, iface) == up {
            return true;
        }
        if wall_ns() > start + until_ms * 1_000_000 {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sleep_until(start_ns: u64, offset_ms: u64) {
    let target = start_ns + offset_ms * 1_000_000;
    let now = wall_ns();
    if target > now {
        std::thread::sleep(Duration::from_nanos(target - now));
    }
}

#[test]
fn a_lab_without_services_has_no_supervisor() {
    require_root!();
    let (name, _g) = two_hosts("sn");
    assert!(pgrep(&name).is_empty(), "a supervisor runs for a plain lab");
    assert!(!paths::socket(&name).exists());
    assert!(!paths::pid(&name).exists());
    assert!(supervisor::status(&name).expect("status").is_none());
}

#[test]
fn started_supervisor_answers_runs_in_the_root_namespace_and_outlives_its_starter() {
    require_root!();
    let (name, _g) = two_hosts("ss");
    // Started by another process that exits at once.
    let st = Command::new(assert_cmd::cargo::cargo_bin("nlab"))
        .args(["supervisor", "start", &name])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("nlab supervisor start");
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    let pids = pgrep(&name);
    assert_eq!(pids.len(), 1, "supervisors: {pids:?}");
    let pid = pids[0];
    // `PID START_TICKS`: the pid is the first word.
    let file: i32 = std::fs::read_to_string(paths::pid(&name))
        .expect("pid file")
        .split_whitespace()
        .next()
        .expect("a pid")
        .parse()
        .expect("a pid");
    assert_eq!(file, pid);
    // Answers over its socket, with a raw JSON line (socat as the peer).
    let out = Command::new("socat")
        .args([
            "-t2",
            "-",
            &format!("UNIX-CONNECT:{}", paths::socket(&name).display()),
        ])
        .stdin_bytes(b"{\"op\":\"status\"}\n")
        .expect("socat");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("a JSON answer");
    assert_eq!(v["ok"]["pid"], pid);
    assert_eq!(v["ok"]["lab"], name.as_str());
    // The namespace nlab runs in (the root one here), own session, not our child, nothing inherited.
    let ns = |p: &str| std::fs::read_link(p).expect("ns link");
    assert_eq!(ns(&format!("/proc/{pid}/ns/net")), ns("/proc/self/ns/net"));
    let f = common::stat_fields(&format!("/proc/{pid}/stat")).expect("stat");
    // After the name: state, ppid, pgrp, session, tty_nr, ...
    let (ppid, sid): (i32, i32) = (f[1].parse().unwrap(), f[3].parse().unwrap());
    assert_ne!(ppid, std::process::id() as i32);
    let my_sid = unsafe { libc::getsid(0) };
    assert_ne!(
        sid, my_sid,
        "the supervisor shares our session (Ctrl-C would reach it)"
    );
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    assert!(fds <= 6, "the supervisor holds {fds} descriptors");
    // A bad request gets a structured error, and the supervisor lives on.
    let bad = Client::new(&name).set_link("h9:nope", Default::default());
    match bad {
        Err(supervisor::Error::Remote { kind, message, .. }) => {
            assert_eq!(kind, supervisor::ErrorKind::NoSuchLink);
            assert!(message.contains("h9:nope"), "{message}");
        }
        other => panic!("expected a no-such-link error, got {other:?}"),
    }
    assert!(Client::new(&name).answers());
}

#[test]
fn concurrent_ensure_running_gives_one_supervisor() {
    require_root!();
    let (name, _g) = two_hosts("sc");
    let pids: Vec<u32> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    supervisor::ensure_running(&name)
                        .expect("ensure_running")
                        .status()
                        .expect("status")
                        .pid
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(pids.windows(2).all(|w| w[0] == w[1]), "{pids:?}");
    // And from two processes at once.
    let bin = assert_cmd::cargo::cargo_bin("nlab");
    let kids: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&bin)
                .args(["supervisor", "start", &name])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().expect("wait").success());
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(pgrep(&name), vec![pids[0] as i32]);
}

#[test]
fn schedule_takes_a_link_down_and_up_again() {
    require_root!();
    let (name, _g) = two_hosts("sd");
    let h1 = ns(&name, "h1");
    let s1 = ns(&name, "s1");
    assert!(ping(&h1, "10.0.0.2"), "no connectivity before the schedule");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let start = wall_ns();
    let st = c
        .set_schedule(
            "h1:h1-eth0",
            vec![step(1000, StepAction::Down), step(2000, StepAction::Up)],
            Some(start),
        )
        .expect("schedule");
    assert_eq!(st.key, "h1:h1-eth0--s1:s1-eth1");
    assert_eq!(st.schedule.as_ref().map(|s| s.done), Some(0));
    // Before the first step: still up.
    assert!(ip_up(&h1, "h1-eth0"));
    assert!(
        becomes(&h1, "h1-eth0", false, start, 1900),
        "h1-eth0 still up 0.9 s after the Down step"
    );
    assert!(
        becomes(&s1, "s1-eth1", false, start, 1900),
        "the switch end is still up"
    );
    assert!(!ping(&h1, "10.0.0.2"), "ping works while the link is down");
    assert!(
        becomes(&h1, "h1-eth0", true, start, 4000),
        "h1-eth0 not up again 2 s after the Up step"
    );
    assert!(
        wait_until(Duration::from_secs(5), || ping(&h1, "10.0.0.2")),
        "no ping after the link came back"
    );
    let h = history(&c);
    assert_eq!(h.iter().map(|a| a.index).collect::<Vec<_>>(), vec![0, 1]);
    for a in &h {
        assert!(a.error.is_none(), "{a:?}");
        assert!(a.applied_unix_ns >= a.due_unix_ns, "applied early: {a:?}");
    }
    let s = c.status().expect("status");
    assert!(s.links[0].state.up);
    assert!(s.links[0]
        .schedule
        .as_ref()
        .is_some_and(|x| x.next.is_none()));
}

#[test]
fn kill_9_mid_schedule_then_restart_resumes_without_replaying() {
    require_root!();
    let (name, _g) = two_hosts("sk");
    let h1 = ns(&name, "h1");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let first = c.status().expect("status").pid;
    let start = wall_ns();
    c.set_schedule(
        "h1:h1-eth0--s1:s1-eth1",
        vec![
            step(800, StepAction::Down),
            step(2000, StepAction::Up),
            step(4500, StepAction::Down),
            step(5500, StepAction::Up),
        ],
        Some(start),
    )
    .expect("schedule");
    assert!(
        becomes(&h1, "h1-eth0", false, start, 1900),
        "step 0 (down) did not happen"
    );
    // The link goes down a moment before the supervisor records the step;
    // a kill in between would (rightly) replay it. Kill after the record.
    assert!(
        wait_until(Duration::from_secs(1), || !history(&c).is_empty()),
        "step 0 was applied but not recorded"
    );
    // kill -9: no chance to tidy up. The kernel keeps the link down.
    unsafe {
        libc::kill(first as i32, libc::SIGKILL);
    }
    assert!(wait_until(Duration::from_secs(2), || pgrep(&name).is_empty()));
    sleep_until(start, 2600);
    // Step 1 fell due while nobody ran: the link is still down.
    assert!(!ip_up(&h1, "h1-eth0"));
    let c = supervisor::ensure_running(&name).expect("restart");
    let second = c.status().expect("status").pid;
    assert_ne!(first, second);
    // The overdue step 1 (up) ran at once on restart; step 0 was not
    // replayed (it would have taken the link down again).
    assert!(ip_up(&h1, "h1-eth0"), "the overdue Up step was not applied");
    assert!(
        wait_until(Duration::from_secs(3), || ping(&h1, "10.0.0.2")),
        "no ping after resume"
    );
    let h = history(&c);
    assert_eq!(h.iter().map(|a| a.index).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(h[0].pid, first);
    assert_eq!(h[1].pid, second);
    // Later steps still happen, on time.
    assert!(
        becomes(&h1, "h1-eth0", false, start, 5400),
        "step 2 (down) did not happen after resume"
    );
    assert!(
        becomes(&h1, "h1-eth0", true, start, 8000),
        "step 3 (up) did not happen after resume"
    );
    let h = history(&c);
    assert_eq!(
        h.iter().map(|a| a.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
}

#[test]
fn down_stops_the_supervisor_and_leaves_nothing() {
    require_root!();
    let (name, g) = two_hosts("sx");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let pid = c.status().expect("status").pid as i32;
    c.set_link(
        "h2:h2-eth0",
        supervisor::LinkState {
            up: false,
            ..Default::default()
        },
    )
    .expect("set-link");
    let st = Command::new(assert_cmd::cargo::cargo_bin("nlab"))
        .args(["down", &name])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("nlab down");
    assert!(st.success());
    assert!(
        !process::alive(pid),
        "supervisor {pid} survived `nlab down`"
    );
    assert!(pgrep(&name).is_empty());
    assert!(!paths::socket(&name).exists());
    drop(g); // asserts no namespace, /etc/netns entry or runtime dir is left
}

#[test]
fn a_stray_supervisor_without_its_files_is_found_and_ended() {
    require_root!();
    let (name, _g) = two_hosts("sy");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let pid = c.status().expect("status").pid as i32;
    // Its files lost (as after a crash that took /run/nlab/<lab> away):
    // only its command line remains to find it by.
    std::fs::remove_file(paths::pid(&name)).expect("rm pid file");
    std::fs::remove_file(paths::socket(&name)).expect("rm socket");
    assert!(teardown::all_labs().contains(&name));
    let r = teardown::down(&name).expect("down");
    assert!(r.processes >= 1, "{r:?}");
    assert!(!process::alive(pid), "stray supervisor {pid} survived");
    assert!(pgrep(&name).is_empty());
}

/// `Command` with bytes on stdin, returning stdout.
trait StdinBytes {
    fn stdin_bytes(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>>;
}

impl StdinBytes for Command {
    fn stdin_bytes(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        let mut child = self
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(input)?;
        }
        Ok(child.wait_with_output()?.stdout)
    }
}

#[test]
fn refusals_come_back_as_structured_errors_and_change_nothing() {
    require_root!();
    let (name, _g) = two_hosts("se");
    let h1 = ns(&name, "h1");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let kind = |r: Result<_, supervisor::Error>| match r {
        Err(supervisor::Error::Remote { kind, .. }) => kind,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Steps out of time order.
    let r = c.set_schedule(
        "h1:h1-eth0",
        vec![step(2000, StepAction::Down), step(1000, StepAction::Up)],
        None,
    );
    assert_eq!(kind(r.map(|_| ())), supervisor::ErrorKind::BadSchedule);
    // A driver this supervisor does not have.
    let r = c.set_link_via("h1:h1-eth0", Default::default(), Some("warp-drive"));
    assert_eq!(kind(r.map(|_| ())), supervisor::ErrorKind::Driver);
    // Conditions on the kernel-state driver: refused, link untouched.
    let delay = nlab::topo::conditions::Impairment {
        delay: Duration::from_millis(5),
        ..Default::default()
    };
    let r = c.set_link(
        "h1:h1-eth0",
        supervisor::LinkState {
            conditions: nlab::topo::conditions::Directed::symmetric(delay.clone()),
            up: false,
        },
    );
    assert_eq!(kind(r.map(|_| ())), supervisor::ErrorKind::Driver);
    assert!(ip_up(&h1, "h1-eth0"), "a refused change touched the link");
    // A schedule step the driver refuses is recorded, and later steps run.
    let start = wall_ns();
    c.set_schedule(
        "h1:h1-eth0",
        vec![
            Step {
                at: Duration::ZERO,
                action: StepAction::Set(Box::new(nlab::topo::conditions::Directed::symmetric(
                    delay,
                ))),
            },
            step(300, StepAction::Down),
        ],
        Some(start),
    )
    .expect("schedule");
    assert!(
        becomes(&h1, "h1-eth0", false, start, 3000),
        "the step after a refused one did not run"
    );
    let st = c.status().expect("status");
    let h = &st.links[0].schedule.as_ref().expect("schedule").history;
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(
        h[0].error
            .as_deref()
            .is_some_and(|e| e.contains("kernel-state")),
        "{h:?}"
    );
    assert!(h[1].error.is_none(), "{h:?}");
    assert_eq!(c.stats().expect("stats"), serde_json::json!({}));
    // Malformed lines get a bad-request answer over the raw socket.
    let out = Command::new("socat")
        .args([
            "-t2",
            "-",
            &format!("UNIX-CONNECT:{}", paths::socket(&name).display()),
        ])
        .stdin_bytes(b"{\"op\":\"fly\"}\n")
        .expect("socat");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("a JSON answer");
    assert_eq!(v["error"]["kind"], "bad-request", "{v}");
}

#[test]
fn a_restarted_supervisor_reattaches_the_links_it_drives() {
    require_root!();
    let (name, _g) = two_hosts("sr");
    let h2 = ns(&name, "h2");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    let first = c.status().expect("status").pid;
    c.set_link(
        "h2:h2-eth0",
        supervisor::LinkState {
            up: false,
            ..Default::default()
        },
    )
    .expect("set-link");
    assert!(!ip_up(&h2, "h2-eth0"));
    unsafe {
        libc::kill(first as i32, libc::SIGKILL);
    }
    assert!(wait_until(Duration::from_secs(2), || pgrep(&name).is_empty()));
    // Killing it changed nothing in the kernel.
    assert!(
        !ip_up(&h2, "h2-eth0"),
        "the link came up when the supervisor died"
    );
    // Someone brings the link up behind its back.
    assert!(Command::new("ip")
        .args(["-n", &h2, "link", "set", "h2-eth0", "up"])
        .status()
        .expect("ip")
        .success());
    let c = supervisor::ensure_running(&name).expect("restart");
    assert_ne!(c.status().expect("status").pid, first);
    assert!(
        !ip_up(&h2, "h2-eth0"),
        "the restarted supervisor did not re-apply its state"
    );
    let st = supervisor::driven_links(&name).expect("driven links");
    assert_eq!(st.get("h2:h2-eth0--s1:s1-eth2").map(|s| s.up), Some(false));
}

#[test]
fn a_link_the_supervisor_holds_down_is_not_drift() {
    require_root!();
    let (name, _g) = two_hosts("sf");
    let h1 = ns(&name, "h1");
    let c = supervisor::ensure_running(&name).expect("supervisor");
    c.set_link(
        "h1:h1-eth0",
        supervisor::LinkState {
            up: false,
            ..Default::default()
        },
    )
    .expect("set-link");
    let lab = Lab::open(&name).expect("open");
    let view = lab.inspect().expect("inspect");
    assert!(view.drift.is_empty(), "{:?}", view.drift);
    // Re-applying the same topology leaves the supervised link alone.
    let (_, rep) = Lab::up(&star(&name, 2), &UpOptions::default()).expect("re-up");
    assert_eq!(rep.changes, 0, "{:?}", rep.plan);
    assert!(!ip_up(&h1, "h1-eth0"), "`up` undid the supervisor's change");
    // A link it does not drive is still checked.
    assert!(Command::new("ip")
        .args(["-n", &ns(&name, "h2"), "link", "set", "h2-eth0", "down"])
        .status()
        .expect("ip")
        .success());
    assert!(!lab.inspect().expect("inspect").drift.is_empty());
}
