//! Opening a MACVTAP's queues for a guest nlab starts, and handing the
//! descriptors to the QEMU child.
//!
//! A MACVTAP is read and written through a character device whose minor
//! number the kernel allocates; `/dev/tapIFINDEX` names it, but the index
//! is the one of the namespace the MACVTAP lives in, and every namespace
//! numbers its interfaces from 1, so in a lab node that name can belong to
//! another namespace's MACVTAP (devtmpfs keeps the first). nlab therefore
//! never trusts the name:
//!
//! 1. on a thread inside the node's namespace, a sysfs instance is made
//!    with `fsopen`/`fsmount` (a detached mount: it appears nowhere in any
//!    mount table, and describes the namespace of the thread that made
//!    it), and `class/net/IFACE/macvtap/tapIFINDEX/dev` gives the device
//!    number;
//! 2. a device node with that number is made in a detached tmpfs (made
//!    the same way, so without the host's `nodev` on `/run`), opened once
//!    per queue, and forgotten with the mount: no file is left anywhere.
//!
//! Each open is one queue, with vnet headers on (the MACVTAP default,
//! checked and set if a previous user turned it off), which QEMU probes
//! with `TUNGETIFF` on the descriptor it is given and then sizes and
//! offloads for the guest itself.

use super::netns::NetNs;
use super::{Error, Result};
use std::ffi::{CStr, CString};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;

// The new mount API's constants (linux/mount.h); `libc` has the syscall
// numbers but not these.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;

/// `struct ifreq` as `TUNGETIFF`/`TUNSETIFF` read it.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: i16,
    _pad: [u8; 22],
}

fn last_err(what: &str) -> Error {
    Error::io(what, std::io::Error::last_os_error())
}

fn cstr(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::protocol(what, format!("{s:?} holds a NUL byte")))
}

/// A detached mount of a new `fstype` instance with string options
/// `opts` and mount attributes `attrs`: a directory descriptor only this
/// process holds, gone when it is closed.
fn detached_mount(
    fstype: &CStr,
    opts: &[(&CStr, &CStr)],
    attrs: libc::c_uint,
    what: &str,
) -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated name and a flag.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(last_err(&format!("{what}: fsopen")));
    }
    // SAFETY: fsopen returned a new descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    for (k, v) in opts {
        // SAFETY: an open fs context and NUL-terminated key and value.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if r < 0 {
            return Err(last_err(&format!("{what}: option {}", k.to_string_lossy())));
        }
    }
    // SAFETY: an open fs context; the command takes no key or value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(last_err(&format!("{what}: creating the instance")));
    }
    // SAFETY: an fs context with a created instance, scalar flags.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if m < 0 {
        return Err(last_err(&format!("{what}: fsmount")));
    }
    // SAFETY: fsmount returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(m as RawFd) })
}

/// Opens `path` below directory `dir` with `flags` (`O_CLOEXEC` added).
fn open_at(dir: &OwnedFd, path: &str, flags: libc::c_int, what: &str) -> Result<OwnedFd> {
    let p = cstr(path, what)?;
    // SAFETY: an open directory descriptor and a NUL-terminated path.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), p.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_err(&format!("{what}: opening {path}")));
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn read_at(dir: &OwnedFd, path: &str, what: &str) -> Result<String> {
    let mut f = std::fs::File::from(open_at(dir, path, libc::O_RDONLY, what)?);
    let mut s = String::new();
    f.read_to_string(&mut s)
        .map_err(|e| Error::io(format!("{what}: reading {path}"), e))?;
    Ok(s.trim().to_string())
}

/// `MAJOR:MINOR` as sysfs writes a device number.
pub fn parse_dev(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The device number of MACVTAP `iface` in namespace `ns`, read from a
/// sysfs of that namespace (see the module docs).
pub fn device(ns: &str, iface: &str) -> Result<(u32, u32)> {
    let what = format!("finding the queue device of macvtap {iface} in {ns}");
    let netns = NetNs::open(ns)?;
    let dev = std::thread::scope(|s| {
        s.spawn(|| {
            netns.run(|| -> Result<String> {
                let attrs =
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
                let sys = detached_mount(c"sysfs", &[], attrs, &format!("{what}: sysfs"))?;
                let base = format!("class/net/{iface}");
                let index = read_at(&sys, &format!("{base}/ifindex"), &what)?;
                read_at(&sys, &format!("{base}/macvtap/tap{index}/dev"), &what)
            })?
        })
        .join()
        .unwrap_or_else(|_| Err(Error::protocol(&what, "the namespace thread panicked")))
    })?;
    parse_dev(&dev)
        .ok_or_else(|| Error::protocol(&what, format!("unreadable device number {dev:?}")))
}

/// Opens `queues` queues of MACVTAP `iface` in namespace `ns`, each with
/// vnet headers on. The descriptors are close-on-exec: give them to a
/// child with [`inherit`].
pub fn open_queues(ns: &str, iface: &str, queues: u16) -> Result<Vec<OwnedFd>> {
    let (major, minor) = device(ns, iface)?;
    let what = format!("opening the queues of macvtap {iface} in {ns} (device {major}:{minor})");
    let attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
    let opts: [(&CStr, &CStr); 2] = [(c"mode", c"0700"), (c"size", c"64k")];
    let dir = detached_mount(c"tmpfs", &opts, attrs, &format!("{what}: a private tmpfs"))?;
    let dev = libc::makedev(major, minor);
    // SAFETY: an open directory descriptor, a NUL-terminated name, a mode
    // and a device number.
    let r = unsafe { libc::mknodat(dir.as_raw_fd(), c"q".as_ptr(), libc::S_IFCHR | 0o600, dev) };
    if r != 0 {
        return Err(last_err(&format!("{what}: making its device node")));
    }
    let mut out = Vec::with_capacity(usize::from(queues));
    for _ in 0..queues.max(1) {
        let fd = open_at(&dir, "q", libc::O_RDWR, &what)?;
        ensure_vnet_hdr(&fd, &what)?;
        out.push(fd);
    }
    Ok(out)
}

/// The queue's flags (`TUNGETIFF`); turns vnet headers on if they are off.
fn ensure_vnet_hdr(fd: &OwnedFd, what: &str) -> Result<()> {
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    // SAFETY: a live ifreq-sized value for TUNGETIFF to fill.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req as *mut IfReq) } < 0 {
        return Err(last_err(&format!("{what}: reading its flags")));
    }
    let vnet = libc::IFF_VNET_HDR as i16;
    if req.flags & vnet != 0 {
        return Ok(());
    }
    req.flags |= vnet | libc::IFF_TAP as i16 | libc::IFF_NO_PI as i16;
    // SAFETY: as above, for TUNSETIFF to read.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) } < 0 {
        return Err(last_err(&format!("{what}: turning vnet headers on")));
    }
    Ok(())
}

/// Makes `cmd`'s child keep `fds` open across `exec`, at the same
/// numbers (they stay close-on-exec in this process, so no other child
/// gets them). Keep the descriptors open until the child is spawned.
pub fn inherit(cmd: &mut Command, fds: Vec<RawFd>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: fcntl only, on numbers the parent holds open; no allocation
    // in the child (the vector was made before the fork).
    unsafe {
        cmd.pre_exec(move || {
            for fd in &fds {
                if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_parse() {
        assert_eq!(parse_dev("246:1\n"), Some((246, 1)));
        assert_eq!(parse_dev("246"), None);
        assert_eq!(parse_dev("a:1"), None);
    }

    #[test]
    fn inherited_descriptors_reach_the_child_and_no_other() {
        let (r, _w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        let n = r.as_raw_fd();
        let me = std::fs::read_link(format!("/proc/self/fd/{n}")).expect("our pipe");
        let script = format!("readlink /proc/self/fd/{n}");
        let child_sees = |cmd: &mut Command| {
            let o = cmd.args(["-c", &script]).output().expect("sh");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let mut with = Command::new("sh");
        inherit(&mut with, vec![n]);
        assert_eq!(child_sees(&mut with), me.to_string_lossy());
        let without = child_sees(&mut Command::new("sh"));
        assert_ne!(without, me.to_string_lossy(), "a close-on-exec pipe leaked");
    }
}
