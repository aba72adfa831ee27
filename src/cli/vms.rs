//! What the command line shows of VMs: the lines `up` prints for each,
//! and `nlab console LAB NODE`, a terminal attached to a guest's serial
//! console.

use super::root::require_root;
use crate::kernel::{fd, term};
use crate::lab::{Lab, VmReport};
use anyhow::Context;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The key that detaches (`Ctrl-]`, as telnet and virsh console use).
const DETACH: u8 = 0x1d;
/// Without a terminal (a script on stdin): how long to keep printing
/// the guest's output after the script ended and the guest went quiet.
const QUIET_AFTER_EOF: Duration = Duration::from_millis(1500);

/// The lines `up` prints for the lab's VMs.
pub fn print(lab: &str, vms: &[VmReport]) {
    for v in vms {
        match (&v.command, v.pid) {
            (Some(cmd), _) => {
                let taps = if v.taps.is_empty() {
                    String::new()
                } else {
                    format!(" (TAPs {})", v.taps.join(", "))
                };
                println!(
                    "VM {}: start it yourself, inside its namespace{taps}:",
                    v.node
                );
                println!("  {cmd}");
                println!("  (or: nlab exec {lab} {} -- qemu-system-x86_64 …)", v.node);
                for q in &v.macvtap_queues {
                    let dev = q.device.as_deref().unwrap_or("MAJOR:MINOR");
                    let (a, b) = dev.split_once(':').unwrap_or((dev, ""));
                    println!(
                        "  macvtap {}: add `-netdev tap,id=ID,fd=N -device virtio-net-pci,netdev=ID,mac={}` with fd N open on its queue device {dev} (e.g. mknod -m 600 /root/q c {a} {b}; /dev/tapIFINDEX may be another namespace's)",
                        q.iface, q.mac
                    );
                }
            }
            (None, Some(pid)) => {
                let how = if v.started { "started" } else { "running" };
                let accel = v
                    .accel
                    .as_deref()
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
                println!(
                    "VM {}: {how}, QEMU pid {pid}{accel}; console: nlab console {lab} {}",
                    v.node, v.node
                );
                for m in &v.macvtaps {
                    println!("  macvtap {m}: its queue is QEMU's (-netdev tap,fd=N)");
                }
            }
            (None, None) => {}
        }
    }
}

/// `nlab console LAB NODE`.
pub fn console(lab: &str, node: &str) -> anyhow::Result<i32> {
    require_root()?;
    let l = Lab::open(lab)?;
    let path = l.console_socket(node)?;
    let sock = UnixStream::connect(&path)
        .with_context(|| format!("connecting to the console of {node} ({})", path.display()))?;
    let raw = term::RawMode::enter()?;
    if raw.is_some() {
        eprint!("Connected to the serial console of {node} (lab {lab}). Ctrl-] detaches.\r\n");
    }
    let ended = pump(&sock, raw.is_some())?;
    drop(raw);
    if ended {
        eprintln!("\nThe console closed: the guest stopped.");
        return Ok(1);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("\nDetached from {node}.");
    }
    Ok(0)
}

/// Copies stdin to the guest and the guest to stdout until Ctrl-] (a
/// terminal), or the script on stdin ended and the guest went quiet.
/// True when the guest closed the console.
fn pump(sock: &UnixStream, tty: bool) -> anyhow::Result<bool> {
    let (sfd, ifd) = (sock.as_raw_fd(), std::io::stdin().as_raw_fd());
    let mut stdin_open = true;
    let mut last_output = Instant::now();
    let mut buf = [0u8; 4096];
    let mut out = std::io::stdout();
    loop {
        let wait = if stdin_open { None } else { Some(100_000_000) };
        fd::wait_readable2(sfd, if stdin_open { ifd } else { -1 }, wait);
        fd::set_nonblocking(sfd, true);
        match fd::read(sfd, &mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                out.write_all(&buf[..n])?;
                out.flush()?;
                last_output = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the console"),
        }
        if !stdin_open {
            if last_output.elapsed() > QUIET_AFTER_EOF {
                return Ok(false);
            }
            continue;
        }
        fd::set_nonblocking(ifd, true);
        let r = fd::read(ifd, &mut buf);
        fd::set_nonblocking(ifd, false);
        match r {
            Ok(0) => stdin_open = false,
            Ok(n) => {
                let data = &buf[..n];
                let cut = if tty {
                    data.iter().position(|b| *b == DETACH)
                } else {
                    None
                };
                let send = &data[..cut.unwrap_or(n)];
                (&*sock).write_all(send).context("writing to the console")?;
                if cut.is_some() {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading stdin"),
        }
    }
}
