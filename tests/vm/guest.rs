//! A tiny guest for the VM tests: Debian's kernel (unpacked by
//! scripts/vm-kernel.sh into a cache, never installed) and an initramfs
//! made here: a static busybox, the virtio modules of that kernel, and an
//! init script that configures eth0 from nlab's kernel command line,
//! pings a peer back, reports on the serial console and leaves a shell
//! there.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The virtio modules in the order they depend on each other.
const MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "failover",
    "net_failover",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_net",
];

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in MODULES; do insmod /lib/modules/$m.ko; done
for w in $(cat /proc/cmdline); do
  case $w in
    nlab.name=*) name=${w#nlab.name=} ;;
    nlab.eth0=*) addr=${w#nlab.eth0=} ;;
    nlab.gw=*) gw=${w#nlab.gw=} ;;
    nlabtest.peer=*) peer=${w#nlabtest.peer=} ;;
  esac
done
ip link set lo up
ip link set eth0 up
ip addr add "${addr%%,*}" dev eth0
[ -n "$gw" ] && ip route add default via "$gw"
echo "NLAB-READY $name $(cat /sys/class/net/eth0/address)"
ok=FAIL
for i in $(seq 30); do
  if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then ok=OK; break; fi
done
echo "NLAB-PINGBACK-$ok $name $peer"
export PS1='guest# '
exec setsid cttyhack sh
"#;

/// Where scripts/vm-kernel.sh unpacked the kernel package.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("NLAB_VM_CACHE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nlab-vm"),
        PathBuf::from,
    )
}

/// The kernel image and its modules directory, or why there is none.
pub fn kernel() -> Result<(PathBuf, PathBuf), String> {
    let root = cache_dir().join("root");
    let boot = std::fs::read_dir(root.join("boot")).map_err(|_| {
        format!(
            "no kernel cache at {} (run scripts/vm-kernel.sh)",
            root.display()
        )
    })?;
    let vmlinuz = boot
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or_else(|| {
            format!(
                "no vmlinuz-* in {}/boot (run scripts/vm-kernel.sh)",
                root.display()
            )
        })?;
    let ver = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or_default()
        .to_string();
    Ok((vmlinuz, root.join("lib/modules").join(ver)))
}

/// Why the tests cannot boot a guest here, if they cannot.
pub fn unavailable() -> Option<String> {
    let have_qemu = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("qemu-system-x86_64").is_file());
    if !have_qemu {
        return Some("qemu-system-x86_64 is not installed (package qemu-system-x86)".into());
    }
    if !Path::new("/bin/busybox").is_file() {
        return Some("no /bin/busybox (package busybox-static)".into());
    }
    kernel().err()
}

/// Writes the initramfs (an uncompressed newc cpio) to `out`.
#[allow(dead_code)] // tests/vnet_tap.rs boots a guest of its own
pub fn initramfs(out: &Path) {
    initramfs_with(out, INIT);
}

/// [`initramfs`] with another init script; `MODULES` in it becomes the
/// list of virtio modules to load, in order.
pub fn initramfs_with(out: &Path, init: &str) {
    let (_, modules) = kernel().expect("kernel cache");
    let mut files: Vec<(String, u32, Vec<u8>)> = Vec::new();
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "lib",
        "lib/modules",
        "root",
        "tmp",
    ] {
        files.push((d.into(), 0o040755, Vec::new()));
    }
    files.push((
        "bin/busybox".into(),
        0o100755,
        std::fs::read("/bin/busybox").expect("busybox"),
    ));
    let init = init.replace("MODULES", &MODULES.join(" "));
    files.push(("init".into(), 0o100755, init.into_bytes()));
    for m in MODULES {
        let found = walk(&modules.join("kernel"), &format!("{m}.ko")).expect("module in the cache");
        files.push((
            format!("lib/modules/{m}.ko"),
            0o100644,
            std::fs::read(found).expect("read module"),
        ));
    }
    let mut f = std::fs::File::create(out).expect("create initramfs");
    for (i, (name, mode, data)) in files.iter().enumerate() {
        cpio_entry(&mut f, i as u32 + 1, name, *mode, data);
    }
    cpio_entry(&mut f, 0, "TRAILER!!!", 0, &[]);
}

fn walk(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = walk(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// One entry of a newc ("070701") archive, padded to 4 bytes.
fn cpio_entry(f: &mut impl Write, ino: u32, name: &str, mode: u32, data: &[u8]) {
    let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
    let namesize = name.len() + 1;
    let header = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        0, 0, 0, data.len(), 0, 0, 0, 0, 0
    );
    let mut buf = header.into_bytes();
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
    buf.extend_from_slice(data);
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
    f.write_all(&buf).expect("write initramfs");
}
