//! `ETHTOOL_GLINK`, used for its side effect: the kernel handles a
//! device's pending link-state event (`linkwatch_sync_dev`) before it
//! answers. A bridge's carrier change is not urgent to the kernel's
//! linkwatch, so without this its operational state reads `unknown` for up
//! to a second after `up` returned, and two `inspect`s a second apart
//! disagree about a lab nobody touched.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut EthtoolValue,
    // The union in `struct ifreq` is larger than one pointer.
    _pad: [u8; 16],
}

const ETHTOOL_GLINK: u32 = 0x0000_000a;

/// Settles the link state of each of `ifaces` in the calling thread's
/// network namespace; answers whether each has carrier. A name that is
/// not there (or too long) reads as `false`.
pub fn sync_link_states(ifaces: &[String]) -> io::Result<Vec<bool>> {
    // SAFETY: a plain socket call; the fd is owned at once.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(ifaces.iter().map(|i| glink(&sock, i)).collect())
}

fn glink(sock: &OwnedFd, iface: &str) -> bool {
    let bytes = iface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return false;
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: &mut value,
        _pad: [0; 16],
    };
    for (d, s) in req.name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCETHTOOL reads the ifreq and writes one ethtool_value
    // through its pointer; both outlive the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    r == 0 && value.data != 0
}
