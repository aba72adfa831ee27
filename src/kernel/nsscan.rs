//! Finding every network namespace of the host, and what holds each:
//! pins under `/run/netns` (`ip netns add`), other `nsfs` mounts (Docker
//! pins its sandboxes elsewhere), every process and thread
//! (`/proc/*/ns/net`, `/proc/*/task/*/ns/net`) and, on request, open file
//! descriptors (a namespace only a descriptor keeps) and the TUN/TAP
//! devices descriptors are attached to. Namespaces are told apart by
//! inode, so one held by a pin and ten processes is found once.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One namespace and what holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    pub inode: u64,
    /// The namespace of process 1: the host's own (the initial one, as far
    /// as this PID namespace sees).
    pub initial: bool,
    /// `ip netns` names (pins under `/run/netns`), sorted.
    pub pins: Vec<String>,
    /// Other `nsfs` mount points holding it, sorted.
    pub mounts: Vec<String>,
    /// Processes (their main thread) in it, ascending.
    pub pids: Vec<i32>,
    /// Threads in it whose process is elsewhere: (tid, pid).
    pub threads: Vec<(i32, i32)>,
    /// Open descriptors on it: (pid, fd).
    pub fds: Vec<(i32, i32)>,
    /// A path that opens it (a pin, a mount, `/proc/…/ns/net`).
    pub path: PathBuf,
}

fn inode(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

fn numbered(dir: &Path) -> Vec<i32> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Every namespace pins, mounts, processes and threads hold, by inode.
pub fn scan() -> BTreeMap<u64, Holders> {
    let mut found: BTreeMap<u64, Holders> = BTreeMap::new();
    fn at<'a>(found: &'a mut BTreeMap<u64, Holders>, ino: u64, path: &Path) -> &'a mut Holders {
        found.entry(ino).or_insert_with(|| Holders {
            inode: ino,
            path: path.to_path_buf(),
            ..Holders::default()
        })
    }
    for e in fs::read_dir(super::netns::RUN_NETNS)
        .into_iter()
        .flatten()
        .flatten()
    {
        let (Some(name), path) = (e.file_name().into_string().ok(), e.path()) else {
            continue;
        };
        // A pin file whose mount is gone is a plain file of the tmpfs,
        // not a namespace.
        if is_nsfs(&path) {
            if let Some(ino) = inode(&path) {
                at(&mut found, ino, &path).pins.push(name);
            }
        }
    }
    for (ino, point) in nsfs_mounts() {
        if !point.starts_with(super::netns::RUN_NETNS) {
            at(&mut found, ino, Path::new(&point)).mounts.push(point);
        }
    }
    let mut pids = numbered(Path::new("/proc"));
    pids.sort_unstable();
    for pid in pids {
        let own = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let Some(main) = inode(&own) else { continue };
        at(&mut found, main, &own).pids.push(pid);
        for tid in numbered(Path::new(&format!("/proc/{pid}/task"))) {
            if tid == pid {
                continue;
            }
            let path = PathBuf::from(format!("/proc/{pid}/task/{tid}/ns/net"));
            match inode(&path) {
                Some(ino) if ino != main => at(&mut found, ino, &path).threads.push((tid, pid)),
                _ => {}
            }
        }
    }
    if let Some(ino) = inode(Path::new("/proc/1/ns/net")) {
        if let Some(h) = found.get_mut(&ino) {
            h.initial = true;
        }
    }
    for h in found.values_mut() {
        h.pins.sort();
        h.mounts.sort();
        h.mounts.dedup();
    }
    found
}

/// Whether `path` is a namespace file (of the `nsfs` file system).
fn is_nsfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
        .unwrap_or(false)
}

/// `(inode, mount point)` of every network namespace bind-mounted in
/// this mount namespace, from `/proc/self/mountinfo`.
fn nsfs_mounts() -> Vec<(u64, String)> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(parse_nsfs_mount).collect()
}

/// One `mountinfo` line of a network namespace mount: its root field is
/// `net:[INODE]` and its file system type `nsfs`. The mount point has
/// spaces escaped as `\040`.
pub fn parse_nsfs_mount(line: &str) -> Option<(u64, String)> {
    let (fields, after) = line.split_once(" - ")?;
    if after.split_whitespace().next()? != "nsfs" {
        return None;
    }
    let f: Vec<&str> = fields.split_whitespace().collect();
    let ino = f
        .get(3)?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    Some((ino, f.get(4)?.replace("\\040", " ")))
}

/// What a walk over every open descriptor of every process found.
#[derive(Debug, Clone, Default)]
pub struct Descriptors {
    /// Network namespaces held open: (inode, pid, fd).
    pub namespaces: Vec<(u64, i32, i32)>,
    /// `/dev/net/tun` descriptors attached to a device: (pid, device
    /// name as the holder's `fdinfo` says it).
    pub taps: Vec<(i32, String)>,
}

/// Walks `/proc/*/fd`: namespaces held by a descriptor, and the device
/// each open `/dev/net/tun` is attached to (`iff:` in its `fdinfo`). One
/// `readlink` per descriptor on the host: done only when asked.
pub fn descriptors() -> Descriptors {
    let mut out = Descriptors::default();
    for pid in numbered(Path::new("/proc")) {
        let dir = format!("/proc/{pid}/fd");
        for fd in numbered(Path::new(&dir)) {
            let Ok(target) = fs::read_link(format!("{dir}/{fd}")) else {
                continue;
            };
            let t = target.to_string_lossy();
            if let Some(ino) = t.strip_prefix("net:[").and_then(|r| r.strip_suffix(']')) {
                if let Ok(ino) = ino.parse() {
                    out.namespaces.push((ino, pid, fd));
                }
            } else if t == "/dev/net/tun" {
                let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"));
                if let Some(name) = info.ok().as_deref().and_then(tun_iff) {
                    out.taps.push((pid, name));
                }
            }
        }
    }
    out
}

/// The device a tun descriptor is attached to: the `iff:` line of its
/// `fdinfo` (none while it is not attached).
pub fn tun_iff(fdinfo: &str) -> Option<String> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("iff:"))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

/// The inode of the network namespace process `pid` is in.
pub fn inode_of_pid(pid: i32) -> Option<u64> {
    inode(Path::new(&format!("/proc/{pid}/ns/net")))
}

/// Opens the namespace at `path` (a pin, a mount, a `/proc` entry);
/// `name` says which in errors.
pub fn open(path: &Path, name: &str) -> super::Result<super::netns::NetNs> {
    let f = fs::File::open(path)
        .map_err(|e| super::Error::io(format!("opening namespace {name}"), e))?;
    Ok(super::netns::NetNs::from_fd(name, f.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsfs_mount_lines_give_inode_and_mount_point() {
        let docker =
            "612 29 0:4 net:[4026532273] /run/docker/netns/1a2b rw shared:5 - nsfs nsfs rw";
        assert_eq!(
            parse_nsfs_mount(docker),
            Some((4026532273, "/run/docker/netns/1a2b".into()))
        );
        let spaced = "1 2 0:4 net:[7] /tmp/my\\040ns rw - nsfs nsfs rw";
        assert_eq!(parse_nsfs_mount(spaced), Some((7, "/tmp/my ns".into())));
        let mnt = "1 2 0:4 mnt:[7] /tmp/m rw - nsfs nsfs rw";
        assert_eq!(parse_nsfs_mount(mnt), None);
        let tmpfs = "1 2 0:4 / /run/netns rw - tmpfs tmpfs rw";
        assert_eq!(parse_nsfs_mount(tmpfs), None);
    }

    #[test]
    fn a_tun_descriptor_names_its_device() {
        let info = "pos:\t0\nflags:\t02\nmnt_id:\t24\nino:\t1\niff:\ttap0\n";
        assert_eq!(tun_iff(info), Some("tap0".into()));
        assert_eq!(tun_iff("pos:\t0\nflags:\t02\n"), None);
    }

    #[test]
    fn this_process_is_found_in_its_namespace() {
        let all = scan();
        let me = std::process::id() as i32;
        let mine = inode_of_pid(me).unwrap();
        assert!(all[&mine].pids.contains(&me), "{:?}", all[&mine]);
    }
}
