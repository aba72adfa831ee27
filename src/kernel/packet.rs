//! AF_PACKET capture: a raw packet socket on one interface with a
//! memory-mapped `TPACKET_V3` receive ring and an optional classic BPF
//! filter, opened in the calling thread's network namespace (the socket
//! stays bound to it after the thread leaves).
//!
//! The ring is a run of blocks the kernel fills with packets and hands to
//! us (`TP_STATUS_USER`); we read a block's packets in place, without a
//! copy or a syscall per packet, and give it back (`TP_STATUS_KERNEL`).

use super::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// One classic BPF instruction, as `tcpdump -dd` prints it
/// (`{ code, jt, jf, k }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// The ring's shape. Blocks must be a multiple of the page size and hold
/// the largest packet (a GSO super-packet on a veth is up to 64 KiB).
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    pub block_size: u32,
    pub block_count: u32,
    /// A block that is not full is handed over after this many ms, so a
    /// trickle of packets is seen promptly.
    pub retire_ms: u32,
}

impl RingConfig {
    /// A ring of about `total_bytes` in at least 4 blocks of 128 or 256
    /// KiB (enough for a 64 KiB GSO packet): while we read one block the
    /// kernel fills the others, so fewer, bigger blocks drop sooner.
    pub fn with_total(total_bytes: usize) -> RingConfig {
        const MIN: usize = 128 * 1024;
        const MAX: usize = 256 * 1024;
        let block = if total_bytes / MAX >= 8 { MAX } else { MIN };
        RingConfig {
            block_size: block as u32,
            block_count: (total_bytes / block).clamp(4, 16_384) as u32,
            retire_ms: 50,
        }
    }
}

/// Which way a packet crossed the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// One captured packet, borrowed from the ring.
#[derive(Debug)]
pub struct Packet<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The captured bytes, from the Ethernet header on.
    pub data: &'a [u8],
    /// The packet's length on the wire (more than `data` when truncated).
    pub orig_len: u32,
    pub direction: Direction,
}

/// Counts from `PACKET_STATISTICS` since the last read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Packets that passed the filter, kept or dropped.
    pub received: u64,
    /// Of those, packets the kernel dropped because the ring was full.
    pub dropped: u64,
}

/// A packet socket with its receive ring mapped.
pub struct PacketRing {
    fd: OwnedFd,
    map: *mut u8,
    len: usize,
    block_size: usize,
    block_count: usize,
    next: usize,
}

// SAFETY: the mapping belongs to this value alone (no aliases are handed
// out beyond a `Block`'s borrow), so moving it to another thread is fine.
unsafe impl Send for PacketRing {}

/// Names of the interfaces in the calling thread's namespace.
pub fn interfaces() -> Result<Vec<String>> {
    let list = nix::net::if_::if_nameindex().map_err(|e| Error::sys("listing interfaces", e))?;
    Ok(list
        .iter()
        .map(|i| i.name().to_string_lossy().into_owned())
        .collect())
}

/// The index of `iface` in the calling thread's namespace, `None` when it
/// has no such interface.
pub fn index_of(iface: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(iface).ok()
}

fn last_err(what: String) -> Error {
    Error::io(what, std::io::Error::last_os_error())
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, val: &T, what: String) -> Result<()> {
    // SAFETY: `val` is a live value of its own size; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last_err(what))
    }
}

impl PacketRing {
    /// Opens a capture on interface `index` of the calling thread's
    /// namespace; `what` names it in errors (`h1:h1-eth0`).
    ///
    /// The socket is made with protocol 0, which receives nothing, and
    /// only bound to the interface (and to every protocol) after the
    /// filter is attached and the ring mapped: no packet the filter would
    /// refuse is ever queued, and none arrives before the ring exists.
    pub fn open(
        index: u32,
        filter: Option<&[BpfInsn]>,
        cfg: &RingConfig,
        what: &str,
    ) -> Result<PacketRing> {
        // SAFETY: socket(2) with constant arguments; the fd is owned at once.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(last_err(format!("opening a packet socket for {what}")));
        }
        // SAFETY: `raw` is a new fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if let Some(prog) = filter {
            attach_filter(fd.as_raw_fd(), prog, what)?;
        }
        let v3 = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &v3,
            format!("asking for TPACKET_V3 on {what}"),
        )?;
        let mut ring = map_ring(fd, cfg, what)?;
        ring.bind(index, what)?;
        Ok(ring)
    }

    fn bind(&mut self, index: u32, what: &str) -> Result<()> {
        // SAFETY: a zeroed sockaddr_ll is valid; we fill the fields bind reads.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = index as i32;
        // SAFETY: binding to a live sockaddr_ll of its own size.
        let r = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(last_err(format!("binding the packet socket to {what}")))
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The next block the kernel has handed over, if any; it goes back to
    /// the kernel when the [`Block`] drops.
    pub fn next_block(&mut self) -> Option<Block<'_>> {
        let base = self.block_ptr(self.next);
        // SAFETY: `base` is the start of block `next` inside our mapping;
        // the status word is at the offset the ABI gives, 4-byte aligned.
        let status = unsafe { status_word(base) }.load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        self.next = (self.next + 1) % self.block_count;
        // SAFETY: the kernel handed this block to us (TP_STATUS_USER, read
        // with Acquire), so its header and packets are written and stable.
        let (num, first) = unsafe {
            let desc = base.cast::<libc::tpacket_block_desc>();
            let h = &(*desc).hdr.bh1;
            (h.num_pkts, h.offset_to_first_pkt as usize)
        };
        Some(Block {
            base,
            size: self.block_size,
            left: num,
            off: first,
            _ring: std::marker::PhantomData,
        })
    }

    fn block_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: i < block_count, so the offset stays inside the mapping.
        unsafe { self.map.add(i * self.block_size) }
    }

    /// Takes the socket's pending error (the kernel sets `ENETDOWN` when
    /// the interface goes down; until the error is read, every poll
    /// returns at once). A downed interface that comes back up delivers
    /// packets again.
    pub fn take_error(&self) {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a live int with its size.
        unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
    }

    /// Whether the socket is still bound to its interface: `false` once
    /// the interface is deleted (the kernel unbinds the socket then, and
    /// a new interface of the same name and index is not this one).
    pub fn bound(&self) -> bool {
        // SAFETY: a zeroed sockaddr_ll is valid; getsockname fills it.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: getsockname into a live sockaddr_ll with its size.
        let r = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        r == 0 && sll.sll_ifindex > 0
    }

    /// Counts since the last call (the kernel resets them on each read).
    pub fn stats(&self, what: &str) -> Result<RingStats> {
        // SAFETY: a zeroed tpacket_stats_v3 is valid.
        let mut st: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: getsockopt into a live struct with its size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if r != 0 {
            return Err(last_err(format!("reading capture counters of {what}")));
        }
        // The kernel's tp_packets already counts the drops in.
        Ok(RingStats {
            received: u64::from(st.tp_packets),
            dropped: u64::from(st.tp_drops),
        })
    }
}

impl Drop for PacketRing {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `map_ring`, exactly once;
        // no `Block` outlives `self` (they borrow it).
        unsafe { libc::munmap(self.map.cast(), self.len) };
    }
}

/// The block status word of the block at `base`.
///
/// # Safety
/// `base` must be the start of a block of a live ring.
unsafe fn status_word<'a>(base: *mut u8) -> &'a AtomicU32 {
    let desc = base.cast::<libc::tpacket_block_desc>();
    // SAFETY: per the caller; the field is a u32 the kernel updates, so it
    // is accessed only atomically.
    unsafe { AtomicU32::from_ptr(std::ptr::addr_of_mut!((*desc).hdr.bh1.block_status)) }
}

fn attach_filter(fd: RawFd, prog: &[BpfInsn], what: &str) -> Result<()> {
    let mut insns: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_mut_ptr(),
    };
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &fprog,
        format!("attaching the capture filter to {what}"),
    )
}

fn map_ring(fd: OwnedFd, cfg: &RingConfig, what: &str) -> Result<PacketRing> {
    // Frames do not matter to TPACKET_V3 (packets are packed in blocks),
    // but the kernel checks that they divide the blocks.
    let frame = 2048u32;
    let req = libc::tpacket_req3 {
        tp_block_size: cfg.block_size,
        tp_block_nr: cfg.block_count,
        tp_frame_size: frame,
        tp_frame_nr: cfg.block_size / frame * cfg.block_count,
        tp_retire_blk_tov: cfg.retire_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_RX_RING,
        &req,
        format!(
            "setting up a capture ring of {} x {} bytes on {what}",
            cfg.block_count, cfg.block_size
        ),
    )?;
    let len = cfg.block_size as usize * cfg.block_count as usize;
    // SAFETY: mapping the ring the kernel just made for this socket.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(last_err(format!("mapping the capture ring of {what}")));
    }
    Ok(PacketRing {
        fd,
        map: map.cast(),
        len,
        block_size: cfg.block_size as usize,
        block_count: cfg.block_count as usize,
        next: 0,
    })
}

/// A block of packets lent by the kernel; returned to it on drop.
pub struct Block<'r> {
    base: *mut u8,
    size: usize,
    left: u32,
    off: usize,
    _ring: std::marker::PhantomData<&'r mut PacketRing>,
}

impl Block<'_> {
    /// The next packet of the block, borrowed until the next call.
    pub fn next_packet(&mut self) -> Option<Packet<'_>> {
        let hdr_len = std::mem::size_of::<libc::tpacket3_hdr>();
        if self.left == 0 || self.off + hdr_len > self.size {
            return None;
        }
        self.left -= 1;
        // SAFETY: `off` is inside the block (checked above); the kernel
        // wrote a tpacket3_hdr there, 16-byte aligned (TPACKET_ALIGN).
        let h = unsafe { &*self.base.add(self.off).cast::<libc::tpacket3_hdr>() };
        let start = self.off + h.tp_mac as usize;
        let end = start + h.tp_snaplen as usize;
        if end > self.size {
            self.left = 0;
            return None;
        }
        // The sockaddr_ll after the aligned header says which way it went.
        let sll_off = self.off + hdr_len.next_multiple_of(libc::TPACKET_ALIGNMENT);
        // SAFETY: the kernel puts a sockaddr_ll there, before tp_mac.
        let pkttype = unsafe { (*self.base.add(sll_off).cast::<libc::sockaddr_ll>()).sll_pkttype };
        let direction = if pkttype == libc::PACKET_OUTGOING {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        // SAFETY: start..end is inside the block, which stays ours while
        // `self` (and so this borrow) lives.
        let data = unsafe { std::slice::from_raw_parts(self.base.add(start), end - start) };
        let pkt = Packet {
            ts_ns: u64::from(h.tp_sec) * 1_000_000_000 + u64::from(h.tp_nsec),
            data,
            orig_len: h.tp_len,
            direction,
        };
        self.off = if h.tp_next_offset == 0 {
            self.size
        } else {
            self.off + h.tp_next_offset as usize
        };
        Some(pkt)
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        // SAFETY: `base` is a block of the ring this borrows; Release so
        // our reads finish before the kernel writes it again.
        unsafe { status_word(self.base) }.store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

/// Waits until one of `fds` is readable (a ring has a block for us), a
/// signal arrives, or `timeout` passes. Returns the indices of the fds
/// flagged with an error (their interface went down or was deleted; see
/// [`PacketRing::take_error`]).
pub fn wait_any(fds: &[RawFd], timeout: std::time::Duration) -> Vec<usize> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        })
        .collect();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: live pollfds with their count and a live timespec.
    let n = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
    if n <= 0 {
        return Vec::new();
    }
    pfds.iter()
        .enumerate()
        .filter(|(_, p)| p.revents & (libc::POLLERR | libc::POLLNVAL) != 0)
        .map(|(i, _)| i)
        .collect()
}
