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

/// The runtimes whose command answers (a `docker` without a daemon does
/// not), Podman first.
pub fn available() -> Vec<Runtime> {
    [Runtime::Podman, Runtime::Docker]
        .into_iter()
        .filter(|rt| {
            output(*rt, &["version", "--format", "{{.Client.Version}}"])
                .map(|o| o.status.success())
                .unwrap_or(false)
                && (*rt == Runtime::Podman
                    || output(*rt, &["info"]).is_ok_and(|o| o.status.success()))
        })
        .collect()
}

/// The state of container `name` in `rt`, `None` when it has none.
pub fn inspect(rt: Runtime, name: &str) -> Option<State> {
    let o = output(
        rt,
        &[
            "inspect",
            "--type",
            "container",
            "-f",
            "{{.State.Pid}} {{.State.Running}}",
            name,
        ],
    )
    .ok()?;
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
        let mut args: Vec<String> = extra.global;
        args.extend(["run", "-d", "--network", "none", "--name", spec.name].map(String::from));
        args.extend(extra.run);
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

struct Attempt {
    label: &'static str,
    global: Vec<String>,
    run: Vec<String>,
}

fn attempts(rt: Runtime) -> Vec<Attempt> {
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
    let args: &[&str] = match rt {
        Runtime::Podman => &["rm", "-f", "-t", "0", name],
        Runtime::Docker => &["rm", "-f", name],
    };
    output(rt, args).is_ok_and(|o| o.status.success())
}

/// The value of label `key` on container `name` (`None`: no such
/// container or no such label).
pub fn label_of(rt: Runtime, name: &str, key: &str) -> Option<String> {
    let format = format!("{{{{index .Config.Labels \"{key}\"}}}}");
    let o = output(rt, &["inspect", "--type", "container", "-f", &format, name]).ok()?;
    let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !v.is_empty() && v != "<no value>").then_some(v)
}

/// Containers of `rt` that carry `HOST_LABEL=host`, with their lab.
pub fn labelled(rt: Runtime, host: &str) -> Vec<(String, String)> {
    let filter = format!("label={HOST_LABEL}={host}");
    let format = match rt {
        Runtime::Podman => format!("{{{{.Names}}}} {{{{index .Labels \"{LAB_LABEL}\"}}}}"),
        Runtime::Docker => format!("{{{{.Names}}}} {{{{.Label \"{LAB_LABEL}\"}}}}"),
    };
    let Ok(o) = output(rt, &["ps", "-a", "--filter", &filter, "--format", &format]) else {
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
