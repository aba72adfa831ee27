//! An image for tests, made offline: `podman import` of a rootfs holding
//! Debian's static busybox (package busybox-static), so no registry is
//! needed; and the podman flags that start a container on this host.

use super::text;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const IMAGE: &str = "localhost/nlab-test-busybox:latest";

pub fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect(cmd)
}

/// The podman flags that start a container on this host (found by
/// trying, as nlab does), or why none does.
pub fn podman() -> &'static Result<Vec<String>, String> {
    static P: OnceLock<Result<Vec<String>, String>> = OnceLock::new();
    P.get_or_init(|| {
        if Command::new("podman").arg("--version").output().is_err() {
            return Err("podman is not installed (scripts/test.sh installs it)".into());
        }
        import_image()?;
        let hard = run("sh", &["-c", "ulimit -Hn"]);
        let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
        let nofile = format!("nofile={hard}:{hard}");
        let tries: [&[&str]; 3] = [
            &[],
            &["--cgroup-manager", "cgroupfs", "--runtime", "runc"],
            &[
                "--cgroup-manager",
                "cgroupfs",
                "--runtime",
                "runc",
                "--ulimit",
                &nofile,
            ],
        ];
        let mut why = Vec::new();
        for t in tries {
            let mut args: Vec<&str> = t.iter().take(4).copied().collect();
            args.extend(["run", "--rm", "--network", "none"]);
            args.extend(t.iter().skip(4).copied());
            args.extend([IMAGE, "true"]);
            let o = run("podman", &args);
            if o.status.success() {
                return Ok(t.iter().map(|s| s.to_string()).collect());
            }
            why.push(text(&o).trim().to_string());
        }
        Err(format!(
            "podman cannot run a container here: {}",
            why.join(" / ")
        ))
    })
}

/// `podman import` of a busybox rootfs (idempotent).
fn import_image() -> Result<(), String> {
    let busybox = std::path::Path::new("/bin/busybox");
    if !busybox.exists() {
        return Err("/bin/busybox is missing (package busybox-static)".into());
    }
    let dir = std::env::temp_dir().join(format!("nlab-bbroot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).map_err(|e| e.to_string())?;
    std::fs::copy(busybox, dir.join("bin/busybox")).map_err(|e| e.to_string())?;
    for app in ["sh", "sleep", "ip", "ping", "cat", "env", "ls", "true"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(app))
            .map_err(|e| e.to_string())?;
    }
    let tar = dir.with_extension("tar");
    let o = run(
        "tar",
        &[
            "-C",
            &dir.to_string_lossy(),
            "-cf",
            &tar.to_string_lossy(),
            ".",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    if !o.status.success() {
        return Err(format!("tar: {}", text(&o)));
    }
    let o = run("podman", &["import", &tar.to_string_lossy(), IMAGE]);
    let _ = std::fs::remove_file(&tar);
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("podman import: {}", text(&o)))
    }
}

/// The podman flags to use, or `None` after printing why the test skips.
pub fn ready() -> Option<Vec<String>> {
    match podman() {
        Ok(flags) => Some(flags.clone()),
        Err(why) => {
            let t = std::thread::current();
            eprintln!("SKIP: {}: {why}", t.name().unwrap_or("an image test"));
            None
        }
    }
}

/// Names of the containers labelled with `lab`, stopped ones included.
pub fn containers_of(lab: &str) -> Vec<String> {
    let o = run(
        "podman",
        &[
            "ps",
            "-a",
            "--filter",
            &format!("label=nlab.lab={lab}"),
            "--format",
            "{{.Names}}",
        ],
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
