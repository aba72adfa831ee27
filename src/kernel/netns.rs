//! Network namespaces: create pinned ones, open, enter, find, delete.
//!
//! A namespace is pinned by bind-mounting `/proc/thread-self/ns/net` on a
//! file under `/run/netns`, exactly what `ip netns add` does, so the classic
//! tools (`ip netns exec nlab-demo-h1 …`) work on nlab's namespaces.
//!
//! `setns(CLONE_NEWNET)` only changes the calling thread, so every function
//! that enters a namespace restores the previous one before returning.

use super::{fd_held, Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where pinned namespaces live (shared with iproute2).
pub const RUN_NETNS: &str = "/run/netns";
/// Per-namespace files `ip netns exec` bind-mounts over `/etc`.
pub const ETC_NETNS: &str = "/etc/netns";
/// Every namespace nlab pins starts with this.
pub const PREFIX: &str = "nlab-";
/// Separates the lab from the node when the lab name has a `-` in it.
/// Node names never hold a `:` (and lab names never do), while both may
/// hold a `-`; iproute2 and `/run/netns` take `:` in names as they are.
pub const DASHED_LAB_SEP: char = ':';

/// The namespace of `node` in `lab`: `nlab-<lab>-<node>` for a lab name
/// without `-` (the names every earlier release made, so their labs are
/// still found), `nlab-<lab>:<node>` for one with a `-`. The one naming
/// rule cleanup relies on, and injective: lab `a` with node `b-h1` is
/// `nlab-a-b-h1`, lab `a-b` with node `h1` is `nlab-a-b:h1`.
/// [`parse_ns_name`] is its inverse.
pub fn ns_name(lab: &str, node: &str) -> String {
    if lab.contains('-') {
        format!("{PREFIX}{lab}{DASHED_LAB_SEP}{node}")
    } else {
        format!("{PREFIX}{lab}-{node}")
    }
}

/// The (lab, node) a namespace name stands for, or `None` for a name
/// [`ns_name`] never makes from a valid lab and node name (somebody
/// else's namespace that happens to start with `nlab-`). Labs are found
/// by this, never by a prefix: `nlab-a-` is a prefix of lab `a-b`'s names.
///
/// Why it is exact: a name with a `:` can only come from a lab with a `-`
/// (the only `:` is the separator, as neither part may hold one); a name
/// without `:` comes from a lab without `-`, so its first `-` after the
/// prefix ends the lab name.
pub fn parse_ns_name(name: &str) -> Option<(&str, &str)> {
    use crate::topo::validate::{check_lab_name, check_node_name};
    let rest = name.strip_prefix(PREFIX)?;
    let (lab, node) = match rest.split_once(DASHED_LAB_SEP) {
        Some((lab, node)) if lab.contains('-') => (lab, node),
        Some(_) => return None,
        None => rest.split_once('-')?,
    };
    (check_lab_name(lab).is_ok() && check_node_name(node).is_ok()).then_some((lab, node))
}

/// Pinned namespaces of `lab`, sorted: every name under `/run/netns` that
/// [`parse_ns_name`] gives back to this lab.
pub fn lab_pinned(lab: &str) -> Vec<String> {
    if fd_held::is_held_lab(lab) {
        return fd_held::names_of(lab);
    }
    of_lab(list_pinned(PREFIX), lab)
}

/// `/etc/netns` entries of `lab`, sorted (left over when a pin was
/// removed by hand).
pub fn lab_etc(lab: &str) -> Vec<String> {
    of_lab(list_etc(PREFIX), lab)
}

fn of_lab(names: Vec<String>, lab: &str) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| parse_ns_name(n).is_some_and(|(l, _)| l == lab))
        .collect()
}

pub fn ns_path(name: &str) -> PathBuf {
    Path::new(RUN_NETNS).join(name)
}

/// An open handle on a network namespace. Holding it keeps the namespace
/// alive even after it is unpinned.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
    fd: OwnedFd,
}

impl NetNs {
    /// Opens a namespace by name: one this process holds (an ephemeral
    /// lab's), else a pinned one.
    pub fn open(name: &str) -> Result<NetNs> {
        if let Some(fd) = fd_held::open(name) {
            return Ok(NetNs {
                name: name.to_string(),
                fd: fd?,
            });
        }
        let path = ns_path(name);
        let f = File::open(&path).map_err(|e| Error::io(format!("opening namespace {name}"), e))?;
        Ok(NetNs {
            name: name.to_string(),
            fd: f.into(),
        })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<NetNs> {
        let f = File::open("/proc/thread-self/ns/net")
            .map_err(|e| Error::io("opening the current network namespace", e))?;
        Ok(NetNs {
            name: String::new(),
            fd: f.into(),
        })
    }

    pub fn from_fd(name: impl Into<String>, fd: OwnedFd) -> NetNs {
        NetNs {
            name: name.into(),
            fd,
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Inode of the namespace: equal inodes mean the same namespace.
    pub fn inode(&self) -> Result<u64> {
        let f = File::from(
            self.fd
                .try_clone()
                .map_err(|e| Error::io(format!("duplicating fd of {}", self.name), e))?,
        );
        Ok(f.metadata()
            .map_err(|e| Error::io(format!("stat of namespace {}", self.name), e))?
            .ino())
    }

    /// Moves the calling thread into this namespace until the guard drops.
    pub fn enter(&self) -> Result<NsGuard> {
        let prev = NetNs::current()?;
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys(format!("entering namespace {}", self.name), e))?;
        Ok(NsGuard { prev })
    }

    /// Moves the calling thread into this namespace for the rest of its
    /// life (a thread that only works there); `why` ends the error message.
    pub fn enter_for_good(&self, why: &str) -> Result<()> {
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys(format!("entering namespace {} {why}", self.name), e))
    }

    /// Runs `f` with the calling thread inside this namespace.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        let _g = self.enter()?;
        Ok(f())
    }
}

/// Returns the thread to the namespace it was in when dropped.
pub struct NsGuard {
    prev: NetNs,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        // Failing to go back would leave this thread configuring the wrong
        // namespace; there is no safe way to continue.
        if let Err(e) = setns(self.prev.fd.as_fd(), CloneFlags::CLONE_NEWNET) {
            panic!("could not return to the previous network namespace: {e}");
        }
    }
}

/// Makes `/run/netns` a shared mount point, as iproute2 does, so pins made
/// here propagate into mount namespaces made by `ip netns exec` and back.
pub fn prepare_run_dir() -> Result<()> {
    // Shared with iproute2, which makes it 0755 too; never the umask's say:
    // anyone who can write here can plant pins `down` would act on.
    super::files::ensure_shared_dir(std::path::Path::new(RUN_NETNS), 0o755)
        .map_err(|e| Error::io(format!("creating {RUN_NETNS}"), e))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, RUN_NETNS, Some("none"), shared, None::<&str>) {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) => {
            mount(
                Some(RUN_NETNS),
                RUN_NETNS,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| Error::sys(format!("bind-mounting {RUN_NETNS} on itself"), e))?;
            mount(None::<&str>, RUN_NETNS, Some("none"), shared, None::<&str>)
                .map_err(|e| Error::sys(format!("making {RUN_NETNS} shared"), e))
        }
        Err(e) => Err(Error::sys(format!("making {RUN_NETNS} shared"), e)),
    }
}

/// Creates a new namespace, pins it as `/run/netns/<name>` and runs `init`
/// on the calling thread while inside it (sysctls, `lo`, a netlink socket
/// bound to it). The thread is back in its previous namespace on return.
/// A namespace of a lab this process holds ([`fd_held`]) is held by a
/// descriptor instead of a pin.
///
/// Call [`prepare_run_dir`] once before (not needed for held labs).
pub fn create_pinned<R>(name: &str, init: impl FnOnce(&NetNs) -> Result<R>) -> Result<(NetNs, R)> {
    if fd_held::holds_namespaces_of(name) {
        return create_held(name, init);
    }
    let path = ns_path(name);
    // Mode 0, as iproute2 makes its pins: the bind mount hides the file,
    // and once unmounted nobody but root may open it.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&path)
        .map_err(|e| Error::io(format!("creating pin file {}", path.display()), e))?;
    let prev = NetNs::current()?;
    let made = (|| {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys(format!("creating namespace {name}"), e))?;
        let guard = NsGuard { prev };
        mount(
            Some("/proc/thread-self/ns/net"),
            &path,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| Error::sys(format!("pinning namespace {name}"), e))?;
        let ns = NetNs::current()?;
        let ns = NetNs {
            name: name.to_string(),
            fd: ns.fd,
        };
        let r = init(&ns)?;
        drop(guard);
        Ok((ns, r))
    })();
    if made.is_err() {
        let _ = umount2(&path, MntFlags::MNT_DETACH);
        let _ = fs::remove_file(&path);
    }
    made
}

/// A new namespace kept only by a descriptor in [`fd_held`].
fn create_held<R>(name: &str, init: impl FnOnce(&NetNs) -> Result<R>) -> Result<(NetNs, R)> {
    if fd_held::contains(name) {
        return Err(Error::io(
            format!("creating namespace {name}"),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let prev = NetNs::current()?;
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys(format!("creating namespace {name}"), e))?;
    let guard = NsGuard { prev };
    let ns = NetNs {
        name: name.to_string(),
        fd: NetNs::current()?.fd,
    };
    let r = init(&ns)?;
    drop(guard);
    let keep = ns
        .fd
        .try_clone()
        .map_err(|e| Error::io(format!("duplicating the fd of namespace {name}"), e))?;
    fd_held::insert(name, keep);
    Ok((ns, r))
}

/// Unpins a namespace. The kernel frees it once nothing else holds it.
/// A namespace that is already gone is not an error, so this is safe to
/// repeat. (Its `/etc/netns` entry belongs to the lab layer.)
pub fn delete_pinned(name: &str) -> Result<()> {
    if fd_held::remove(name) {
        return Ok(());
    }
    let path = ns_path(name);
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("unpinning namespace {name}"), e)),
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// Whether a pinned namespace with this name exists.
pub fn exists(name: &str) -> bool {
    fd_held::contains(name) || ns_path(name).exists()
}

/// Names in `dir` starting with `prefix`, sorted.
fn names_in(dir: &str, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    out.sort();
    out
}

/// Names of pinned namespaces starting with `prefix`.
pub fn list_pinned(prefix: &str) -> Vec<String> {
    names_in(RUN_NETNS, prefix)
}

/// Names of `/etc/netns` entries starting with `prefix` (left over when a
/// pin was removed by hand).
pub fn list_etc(prefix: &str) -> Vec<String> {
    names_in(ETC_NETNS, prefix)
}

/// Inode of a pinned namespace, if it is (still) a namespace.
pub fn pinned_inode(name: &str) -> Option<u64> {
    if let Some(fd) = fd_held::open(name) {
        return File::from(fd.ok()?).metadata().ok().map(|m| m.ino());
    }
    fs::metadata(ns_path(name)).ok().map(|m| m.ino())
}

/// `SO_NETNS_COOKIE` (Linux 5.14): not in every libc crate yet.
const SO_NETNS_COOKIE: libc::c_int = 71;

/// The cookie of the calling thread's network namespace: unlike its inode
/// number, which the kernel reuses once a namespace is freed, a cookie is
/// never given to another namespace while the system runs. `None` on
/// kernels without `SO_NETNS_COOKIE`.
pub fn current_cookie() -> Option<u64> {
    // SAFETY: socket/getsockopt into a local u64 with its size; the fd is
    // owned right away.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        let r = libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        );
        (r == 0 && len as usize == std::mem::size_of::<u64>()).then_some(cookie)
    }
}

/// The cookie of the network namespace process `pid` is in (see
/// [`current_cookie`]), read by entering it for a moment.
pub fn cookie_of_pid(pid: i32) -> Option<u64> {
    let f = File::open(format!("/proc/{pid}/ns/net")).ok()?;
    let ns = NetNs::from_fd(format!("namespace of pid {pid}"), f.into());
    ns.run(current_cookie).ok().flatten()
}

/// Every live process with the inode of its network namespace.
pub fn pid_inodes() -> Vec<(i32, u64)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(m) = fs::metadata(format!("/proc/{pid}/ns/net")) {
            out.push((pid, m.ino()));
        }
    }
    out
}

/// Writes a sysctl of the calling thread's namespace (`net.ipv4.ip_forward`
/// → `/proc/sys/net/ipv4/ip_forward`); `ns` names that namespace in the
/// error. Never shells out to `sysctl`.
pub fn write_sysctl(key: &str, value: &str, ns: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    fs::write(&path, value).map_err(|e| Error::io(format!("setting {key}={value} in {ns}"), e))
}

pub fn read_sysctl(key: &str) -> Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(format!("reading sysctl {key}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert_eq!(ns_name("demo", "h1"), "nlab-demo-h1");
        assert_eq!(ns_name("a", "b-h1"), "nlab-a-b-h1");
        assert_eq!(ns_name("a-b", "h1"), "nlab-a-b:h1");
        assert_eq!(
            ns_path("nlab-demo-h1"),
            PathBuf::from("/run/netns/nlab-demo-h1")
        );
    }

    #[test]
    fn parsing_gives_back_lab_and_node() {
        assert_eq!(parse_ns_name("nlab-a-b-h1"), Some(("a", "b-h1")));
        assert_eq!(parse_ns_name("nlab-a-b:h1"), Some(("a-b", "h1")));
        assert_eq!(parse_ns_name("nlab-btr-r2"), Some(("btr", "r2")));
        // Names ns_name never makes from valid names are not ours.
        for other in [
            "nlab-a:h1",    // `:` only follows a lab with `-`
            "nlab-a-b:c:d", // a node never holds `:`
            "nlab-ab",      // no node
            "nlab-a-",      // empty node
            "nlab--h1",     // empty lab
            "nlab-a-b-:h1", // lab ends with `-`
            "nlab-A-h1",    // uppercase lab
            "nlab-a-.h1",   // node starting with `.`
            "netns-a-h1",
            "nlab-a-b:",
        ] {
            assert_eq!(parse_ns_name(other), None, "{other}");
        }
    }

    /// Every string over `alphabet` of length 1..=max.
    fn all_strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            out.extend(last.iter().cloned());
        }
        out
    }

    #[test]
    fn no_two_short_names_collide() {
        // Every valid lab and node name up to 4 characters over the
        // characters that matter: `-` in both, `_` and `.` beside it.
        let labs: Vec<String> = all_strings(&['a', '-', '_'], 4)
            .into_iter()
            .filter(|l| crate::topo::validate::check_lab_name(l).is_ok())
            .collect();
        let nodes: Vec<String> = all_strings(&['a', '-', '.'], 4)
            .into_iter()
            .filter(|n| crate::topo::validate::check_node_name(n).is_ok())
            .collect();
        let mut seen = std::collections::HashMap::new();
        for l in &labs {
            for n in &nodes {
                let name = ns_name(l, n);
                assert_eq!(parse_ns_name(&name), Some((l.as_str(), n.as_str())));
                if let Some(prev) = seen.insert(name.clone(), (l, n)) {
                    panic!("{name} is both {prev:?} and {:?}", (l, n));
                }
            }
        }
        assert!(labs.contains(&"a-a".to_string()) && nodes.contains(&"a-a".to_string()));
    }

    use proptest::prelude::*;

    fn lab() -> impl Strategy<Value = String> {
        // Short alphabets so that collisions would be likely if the
        // mapping allowed any.
        "[ab_-]{1,6}".prop_filter("valid lab name", |l| {
            crate::topo::validate::check_lab_name(l).is_ok()
        })
    }
    fn node() -> impl Strategy<Value = String> {
        "[ab1_.-]{1,6}".prop_filter("valid node name", |n| {
            crate::topo::validate::check_node_name(n).is_ok()
        })
    }

    proptest! {
        #[test]
        fn the_mapping_round_trips(l in lab(), n in node()) {
            let name = ns_name(&l, &n);
            prop_assert_eq!(parse_ns_name(&name), Some((l.as_str(), n.as_str())));
        }

        #[test]
        fn two_objects_never_share_a_name(
            pairs in proptest::collection::vec((lab(), node()), 2..40)
        ) {
            let mut seen = std::collections::HashMap::new();
            for (l, n) in pairs {
                let name = ns_name(&l, &n);
                if let Some(prev) = seen.insert(name.clone(), (l.clone(), n.clone())) {
                    prop_assert_eq!(prev, (l, n), "{} made twice", name);
                }
            }
        }
    }
}
