//! Running containers of Podman and Docker, asked of their own command
//! line tools in JSON (`podman ps`, `docker inspect`), so a namespace a
//! container holds is named by the container. A runtime that is not
//! installed, not running or slow is skipped: naming is a courtesy, the
//! wiring does not depend on it.

use super::names::Container;
use serde::Deserialize;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one runtime may take to answer.
const PATIENCE: Duration = Duration::from_secs(5);

/// Every running container the runtimes on this host report.
pub fn running() -> Vec<Container> {
    let mut out = Vec::new();
    if on_path("podman") {
        out.extend(podman());
    }
    // Docker's client only answers with a daemon behind its socket;
    // without one it fails slowly for nothing.
    if on_path("docker") && Path::new("/var/run/docker.sock").exists() {
        out.extend(docker());
    }
    out
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .any(|d| d.join(program).is_file())
}

/// Runs `program args` and returns its standard output, if it succeeded
/// within [`PATIENCE`].
fn output(program: &str, args: &[&str]) -> Option<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < PATIENCE => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!("{program} {} did not answer in time", args.join(" "));
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PodmanPs {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    pid: i32,
}

fn podman() -> Vec<Container> {
    output("podman", &["ps", "--format", "json"])
        .map(|o| parse_podman(&o))
        .unwrap_or_default()
}

/// `podman ps --format json`: an array of containers with `Names`, `Id`
/// and the `Pid` of their init.
pub fn parse_podman(json: &[u8]) -> Vec<Container> {
    let list: Vec<PodmanPs> = serde_json::from_slice(json).unwrap_or_default();
    list.into_iter()
        .filter(|c| c.pid > 0)
        .map(|c| Container {
            runtime: "podman".into(),
            name: c.names.first().cloned().unwrap_or_else(|| c.id.clone()),
            id: c.id,
            pid: c.pid,
        })
        .collect()
}

fn docker() -> Vec<Container> {
    let Some(ids) = output("docker", &["ps", "-q", "--no-trunc"]) else {
        return Vec::new();
    };
    let ids = String::from_utf8_lossy(&ids);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["inspect"];
    args.extend(ids);
    output("docker", &args)
        .map(|o| parse_docker(&o))
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerInspect {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    state: DockerState,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerState {
    #[serde(default)]
    pid: i32,
}

/// `docker inspect`: an array with `Id`, `Name` (`/web`) and
/// `State.Pid`.
pub fn parse_docker(json: &[u8]) -> Vec<Container> {
    let list: Vec<DockerInspect> = serde_json::from_slice(json).unwrap_or_default();
    list.into_iter()
        .filter(|c| c.state.pid > 0)
        .map(|c| Container {
            runtime: "docker".into(),
            name: c.name.trim_start_matches('/').to_string(),
            id: c.id,
            pid: c.state.pid,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_and_docker_answers_are_read() {
        let p = br#"[{"Id":"abc","Names":["web"],"Pid":812,"State":"running"},
                    {"Id":"def","Names":["stopped"],"Pid":0}]"#;
        let c = parse_podman(p);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].name.as_str(), c[0].pid), ("web", 812));
        let d = br#"[{"Id":"f00","Name":"/db","State":{"Pid":900,"Status":"running"}}]"#;
        let c = parse_docker(d);
        assert_eq!((c[0].name.as_str(), c[0].pid), ("db", 900));
        assert!(parse_podman(b"not json").is_empty());
    }
}
