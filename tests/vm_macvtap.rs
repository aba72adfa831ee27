//! A guest nlab starts, sitting on a MACVTAP (`kind: vm` with `kernel:`
//! and `interfaces: {eth0: {macvtap: …}}`), as root, inside the test
//! sandbox only: a veth stands in for the host's NIC, its other end in a
//! "segment" namespace the test makes. nlab opens the macvtap's queue
//! and hands the descriptor to QEMU (`-netdev tap,fd=N`); the guest
//! (the busybox initramfs of tests/vm.rs on Debian's kernel) pings the
//! segment, the segment pings the guest, and so does a lab host on a
//! MACVLAN sibling in bridge mode. Skips with the reason where QEMU or
//! the kernel cache (scripts/vm-kernel.sh) is missing.

mod common;
#[path = "vm/guest.rs"]
mod guest;

use common::segment::Segment;
use common::{lab_name, LabGuard};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// TCG guests on a loaded 2-core machine: generous.
const BOOT_TIMEOUT: Duration = Duration::from_secs(150);

fn nlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nlab"))
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip")
}

fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() || std::env::var_os("NLAB_TEST_SANDBOX").is_none() {
        return Some(
            "needs root inside scripts/sandbox.sh (it makes a stand-in NIC in its root namespace)"
                .into(),
        );
    }
    guest::unavailable()
}

fn wait_for(file: &Path, what: &str) -> String {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        let own = file.with_extension("").with_extension("log");
        assert!(
            !text.contains("Kernel panic") && t0.elapsed() < BOOT_TIMEOUT,
            "no `{what}` in {} after {:?}:\n{text}\nQEMU said: {}",
            file.display(),
            t0.elapsed(),
            std::fs::read_to_string(own).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn qemu_pid(lab: &str) -> i32 {
    let text = std::fs::read_to_string(format!("/run/nlab/{lab}/vm/vm1.pid")).expect("pid file");
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("pid")
}

/// The device numbers of the character devices `pid` holds open.
fn char_devices_held(pid: i32) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds of qemu")
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| m.file_type().is_char_device())
        .map(|m| m.rdev())
        .collect()
}

/// The macvtap's device number as its own namespace's sysfs says.
fn macvtap_dev(ns: &str) -> u64 {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c"])
        .arg("cat /sys/class/net/eth0/macvtap/tap*/dev")
        .output()
        .expect("sysfs of the node");
    let text = String::from_utf8_lossy(&o.stdout);
    let (a, b) = text.trim().split_once(':').expect("MAJ:MIN");
    nix::sys::stat::makedev(a.parse().expect("major"), b.parse().expect("minor"))
}

fn mac_of(ns: &str, dev: &str) -> String {
    let v = common::ip_json(ns, &["link", "show", dev]);
    v[0]["address"].as_str().expect("address").to_string()
}

fn pings(argv: &[&str]) -> bool {
    (0..10).any(|_| {
        Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn a_guest_nlab_starts_on_a_macvtap_pings_the_segment_both_ways() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tag = format!("vt{}", std::process::id() % 100_000);
    let seg = Segment::new(&tag);
    let lab = lab_name("vmt");
    let dir = tempfile::tempdir().expect("tempdir");
    let (vmlinuz, _) = guest::kernel().expect("kernel");
    std::os::unix::fs::symlink(&vmlinuz, dir.path().join("vmlinuz")).expect("symlink kernel");
    guest::initramfs(&dir.path().join("initrd.cpio"));
    let nic = &seg.nic;
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    lan1:
      interfaces:
        eth0: {{macvlan: {{parent: {nic}, mode: bridge}}, ip: 192.168.77.10/24}}
    vm1:
      kind: vm
      kernel: vmlinuz
      initrd: initrd.cpio
      memory: 192
      accel: tcg
      append: "quiet nlabtest.peer=192.168.77.1"
      interfaces:
        eth0: {{macvtap: {{parent: {nic}, mode: bridge}}, ip: 192.168.77.20/24}}
  links: []
"#
    );
    let file = dir.path().join("mvt.yaml");
    std::fs::write(&file, yaml).expect("write topology");
    let _guard = LabGuard(lab.clone());
    let up = nlab().arg("up").arg(&file).output().expect("nlab up");
    let text = String::from_utf8_lossy(&up.stdout);
    assert!(
        up.status.success(),
        "up: {text}{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(text.contains("VM vm1: started, QEMU pid"), "{text}");
    assert!(
        text.contains("  macvtap eth0: its queue is QEMU's"),
        "{text}"
    );
    let ns = common::ns(&lab, "vm1");
    let pid = qemu_pid(&lab);

    // QEMU holds the macvtap's own queue device: the descriptor nlab
    // opened and handed over, whatever /dev/tapN names.
    let dev = macvtap_dev(&ns);
    assert!(
        char_devices_held(pid).contains(&dev),
        "QEMU (pid {pid}) holds no queue of the macvtap (device {dev:#x}): {:?}",
        char_devices_held(pid)
    );

    // The guest came up with the macvtap's MAC and pinged the segment.
    let log = format!("/run/nlab/{lab}/vm/vm1.console.log");
    let said = wait_for(Path::new(&log), "NLAB-READY vm1");
    let mac = mac_of(&ns, "eth0");
    assert!(
        said.contains(&format!("NLAB-READY vm1 {mac}")),
        "the guest's NIC is not the macvtap's MAC {mac}:\n{said}"
    );
    wait_for(Path::new(&log), "NLAB-PINGBACK-OK vm1 192.168.77.1");

    // The segment and a MACVLAN sibling on the same parent reach it.
    assert!(
        pings(&[
            "ip",
            "netns",
            "exec",
            &seg.seg,
            "ping",
            "-c1",
            "-W2",
            "192.168.77.20"
        ]),
        "the segment cannot ping the guest"
    );
    let lan = [
        "exec",
        &lab,
        "lan1",
        "--",
        "ping",
        "-c1",
        "-W2",
        "192.168.77.20",
    ];
    let exe = env!("CARGO_BIN_EXE_nlab");
    let argv: Vec<&str> = std::iter::once(exe).chain(lan).collect();
    assert!(
        pings(&argv),
        "lan1 (macvlan, bridge mode) cannot ping the guest"
    );

    let down = nlab().args(["down", &lab]).output().expect("nlab down");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(common::gone(pid), "QEMU survived down");
    // The parent is only referred to: it is still here, alone.
    let left = ip(&["-d", "link", "show", nic]);
    assert!(left.status.success(), "the stand-in NIC went with the lab");
}
