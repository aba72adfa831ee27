//! Issue 11, items 7 and 8: what nlab writes under /run/nlab and /etc/netns
//! has explicit modes, whatever root's umask; an unprivileged user can
//! neither write a lab's files (which `exec` binds over a node's /etc) nor
//! open its lock to block nlab.
mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn nlab() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("nlab")
}

/// `sh -c CMD` as the user nobody; true when it succeeded.
fn as_nobody(cmd: &str) -> bool {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "sh", "-c", cmd])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Every path under `dir` (itself included), not following symlinks.
fn walk(dir: &Path, out: &mut Vec<(std::path::PathBuf, std::fs::Metadata)>) {
    let Ok(m) = std::fs::symlink_metadata(dir) else {
        return;
    };
    let is_dir = m.is_dir();
    out.push((dir.to_path_buf(), m));
    if is_dir {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            walk(&e.path(), out);
        }
    }
}

fn mode(p: &str) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .mode()
        & 0o7777
}

#[test]
fn with_umask_000_nothing_of_a_lab_is_writable_by_others() {
    require_root!();
    let name = lab_name("pm");
    let _g = LabGuard(name.clone());
    let up = format!(
        "umask 000; exec {} up --topo linear,2 --name {name}",
        nlab().display()
    );
    let o = Command::new("sh").args(["-c", &up]).output().expect("up");
    assert!(o.status.success(), "{}", text(&o));
    let lab_dir = format!("/run/nlab/{name}");
    let mut paths = Vec::new();
    for d in [lab_dir.as_str(), "/run/nlab/.locks"] {
        walk(Path::new(d), &mut paths);
    }
    // Whoever can replace a link in /etc/netns chooses a node's /etc. Its
    // other entries belong to other tools.
    for d in ["/run/nlab", "/etc/netns"] {
        paths.push((d.into(), std::fs::symlink_metadata(d).expect(d)));
    }
    for (p, m) in &paths {
        if m.file_type().is_symlink() {
            continue;
        }
        assert_eq!(m.uid(), 0, "{} is not root's", p.display());
        assert_eq!(
            m.mode() & 0o022,
            0,
            "{} is group/world-writable: {:o}",
            p.display(),
            m.mode() & 0o7777
        );
    }
    assert_eq!(mode(&lab_dir), 0o700);
    assert_eq!(mode(&format!("{lab_dir}/state.json")), 0o600);
    assert_eq!(mode(&format!("{lab_dir}/etc")), 0o755);
    assert_eq!(mode(&format!("{lab_dir}/etc/hosts")), 0o644);
    assert_eq!(mode("/run/nlab/.locks"), 0o700);
    let lock = nlab::testing::lock_path(&name);
    assert_eq!(mode(&lock.display().to_string()), 0o600);

    // An unprivileged user: cannot write the hosts file nodes read, nor
    // read the journal or the lock.
    assert!(!as_nobody(&format!("echo x >> {lab_dir}/etc/hosts")));
    assert!(!as_nobody(&format!("cat {lab_dir}/state.json")));
    assert!(!as_nobody(&format!("cat {}", lock.display())));
    // A node's non-root programs still read their hosts file (bound over
    // /etc/hosts, which needs no access to the lab's directory).
    let o = Command::new(nlab())
        .args(["exec", &name, "h1", "--", "runuser", "-u", "nobody", "--"])
        .args(["cat", "/etc/hosts"])
        .output()
        .expect("exec");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\th2"),
        "{}",
        text(&o)
    );
}

/// Item 8, as the issue reproduced it: `flock -s` by an unprivileged user
/// on the lab's lock used to make `down` hang. Now nobody cannot open any
/// of the lab's files, and `down` is not held up.
#[test]
fn nobody_cannot_hold_a_lab_lock() {
    require_root!();
    let name = lab_name("pn");
    let _g = LabGuard(name.clone());
    let o = Command::new(nlab())
        .args(["up", "--topo", "minimal", "--name", &name])
        .output()
        .expect("up");
    assert!(o.status.success(), "{}", text(&o));
    let mut files = Vec::new();
    walk(Path::new(&format!("/run/nlab/{name}")), &mut files);
    walk(&nlab::testing::lock_path(&name), &mut files);
    let lock = nlab::testing::lock_path(&name);
    assert!(files.iter().any(|(p, _)| *p == lock), "no lock file");
    for (p, m) in &files {
        if m.is_file() {
            assert!(
                !as_nobody(&format!("flock -s -n {} true", p.display())),
                "nobody could flock {}",
                p.display()
            );
        }
    }
    let blocker = Group::spawn(
        Command::new("runuser")
            .args(["-u", "nobody", "--", "flock", "-s"])
            .arg(&lock)
            .args(["sleep", "600"])
            .stderr(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let o = Command::new(nlab())
        .args(["down", &name, "--wait", "5"])
        .output()
        .expect("down");
    drop(blocker);
    assert!(o.status.success(), "{}", text(&o));
    assert!(start.elapsed() < Duration::from_secs(4), "down was held up");
}

/// The directories nlab makes when they are missing (`/run/netns`,
/// `/run/nlab`) take their modes from nlab, not from the umask. Run in a
/// private mount namespace with a fresh tmpfs on /run and /etc/netns, so
/// the host's directories are never touched and the lab dies with it.
#[test]
fn missing_run_directories_are_made_with_their_modes_under_umask_000() {
    require_root!();
    if !std::path::Path::new("/etc/netns").is_dir() {
        eprintln!("skipped: /etc/netns is missing (a mount point is needed)");
        return;
    }
    let name = lab_name("pr");
    let bin = nlab();
    let script = format!(
        "mount -t tmpfs -o mode=0755 r /run && mount -t tmpfs -o mode=0755 e /etc/netns && \
         umask 000 && {b} up --topo minimal --name {name} >/dev/null && \
         stat -c '%n %a' /run/netns /run/nlab /run/nlab/{name}; {b} down {name} >/dev/null",
        b = bin.display()
    );
    let o = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .expect("unshare");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("/run/netns 755"), "{out}");
    assert!(out.contains("/run/nlab 755"), "{out}");
    assert!(out.contains(&format!("/run/nlab/{name} 700")), "{out}");
}
