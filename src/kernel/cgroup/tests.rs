//! The v1/v2 decision on sample `/proc/self/mounts` and `/proc/self/cgroup`
//! text of the three kinds of host.

use super::*;

/// This test machine: v1 cpu, memory and pids; a v2 mount without
/// controllers.
const HYBRID_MOUNTS: &str = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
";
const HYBRID_SELF: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/c3ce
1:cpu:/
0::/
";

/// A systemd host on pure v2, nlab run from a delegated scope.
const V2_MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
";
const V2_SELF: &str = "0::/user.slice/user-1000.slice/run-u42.scope\n";

/// An older systemd host: v1 with cpu and cpuacct co-mounted.
const V1_MOUNTS: &str = "\
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
";
const V1_SELF: &str = "\
5:cpu,cpuacct:/user.slice
3:memory:/user.slice/user-1000.slice/session-2.scope
";

fn none(_: &Path) -> Option<String> {
    None
}

#[test]
fn hybrid_hosts_use_v1_for_every_controller() {
    let offered = |_: &Path| Some(String::new());
    let l = decide(HYBRID_MOUNTS, HYBRID_SELF, None, &offered);
    assert!(l.missing.is_empty(), "{l:?}");
    let mem = l.get(Controller::Memory).unwrap();
    assert_eq!(mem.version, Version::V1);
    assert_eq!(mem.mount, Path::new("/sys/fs/cgroup/memory"));
    assert_eq!(mem.parent, "/process_api/c3ce");
    assert_eq!(
        mem.nlab_dir(),
        Path::new("/sys/fs/cgroup/memory/process_api/c3ce/nlab")
    );
    let cpu = l.get(Controller::Cpu).unwrap();
    assert_eq!((cpu.version, cpu.parent.as_str()), (Version::V1, "/"));
    assert_eq!(cpu.nlab_dir(), Path::new("/sys/fs/cgroup/cpu/nlab"));
    assert_eq!(
        l.get(Controller::Pids).unwrap().mount,
        Path::new("/sys/fs/cgroup/pids")
    );
}

#[test]
fn pure_v2_hosts_use_v2_where_the_parent_offers_the_controller() {
    let seen = std::cell::RefCell::new(Vec::new());
    let offered = |d: &Path| {
        seen.borrow_mut().push(d.to_path_buf());
        Some("cpu memory pids io\n".to_string())
    };
    let l = decide(V2_MOUNTS, V2_SELF, None, &offered);
    assert_eq!(
        seen.borrow()[0],
        Path::new("/sys/fs/cgroup/user.slice/user-1000.slice/run-u42.scope")
    );
    for c in CONTROLLERS {
        let h = l.get(c).unwrap();
        assert_eq!(h.version, Version::V2);
        assert_eq!(
            h.nlab_dir(),
            Path::new("/sys/fs/cgroup/user.slice/user-1000.slice/run-u42.scope/nlab")
        );
    }
    // Only memory delegated: cpu and pids are missing, with the reason.
    let l = decide(V2_MOUNTS, V2_SELF, None, &|_| Some("memory".into()));
    assert_eq!(l.get(Controller::Memory).unwrap().version, Version::V2);
    let why = l.why_missing(Controller::Cpu).unwrap();
    assert!(
        why.contains("run-u42.scope") && why.contains("cgroup.controllers"),
        "{why}"
    );
}

#[test]
fn v1_hosts_with_co_mounted_controllers() {
    let l = decide(V1_MOUNTS, V1_SELF, None, &none);
    let cpu = l.get(Controller::Cpu).unwrap();
    assert_eq!(cpu.mount, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(cpu.parent, "/user.slice");
    let mem = l.get(Controller::Memory).unwrap();
    assert_eq!(mem.parent, "/user.slice/user-1000.slice/session-2.scope");
    assert_eq!(
        l.why_missing(Controller::Pids),
        Some("no cgroup file system has it mounted")
    );
}

#[test]
fn a_configured_parent_wins_over_our_own_cgroup() {
    let l = decide(HYBRID_MOUNTS, HYBRID_SELF, Some("/labs"), &none);
    assert_eq!(
        l.get(Controller::Memory).unwrap().nlab_dir(),
        Path::new("/sys/fs/cgroup/memory/labs/nlab")
    );
    let l = decide(V2_MOUNTS, V2_SELF, Some("/nlab.slice"), &|d: &Path| {
        (d == Path::new("/sys/fs/cgroup/nlab.slice")).then(|| "cpu memory pids".into())
    });
    assert_eq!(l.get(Controller::Pids).unwrap().version, Version::V2);
}

#[test]
fn counters_from_stat_files() {
    let v1 = "nr_periods 12\nnr_throttled 7\nthrottled_time 123456\n";
    assert_eq!(stat_value(v1, "nr_throttled"), Some(7));
    let ev = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";
    assert_eq!(stat_value(ev, "oom_kill"), Some(1));
    assert_eq!(stat_value(ev, "oom"), Some(1));
    assert_eq!(stat_value(ev, "nothing"), None);
}
