//! Docker and Podman, driven through their command lines (the user asked
//! for containers; nlab never runs them for its own nodes otherwise).
//!
//! What a runtime needs on a given host is found by trying: a plain
//! `run` first, then with the settings hosts like this project's CI need
//! (Podman: the `runc` OCI runtime and the `cgroupfs` cgroup manager,
//! where `crun` refuses hybrid cgroups; both: explicit ulimits no higher
//! than this process's own, where the default raises them and fails with
//! EPERM). Nothing about one machine is written in here.

use super::{limits, Error, Result};
use std::process::{Command, Output, Stdio};

/// Label on every container nlab starts: its value is the lab.
pub const LAB_LABEL: &str = "nlab.lab";
/// Label with the inode of the root namespace nlab ran in, so a cleanup
/// in one sandbox never takes the containers of another that shares the
/// runtime's storage.
pub const HOST_LABEL: &str = "nlab.netns";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Podman,
    Docker,
}

impl Runtime {
    pub fn parse(s: &str) -> Option<Runtime> {
        match s {
            "podman" => Some(Runtime::Podman),
            "docker" => Some(Runtime::Docker),
            _ => None,
        }
    }

    pub fn program(self) -> &'static str {
        match self {
            Runtime::Podman => "podman",
            Runtime::Docker => "docker",
        }
    }
}

/// Where a container is: its init's pid (0 when it is not running).
#[derive(Debug, Clone, Copy)]
pub struct State {
    pub pid: i32,
    pub running: bool,
}

fn output(rt: Runtime, args: &[&str]) -> std::io::Result<Output> {
    Command::new(rt.program())
        .args(args)
        .stdin(Stdio::null())
        .output()
}

fn stderr_line(o: &Output) -> String {
    let text = String::from_utf8_lossy(&o.stderr);
    let last = text.lines().rev().find(|l| !l.trim().is_empty());
    last.unwrap_or("no message").trim().to_string()
}

/// The commands that tell whether `rt` can run containers here: its
/// client answers, and for Docker its daemon too (`docker version`
/// succeeds without a daemon on some releases).
pub fn probe_args(rt: Runtime) -> Vec<Vec<&'static str>> {
    let version = vec!["version", "--format", "{{.Client.Version}}"];
    match rt {
        Runtime::Podman => vec![version],
        Runtime::Docker => vec![version, vec!["info", "--format", "{{.ServerVersion}}"]],
    }
}

/// Why `rt` cannot run containers here, `None` when it can.
pub fn problem(rt: Runtime) -> Option<String> {
    for args in probe_args(rt) {
        let shown = format!("`{} {}`", rt.program(), args[0]);
        match output(rt, &args) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(format!("{} is not installed", rt.program()))
            }
            Err(e) => return Some(format!("{shown} could not run: {e}")),
            Ok(o) if !o.status.success() => {
                return Some(format!("{shown} failed: {}", stderr_line(&o)))
            }
            Ok(_) => {}
        }
    }
    None
}

/// The runtimes that can run containers here (a `docker` without a
/// daemon cannot), Podman first.
pub fn available() -> Vec<Runtime> {
    [Runtime::Podman, Runtime::Docker]
        .into_iter()
        .filter(|rt| problem(*rt).is_none())
        .collect()
}

/// What to tell a user for whom no runtime works, from each runtime's
/// problem: what failed and what to do.
pub fn none_works(problems: &[(Runtime, String)]) -> String {
    let what: Vec<String> = problems
        .iter()
        .map(|(rt, p)| format!("{}: {p}", rt.program()))
        .collect();
    format!(
        "no container runtime works here ({}); install Podman (Debian: apt-get install podman), \
         or start Docker's daemon (systemctl start docker) so that `docker info` succeeds",
        what.join("; ")
    )
}

/// [`none_works`] for this host, probed now.
pub fn why_none() -> String {
    let problems: Vec<(Runtime, String)> = [Runtime::Podman, Runtime::Docker]
        .into_iter()
        .map(|rt| (rt, problem(rt).unwrap_or_else(|| "works now".into())))
        .collect();
    none_works(&problems)
}

/// The command that reads a container's init pid and whether it runs
/// (the same for Docker and Podman).
pub fn inspect_args(name: &str) -> [&str; 6] {
    [
        "inspect",
        "--type",
        "container",
        "-f",
        "{{.State.Pid}} {{.State.Running}}",
        name,
    ]
}

/// The state of container `name` in `rt`, `None` when it has none.
pub fn inspect(rt: Runtime, name: &str) -> Option<State> {
    let o = output(rt, &inspect_args(name)).ok()?;
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut w = text.split_whitespace();
    Some(State {
        pid: w.next()?.parse().ok()?,
        running: w.next()? == "true",
    })
}

/// Whether `rt` has `image` locally (nlab never pulls).
pub fn image_exists(rt: Runtime, image: &str) -> bool {
    output(rt, &["image", "inspect", "--format", "{{.Id}}", image])
        .is_ok_and(|o| o.status.success())
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub labels: Vec<(String, String)>,
    pub cmd: &'a [String],
    pub entrypoint: Option<&'a str>,
    pub env: Vec<(String, String)>,
    /// `--volume` arguments (`SRC:DST[:ro]`).
    pub volumes: Vec<String>,
}

/// Starts a detached container with network mode `none`, trying the
/// settings this host may need one after the other (see the module
/// docs). A failed attempt's container is removed before the next.
pub fn run(rt: Runtime, spec: &RunSpec) -> Result<()> {
    let mut tried = Vec::new();
    for extra in attempts(rt) {
        let args = run_args(&extra, spec);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = output(rt, &refs).map_err(|e| {
            Error::io(
                format!("running {} for container {}", rt.program(), spec.name),
                e,
            )
        })?;
        if o.status.success() {
            return Ok(());
        }
        tried.push(format!("{}: {}", extra.label, stderr_line(&o)));
        remove(rt, spec.name);
    }
    Err(Error::protocol(
        format!(
            "starting container {} from {} with {}",
            spec.name,
            spec.image,
            rt.program()
        ),
        format!("every way failed: {}", tried.join("; ")),
    ))
}

/// One way of starting a container: options before `run` (the
/// runtime's own) and after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub label: &'static str,
    pub global: Vec<String>,
    pub run: Vec<String>,
}

/// The whole command line (after the program) of one attempt.
pub fn run_args(extra: &Attempt, spec: &RunSpec) -> Vec<String> {
    let mut args: Vec<String> = extra.global.clone();
    args.extend(["run", "-d", "--network", "none", "--name", spec.name].map(String::from));
    args.extend(extra.run.iter().cloned());
    for (k, v) in &spec.labels {
        args.extend(["--label".to_string(), format!("{k}={v}")]);
    }
    for (k, v) in &spec.env {
        args.extend(["--env".to_string(), format!("{k}={v}")]);
    }
    for v in &spec.volumes {
        args.extend(["--volume".to_string(), v.clone()]);
    }
    if let Some(e) = spec.entrypoint {
        args.extend(["--entrypoint".to_string(), e.to_string()]);
    }
    args.push(spec.image.to_string());
    args.extend(spec.cmd.iter().cloned());
    args
}

/// The ways `run` tries, in order (see the module docs).
pub fn attempts(rt: Runtime) -> Vec<Attempt> {
    let ulimits = own_ulimits();
    let mut v = vec![Attempt {
        label: "defaults",
        global: Vec::new(),
        run: Vec::new(),
    }];
    let mut global = Vec::new();
    if rt == Runtime::Podman {
        global = vec!["--cgroup-manager".to_string(), "cgroupfs".to_string()];
        if on_path("runc") {
            global.extend(["--runtime".to_string(), "runc".to_string()]);
        }
        v.push(Attempt {
            label: "runc and cgroupfs",
            global: global.clone(),
            run: Vec::new(),
        });
    }
    v.push(Attempt {
        label: "this process's ulimits",
        global,
        run: ulimits,
    });
    v
}

/// `--ulimit` flags that keep the container at this process's own limits.
fn own_ulimits() -> Vec<String> {
    let mut out = Vec::new();
    let cap = |v: u64| {
        if v == u64::MAX {
            -1i64
        } else {
            v.min(i64::MAX as u64) as i64
        }
    };
    if let Some((s, h)) = limits::open_files() {
        out.extend([
            "--ulimit".to_string(),
            format!("nofile={}:{}", cap(s), cap(h)),
        ]);
    }
    if let Some((s, h)) = limits::processes() {
        out.extend([
            "--ulimit".to_string(),
            format!("nproc={}:{}", cap(s), cap(h)),
        ]);
    }
    out
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Stops and removes container `name` at once (no grace period: the lab
/// is going). Gone already is fine.
pub fn remove(rt: Runtime, name: &str) -> bool {
    output(rt, &remove_args(rt, name)).is_ok_and(|o| o.status.success())
}

/// The command that removes a container at once (Docker's `rm -f`
/// kills without a grace period; Podman's needs `-t 0`).
pub fn remove_args(rt: Runtime, name: &str) -> Vec<&str> {
    match rt {
        Runtime::Podman => vec!["rm", "-f", "-t", "0", name],
        Runtime::Docker => vec!["rm", "-f", name],
    }
}

/// The value of label `key` on container `name` (`None`: no such
/// container or no such label).
pub fn label_of(rt: Runtime, name: &str, key: &str) -> Option<String> {
    let format = format!("{{{{index .Config.Labels \"{key}\"}}}}");
    let o = output(rt, &["inspect", "--type", "container", "-f", &format, name]).ok()?;
    let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !v.is_empty() && v != "<no value>").then_some(v)
}

/// The command listing the containers that carry `HOST_LABEL=host`, one
/// `NAME LAB` line each (the two runtimes spell a label differently in
/// `ps --format`).
pub fn labelled_args(rt: Runtime, host: &str) -> Vec<String> {
    let filter = format!("label={HOST_LABEL}={host}");
    let format = match rt {
        Runtime::Podman => format!("{{{{.Names}}}} {{{{index .Labels \"{LAB_LABEL}\"}}}}"),
        Runtime::Docker => format!("{{{{.Names}}}} {{{{.Label \"{LAB_LABEL}\"}}}}"),
    };
    ["ps", "-a", "--filter", &filter, "--format", &format]
        .map(String::from)
        .to_vec()
}

/// Containers of `rt` that carry `HOST_LABEL=host`, with their lab.
pub fn labelled(rt: Runtime, host: &str) -> Vec<(String, String)> {
    let args = labelled_args(rt, host);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let Ok(o) = output(rt, &refs) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let (name, lab) = l.trim().split_once(' ')?;
            Some((name.to_string(), lab.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(cmd: &'a [String]) -> RunSpec<'a> {
        RunSpec {
            name: "nlab-demo-web",
            image: "busybox:lab",
            labels: vec![(LAB_LABEL.into(), "demo".into())],
            cmd,
            entrypoint: Some("/bin/sh"),
            env: vec![("MODE".into(), "lab".into())],
            volumes: vec!["/srv/data:/data:ro".into()],
        }
    }

    /// The command lines nlab would run with Docker (no daemon runs on
    /// the test machine, so this is how the Docker path is checked).
    #[test]
    fn docker_command_lines() {
        let cmd = ["-c".to_string(), "sleep 1000".to_string()];
        let tries = attempts(Runtime::Docker);
        let labels: Vec<&str> = tries.iter().map(|a| a.label).collect();
        // Podman's OCI runtime and cgroup manager flags are not Docker's.
        assert_eq!(labels, ["defaults", "this process's ulimits"]);
        assert!(tries.iter().all(|a| a.global.is_empty()), "{tries:?}");
        assert_eq!(
            run_args(&tries[0], &spec(&cmd)),
            [
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                "nlab-demo-web",
                "--label",
                "nlab.lab=demo",
                "--env",
                "MODE=lab",
                "--volume",
                "/srv/data:/data:ro",
                "--entrypoint",
                "/bin/sh",
                "busybox:lab",
                "-c",
                "sleep 1000"
            ]
        );
        let with_limits = run_args(&tries[1], &spec(&cmd));
        let at = with_limits
            .iter()
            .position(|a| a == "--ulimit")
            .expect("ulimits");
        assert!(
            with_limits[at + 1].starts_with("nofile="),
            "{with_limits:?}"
        );
        // The image comes after every option, the command after the image.
        let img = with_limits
            .iter()
            .position(|a| a == "busybox:lab")
            .expect("image");
        assert!(img > at && with_limits[img + 1..] == cmd);
        assert_eq!(remove_args(Runtime::Docker, "c1"), ["rm", "-f", "c1"]);
        assert_eq!(
            labelled_args(Runtime::Docker, "4026531840"),
            [
                "ps",
                "-a",
                "--filter",
                "label=nlab.netns=4026531840",
                "--format",
                "{{.Names}} {{.Label \"nlab.lab\"}}"
            ]
        );
        assert_eq!(
            inspect_args("c1"),
            [
                "inspect",
                "--type",
                "container",
                "-f",
                "{{.State.Pid}} {{.State.Running}}",
                "c1"
            ]
        );
        // Docker counts only with its daemon up.
        let probes = probe_args(Runtime::Docker);
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[1][0], "info");
    }

    #[test]
    fn podman_command_lines() {
        let tries = attempts(Runtime::Podman);
        assert_eq!(tries[0].label, "defaults");
        assert_eq!(tries[1].label, "runc and cgroupfs");
        assert_eq!(tries[1].global[..2], ["--cgroup-manager", "cgroupfs"]);
        let args = run_args(&tries[1], &spec(&[]));
        // The runtime's own options go before `run`.
        assert_eq!(args[..2], ["--cgroup-manager", "cgroupfs"]);
        assert_eq!(args.last().map(String::as_str), Some("busybox:lab"));
        assert_eq!(
            remove_args(Runtime::Podman, "c1"),
            ["rm", "-f", "-t", "0", "c1"]
        );
        assert!(labelled_args(Runtime::Podman, "1")[5].contains("index .Labels"));
        assert_eq!(probe_args(Runtime::Podman).len(), 1);
    }

    #[test]
    fn no_runtime_says_what_failed_and_what_to_do() {
        let msg = none_works(&[
            (Runtime::Podman, "podman is not installed".into()),
            (
                Runtime::Docker,
                "`docker info` failed: Cannot connect to the Docker daemon".into(),
            ),
        ]);
        assert!(msg.contains("podman: podman is not installed"), "{msg}");
        assert!(
            msg.contains("docker: `docker info` failed: Cannot connect"),
            "{msg}"
        );
        assert!(msg.contains("apt-get install podman"), "{msg}");
        assert!(msg.contains("systemctl start docker"), "{msg}");
    }
}
