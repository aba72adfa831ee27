//! Per-node isolation (issue 14), each key witnessed from inside the node
//! (through `nlab exec`, the console and the library) and from outside
//! (`ip netns exec`, the host's own files): hostname, private `/tmp` and
//! `/run`, `resolv.conf`, binds, PID namespace, env, sysctls, `exec:`;
//! and bad input reported at its line with nothing built.
mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `nlab exec LAB NODE -- sh -c SCRIPT`: stdout, or a panic with both.
fn sh(lab: &str, node: &str, script: &str) -> String {
    let o = nlab()
        .args(["exec", lab, node, "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "`{script}` in {node}: {}", text(&o));
    out(&o)
}

#[test]
fn every_isolation_key_is_witnessed() {
    require_root!();
    let name = lab_name("iso");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("hello"), "from the host\n").unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!(
            r#"name: {name}
topology:
  nodes:
    h1:
      isolation: {{uts: true, tmp: true, pid: true}}
      dns: [10.0.0.53, "fd00::53"]
      binds: ["{}:/tmp/data:ro"]
      sysctls: {{net.ipv4.ip_forward: 1, net.ipv4.conf.h1-eth0.rp_filter: 2}}
      env: {{GREETING: hello from h1}}
      exec: ["hostname", "echo $GREETING"]
    h2: {{}}
    s1: {{kind: switch}}
  links:
    - endpoints: [{{node: h1, iface: h1-eth0, ip: 10.0.0.1/24}}, "s1:p1"]
    - endpoints: [{{node: h2, iface: h2-eth0, ip: 10.0.0.2/24}}, "s1:p2"]
"#,
            data.display()
        ),
    )
    .unwrap();
    let up = nlab().arg("up").arg(&file).output().unwrap();
    let shown = text(&up);
    assert!(up.status.success(), "{shown}");
    // exec: ran after up, output shown.
    assert!(shown.contains("*** h1: hostname\nh1\n"), "{shown}");
    assert!(
        shown.contains("*** h1: echo $GREETING\nhello from h1\n"),
        "{shown}"
    );
    assert!(
        shown.contains("h1: own hostname, own /tmp and /run, own PID namespace"),
        "{shown}"
    );

    // Hostname: the node's, the host's unchanged.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(sh(&name, "h1", "hostname"), "h1");
    assert_eq!(sh(&name, "h2", "hostname"), host.trim());
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host
    );

    // /tmp: the node's own, shared by its programs, seen nowhere else.
    let marker = format!("nlab-{name}-marker");
    sh(&name, "h1", &format!("echo x > /tmp/{marker}"));
    assert_eq!(sh(&name, "h1", &format!("cat /tmp/{marker}")), "x");
    assert!(!Path::new("/tmp").join(&marker).exists());
    assert_eq!(
        sh(
            &name,
            "h2",
            &format!("ls /tmp/{marker} 2>/dev/null || echo absent")
        ),
        "absent"
    );
    // /run: the node's own (the host's has netns/ and nlab/).
    assert_eq!(sh(&name, "h1", "ls /run"), "");
    assert!(sh(&name, "h2", "ls /run").contains("netns"));

    // resolv.conf: through nlab exec and through `ip netns exec`.
    let resolv = sh(&name, "h1", "cat /etc/resolv.conf");
    assert!(
        resolv.contains("nameserver 10.0.0.53\nnameserver fd00::53"),
        "{resolv}"
    );
    let ipn = Command::new("ip")
        .args(["netns", "exec", &ns(&name, "h1"), "cat", "/etc/resolv.conf"])
        .output()
        .unwrap();
    assert_eq!(out(&ipn), resolv);
    // Hosts still resolve in h1 (its /etc/netns dir links the lab's hosts).
    assert!(sh(&name, "h1", "getent hosts h2").starts_with("10.0.0.2"));
    assert_ne!(sh(&name, "h2", "cat /etc/resolv.conf"), resolv);

    // Binds: read-only, into the private /tmp.
    assert_eq!(sh(&name, "h1", "cat /tmp/data/hello"), "from the host");
    let w = nlab()
        .args(["exec", &name, "h1", "--", "touch", "/tmp/data/new"])
        .output()
        .unwrap();
    assert!(
        !w.status.success() && text(&w).contains("Read-only"),
        "{}",
        text(&w)
    );

    // PID namespace: ps shows the init and the command itself.
    let ps = sh(&name, "h1", "ps -e -o pid=,args=");
    let lines: Vec<&str> = ps.lines().map(str::trim).collect();
    assert!(
        lines[0].starts_with("1 ") && lines[0].contains("node-init"),
        "{ps}"
    );
    assert!(lines.len() <= 3, "{ps}");
    assert!(sh(&name, "h2", "ps -e -o pid=").lines().count() > 3);

    // env, sysctls (read outside nlab), and the plain node's defaults.
    assert_eq!(sh(&name, "h1", "echo $GREETING"), "hello from h1");
    assert_eq!(sh(&name, "h2", "echo ${GREETING:-unset}"), "unset");
    let sysctl = |node: &str, key: &str| {
        let o = Command::new("ip")
            .args(["netns", "exec", &ns(&name, node), "cat", key])
            .output()
            .unwrap();
        out(&o)
    };
    assert_eq!(sysctl("h1", "/proc/sys/net/ipv4/ip_forward"), "1");
    assert_eq!(sysctl("h2", "/proc/sys/net/ipv4/ip_forward"), "0");
    assert_eq!(
        sysctl("h1", "/proc/sys/net/ipv4/conf/h1-eth0/rp_filter"),
        "2"
    );

    // The console starts its programs inside the node too.
    let c = nlab()
        .args([
            "cli",
            &name,
            "-c",
            "h1 hostname; h1 ls /tmp/data; h1 ping -c1 h2",
        ])
        .output()
        .unwrap();
    let cs = text(&c);
    assert!(c.status.success(), "{cs}");
    assert!(
        cs.contains("\nh1\n") && cs.contains("hello\n") && cs.contains("1 received"),
        "{cs}"
    );

    // A second `up` with no change runs no exec: and keeps the init.
    let again = nlab().arg("up").arg(&file).output().unwrap();
    assert!(
        again.status.success() && !text(&again).contains("*** h1:"),
        "{}",
        text(&again)
    );

    nlab().args(["down", &name]).assert().success();
    assert!(!Path::new(&format!("/etc/netns/{}", ns(&name, "h1"))).exists());
    let left = Command::new("pgrep")
        .args(["-f", &format!("node-init {name} ")])
        .output()
        .unwrap();
    assert_eq!(out(&left), "", "the PID namespace's init outlived down");
}

/// Writes `yaml` to `file`, runs `nlab up` on it and checks it is refused
/// as bad input (exit 2) saying each of `wants`, with no namespace of the
/// lab made.
fn assert_refused(name: &str, file: &Path, yaml: &str, wants: &[String]) {
    std::fs::write(file, yaml).unwrap();
    let o = nlab().arg("up").arg(file).output().unwrap();
    let e = text(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    for want in wants {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert_eq!(count_ns(&format!("nlab-{name}-")), 0);
}

#[test]
fn bad_settings_are_reported_at_their_line_and_nothing_is_built() {
    require_root!();
    let name = lab_name("bad");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    let f = file.display().to_string();
    assert_refused(
        &name,
        &file,
        &format!(
            "name: {name}\ntopology:\n  nodes:\n    h1:\n      memory: lots\n      cpu: 0\n      \
             pids: -1\n      binds: [\"relative:/x\"]\n      isolation: \
             {{uts: maybe, net: true}}\n"
        ),
        &[
            format!("{f}:5:"),
            "`memory`: `lots` is not a size".to_string(),
            format!("{f}:6:"),
            "`cpu: 0` must be more than 0".to_string(),
            format!("{f}:7:"),
            "`pids`: `-1` is not a whole number of tasks".to_string(),
            format!("{f}:8:"),
            "is not an absolute path".to_string(),
            format!("{f}:9:"),
            "`isolation.uts` should be true or false".to_string(),
            "unknown key `net`".to_string(),
        ],
    );
    // Well-formed values the topology's rules refuse.
    assert_refused(
        &name,
        &file,
        &format!(
            "name: {name}\ntopology:\n  nodes:\n    h1:\n      sysctls: {{kernel.pid_max: 100}}\n    \
             h2:\n      memory: 1m\n      env: {{NLAB_NODE: x, 1x: y}}\n"
        ),
        &[
            format!("{f}:5:"),
            "sysctl `kernel.pid_max` of `h1` is not a network namespace's".to_string(),
            format!("{f}:7:"),
            "too little for any program to start".to_string(),
            format!("{f}:8:"),
            "NLAB_* variables are set by nlab".to_string(),
            "`1x` in `env` of `h2` is not a variable name".to_string(),
        ],
    );

    // What only the machine can tell, before anything is built: a bind
    // source that does not exist, a sysctl the kernel lacks.
    assert_refused(
        &name,
        &file,
        &format!(
            "name: {name}\ntopology:\n  nodes:\n    h1:\n      binds: [\"/nonexistent/nlab:/mnt:ro\"]\n      \
             sysctls: {{net.ipv4.no_such_key: 1}}\n    h2: {{}}\n"
        ),
        &[
            format!("{f}:5: node `h1`: bind `/nonexistent/nlab:/mnt:ro`: the source /nonexistent/nlab cannot be used"),
            format!("{f}:6: node `h1`: sysctl `net.ipv4.no_such_key` does not exist"),
        ],
    );
    assert!(!Path::new(&format!("/run/nlab/{name}")).exists());

    // A failing exec: command names node and command; nothing is left.
    std::fs::write(
        &file,
        format!("name: {name}\ntopology:\n  nodes:\n    h1:\n      exec: [\"true\", \"echo oops >&2; exit 3\"]\n"),
    )
    .unwrap();
    let o = nlab().arg("up").arg(&file).output().unwrap();
    let e = text(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("exec of node `h1`: `echo oops >&2; exit 3` exited with status 3"),
        "{e}"
    );
    assert!(e.contains("oops"), "{e}");
    assert_eq!(count_ns(&format!("nlab-{name}-")), 0);

    // Mininet's rt scheduler needs a CPU fraction, as in Mininet (the
    // rest of `--host rt` is tests/limits_rt.rs').
    let o = nlab()
        .args(["up", "--topo", "single,2", "--name", &name, "--host", "rt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("needs a positive CPU fraction"),
        "{}",
        text(&o)
    );
    assert_eq!(count_ns(&format!("nlab-{name}-")), 0);
}

/// The PID namespace's init killed: `exec` says so, `up` starts another.
#[test]
fn a_killed_pid_namespace_init_is_reported_and_restarted_by_up() {
    require_root!();
    let name = lab_name("init");
    let _g = LabGuard(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.yaml");
    std::fs::write(
        &file,
        format!("name: {name}\ntopology:\n  nodes:\n    h1: {{isolation: {{pid: true}}}}\n"),
    )
    .unwrap();
    nlab().arg("up").arg(&file).assert().success();
    let init = || {
        let o = Command::new("pgrep")
            .args(["-f", &format!("node-init {name} h1$")])
            .output()
            .unwrap();
        out(&o)
    };
    let pid = init();
    assert!(!pid.is_empty(), "no init for h1");
    Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(wait_until(std::time::Duration::from_secs(5), || init().is_empty()));
    let o = nlab()
        .args(["exec", &name, "h1", "--", "true"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not running") && text(&o).contains("nlab up"),
        "{}",
        text(&o)
    );
    nlab().arg("up").arg(&file).assert().success();
    let ps = sh(&name, "h1", "ps -e -o pid=,args=");
    assert!(
        ps.starts_with("1 ") && ps.lines().next().unwrap().contains("node-init"),
        "{ps}"
    );
    nlab().args(["down", &name]).assert().success();
}
