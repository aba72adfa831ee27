//! Persistent TAP devices for the userspace link emulator.
//!
//! A TAP is created by opening `/dev/net/tun` on a thread inside the target
//! namespace (rtnetlink cannot create one) and marking it persistent, so the
//! interface exists without any process holding it: the rest of nlab
//! addresses it, brings it up and enslaves it to a bridge like a veth end.
//! The emulator later attaches a queue to it from any thread.
//!
//! Frames carry a 12-byte `virtio_net_hdr_v1` and the device accepts TSO/USO
//! and checksum offload, so a GSO frame of up to 64 KiB crosses the emulator
//! in one read and one write instead of ~45 MTU-sized ones.
//!
//! A TAP's carrier is on only while a queue is attached: with the emulator
//! stopped, `ip link` shows the interface `NO-CARRIER … state DOWN` even
//! when it is administratively up.

use super::netns::NetNs;
use super::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// Bytes of the `virtio_net_hdr_v1` in front of every frame.
pub const VNET_HDR_LEN: usize = 12;
/// Largest frame a read can return: a 64 KiB GSO frame plus headers.
pub const MAX_FRAME: usize = 65536 + VNET_HDR_LEN + 14 + 4;

// The tun ioctls and flags come from `libc`, which computes the request
// numbers per architecture (`_IOW('T', 202, int)` and so on).
use libc::{TUNSETIFF, TUNSETOFFLOAD, TUNSETOWNER, TUNSETPERSIST, TUNSETVNETHDRSZ};
use libc::{TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_USO4, TUN_F_USO6};

/// `ifr_flags` of the TAP: `libc`'s flags are `c_int`, the field is a short.
const TAP_FLAGS: i16 = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as i16;

/// `struct ifreq` as TUNSETIFF reads it: a name and the flags.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: i16,
    _pad: [u8; 22],
}

fn ifreq(name: &str, what: &str, flags: i16) -> Result<IfReq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(Error::protocol(
            what,
            format!("interface name {name:?} must be 1 to 15 bytes"),
        ));
    }
    let mut r = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags,
        _pad: [0; 22],
    };
    r.name[..bytes.len()].copy_from_slice(bytes);
    Ok(r)
}

fn ioctl_ptr<T>(fd: &File, req: libc::Ioctl, arg: &mut T, what: &str) -> Result<()> {
    // SAFETY: `arg` is a live, correctly sized value for this request.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg as *mut T) };
    if r < 0 {
        return Err(Error::io(what, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn ioctl_val(fd: &File, req: libc::Ioctl, arg: libc::c_ulong) -> std::io::Result<()> {
    // SAFETY: these tun requests take their argument by value.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Opens `/dev/net/tun` on a thread inside `ns` and binds it to `name`.
/// TUNSETIFF would quietly create a fresh, non-persistent TAP for a name
/// that does not exist, so unless `create` the device must exist already.
fn open_in(ns: &str, name: &str, what: &str, create: bool) -> Result<File> {
    open_with(ns, name, what, create, TAP_FLAGS)
}

/// [`open_in`] with the TUNSETIFF flags given.
fn open_with(ns: &str, name: &str, what: &str, create: bool, flags: i16) -> Result<File> {
    let mut req = ifreq(name, what, flags)?;
    let netns = NetNs::open(ns)?;
    let what_s = what.to_string();
    let f = std::thread::scope(|s| {
        s.spawn(|| {
            netns.run(|| -> Result<File> {
                let cname = std::ffi::CString::new(name)
                    .map_err(|_| Error::protocol(&what_s, "interface name holds a NUL"))?;
                // SAFETY: a NUL-terminated name; the lookup happens in the
                // namespace of this thread.
                if !create && unsafe { libc::if_nametoindex(cname.as_ptr()) } == 0 {
                    return Err(Error::errno(what_s.clone(), libc::ENODEV));
                }
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open("/dev/net/tun")
                    .map_err(|e| Error::io(format!("{what_s}: opening /dev/net/tun"), e))?;
                ioctl_ptr(&f, TUNSETIFF, &mut req, &what_s)?;
                Ok(f)
            })?
        })
        .join()
        .unwrap_or_else(|_| Err(Error::protocol(what, "tap thread panicked")))
    })?;
    Ok(f)
}

/// Creates the persistent TAP `name` inside namespace `ns`, owned by root,
/// and leaves it there with no queue attached (no carrier).
pub fn create(ns: &str, name: &str) -> Result<()> {
    let what = format!("creating tap {name} in {ns}");
    let f = open_in(ns, name, &what, true)?;
    ioctl_val(&f, TUNSETOWNER, 0).map_err(|e| Error::io(format!("{what}: owner"), e))?;
    ioctl_val(&f, TUNSETPERSIST, 1).map_err(|e| Error::io(format!("{what}: persist"), e))?;
    Ok(())
}

/// Creates the persistent TAP `name` in `ns` for a VM's NIC: vnet
/// headers, checksum and segmentation offloads on (QEMU renegotiates them
/// with the guest when it attaches), and `IFF_MULTI_QUEUE` when the guest
/// gets more than one queue (QEMU then attaches one fd per queue, with
/// the same flag, which the kernel requires to match).
pub fn create_for_vm(ns: &str, name: &str, queues: u16) -> Result<()> {
    let what = format!("creating tap {name} in {ns} for a VM");
    let flags = if queues > 1 {
        TAP_FLAGS | libc::IFF_MULTI_QUEUE as i16
    } else {
        TAP_FLAGS
    };
    let f = open_with(ns, name, &what, true, flags)?;
    let base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    ioctl_val(&f, TUNSETOFFLOAD, base as libc::c_ulong)
        .map_err(|e| Error::io(format!("{what}: offloads"), e))?;
    ioctl_val(&f, TUNSETOWNER, 0).map_err(|e| Error::io(format!("{what}: owner"), e))?;
    ioctl_val(&f, TUNSETPERSIST, 1).map_err(|e| Error::io(format!("{what}: persist"), e))?;
    Ok(())
}

/// Deletes the persistent TAP `name` in `ns`. The device disappears once
/// no queue is attached any more (stop the emulator first).
pub fn delete(ns: &str, name: &str) -> Result<()> {
    let what = format!("deleting tap {name} in {ns}");
    let f = open_in(ns, name, &what, false)?;
    ioctl_val(&f, TUNSETPERSIST, 0).map_err(|e| Error::io(format!("{what}: persist off"), e))
}

/// A queue attached to a TAP: one fd, frames prefixed by a vnet header.
#[derive(Debug)]
pub struct Tap {
    pub fd: OwnedFd,
}

/// Attaches to the existing TAP `name` in `ns` with vnet headers and
/// offloads; the fd is non-blocking so one thread can serve it with poll.
pub fn attach(ns: &str, name: &str) -> Result<Tap> {
    let what = format!("attaching to tap {name} in {ns}");
    let f = open_in(ns, name, &what, false)?;
    let mut hdr: libc::c_int = VNET_HDR_LEN as libc::c_int;
    ioctl_ptr(
        &f,
        TUNSETVNETHDRSZ,
        &mut hdr,
        &format!("{what}: vnet header"),
    )?;
    let base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    let uso = ioctl_val(
        &f,
        TUNSETOFFLOAD,
        (base | TUN_F_USO4 | TUN_F_USO6) as libc::c_ulong,
    )
    .is_ok();
    // UDP segmentation offload needs 6.2+; without it the kernel
    // segments UDP before the TAP.
    tracing::debug!(tap = name, uso, "offloads set");
    if !uso {
        ioctl_val(&f, TUNSETOFFLOAD, base as libc::c_ulong)
            .map_err(|e| Error::io(format!("{what}: offloads"), e))?;
    }
    // SAFETY: fcntl on an fd we own.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    if r < 0 {
        return Err(Error::io(
            format!("{what}: non-blocking"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(Tap { fd: f.into() })
}

#[cfg(test)]
mod tests {

    #[test]
    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    fn tun_ioctls_match_the_x86_64_numbers() {
        // The numbers this file hard-coded before it took libc's, which
        // computes them per architecture.
        assert_eq!(TUNSETIFF, 0x4004_54ca);
        assert_eq!(TUNSETPERSIST, 0x4004_54cb);
        assert_eq!(TUNSETOWNER, 0x4004_54cc);
        assert_eq!(TUNSETOFFLOAD, 0x4004_54d0);
        assert_eq!(TUNSETVNETHDRSZ, 0x4004_54d8);
        assert_eq!(TAP_FLAGS, 0x5002);
    }
    use super::*;

    #[test]
    fn names_are_checked_before_any_syscall() {
        assert!(ifreq("h1-eth0", "t", TAP_FLAGS).is_ok());
        assert!(ifreq("", "t", TAP_FLAGS).is_err());
        assert!(ifreq("a-name-that-is-too-long", "t", TAP_FLAGS).is_err());
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
    }
}
