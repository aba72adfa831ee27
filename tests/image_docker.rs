//! The Docker path of `image:` nodes, as root, on a machine with no
//! Docker daemon: `nlab up` and `down` run with a `PATH` holding only a
//! stand-in `docker` (a shell script written here) that logs every
//! command line, starts the "container" as `unshare -n sleep` (a real
//! process in its own network namespace, as Docker's `--network none`
//! gives) and answers `inspect`/`ps`/`rm` from its own state. So the
//! runtime choice, the command lines nlab sends Docker, the wiring of the
//! container's namespace and its removal on `down` are all exercised; and
//! with the daemon "down", `up` says what failed and what to do.
mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The stand-in `docker`. State lives beside it: `log` (one line per
/// call), `nodaemon` (if present, the daemon is "down"), `hostnet` (if
/// present, `run` leaves the container in the host's namespace), and per
/// container NAME.pid and NAME.lab.
const FAKE_DOCKER: &str = r#"#!/bin/sh
d=$(/usr/bin/dirname "$0")/state
echo "$*" >> "$d/log"
nodaemon() {
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
}
case "$1" in
  version) echo 24.0.7 ;;
  info) [ -e "$d/nodaemon" ] && nodaemon; echo 24.0.7 ;;
  image) [ "$5" = nlab-fake:1 ] && echo sha256:0123 && exit 0; echo "No such image: $5" >&2; exit 1 ;;
  inspect)
    name=$6
    [ -f "$d/$name.pid" ] || { echo "No such container: $name" >&2; exit 1; }
    case "$5" in
      *State.Pid*) echo "$(/bin/cat "$d/$name.pid") true" ;;
      *Labels*) /bin/cat "$d/$name.lab" ;;
    esac ;;
  run)
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        --name) name=$2; shift 2 ;;
        --label) case "$2" in nlab.lab=*) lab=${2#nlab.lab=} ;; esac; shift 2 ;;
        -d) shift ;;
        --*) shift 2 ;;
        *) break ;;
      esac
    done
    if [ -e "$d/hostnet" ]; then
      /bin/sleep 1000 </dev/null >/dev/null 2>&1 &
      echo $! > "$d/$name.pid"; echo "$lab" > "$d/$name.lab"; exit 0
    fi
    /usr/bin/unshare -n /bin/sleep 1000 </dev/null >/dev/null 2>&1 &
    pid=$!
    # As Docker does, answer once the container is in its namespace.
    while [ "$(/usr/bin/readlink /proc/$pid/ns/net)" = "$(/usr/bin/readlink /proc/self/ns/net)" ]; do
      /bin/sleep 0.01
    done
    echo $pid > "$d/$name.pid"
    echo "$lab" > "$d/$name.lab"
    echo 0123456789ab ;;
  rm)
    for name; do :; done
    [ -f "$d/$name.pid" ] && /bin/kill -9 "$(/bin/cat "$d/$name.pid")"
    /bin/rm -f "$d/$name.pid" "$d/$name.lab" ;;
  ps)
    for p in "$d"/*.pid; do
      [ -f "$p" ] || continue
      n=$(/usr/bin/basename "$p" .pid)
      echo "$n $(/bin/cat "$d/$n.lab")"
    done ;;
  *) echo "fake docker: unknown command $1" >&2; exit 1 ;;
esac
"#;

struct FakeDocker {
    dir: tempfile::TempDir,
}

impl FakeDocker {
    fn new() -> FakeDocker {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        std::fs::create_dir(dir.path().join("bin/state")).expect("state dir");
        let docker = bin.join("docker");
        std::fs::write(&docker, FAKE_DOCKER).expect("write fake docker");
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        FakeDocker { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn state(&self) -> PathBuf {
        self.bin().join("state")
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.state().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `nlab ARGS` with this `docker` the only program on `PATH` (no
    /// podman: the Docker path is the one taken).
    fn nlab(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_nlab"))
            .args(args)
            .env("PATH", self.bin())
            .output()
            .expect("nlab")
    }

    fn pid_of(&self, container: &str) -> Option<i32> {
        std::fs::read_to_string(self.state().join(format!("{container}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        // A container the test left (it failed midway) is a sleep.
        for e in std::fs::read_dir(self.state())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "pid") {
                if let Ok(p) = std::fs::read_to_string(e.path()) {
                    let _ = Command::new("kill").args(["-9", p.trim()]).status();
                }
            }
        }
    }
}

fn topology(dir: &Path, lab: &str) -> PathBuf {
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    h1: {{}}\n    b1: {{image: \"nlab-fake:1\", cmd: [sleep, infinity], env: {{MODE: lab}}}}\n  links:\n    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.9.1/24}}, {{node: b1, iface: eth1, ip: 10.0.9.2/24}}]\n"
    );
    let p = dir.join(format!("{lab}.yaml"));
    std::fs::write(&p, yaml).expect("write topology");
    p
}

#[test]
fn an_image_node_runs_through_docker_is_wired_and_removed() {
    require_root!();
    let fake = FakeDocker::new();
    let lab = lab_name("dk");
    let file = topology(fake.dir.path(), &lab);
    let _guard = LabGuard(lab.clone());
    let up = fake.nlab(&["up", file.to_str().expect("path")]);
    assert!(
        up.status.success(),
        "up: {}{}",
        text(&up),
        String::from_utf8_lossy(&up.stderr)
    );
    let cname = format!("nlab-{lab}-b1");
    let log = fake.log();
    let run = log
        .iter()
        .find(|l| l.starts_with("run "))
        .unwrap_or_else(|| panic!("no docker run in {log:?}"));
    // Docker's command line: no Podman-only flags, network none, the
    // lab's labels, env and command after the image.
    assert!(
        run.starts_with(&format!(
            "run -d --network none --name {cname} --label nlab.lab={lab} "
        )),
        "{run}"
    );
    assert!(
        run.contains(" --env MODE=lab nlab-fake:1 sleep infinity"),
        "{run}"
    );
    assert!(
        !run.contains("--cgroup-manager") && !run.contains("--runtime"),
        "{run}"
    );
    assert!(
        log.iter().any(|l| l.starts_with("info")),
        "the daemon was not asked: {log:?}"
    );

    // The container's namespace got the link: h1 pings it.
    let pid = fake.pid_of(&cname).expect("container pid");
    let ino = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).expect("namespace file").ino()
    };
    assert_eq!(
        ino(&format!("/proc/{pid}/ns/net")),
        ino(&format!("/run/netns/{}", ns(&lab, "b1"))),
        "b1's pin is not the container's namespace"
    );
    assert!(
        ping(&ns(&lab, "h1"), "10.0.9.2"),
        "h1 cannot reach the container"
    );

    let down = fake.nlab(&["down", &lab]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        fake.log().iter().any(|l| l == &format!("rm -f {cname}")),
        "down did not remove the container: {:?}",
        fake.log()
    );
    assert!(gone(pid), "the container's process survived down");
}

#[test]
fn without_a_runtime_up_says_what_failed_and_what_to_do() {
    require_root!();
    let fake = FakeDocker::new();
    std::fs::write(fake.state().join("nodaemon"), b"").expect("daemon down");
    let lab = lab_name("dkn");
    let file = topology(fake.dir.path(), &lab);
    let up = fake.nlab(&["up", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(!up.status.success(), "{err}");
    assert!(err.contains("podman: podman is not installed"), "{err}");
    assert!(
        err.contains("docker: `docker info` failed: Cannot connect to the Docker daemon"),
        "{err}"
    );
    assert!(err.contains("systemctl start docker"), "{err}");
    assert!(
        !fake.log().iter().any(|l| l.starts_with("run ")),
        "{:?}",
        fake.log()
    );
    assert_no_trace(&lab);
}

/// A runtime that left the container in the host's network namespace
/// (ignoring `--network none`): nlab refuses to wire it, removes the
/// container and leaves nothing of the lab.
#[test]
fn a_container_in_the_hosts_namespace_is_refused() {
    require_root!();
    let fake = FakeDocker::new();
    std::fs::write(fake.state().join("hostnet"), b"").expect("host network");
    let lab = lab_name("dkh");
    let file = topology(fake.dir.path(), &lab);
    let _guard = LabGuard(lab.clone());
    let up = fake.nlab(&["up", file.to_str().expect("path")]);
    let err = String::from_utf8_lossy(&up.stderr);
    assert!(!up.status.success(), "{err}");
    assert!(
        err.contains("is in the host's network namespace, not one of its own"),
        "{err}"
    );
    let cname = format!("nlab-{lab}-b1");
    assert!(
        fake.log().iter().any(|l| l == &format!("rm -f {cname}")),
        "the container was left: {:?}",
        fake.log()
    );
    assert_no_trace(&lab);
}
