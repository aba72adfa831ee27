//! What `load` agrees to read: regular files of bounded size, nothing that
//! blocks or never ends.

use crate::topo::file::{load, read_limited, MAX_FILE_BYTES};
use std::path::Path;
use std::time::{Duration, Instant};

fn first_error(path: &Path) -> String {
    match load(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_fifo_is_refused_at_once_not_waited_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("lab.yml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let start = Instant::now();
    let msg = first_error(&fifo);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(msg.contains("is a FIFO (named pipe)"), "{msg}");
    assert!(msg.contains("give a regular YAML file"), "{msg}");
    assert!(msg.contains("lab.yml"), "names the file: {msg}");
}

#[test]
fn devices_and_directories_are_refused() {
    let msg = first_error(Path::new("/dev/zero"));
    assert!(msg.contains("is a character device"), "{msg}");
    let dir = tempfile::tempdir().expect("temp dir");
    let msg = first_error(dir.path());
    assert!(msg.contains("is a directory"), "{msg}");
}

#[test]
fn a_file_over_the_limit_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("big.yml");
    std::fs::write(&p, "x".repeat(4096)).expect("write");
    let err = read_limited(&p, 1024).expect_err("over the limit");
    assert!(err.contains("larger than"), "{err}");
    assert_eq!(read_limited(&p, 4096).expect("at the limit").len(), 4096);
    assert_eq!(MAX_FILE_BYTES, 64 << 20);
}

#[test]
fn text_that_is_not_utf8_says_where() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("bin.yml");
    std::fs::write(&p, b"name: a\n\xff\xfe").expect("write");
    let err = read_limited(&p, 1024).expect_err("not UTF-8");
    assert!(
        err.contains("not UTF-8") && err.contains("offset 8"),
        "{err}"
    );
}

#[test]
fn a_regular_file_still_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("ok.yml");
    std::fs::write(
        &p,
        "name: ok\ntopology:\n  nodes:\n    h1: {}\n    h2: {}\n  links:\n    - endpoints: [\"h1:eth0\", \"h2:eth0\"]\n",
    )
    .expect("write");
    let t = load(&p).expect("loads");
    assert_eq!(t.nodes.len(), 2);
}
