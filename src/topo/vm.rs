//! Virtual machines (`kind: vm`): a node whose network stack is a guest's.
//!
//! The node is a namespace like any other, so links, conditions and
//! captures treat it as they treat a host; inside it, each interface the
//! links give the node is bridged to a TAP that QEMU attaches the guest's
//! NIC to. The addresses, gateway and MACs the topology gives the node
//! are the guest's: nlab does not put them on the namespace's side (it
//! passes them on the guest's kernel command line instead, see
//! [`Vm::boot`]).
//!
//! ```yaml
//! vm1:
//!   kind: vm
//!   queues: 2             # multiqueue TAPs (default 1)
//!   # Without kernel/disk: `nlab up` prints the QEMU arguments for you.
//!   kernel: vmlinuz       # relative to the topology file
//!   initrd: initrd.gz
//!   disk: disk.qcow2      # format from the name: .qcow2, else raw
//!   append: "quiet"       # added to console=ttyS0 and nlab's own keys
//!   memory: 256           # MiB (or 512M, 1G)
//!   cpus: 1
//!   accel: auto           # kvm | tcg | auto (kvm when a probe boots)
//! ```

use super::model::Loc;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Memory a guest gets when the file says nothing, in MiB.
pub const DEFAULT_MEMORY_MIB: u32 = 256;
/// Largest `queues:` value: QEMU's virtio-net takes more, but each queue
/// is a file descriptor and a vector per VM.
pub const MAX_QUEUES: u16 = 16;

/// What makes a node a virtual machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vm {
    /// How nlab starts the guest; `None`: the user starts QEMU with the
    /// arguments `nlab up` prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<Boot>,
    /// Queues per TAP (`queues:`); more than 1 makes multiqueue TAPs.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub queues: u16,
    /// Where `kind: vm` was written, for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

fn one() -> u16 {
    1
}
fn is_one(q: &u16) -> bool {
    *q == 1
}

impl Default for Vm {
    fn default() -> Self {
        Vm {
            boot: None,
            queues: 1,
            loc: Loc::default(),
        }
    }
}

impl PartialEq for Vm {
    fn eq(&self, o: &Self) -> bool {
        self.boot == o.boot && self.queues == o.queues
    }
}

/// Which accelerator QEMU runs the guest with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when `/dev/kvm` exists and a short probe boot of the guest's
    /// kernel gets past early boot under it; TCG otherwise.
    #[default]
    Auto,
    /// Hardware virtualization, without a probe.
    Kvm,
    /// QEMU's emulator: slower, works everywhere.
    Tcg,
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Accel::Auto),
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            _ => Err(format!("unknown accel `{s}` (expected auto, kvm or tcg)")),
        }
    }
}

/// A guest nlab starts: a kernel (with an optional initrd), a disk, or
/// both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Boot {
    /// The guest kernel (`-kernel`), absolute once read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PathBuf>,
    /// Its initial ramdisk (`-initrd`); needs `kernel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<PathBuf>,
    /// A disk image, the guest's first virtio disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<PathBuf>,
    /// More of the kernel command line; needs `kernel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// KVM, TCG, or decided by a probe.
    #[serde(default)]
    pub accel: Accel,
    /// Where each path was written (file parser only), for errors:
    /// kernel, initrd, disk.
    #[serde(default, skip)]
    pub locs: [Loc; 3],
}

impl PartialEq for Boot {
    fn eq(&self, o: &Self) -> bool {
        self.kernel == o.kernel
            && self.initrd == o.initrd
            && self.disk == o.disk
            && self.append == o.append
            && self.memory_mib == o.memory_mib
            && self.cpus == o.cpus
            && self.accel == o.accel
    }
}

impl Boot {
    /// The image files the guest needs, each with what it is and where it
    /// was written.
    pub fn files(&self) -> Vec<(&'static str, &PathBuf, Loc)> {
        [
            ("kernel", &self.kernel),
            ("initrd", &self.initrd),
            ("disk", &self.disk),
        ]
        .into_iter()
        .zip(self.locs)
        .filter_map(|((what, p), loc)| Some((what, p.as_ref()?, loc)))
        .collect()
    }
}

/// Interfaces of a VM node are bridged to TAPs named after their position:
/// names the user may not take for the node's own interfaces.
pub fn reserved_iface(name: &str) -> bool {
    ["vtap", "vbr"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names() {
        assert!(reserved_iface("vtap0") && reserved_iface("vbr12"));
        assert!(!reserved_iface("eth0") && !reserved_iface("vtap") && !reserved_iface("vbrx"));
    }

    #[test]
    fn files_carry_their_locations() {
        let b = Boot {
            kernel: Some("/k".into()),
            initrd: None,
            disk: Some("/d".into()),
            append: None,
            memory_mib: 256,
            cpus: 1,
            accel: Accel::Auto,
            locs: [Loc::new(3, 5), Loc::default(), Loc::new(4, 5)],
        };
        let f = b.files();
        assert_eq!(f.len(), 2);
        assert_eq!((f[1].0, f[1].2), ("disk", Loc::new(4, 5)));
    }
}
