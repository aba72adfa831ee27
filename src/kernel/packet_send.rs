//! A send-only `AF_PACKET` socket: IPv4 packets to one MAC on one
//! interface, the kernel adding the Ethernet header (`SOCK_DGRAM`). The
//! DHCP server answers a client that has no address yet with an IP
//! broadcast in a frame to the client's MAC, so the bridge hands it to
//! that client's port alone instead of flooding every port of the segment.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens it in the calling thread's namespace. Protocol 0: it
    /// receives nothing, so it costs nothing when idle.
    pub fn new(ifindex: u32) -> io::Result<PacketSocket> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ifindex =
            i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(PacketSocket { fd, ifindex })
    }

    /// Sends the IPv4 packet `ip` (headers included) in a frame to `mac`.
    pub fn send_ipv4(&self, mac: [u8; 6], ip: &[u8]) -> io::Result<usize> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = (libc::ETH_P_IP as u16).to_be();
        sa.sll_ifindex = self.ifindex;
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&mac);
        // SAFETY: the buffer and the address are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                ip.as_ptr().cast(),
                ip.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}
