//! What a program started in a node gets beyond the network namespace,
//! when the node asks for it: its own `/tmp` and `/run`, bind mounts,
//! its own hostname (a UTS namespace), the node's cgroups, and the
//! node's PID namespace.
//!
//! Like the rest of entering a node (see `exec`), everything is prepared
//! in the parent ([`NodeEntry::prepare`]) and applied in the forked child
//! with raw syscalls only ([`NodeEntry::apply`]), after the child has its
//! private mount namespace.
//!
//! Joining a PID namespace (`setns`) only moves the children made after
//! it, so the child forks once more: the grandchild, inside, runs the
//! program with a `/proc` of that namespace; the child waits for it,
//! passes on the usual termination signals and exits as it did (what
//! `nsenter --pid` does). The grandchild dies with it (`PDEATHSIG`).

use super::{Error, Result};
use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

const PROC: &CStr = c"/proc";
const PROCFS: &CStr = c"proc";
const NONE: &CStr = c"none";

/// What the lab layer asks for one node.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    /// Node cgroup directories to join (one per hierarchy).
    pub cgroups: Vec<PathBuf>,
    /// Own UTS namespace with this hostname.
    pub hostname: Option<String>,
    /// `(source, target, read_only)` bind mounts, in order (the node's
    /// private `/tmp` and `/run` first, then the topology's `binds`).
    pub binds: Vec<(PathBuf, PathBuf, bool)>,
    /// The host pid of the init holding the node's PID namespace.
    pub pid_init: Option<i32>,
    /// `SCHED_RR` at this priority, within the node cgroup's real-time
    /// runtime (`--host rt`).
    pub rt_priority: Option<i32>,
}

impl NodeSpec {
    pub fn is_empty(&self) -> bool {
        self.cgroups.is_empty()
            && self.hostname.is_none()
            && self.binds.is_empty()
            && self.pid_init.is_none()
            && self.rt_priority.is_none()
    }
}

/// A [`NodeSpec`] made ready for the child: files open, strings C strings.
pub(super) struct NodeEntry {
    procs: Vec<OwnedFd>,
    hostname: Option<CString>,
    binds: Vec<(CString, CString, bool)>,
    pidns: Option<OwnedFd>,
    rt_priority: Option<i32>,
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::protocol(format!("path {}", p.display()), "contains a NUL byte"))
}

impl NodeEntry {
    pub(super) fn prepare(spec: &NodeSpec, ns: &str) -> Result<NodeEntry> {
        let mut procs = Vec::new();
        for dir in &spec.cgroups {
            let p = dir.join("cgroup.procs");
            let f = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&p)
                .map_err(|e| {
                    Error::io(
                        format!("opening {} to start a program in {ns} (run `nlab up` again to recreate the node's cgroup)", p.display()),
                        e,
                    )
                })?;
            procs.push(OwnedFd::from(f));
        }
        let hostname = spec
            .hostname
            .as_deref()
            .map(|h| {
                CString::new(h)
                    .map_err(|_| Error::protocol(format!("hostname {h:?}"), "contains a NUL byte"))
            })
            .transpose()?;
        let mut binds = Vec::new();
        for (src, dst, ro) in &spec.binds {
            binds.push((cpath(src)?, cpath(dst)?, *ro));
        }
        let pidns = spec
            .pid_init
            .map(|pid| {
                let p = format!("/proc/{pid}/ns/pid");
                File::open(&p)
                    .map(OwnedFd::from)
                    .map_err(|e| Error::io(format!("opening the PID namespace of {ns} ({p})"), e))
            })
            .transpose()?;
        Ok(NodeEntry {
            procs,
            hostname,
            binds,
            pidns,
            rt_priority: spec.rt_priority,
        })
    }

    /// In the forked child, inside the node's network and a private mount
    /// namespace. Raw syscalls only (see `exec::Entry::enter`).
    pub(super) fn apply(&self) -> io::Result<()> {
        // SAFETY: plain syscalls on NUL-terminated strings and fds that
        // `self` owns; nothing is allocated.
        unsafe {
            for (src, dst, ro) in &self.binds {
                let bind = libc::MS_BIND | libc::MS_REC;
                if libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    NONE.as_ptr(),
                    bind,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(fail(b"nlab exec: a bind mount of the node failed\n"));
                }
                if *ro {
                    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                    if libc::mount(
                        std::ptr::null(),
                        dst.as_ptr(),
                        std::ptr::null(),
                        flags,
                        std::ptr::null(),
                    ) != 0
                    {
                        return Err(fail(b"nlab exec: making a bind mount read-only failed\n"));
                    }
                }
            }
            if let Some(h) = &self.hostname {
                if libc::unshare(libc::CLONE_NEWUTS) != 0
                    || libc::sethostname(h.as_ptr(), h.count_bytes()) != 0
                {
                    return Err(fail(b"nlab exec: setting the node's hostname failed\n"));
                }
            }
            if let Some(ns) = &self.pidns {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWPID) != 0 {
                    return Err(fail(
                        b"nlab exec: entering the node's PID namespace failed\n",
                    ));
                }
                fork_into_pid_ns()?;
                // Now the grandchild: a /proc that shows the node's processes.
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                if libc::mount(
                    PROCFS.as_ptr(),
                    PROC.as_ptr(),
                    PROCFS.as_ptr(),
                    flags,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(fail(
                        b"nlab exec: mounting /proc of the node's PID namespace failed\n",
                    ));
                }
            }
            // Last, in the process that runs the program: the limits count
            // it and what it starts, not nlab's waiting parent.
            for fd in &self.procs {
                if libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                    return Err(fail(b"nlab exec: joining the node's cgroup failed\n"));
                }
            }
        }
        // Inside the group, whose real-time runtime allows it.
        if let Some(p) = self.rt_priority {
            if super::rt_sched::make_round_robin(p).is_err() {
                return Err(fail(
                    b"nlab exec: real-time scheduling (SCHED_RR) in the node's cgroup failed\n",
                ));
            }
        }
        Ok(())
    }
}

/// The grandchild's pid, for the signal forwarder of the waiting child.
static GRANDCHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = GRANDCHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Forks; returns in the grandchild only. The parent waits for it, passes
/// on termination signals, and ends as the grandchild ended.
///
/// SAFETY (for callers): only in a forked single-threaded child.
unsafe fn fork_into_pid_ns() -> io::Result<()> {
    match libc::fork() {
        -1 => Err(fail(
            b"nlab exec: forking into the node's PID namespace failed\n",
        )),
        0 => {
            // The parent is outside the new PID namespace, so `getppid`
            // says 0 while it lives; 1 (the node's init) once it died
            // before PDEATHSIG was set.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != 0 {
                return Err(fail(b"nlab exec: the waiting parent is gone\n"));
            }
            Ok(())
        }
        child => {
            // This process only waits: it must hold none of the spawner's
            // descriptors (its exec-error pipe, which would keep `spawn`
            // waiting until the program ended, or the ends of pipes whose
            // close tells the spawner that the program is gone).
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            GRANDCHILD.store(child, Ordering::Relaxed);
            for sig in [
                libc::SIGTERM,
                libc::SIGINT,
                libc::SIGHUP,
                libc::SIGQUIT,
                libc::SIGUSR1,
                libc::SIGUSR2,
            ] {
                libc::signal(sig, forward as *const () as libc::sighandler_t);
            }
            let mut status = 0;
            loop {
                let r = libc::waitpid(child, &mut status, 0);
                if r == child || (r == -1 && *libc::__errno_location() != libc::EINTR) {
                    break;
                }
            }
            if libc::WIFSIGNALED(status) {
                let sig = libc::WTERMSIG(status);
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::kill(libc::getpid(), sig);
                libc::_exit(128 + sig);
            }
            libc::_exit(libc::WEXITSTATUS(status));
        }
    }
}

/// Captures errno, then says which step failed on stderr.
fn fail(msg: &'static [u8]) -> io::Error {
    let err = io::Error::last_os_error();
    // SAFETY: writing a static buffer to fd 2; the result does not matter.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
    err
}
