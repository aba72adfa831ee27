//! Root integration tests of `kernel::exec`: running programs inside a
//! node the way `ip netns exec` does. Witnesses: `cat`, `ip -j link`, `ls`.

mod common;
use nlab::testing::exec::{command_in, exec_replace};
use nlab::testing::netns::{self, create_pinned, delete_pinned, prepare_run_dir};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A pinned namespace `nlab-t<rand>-x` that is deleted (with its
/// `/etc/netns` directory) when dropped, even on panic.
struct TestNs {
    name: String,
}

impl TestNs {
    fn new() -> TestNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let tag = (nanos ^ std::process::id().rotate_left(16)) & 0xffff;
        let name = format!("nlab-t{tag:04x}{}-x", N.fetch_add(1, Ordering::Relaxed));
        prepare_run_dir().expect("preparing /run/netns");
        create_pinned(&name, |_| Ok(())).expect("creating test namespace");
        TestNs { name }
    }

    fn write_etc(&self, file: &str, content: &str) {
        let dir = Path::new(netns::ETC_NETNS).join(&self.name);
        fs::create_dir_all(&dir).expect("creating /etc/netns dir");
        fs::write(dir.join(file), content).expect("writing per-node file");
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = delete_pinned(&self.name) {
            eprintln!("cleanup of {}: {e}", self.name);
        }
        // The namespace's /etc/netns entry belongs to whoever made it.
        let _ = fs::remove_dir_all(Path::new(netns::ETC_NETNS).join(&self.name));
        if !std::thread::panicking() {
            assert!(!netns::exists(&self.name), "{} still pinned", self.name);
            assert!(
                !Path::new(netns::ETC_NETNS).join(&self.name).exists(),
                "/etc/netns/{} still there",
                self.name
            );
        }
    }
}

fn run(ns: &str, program: &str, args: &[&str]) -> std::process::Output {
    command_in(ns, program, args)
        .expect("preparing command")
        .output()
        .expect("running command in namespace")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mounts_on(path: &str) -> usize {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("reading mountinfo")
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(path))
        .count()
}

#[test]
fn per_node_hosts_file_is_seen_and_host_file_untouched() {
    require_root!();
    let ns = TestNs::new();
    let host_before = fs::read("/etc/hosts").expect("reading host /etc/hosts");
    let mounts_before = mounts_on("/etc/hosts");
    let content = format!("127.0.0.1 localhost\n10.0.0.2 h2\n# {}\n", ns.name);
    ns.write_etc("hosts", &content);

    let out = run(&ns.name, "cat", &["/etc/hosts"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), content);

    // Name resolution inside the node uses it.
    let out = run(&ns.name, "getent", &["hosts", "h2"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).starts_with("10.0.0.2"), "{}", stdout(&out));

    assert_eq!(fs::read("/etc/hosts").expect("re-reading"), host_before);
    assert_eq!(
        mounts_on("/etc/hosts"),
        mounts_before,
        "a bind mount leaked"
    );
    assert_eq!(mounts_on("/sys"), 1, "the /sys remount leaked");
}

#[test]
fn only_lo_is_visible_inside() {
    require_root!();
    let ns = TestNs::new();
    let out = run(&ns.name, "ip", &["-j", "link"]);
    assert!(out.status.success(), "{out:?}");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    let names: Vec<&str> = links
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .collect();
    assert_eq!(names, ["lo"]);

    let out = run(&ns.name, "ls", &["/sys/class/net"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "lo\n");
}

#[test]
fn exit_codes_and_env_pass_through() {
    require_root!();
    let ns = TestNs::new();
    let out = run(&ns.name, "sh", &["-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = run(&ns.name, "sh", &["-c", "echo \"$NLAB_NS\""]);
    assert_eq!(stdout(&out), format!("{}\n", ns.name));
    // A missing program fails at spawn, as with any Command.
    let err = command_in(&ns.name, "/nonexistent/prog", &[] as &[&str])
        .expect("preparing")
        .status()
        .expect_err("spawning a missing program");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn missing_namespace_is_a_clear_error() {
    let err = command_in("nlab-tnone-nope", "true", &[] as &[&str]).expect_err("no such ns");
    let msg = err.to_string();
    assert!(msg.contains("nlab-tnone-nope"), "{msg}");
}

#[test]
fn exec_replace_refuses_a_multithreaded_process() {
    require_root!();
    let ns = TestNs::new();
    // The test harness runs this on a worker thread: more than one thread.
    let _t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
    let err = exec_replace(&ns.name, "true", &[] as &[&str]);
    assert!(err.to_string().contains("single-threaded"), "{err}");
    assert_eq!(
        fs::read_link("/proc/thread-self/ns/net").ok(),
        fs::read_link("/proc/self/ns/net").ok(),
        "the test thread must still be in the host namespace"
    );
}

#[test]
fn exec_replace_runs_inside_in_a_forked_child() {
    require_root!();
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{dup2_stdout, fork, pipe, ForkResult};

    let ns = TestNs::new();
    ns.write_etc("hosts", "10.0.0.3 h3\n");
    let (rd, wr) = pipe().expect("pipe");
    // SAFETY: the child only calls exec_replace (glibc's malloc is fork-safe)
    // and then exec or _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            if dup2_stdout(&wr).is_err() {
                unsafe { libc::_exit(101) };
            }
            let _err = exec_replace(
                &ns.name,
                "sh",
                &["-c", "cat /etc/hosts; ls /sys/class/net; echo $NLAB_NS"],
            );
            unsafe { libc::_exit(100) };
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut out = String::new();
            fs::File::from(rd)
                .read_to_string(&mut out)
                .expect("reading child output");
            let status = waitpid(child, None).expect("waitpid");
            assert_eq!(status, WaitStatus::Exited(child, 0), "output: {out}");
            assert_eq!(out, format!("10.0.0.3 h3\nlo\n{}\n", ns.name));
        }
    }
}
