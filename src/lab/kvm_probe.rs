//! Deciding between KVM and TCG for a guest (`accel: auto`).
//!
//! `/dev/kvm` accepting a VM is not enough: under nested virtualization a
//! Debian guest kernel can hang right after its real-mode setup ("Probing
//! EDD") while the same kernel boots under TCG (DESIGN.md). So the probe
//! boots the guest's own kernel under KVM, without initrd or network,
//! for at most [`PROBE_FOR`], and takes KVM only if the kernel got past
//! early boot: its `Linux version` banner on the serial port (early
//! printk, printed before any driver loads). A hung probe costs those
//! seconds once per kernel per `up`.

use crate::topo::vm::{Accel, Boot};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long the probe guest may take to print its banner.
pub(crate) const PROBE_FOR: Duration = Duration::from_secs(5);
const BANNER: &[u8] = b"Linux version";

/// Probe results of this process, by kernel image.
static PROBED: Mutex<Option<HashMap<PathBuf, bool>>> = Mutex::new(None);

/// The accelerator for `boot`, and why.
pub(crate) fn choose(boot: &Boot) -> (Accel, String) {
    match boot.accel {
        Accel::Kvm => return (Accel::Kvm, "accel: kvm".into()),
        Accel::Tcg => return (Accel::Tcg, "accel: tcg".into()),
        Accel::Auto => {}
    }
    if !std::path::Path::new("/dev/kvm").exists() {
        return (Accel::Tcg, "no /dev/kvm".into());
    }
    let Some(kernel) = &boot.kernel else {
        return (
            Accel::Tcg,
            "a disk-only guest is not probed; write `accel: kvm` to use KVM".into(),
        );
    };
    let mut cache = PROBED.lock().unwrap_or_else(|p| p.into_inner());
    let known = cache.get_or_insert_with(HashMap::new);
    let boots = *known
        .entry(kernel.clone())
        .or_insert_with(|| kvm_boots(kernel));
    if boots {
        (
            Accel::Kvm,
            "a probe boot under KVM printed the kernel's banner".into(),
        )
    } else {
        (
            Accel::Tcg,
            format!(
                "a probe boot under KVM printed no kernel banner within {} s",
                PROBE_FOR.as_secs()
            ),
        )
    }
}

/// Boots `kernel` under KVM and watches its serial output for the banner.
fn kvm_boots(kernel: &std::path::Path) -> bool {
    let Ok(qemu) = super::qemu::binary() else {
        return false;
    };
    let child = Command::new(qemu)
        .args(["-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults"])
        .args(["-no-user-config", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1"])
        .args(["-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let Some(mut out) = child.stdout.take() else {
        return false;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(BANNER.len()).any(|w| w == BANNER) {
                let _ = tx.send(());
                return;
            }
        }
    });
    let boots = rx.recv_timeout(PROBE_FOR).is_ok();
    let _ = child.kill();
    let _ = child.wait();
    tracing::info!(kernel = %kernel.display(), boots, "KVM probe");
    boots
}
