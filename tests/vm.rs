//! VMs on a lab (`kind: vm`), as root, with real guests: a Debian kernel
//! and a busybox initramfs made here, under QEMU (TCG unless a probe boot
//! says KVM works). One lab, two guests booted at once: vm1 started by
//! the test with the arguments `nlab up` printed, vm2 started by nlab.
//! A lab host pings both, both ping it back, `nlab console` runs a
//! command in vm2's shell, `down` stops both. Skips with the reason where
//! QEMU or the kernel cache (scripts/vm-kernel.sh) is missing.

mod common;
#[path = "vm/guest.rs"]
mod guest;

use common::{lab_name, LabGuard};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// TCG guests on a loaded 2-core machine: generous.
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);

/// One test here runs `nlab cleanup`, which ends every lab it sees (the
/// other tests' guests included): the tests take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn nlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nlab"))
}

fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root".into());
    }
    guest::unavailable()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_topology(dir: &Path, lab: &str) -> PathBuf {
    let (vmlinuz, _) = guest::kernel().expect("kernel");
    std::os::unix::fs::symlink(&vmlinuz, dir.join("vmlinuz")).expect("symlink kernel");
    guest::initramfs(&dir.join("initrd.cpio"));
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    h1: {{}}
    s1: {{kind: switch}}
    vm1: {{kind: vm}}
    vm2:
      kind: vm
      kernel: vmlinuz
      initrd: initrd.cpio
      memory: 192
      append: "quiet nlabtest.peer=10.0.0.1"
  links:
    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, "s1:p1"]
    - endpoints: [{{node: vm1, iface: eth0, ip: 10.0.0.11/24}}, "s1:p2"]
    - endpoints: [{{node: vm2, iface: eth0, ip: 10.0.0.12/24}}, "s1:p3"]
"#
    );
    let p = dir.join("vms.yaml");
    std::fs::write(&p, yaml).expect("write topology");
    p
}

/// Starts vm1 the way a user would: the printed command's namespace and
/// network arguments, with a machine of the test's own.
fn start_user_vm(report: &serde_json::Value, dir: &Path) -> Kill {
    let vm1 = report["vms"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["node"] == "vm1"))
        .expect("vm1 in the report");
    let cmd = vm1["command"].as_str().expect("a command for vm1");
    let ns = vm1["namespace"].as_str().expect("namespace");
    assert!(
        cmd.starts_with(&format!("ip netns exec {ns} qemu-system-x86_64 ")),
        "{cmd}"
    );
    let net: Vec<String> = vm1["net_args"]
        .as_array()
        .expect("net_args")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        net[1].contains("ifname=vtap0,script=no,downscript=no,vhost=off"),
        "{net:?}"
    );
    assert!(
        cmd.contains(&net[1]) && cmd.contains(&net[3]),
        "{cmd} vs {net:?}"
    );
    let (vmlinuz, _) = guest::kernel().expect("kernel");
    let serial = dir.join("vm1.serial");
    let child = Command::new("ip")
        .args(["netns", "exec", ns, "qemu-system-x86_64"])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-accel",
            "tcg",
        ])
        .args(["-m", "192", "-kernel"])
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(dir.join("initrd.cpio"))
        .args([
            "-append",
            "console=ttyS0 quiet nlab.name=vm1 nlab.eth0=10.0.0.11/24 nlabtest.peer=10.0.0.1",
        ])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .args(&net)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu for vm1");
    Kill(child)
}

/// What QEMU itself said (nlab keeps its output beside the console's
/// log) and the state of every QEMU process, for a guest that stayed
/// silent.
fn qemu_side(console_log: &Path) -> String {
    let own = console_log
        .to_str()
        .and_then(|p| p.strip_suffix(".console.log"))
        .map(|p| format!("{p}.log"));
    let said = own
        .as_ref()
        .map(|p| format!("{p}:\n{}", std::fs::read_to_string(p).unwrap_or_default()))
        .unwrap_or_default();
    let ps = Command::new("ps")
        .args([
            "-C",
            "qemu-system-x86_64",
            "-o",
            "pid,stat,wchan:30,etime,time,args",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!("{said}\nQEMU processes:\n{ps}")
}

fn wait_for(file: &Path, what: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(what) {
            return t0.elapsed();
        }
        assert!(
            !text.contains("Kernel panic") && t0.elapsed() < BOOT_TIMEOUT,
            "no `{what}` in {} after {:?}:\n{text}\n{}",
            file.display(),
            t0.elapsed(),
            qemu_side(file)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ping_from_h1(lab: &str, addr: &str) -> bool {
    (0..10).any(|_| {
        nlab()
            .args(["exec", lab, "h1", "--", "ping", "-c1", "-W2", addr])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn qemu_of(lab: &str, node: &str) -> (i32, u64) {
    let text = std::fs::read_to_string(format!("/run/nlab/{lab}/vm/{node}.pid")).expect("pid file");
    let mut it = text.split_whitespace();
    let pid = it.next().and_then(|s| s.parse().ok()).expect("pid");
    let start = it.next().and_then(|s| s.parse().ok()).expect("start");
    (pid, start)
}

fn same_process_alive(pid: i32, start: u64) -> bool {
    common::stat_fields(&format!("/proc/{pid}/stat"))
        .is_some_and(|f| f[19].parse::<u64>().ok() == Some(start) && f[0] != "Z")
}

/// `echo 'echo hello-$((6*7))-NONCE' | nlab console LAB vm2` prints the
/// guest shell's answer.
fn console_runs(lab: &str) -> String {
    let nonce = std::process::id();
    let mut child = nlab()
        .args(["console", lab, "vm2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nlab console");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "\necho hello-$((6*7))-{nonce}").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("console output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "nlab console: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("hello-42-{nonce}")),
        "the guest shell did not answer:\n{text}"
    );
    text
}

#[test]
fn guests_on_a_lab_ping_both_ways_and_take_console_input() {
    let _turn = turn();
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let lab = lab_name("vm");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_topology(dir.path(), &lab);
    let _guard = LabGuard(lab.clone());
    let t0 = Instant::now();
    let up = nlab()
        .args(["up", "--json"])
        .arg(&file)
        .output()
        .expect("nlab up");
    assert!(
        up.status.success(),
        "up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&up.stdout).expect("up --json");
    let up_took = t0.elapsed();
    let _vm1 = start_user_vm(&report, dir.path());
    let (pid, start) = qemu_of(&lab, "vm2");
    eprintln!(
        "up (with the KVM probe) took {up_took:?}; vm2: {}",
        report["vms"]
    );

    // The console and its directory are root's alone.
    let sock = PathBuf::from(format!("/run/nlab/{lab}/vm/vm2.console"));
    let m = std::fs::metadata(&sock).expect("console socket");
    assert_eq!(
        (m.uid(), m.permissions().mode() & 0o077),
        (0, 0),
        "socket mode {:o}",
        m.permissions().mode()
    );
    let d = std::fs::metadata(sock.parent().expect("dir")).expect("vm dir");
    assert_eq!(d.permissions().mode() & 0o777, 0o700);

    let log = sock.with_extension("console.log");
    let b2 = wait_for(&log, "NLAB-READY vm2");
    let b1 = wait_for(&dir.path().join("vm1.serial"), "NLAB-READY vm1");
    eprintln!("guests ready after {b2:?} (vm2, nlab's) and {b1:?} (vm1, the test's)");
    wait_for(&log, "NLAB-PINGBACK-OK vm2 10.0.0.1");
    wait_for(
        &dir.path().join("vm1.serial"),
        "NLAB-PINGBACK-OK vm1 10.0.0.1",
    );
    assert!(ping_from_h1(&lab, "10.0.0.12"), "h1 cannot ping vm2");
    assert!(ping_from_h1(&lab, "10.0.0.11"), "h1 cannot ping vm1");
    // By name too: the VMs' addresses are in the lab's hosts file.
    assert!(ping_from_h1(&lab, "vm2"), "h1 cannot ping vm2 by name");
    console_runs(&lab);

    // Again: nothing changes, the guest nlab runs is the same process.
    let again = nlab().arg("up").arg(&file).output().expect("nlab up again");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && text.contains("0 changes"),
        "{text}"
    );
    assert!(
        text.contains(&format!("VM vm2: running, QEMU pid {pid}")),
        "{text}"
    );
    assert!(text.contains("VM vm1: start it yourself"), "{text}");
    assert_eq!(qemu_of(&lab, "vm2"), (pid, start));

    let down = nlab().args(["down", &lab]).output().expect("nlab down");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(!same_process_alive(pid, start), "vm2's QEMU survived down");
    eprintln!("whole test: {:?}", t0.elapsed());
}

/// A guest that never boots (an empty disk: the firmware finds nothing
/// and waits) is enough to see QEMU's lifecycle: started in its node,
/// recorded, and stopped by `cleanup` from its record after the journal
/// is lost, as after `kill -9` of nlab.
#[test]
fn cleanup_stops_a_guest_by_its_record() {
    let _turn = turn();
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let lab = lab_name("vmc");
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("empty.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).expect("disk");
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    h1: {{}}\n    vm1: {{kind: vm, disk: {}, accel: tcg, memory: 64}}\n  links:\n    - endpoints: [h1:eth0, vm1:eth0]\n",
        disk.display()
    );
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, yaml).expect("write");
    let _guard = LabGuard(lab.clone());
    let up = nlab().arg("up").arg(&file).output().expect("up");
    let text = String::from_utf8_lossy(&up.stdout);
    assert!(
        up.status.success(),
        "{}{}",
        text,
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        text.contains("VM vm1: started, QEMU pid") && text.contains("tcg (accel: tcg)"),
        "{text}"
    );
    let (pid, start) = qemu_of(&lab, "vm1");
    assert!(same_process_alive(pid, start));
    // QEMU runs inside the node's namespace.
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("ns of qemu");
    let node = std::fs::metadata(format!("/run/netns/{}", common::ns(&lab, "vm1"))).expect("pin");
    assert_eq!(ns.to_string_lossy(), format!("net:[{}]", node.ino()));
    std::fs::remove_file(format!("/run/nlab/{lab}/state.json")).expect("lose the journal");
    let c = nlab().arg("cleanup").output().expect("cleanup");
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    assert!(!same_process_alive(pid, start), "QEMU survived cleanup");
}

#[test]
fn a_missing_image_is_an_error_at_its_line_and_nothing_is_made() {
    let _turn = turn();
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root");
        return;
    }
    let lab = lab_name("vmbad");
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    vm1:\n      kind: vm\n      kernel: /nonexistent/vmlinuz\n    h1: {{}}\n  links:\n    - endpoints: [h1:eth0, vm1:eth0]\n"
    );
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, yaml).expect("write");
    let out = nlab().arg("up").arg(&file).output().expect("up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:6:15: the kernel of `vm1`, /nonexistent/vmlinuz, does not exist",
            file.display()
        )),
        "{err}"
    );
    common::assert_no_trace(&lab);
    let out = nlab()
        .args(["console", &lab, "vm1"])
        .output()
        .expect("console");
    assert!(!out.status.success());
}

/// `pingall` on a lab with one guest nlab starts and two hosts: every
/// pair from a host answers, the pairs *to* the guest included, and the
/// guest (whose namespace holds no address) is named as no source
/// instead of counting as failures.
#[test]
fn pingall_pings_a_guest_and_says_it_is_no_source() {
    let _turn = turn();
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let lab = lab_name("vmp");
    let dir = tempfile::tempdir().expect("tempdir");
    let (vmlinuz, _) = guest::kernel().expect("kernel");
    std::os::unix::fs::symlink(&vmlinuz, dir.path().join("vmlinuz")).expect("symlink kernel");
    guest::initramfs(&dir.path().join("initrd.cpio"));
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    h1: {{}}
    h2: {{}}
    s1: {{kind: switch}}
    vm1: {{kind: vm, kernel: vmlinuz, initrd: initrd.cpio, memory: 192, accel: tcg, append: "quiet nlabtest.peer=10.0.0.1"}}
  links:
    - endpoints: [{{node: h1, iface: eth0, ip: 10.0.0.1/24}}, "s1:p1"]
    - endpoints: [{{node: h2, iface: eth0, ip: 10.0.0.2/24}}, "s1:p2"]
    - endpoints: [{{node: vm1, iface: eth0, ip: 10.0.0.11/24}}, "s1:p3"]
"#
    );
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, yaml).expect("write topology");
    let _guard = LabGuard(lab.clone());
    let up = nlab().arg("up").arg(&file).output().expect("nlab up");
    assert!(
        up.status.success(),
        "up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let log = PathBuf::from(format!("/run/nlab/{lab}/vm/vm1.console.log"));
    wait_for(&log, "NLAB-PINGBACK-OK vm1 10.0.0.1");

    let out = nlab().args(["pingall", &lab]).output().expect("pingall");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("h1 -> h2 vm1 \n"), "{text}");
    assert!(text.contains("h2 -> h1 vm1 \n"), "{text}");
    assert!(
        text.contains("vm1 -> (not a source: a VM's address is its guest's"),
        "{text}"
    );
    assert!(
        text.contains("*** Results: 0% dropped (4/4 received)"),
        "{text}"
    );
    assert!(text.contains("*** Not pinged from: vm1"), "{text}");

    let out = nlab()
        .args(["pingall", "--json", &lab])
        .output()
        .expect("pingall --json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("pingall --json");
    assert_eq!(
        (v["sent"].as_u64(), v["received"].as_u64()),
        (Some(4), Some(4)),
        "{v}"
    );
    assert_eq!(v["not_sources"][0]["node"], "vm1", "{v}");
    assert_eq!(v["failed"].as_array().map(Vec::len), Some(0), "{v}");
}
