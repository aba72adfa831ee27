//! Descriptors that wake and wait: eventfd, epoll, `ppoll` on two fds,
//! plain `read`/`write` on a raw descriptor, and socket options that
//! `socket2` does not offer. The prober and the link emulator loop on
//! these; each wrapper is one system call, inlined, so the loops pay
//! nothing for the safety.

use super::{Error, Result};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A non-blocking eventfd: one thread wakes another's `epoll`/`ppoll`.
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A new eventfd (non-blocking, close-on-exec); `what` names its user
    /// for the error message.
    pub fn new(what: &str) -> Result<EventFd> {
        // SAFETY: eventfd(2) with flags only; the fd is owned right away.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(
                format!("creating an eventfd for {what}"),
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Makes the eventfd readable (until [`EventFd::clear`]). Cannot fail in
    /// a way that matters: a full counter is readable already.
    #[inline]
    pub fn wake(&self) {
        let _ = write(self.raw(), &1u64.to_ne_bytes());
    }

    /// Resets it to not readable.
    #[inline]
    pub fn clear(&self) {
        let mut v = [0u8; 8];
        let _ = read(self.raw(), &mut v);
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

/// One ready descriptor reported by [`Epoll::wait`].
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Event(libc::epoll_event);

impl Default for Event {
    fn default() -> Self {
        Event(libc::epoll_event { events: 0, u64: 0 })
    }
}

impl Event {
    /// The `data` given to [`Epoll::add`] for the descriptor.
    #[inline]
    pub fn data(&self) -> u64 {
        self.0.u64
    }
}

/// A minimal level-triggered epoll instance (readable events only).
pub struct Epoll {
    fd: OwnedFd,
    /// Whether the kernel has `epoll_pwait2` (nanosecond timeouts).
    pwait2: bool,
    what: String,
}

impl Epoll {
    /// A new instance; `what` names its user for error messages.
    pub fn new(what: &str) -> Result<Epoll> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(
                format!("creating the epoll instance of {what}"),
                io::Error::last_os_error(),
            ));
        }
        Ok(Epoll {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            pwait2: true,
            what: what.to_string(),
        })
    }

    /// Watches `fd` for input; [`Event::data`] gives `data` back.
    pub fn add(&self, fd: RawFd, data: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: `ev` is a valid epoll_event; the kernel checks `fd`.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r != 0 {
            return Err(Error::io(
                format!("adding a descriptor to the epoll of {}", self.what),
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Waits at most `timeout_ns` (`epoll_pwait2`, Linux 5.11; rounded up
    /// to milliseconds on older kernels). A signal gives 0 events.
    pub fn wait(&mut self, events: &mut [Event], timeout_ns: u64) -> Result<usize> {
        let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
        // `Event` is a transparent epoll_event.
        let evp = events.as_mut_ptr().cast::<libc::epoll_event>();
        let ts = timespec(timeout_ns);
        let mut r = -1;
        if self.pwait2 {
            // SAFETY: `events` has room for `max` entries; `ts` is valid.
            r = unsafe { libc::epoll_pwait2(self.fd.as_raw_fd(), evp, max, &ts, std::ptr::null()) };
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                self.pwait2 = false;
            }
        }
        if !self.pwait2 {
            let ms = timeout_ns.div_ceil(1_000_000).min(i32::MAX as u64) as libc::c_int;
            // SAFETY: `events` has room for `max` entries.
            r = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), evp, max, ms) };
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(Error::io(format!("waiting in {}", self.what), e));
        }
        Ok(r as usize)
    }
}

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

/// `read(2)` into `buf`; the byte count (0 at end of file).
#[inline]
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reading into a buffer we borrow mutably, within its length;
    // the kernel checks `fd`.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` of `buf`; the byte count written.
#[inline]
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: writing from a live slice within its length.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Switches `fd` between blocking and non-blocking I/O (best effort).
pub fn set_nonblocking(fd: RawFd, on: bool) {
    // SAFETY: fcntl with integer arguments; the kernel checks `fd`.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            let fl = if on {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            };
            libc::fcntl(fd, libc::F_SETFL, fl);
        }
    }
}

/// Waits until `a` or `b` is readable, a signal arrives, or `timeout_ns`
/// passes (`None`: no timeout). A negative fd is ignored (poll(2)).
#[inline]
pub fn wait_readable2(a: RawFd, b: RawFd, timeout_ns: Option<u64>) {
    let mut fds = [
        libc::pollfd {
            fd: a,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ts = timeout_ns.map(timespec);
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: two valid pollfds and an optional timespec, both live.
    unsafe { libc::ppoll(fds.as_mut_ptr(), 2, tsp, std::ptr::null()) };
}

/// Sets an `int` socket option (`SO_RCVBUFFORCE` and others `socket2` or
/// `netlink-sys` lack).
pub fn set_int_option(fd: &impl AsRawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    set_option_bytes(fd, level, name, &val.to_ne_bytes())
}

/// Sets a socket option whose value is an array of 32-bit words in host
/// order (`ICMP_FILTER`, `ICMP6_FILTER`).
pub fn set_words_option(fd: &impl AsRawFd, level: i32, name: i32, words: &[u32]) -> io::Result<()> {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    set_option_bytes(fd, level, name, &bytes)
}

fn set_option_bytes(fd: &impl AsRawFd, level: i32, name: i32, val: &[u8]) -> io::Result<()> {
    // SAFETY: `val` is live for its length; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `recvfrom(2)` on a `socket2` socket into an initialised buffer: the
/// byte count and the sender.
#[inline]
pub fn recv_from(sock: &socket2::Socket, buf: &mut [u8]) -> io::Result<(usize, socket2::SockAddr)> {
    // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and
    // recv_from only writes initialised bytes into it.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
    sock.recv_from(uninit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_wakes_epoll_and_clears() {
        let ev = EventFd::new("a test").unwrap();
        let mut ep = Epoll::new("a test").unwrap();
        ep.add(ev.raw(), 7).unwrap();
        let mut out = [Event::default(); 2];
        assert_eq!(ep.wait(&mut out, 1_000_000).unwrap(), 0);
        ev.wake();
        assert_eq!(ep.wait(&mut out, 1_000_000_000).unwrap(), 1);
        assert_eq!(out[0].data(), 7);
        ev.clear();
        assert_eq!(ep.wait(&mut out, 1_000_000).unwrap(), 0);
        // ppoll sees it too, and times out without it.
        wait_readable2(-1, ev.raw(), Some(1_000_000));
        ev.wake();
        wait_readable2(-1, ev.raw(), None);
    }

    #[test]
    fn read_write_and_nonblocking() {
        let ev = EventFd::new("a test").unwrap();
        let mut b = [0u8; 8];
        let e = read(ev.raw(), &mut b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(write(ev.raw(), &3u64.to_ne_bytes()).unwrap(), 8);
        assert_eq!(read(ev.raw(), &mut b).unwrap(), 8);
        assert_eq!(u64::from_ne_bytes(b), 3);
        set_nonblocking(ev.raw(), false);
        set_nonblocking(ev.raw(), true);
    }
}
