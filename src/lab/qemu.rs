//! QEMU for VM nodes: the arguments, starting a guest inside its node,
//! finding it again and stopping it.
//!
//! A guest nlab starts runs `qemu-system-x86_64` inside the node's
//! namespace (through the same entry as `nlab exec`: it refuses once the
//! lab is closing), in its own session, with its files under
//! `/run/nlab/<lab>/vm/` (root's alone): `<node>.pid` (`PID START_TICKS`:
//! the process is found by pid and start time and must be root's, never
//! by its command line), `<node>.console` (the serial console's socket,
//! made by QEMU with umask 077), `<node>.console.log` (everything the
//! console printed) and `<node>.log` (QEMU's own output). `down` stops
//! it by that record; should the record be missing (nlab killed right
//! after starting it), `down` still ends it as a process of the node's
//! namespace.

use super::vm::{guest_mac, linked_ends, tap_name, VmReport};
use super::{Error, Result};
use crate::kernel::{exec, macvtap, netns, proc};
use crate::store;
use crate::topo::vm::{Accel, Boot, Vm};
use crate::topo::{Node, Topology};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The emulator nlab runs (found on `PATH`).
pub(crate) const QEMU: &str = "qemu-system-x86_64";
/// How long QEMU may take to create its console socket.
const START_WAIT: Duration = Duration::from_secs(15);
/// How long a guest may take to power off on SIGTERM before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The directory of a lab's guests.
pub(crate) fn vm_dir(lab: &str) -> PathBuf {
    store::lab_dir(lab).join("vm")
}

/// The serial console's socket of `node`.
pub(crate) fn console_path(lab: &str, node: &str) -> PathBuf {
    vm_dir(lab).join(format!("{node}.console"))
}

fn file(lab: &str, node: &str, ext: &str) -> PathBuf {
    vm_dir(lab).join(format!("{node}.{ext}"))
}

/// Where QEMU is, or why it cannot be run.
pub(crate) fn binary() -> std::result::Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(QEMU))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!("{QEMU} is not installed (Debian: apt-get install qemu-system-x86); it runs the lab's VMs")
        })
}

/// QEMU's network arguments for VM `node`: a TAP netdev and a virtio NIC
/// per linked interface, in link order (the guest's eth0, eth1, …).
pub(crate) fn net_args(t: &Topology, node: &str, vm: &Vm) -> Vec<String> {
    let mut out = Vec::new();
    for (i, e) in linked_ends(t, node).iter().enumerate() {
        let mut netdev = format!(
            "tap,id=net{i},ifname={},script=no,downscript=no,vhost=off",
            tap_name(i)
        );
        let mut device = format!("virtio-net-pci,netdev=net{i},mac={}", guest_mac(&t.name, e));
        if vm.queues > 1 {
            netdev.push_str(&format!(",queues={}", vm.queues));
            // A vector per queue each way, one for config, one for control.
            device.push_str(&format!(",mq=on,vectors={}", 2 * vm.queues + 2));
        }
        out.extend(["-netdev".to_string(), netdev, "-device".to_string(), device]);
    }
    out
}

/// QEMU's arguments for the macvtaps of VM `n` that nlab starts: one
/// netdev per macvtap on the queue descriptors `fds` (one list per
/// macvtap, in the node's order, inherited by QEMU at those numbers),
/// after the `taps` TAP NICs, so the guest's NICs are the linked
/// interfaces first, then the macvtaps.
pub(crate) fn macvtap_args(lab: &str, n: &Node, taps: usize, fds: &[Vec<RawFd>]) -> Vec<String> {
    let mut out = Vec::new();
    let macvtaps = n.macvlans.iter().filter(|m| m.tap);
    for (j, (m, q)) in macvtaps.zip(fds).enumerate() {
        let id = taps + j;
        let nums: Vec<String> = q.iter().map(ToString::to_string).collect();
        let netdev = if q.len() > 1 {
            format!("tap,id=net{id},fds={},vhost=off", nums.join(":"))
        } else {
            format!("tap,id=net{id},fd={},vhost=off", nums.join(""))
        };
        let mut device = format!(
            "virtio-net-pci,netdev=net{id},mac={}",
            guest_mac(lab, &m.end)
        );
        if q.len() > 1 {
            device.push_str(&format!(",mq=on,vectors={}", 2 * q.len() + 2));
        }
        out.extend(["-netdev".to_string(), netdev, "-device".to_string(), device]);
    }
    out
}

/// What a user starting VM `n` needs of each of its macvtaps.
fn macvtap_queues(lab: &str, n: &Node) -> Vec<super::vm::MacvtapQueue> {
    let ns = netns::ns_name(lab, &n.name);
    n.macvlans
        .iter()
        .filter(|m| m.tap)
        .map(|m| super::vm::MacvtapQueue {
            iface: m.end.iface.clone(),
            device: macvtap::device(&ns, &m.end.iface)
                .ok()
                .map(|(a, b)| format!("{a}:{b}")),
            mac: guest_mac(lab, &m.end),
        })
        .collect()
}

/// Opens the queues of every macvtap of VM `n` (see
/// [`crate::kernel::macvtap`]), `queues` each, in the node's order.
fn open_macvtaps(lab: &str, n: &Node, queues: u16) -> Result<Vec<Vec<OwnedFd>>> {
    let ns = netns::ns_name(lab, &n.name);
    n.macvlans
        .iter()
        .filter(|m| m.tap)
        .map(|m| macvtap::open_queues(&ns, &m.end.iface, queues).map_err(Error::from))
        .collect()
}

/// What nlab tells the guest on its kernel command line: `nlab.name=`,
/// `nlab.IFACE=ADDR/LEN[,ADDR/LEN]` per interface, `nlab.gw=`,
/// `nlab.gw6=`. The kernel passes them on untouched (they look like
/// module parameters); an init script reads `/proc/cmdline`.
pub(crate) fn guest_keys(t: &Topology, n: &Node) -> Vec<String> {
    let mut keys = vec![format!("nlab.name={}", n.name)];
    let macvtaps = n.macvlans.iter().filter(|m| m.tap).map(|m| &m.end);
    for e in linked_ends(t, &n.name).into_iter().chain(macvtaps) {
        if !e.addrs.is_empty() {
            let a: Vec<String> = e.addrs.iter().map(ToString::to_string).collect();
            keys.push(format!("nlab.{}={}", e.iface, a.join(",")));
        }
    }
    if let Some(g) = n.gateway {
        keys.push(format!("nlab.gw={g}"));
    }
    if let Some(g) = n.gateway6 {
        keys.push(format!("nlab.gw6={g}"));
    }
    keys
}

/// Everything but the network: machine, accelerator, memory, images,
/// console.
fn machine_args(lab: &str, n: &Node, boot: &Boot, accel: Accel, keys: &[String]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-name".into(),
        format!("guest={}", netns::ns_name(lab, &n.name)),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-accel".into(),
        if accel == Accel::Kvm { "kvm" } else { "tcg" }.into(),
    ];
    if accel == Accel::Kvm {
        a.extend(["-cpu".into(), "host".into()]);
    }
    a.extend([
        "-m".into(),
        boot.memory_mib.to_string(),
        "-smp".into(),
        boot.cpus.to_string(),
    ]);
    if let Some(k) = &boot.kernel {
        a.extend(["-kernel".into(), k.display().to_string()]);
        if let Some(i) = &boot.initrd {
            a.extend(["-initrd".into(), i.display().to_string()]);
        }
        let mut line = vec!["console=ttyS0".to_string()];
        line.extend(keys.iter().cloned());
        line.extend(boot.append.clone());
        a.extend(["-append".into(), line.join(" ")]);
    }
    if let Some(d) = &boot.disk {
        let format = if d.extension().is_some_and(|x| x == "qcow2") {
            "qcow2"
        } else {
            "raw"
        };
        a.extend([
            "-drive".into(),
            format!("file={},if=virtio,format={format}", d.display()),
        ]);
    }
    a.extend([
        "-chardev".into(),
        format!(
            "socket,id=console,path={},server=on,wait=off,logfile={}",
            console_path(lab, &n.name).display(),
            file(lab, &n.name, "console.log").display()
        ),
        "-serial".into(),
        "chardev:console".into(),
    ]);
    a
}

/// The guest QEMU runs for `node`, if the record names a live root
/// process that started when the record says.
pub(crate) fn running(lab: &str, node: &str) -> Option<proc::Pidfd> {
    let p = file(lab, node, "pid");
    let m = fs::symlink_metadata(&p).ok()?;
    if !m.file_type().is_file() || std::os::unix::fs::MetadataExt::uid(&m) != 0 {
        return None;
    }
    let text = fs::read_to_string(&p).ok()?;
    let mut it = text.split_whitespace();
    let pid: i32 = it.next()?.parse().ok()?;
    let start: u64 = it.next()?.parse().ok()?;
    let h = proc::Pidfd::open(pid, start)?;
    (proc::is_root(pid) && proc::alive(pid)).then_some(h)
}

/// Starts every guest of `t` nlab should run and is not running (new,
/// recreated, or ended since), and reports every VM.
pub(crate) fn ensure_running(t: &Topology) -> Result<Vec<VmReport>> {
    let mut out = Vec::new();
    for n in t.nodes.values() {
        let Some(vm) = &n.vm else { continue };
        let ns = netns::ns_name(&t.name, &n.name);
        let net = net_args(t, &n.name, vm);
        let mut r = VmReport {
            node: n.name.clone(),
            namespace: ns.clone(),
            taps: (0..linked_ends(t, &n.name).len()).map(tap_name).collect(),
            net_args: net.clone(),
            macvtaps: n.macvlans.iter().map(|m| m.end.iface.clone()).collect(),
            macvtap_queues: Vec::new(),
            command: None,
            pid: None,
            started: false,
            console: None,
            console_log: None,
            accel: None,
        };
        match &vm.boot {
            None => {
                r.macvtap_queues = macvtap_queues(&t.name, n);
                let words: Vec<String> = net.iter().map(|a| shell_word(a)).collect();
                let mut cmd = format!("ip netns exec {ns} {QEMU} ");
                for w in &words {
                    cmd.push_str(w);
                    cmd.push(' ');
                }
                cmd.push_str("<your machine, memory, disk and console arguments>");
                r.command = Some(cmd);
            }
            Some(boot) => {
                r.console = Some(console_path(&t.name, &n.name));
                r.console_log = Some(file(&t.name, &n.name, "console.log"));
                match running(&t.name, &n.name) {
                    Some(h) => r.pid = Some(h.pid()),
                    None => {
                        let (accel, why) = super::kvm_probe::choose(boot);
                        r.accel = Some(format!("{} ({why})", accel_name(accel)));
                        r.pid = Some(start(t, n, boot, accel, net)?);
                        r.started = true;
                    }
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

fn accel_name(a: Accel) -> &'static str {
    if a == Accel::Kvm {
        "kvm"
    } else {
        "tcg"
    }
}

/// A word as a POSIX shell reads it back.
fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_=,.:/+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Starts QEMU for `n` inside its namespace, records it, and waits until
/// it made its console socket (so a mistake QEMU reports at start is
/// this `up`'s error, with QEMU's own words).
fn start(t: &Topology, n: &Node, boot: &Boot, accel: Accel, net: Vec<String>) -> Result<i32> {
    let lab = &t.name;
    let dir = vm_dir(lab);
    store::ensure_private_dir(&dir)?;
    for ext in ["console", "pid"] {
        let _ = fs::remove_file(file(lab, &n.name, ext));
    }
    let log_path = file(lab, &n.name, "log");
    let log = store::create_private_file(&log_path)?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    let mut args = machine_args(lab, n, boot, accel, &guest_keys(t, n));
    args.extend(net);
    let queues = n.vm.as_ref().map_or(1, |v| v.queues);
    let held = open_macvtaps(lab, n, queues)?;
    let fds: Vec<Vec<RawFd>> = held
        .iter()
        .map(|q| q.iter().map(AsRawFd::as_raw_fd).collect())
        .collect();
    args.extend(macvtap_args(lab, n, linked_ends(t, &n.name).len(), &fds));
    let ns = netns::ns_name(lab, &n.name);
    let qemu = binary().map_err(Error::Vm)?;
    let qemu = qemu.display().to_string();
    // The node's limits (cpu, memory) hold the guest as a whole.
    let spec = super::node_run::spec(lab, n)?;
    let mut cmd =
        exec::command_in_lab(&ns, Some(&store::lab_dir(lab)), spec.as_ref(), &qemu, &args)?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        .current_dir("/");
    proc::own_session_with_umask(&mut cmd, 0o077);
    macvtap::inherit(&mut cmd, fds.concat());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("starting {QEMU} for VM {} in {ns}", n.name), e))?;
    // QEMU has its own copies of the queues now.
    drop(held);
    let pid = child.id() as i32;
    record(lab, &n.name, pid)?;
    let console = console_path(lab, &n.name);
    let deadline = Instant::now() + START_WAIT;
    while !console.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Vm(format!(
                "{QEMU} for VM `{}` exited at start ({status}): {}",
                n.name,
                tail(&log_path)
            )));
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Reaped when it ends, so a long-lived process (a test) keeps no
    // zombie; `nlab up` exits long before and QEMU is reparented.
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

/// Writes `PID START_TICKS` of the guest, root's alone.
fn record(lab: &str, node: &str, pid: i32) -> Result<()> {
    let ticks = proc::stat(pid)
        .map(|s| s.start_ticks)
        .ok_or_else(|| Error::Vm(format!("{QEMU} for VM `{node}` (pid {pid}) ended at once")))?;
    let p = file(lab, node, "pid");
    let bytes = format!("{pid} {ticks}\n");
    let tmp = p.with_extension("pid.tmp");
    store::write_atomic_as(&p, &tmp, bytes.as_bytes(), 0o600)
        .map_err(|e| Error::io(format!("writing {}", p.display()), e))
}

/// The last lines of QEMU's log, for an error message.
fn tail(p: &Path) -> String {
    let text = fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    let v: Vec<&str> = lines.into_iter().rev().collect();
    if v.is_empty() {
        "(no output)".into()
    } else {
        v.join(" / ")
    }
}

/// Stops every guest the lab's records name (SIGTERM, which QEMU takes as
/// a power-off, then SIGKILL), before its namespaces go. Returns how many
/// were running.
pub(crate) fn stop_all(lab: &str) -> usize {
    let Ok(entries) = fs::read_dir(vm_dir(lab)) else {
        return 0;
    };
    let nodes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".pid")
                .map(str::to_string)
        })
        .collect();
    let mut stopped = 0;
    for node in nodes {
        let Some(h) = running(lab, &node) else {
            continue;
        };
        stopped += 1;
        let _ = h.signal(libc::SIGTERM);
        if !h.wait_exit(STOP_WAIT) {
            let _ = h.signal(libc::SIGKILL);
            h.wait_exit(STOP_WAIT);
        }
    }
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::{Endpoint, Link, NodeKind};

    fn lab() -> Topology {
        let mut t = Topology::new("t");
        let mut v = Node::new("vm1", NodeKind::Host);
        v.vm = Some(Vm {
            queues: 2,
            ..Default::default()
        });
        v.gateway = Some("10.0.0.254".parse().unwrap());
        t.nodes.insert("vm1".into(), v);
        t.nodes
            .insert("s1".into(), Node::new("s1", NodeKind::Switch));
        let mut e = Endpoint::new("vm1", "eth0");
        e.addrs.push("10.0.0.9/24".parse().unwrap());
        t.links.push(Link::new(e, Endpoint::new("s1", "p1")));
        t
    }

    #[test]
    fn net_args_name_the_tap_and_queues() {
        let t = lab();
        let a = net_args(&t, "vm1", t.nodes["vm1"].vm.as_ref().unwrap());
        assert_eq!(a[0], "-netdev");
        assert!(a[1].starts_with("tap,id=net0,ifname=vtap0,script=no,downscript=no,vhost=off"));
        assert!(a[1].ends_with(",queues=2"));
        assert!(a[3].contains("mq=on,vectors=6"), "{}", a[3]);
        assert!(a[3].contains("mac=52:54:00:"));
    }

    #[test]
    fn macvtaps_follow_the_taps_on_inherited_descriptors() {
        let mut t = lab();
        let mut end = Endpoint::new("vm1", "eth1");
        end.addrs.push("192.168.77.20/24".parse().unwrap());
        let m = crate::topo::macvlan::Macvlan {
            end,
            parent: "enp9s0".into(),
            mode: Default::default(),
            tap: true,
        };
        t.nodes.get_mut("vm1").unwrap().macvlans.push(m);
        let n = &t.nodes["vm1"];
        let a = macvtap_args("t", n, 1, &[vec![7]]);
        assert_eq!(a[0], "-netdev");
        assert_eq!(a[1], "tap,id=net1,fd=7,vhost=off");
        assert!(
            a[3].starts_with("virtio-net-pci,netdev=net1,mac=52:54:00:"),
            "{}",
            a[3]
        );
        assert!(!a[3].contains("mq=on"));
        let two = macvtap_args("t", n, 1, &[vec![7, 8]]);
        assert_eq!(two[1], "tap,id=net1,fds=7:8,vhost=off");
        assert!(two[3].ends_with(",mq=on,vectors=6"), "{}", two[3]);
        // The guest is told the macvtap's address, after the links'.
        let k = guest_keys(&t, n);
        assert_eq!(k[2], "nlab.eth1=192.168.77.20/24", "{k:?}");
    }

    #[test]
    fn guest_keys_carry_addresses_and_gateway() {
        let t = lab();
        let k = guest_keys(&t, &t.nodes["vm1"]);
        assert_eq!(
            k,
            [
                "nlab.name=vm1",
                "nlab.eth0=10.0.0.9/24",
                "nlab.gw=10.0.0.254"
            ]
        );
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(shell_word("tap,id=net0"), "tap,id=net0");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
