//! `nlab up --custom FILE.py --topo NAME[,ARGS]`: Mininet's custom
//! topologies, read through the Python package's exporter (`NLAB_PYTHON
//! -m mininet.nlab_export FILE SPEC`). `--dry-run` plans without root and
//! without touching the kernel. The package's own tests (python/tests)
//! bring such a lab up and ping across it.
use assert_cmd::Command;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `text` at `path` with `mode`.
fn write(path: &Path, text: &str, mode: u32) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .expect("create test file");
    f.write_all(text.as_bytes()).expect("write test file");
}

/// A stand-in interpreter: records its arguments and prints a topology
/// of `$2` hosts on one switch (what the exporter prints), or fails as
/// Python does for a missing module.
fn fake_python(dir: &Path) -> std::path::PathBuf {
    let py = dir.join("python");
    let script = r#"#!/bin/sh
echo "$@" > "$(dirname "$0")/args"
[ "$1 $2" = "-m mininet.nlab_export" ] || { echo "unexpected: $*" >&2; exit 1; }
case "$4" in
  mytopo,2) ;;
  *) echo "$3: unknown topology 'nope': the file offers mytopo" >&2; exit 1 ;;
esac
cat <<'J'
{"name": "mytopo", "topology": {"nodes": {"h1": {"kind": "host"}, "h2": {"kind": "host"}, "s1": {"kind": "switch"}},
 "links": [{"endpoints": [{"node": "h1", "iface": "h1-eth0", "ip": "10.0.0.1/8"}, "s1:s1-eth1"]},
           {"endpoints": [{"node": "h2", "iface": "h2-eth0", "ip": "10.0.0.2/8"}, "s1:s1-eth2"]}]}}
J
"#;
    write(&py, script, 0o755);
    py
}

fn up(python: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("nlab")
        .expect("nlab binary")
        .env("NLAB_PYTHON", python)
        .arg("up")
        .args(args)
        .output()
        .expect("run nlab up");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn custom_file_is_exported_planned_and_named_after_the_topology() {
    let dir = tempfile::tempdir().expect("tempdir");
    let py = fake_python(dir.path());
    let file = dir.path().join("mytopo.py");
    write(&file, "topos = {}\n", 0o644);
    let f = file.to_str().expect("utf-8 path");
    let (code, out, err) = up(&py, &["--custom", f, "--topo", "mytopo,2", "--dry-run"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let args = std::fs::read_to_string(dir.path().join("args")).expect("args");
    assert_eq!(
        args.trim(),
        format!("-m mininet.nlab_export {f} mytopo,2"),
        "the exporter's command line"
    );
    assert!(out.contains("mytopo"), "{out}");
    assert!(out.contains("h1") && out.contains("s1"), "{out}");
}

#[test]
fn custom_errors_say_what_failed_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let py = fake_python(dir.path());
    let file = dir.path().join("mytopo.py");
    write(&file, "topos = {}\n", 0o644);
    let f = file.to_str().expect("utf-8 path");
    let (code, _, err) = up(&py, &["--custom", f, "--topo", "nope", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--topo nope"), "{err}");
    assert!(err.contains("the file offers mytopo"), "{err}");

    let missing = dir.path().join("no-such-python");
    let (code, _, err) = up(
        &missing,
        &["--custom", f, "--topo", "mytopo,2", "--dry-run"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot run"), "{err}");
    assert!(err.contains("NLAB_PYTHON"), "{err}");

    // --custom names a file for --topo to pick from: alone it is refused.
    let (code, _, err) = up(&py, &["--custom", f, "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--topo"), "{err}");
}
