//! Namespaces nlab did not make: open one by process or by `ip netns`
//! name (checking it is what it claims), and pin it under a lab's name.
//! The pin holds the namespace for the lab's lifetime, even after every
//! process in it exited; unpinning it ends nothing but nlab's hold.

use super::netns::{self, NetNs};
use super::{proc, Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

/// `NSFS_MAGIC`: the filesystem of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A process, named so it cannot be confused with a later one that reuses
/// its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcId {
    pub pid: i32,
    pub start_ticks: u64,
}

impl ProcId {
    /// Whether this very process still runs (not a zombie).
    pub fn alive(&self) -> bool {
        proc::stat(self.pid).is_some_and(|s| {
            s.start_ticks == self.start_ticks && !matches!(s.state, 'Z' | 'X' | 'x')
        })
    }
}

fn no_process(pid: i32) -> Error {
    Error::io(
        format!("opening the network namespace of process {pid}"),
        std::io::Error::other(format!(
            "no process {pid} is running (check the pid with `ps -p {pid}`)"
        )),
    )
}

/// Opens the network namespace of process `pid`, and names the process
/// by its start time, read before and after the open so a pid reused in
/// between is refused.
pub fn open_pid(pid: i32) -> Result<(NetNs, ProcId)> {
    let before = proc::stat(pid).ok_or_else(|| no_process(pid))?;
    let f = File::open(format!("/proc/{pid}/ns/net")).map_err(|_| no_process(pid))?;
    let id = ProcId {
        pid,
        start_ticks: before.start_ticks,
    };
    if !id.alive() {
        return Err(no_process(pid));
    }
    Ok((
        NetNs::from_fd(format!("namespace of process {pid}"), f.into()),
        id,
    ))
}

/// Opens `/run/netns/NAME`, refusing a file that is not (or no longer) a
/// namespace: a pin whose mount was removed is a plain empty file.
pub fn open_named(name: &str) -> Result<NetNs> {
    let path = netns::ns_path(name);
    let what = format!("opening network namespace `{name}` ({})", path.display());
    let f = File::open(&path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "no such namespace (see `ip netns list`)".to_string()
        } else {
            e.to_string()
        };
        Error::io(what.clone(), std::io::Error::other(hint))
    })?;
    let st = nix::sys::statfs::fstatfs(&f).map_err(|e| Error::sys(what.clone(), e))?;
    if st.filesystem_type().0 as i64 != NSFS_MAGIC {
        return Err(Error::io(
            what,
            std::io::Error::other("the file is not a pinned namespace (its pin was removed?)"),
        ));
    }
    Ok(NetNs::from_fd(format!("namespace {name}"), f.into()))
}

/// Inode and cookie of an open namespace.
pub fn identity(ns: &NetNs) -> Result<(u64, u64)> {
    let ino = ns.inode()?;
    let cookie = ns.run(netns::current_cookie)?.unwrap_or(0);
    Ok((ino, cookie))
}

/// Inodes of the namespaces nlab must never treat as a lab's: its own
/// (the root namespace it runs in) and init's.
pub fn root_inodes() -> Vec<u64> {
    ["/proc/self/ns/net", "/proc/1/ns/net"]
        .iter()
        .filter_map(|p| fs::metadata(p).ok().map(|m| m.ino()))
        .collect()
}

/// Pins `ns` at `/run/netns/<pin>` (a bind mount of the open
/// descriptor), as `ip netns attach` does with a pid. Call
/// [`netns::prepare_run_dir`] first.
pub fn pin(ns: &NetNs, pin: &str) -> Result<()> {
    let path = netns::ns_path(pin);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&path)
        .map_err(|e| Error::io(format!("creating pin file {}", path.display()), e))?;
    let src = format!("/proc/self/fd/{}", ns.raw_fd());
    let r = mount(
        Some(src.as_str()),
        &path,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    );
    if let Err(e) = r {
        let _ = umount2(&path, MntFlags::MNT_DETACH);
        let _ = fs::remove_file(&path);
        return Err(Error::sys(format!("pinning {} as {pin}", ns.name), e));
    }
    Ok(())
}

/// The fd of the namespace this process runs in (its main thread's), to
/// create or move interfaces into the root namespace from any thread.
pub fn root() -> Result<NetNs> {
    let f = File::open("/proc/self/ns/net")
        .map_err(|e| Error::io("opening the root network namespace", e))?;
    Ok(NetNs::from_fd("the root namespace", f.into()))
}
