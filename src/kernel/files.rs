//! Files nlab keeps for itself (journals, locks, the lab's `/etc` files):
//! created with explicit modes, never through a symlink, and the `flock`
//! that serializes work on one lab.
//!
//! Modes never come from the umask: with root's umask at 000 a lab
//! directory would be 0777, and `nlab exec` binds the files found there over
//! a node's `/etc`, so a world-writable file is code execution as root.
//! The mode given to `mkdir`/`open` can only lose bits to the umask, never
//! gain any, so creating with it and then setting it exactly is safe.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const MODE_BITS: u32 = 0o7777;

fn not_ours(path: &Path, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "refusing to use {}: {why}; remove it and retry",
            path.display()
        ),
    )
}

/// Makes `path` a directory owned by this user with exactly `mode`: created
/// if missing, its mode corrected if it exists. A symlink, a file, or a
/// directory someone else owns in its place is refused.
pub fn ensure_dir(path: &Path, mode: u32) -> io::Result<()> {
    ensure_dir_with(path, mode, true)
}

/// Like [`ensure_dir`] for a directory other tools share (`/etc/netns`,
/// which `ip netns` makes too): created with `mode`, and if it exists only
/// its group and world write bits are taken away.
pub fn ensure_shared_dir(path: &Path, mode: u32) -> io::Result<()> {
    ensure_dir_with(path, mode, false)
}

fn ensure_dir_with(path: &Path, mode: u32, exact: bool) -> io::Result<()> {
    let created = match DirBuilder::new().mode(mode).create(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(e),
    };
    let m = fs::symlink_metadata(path)?;
    if !m.file_type().is_dir() {
        return Err(not_ours(path, "it is not a directory".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != me {
        return Err(not_ours(
            path,
            format!("it is owned by uid {}, not {me}", m.uid()),
        ));
    }
    let have = m.mode() & MODE_BITS;
    let want = if exact || created {
        mode
    } else {
        have & !0o022
    };
    if have != want {
        fs::set_permissions(path, Permissions::from_mode(want))?;
    }
    Ok(())
}

/// Opens (creating if needed) the regular file `path` for writing with
/// exactly `mode`, never following a symlink, refusing a file another user
/// owns. `truncate` empties it.
pub fn open_file(path: &Path, mode: u32, truncate: bool) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(not_ours(path, "it is not a regular file".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != me {
        return Err(not_ours(
            path,
            format!("it is owned by uid {}, not {me}", m.uid()),
        ));
    }
    if m.mode() & MODE_BITS != mode {
        // fchmod on the open file: no path, so no race with a rename.
        f.set_permissions(Permissions::from_mode(mode))?;
    }
    Ok(f)
}

/// Tries to take an exclusive `flock` on `f` without waiting: `Ok(false)`
/// when another open file description holds a lock on it.
pub fn try_lock_exclusive(f: &impl AsRawFd) -> io::Result<bool> {
    try_flock(f, libc::LOCK_EX)
}

/// Tries to take a shared `flock` on `f` without waiting: `Ok(false)` when
/// another open file description holds an exclusive one.
pub fn try_lock_shared(f: &impl AsRawFd) -> io::Result<bool> {
    try_flock(f, libc::LOCK_SH)
}

fn try_flock(f: &impl AsRawFd, op: libc::c_int) -> io::Result<bool> {
    // SAFETY: flock on a descriptor `f` owns; LOCK_NB never blocks.
    let r = unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) || e.raw_os_error() == Some(libc::EINTR) {
        return Ok(false);
    }
    Err(e)
}

/// Whether `path` still names the file `f` has open. A lock taken on a file
/// that was unlinked (or replaced) meanwhile protects nothing.
pub fn still_at(f: &File, path: &Path) -> bool {
    match (f.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// A process holding a lock, as `/proc` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: i32,
    /// Its command line (or name), empty when it could not be read.
    pub command: String,
}

/// The processes holding a lock (any kind: flock, POSIX, OFD) on the file
/// `f` has open, from `/proc/locks`. Waiters (`->` lines) are not holders.
/// A `flock` belongs to an open file, not a process: when the process that
/// took it has gone and a child that inherited the descriptor holds it,
/// `/proc/locks` names no live process, and the processes with the file
/// open are named instead.
pub fn lock_holders(f: &File) -> Vec<LockHolder> {
    let Ok(m) = f.metadata() else {
        return Vec::new();
    };
    let text = fs::read_to_string("/proc/locks").unwrap_or_default();
    let me = std::process::id() as i32;
    let alive = |p: &i32| *p != me && Path::new(&format!("/proc/{p}")).exists();
    let mut pids =
        super::proc::parse_locks(&text, libc::major(m.dev()), libc::minor(m.dev()), m.ino());
    pids.retain(alive);
    if pids.is_empty() {
        pids = opened_by(m.dev(), m.ino());
        pids.retain(alive);
    }
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .map(|pid| LockHolder {
            pid,
            command: command_of(pid),
        })
        .collect()
}

/// Processes with a descriptor open on the file `dev`/`ino`.
fn opened_by(dev: u64, ino: u64) -> Vec<i32> {
    let mut out = Vec::new();
    for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let fds = fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten();
        // fs::metadata follows the fd's magic link to the open file itself.
        if fds
            .filter_map(|fd| fs::metadata(fd.path()).ok())
            .any(|m| m.dev() == dev && m.ino() == ino)
        {
            out.push(pid);
        }
    }
    out
}

/// `pid`'s command line with spaces between the arguments, else its name.
fn command_of(pid: i32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut s = if args.is_empty() {
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string()
    } else {
        args.join(" ")
    };
    if s.chars().count() > 120 {
        s = s.chars().take(119).collect::<String>() + "…";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_dirs_get_their_mode_whatever_the_umask() {
        let base = std::env::temp_dir().join(format!("nlab-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        // The umask is per process: set it, then put it back.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let dir = base.join("d");
        ensure_dir(&base, 0o755).expect("base");
        ensure_dir(&dir, 0o700).expect("dir");
        let f = open_file(&dir.join("f"), 0o600, true).expect("file");
        nix::sys::stat::umask(old);
        let mode = |p: &Path| fs::metadata(p).expect("stat").mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("f")), 0o600);
        // An existing directory or file with a wider mode is corrected.
        fs::set_permissions(&dir, Permissions::from_mode(0o777)).expect("chmod");
        ensure_dir(&dir, 0o700).expect("again");
        assert_eq!(mode(&dir), 0o700);
        drop(f);
        fs::set_permissions(dir.join("f"), Permissions::from_mode(0o666)).expect("chmod");
        open_file(&dir.join("f"), 0o600, false).expect("reopen");
        assert_eq!(mode(&dir.join("f")), 0o600);
        // Symlinks are refused, for directories and files alike.
        std::os::unix::fs::symlink(&dir, base.join("l")).expect("symlink");
        assert!(ensure_dir(&base.join("l"), 0o700).is_err());
        std::os::unix::fs::symlink(dir.join("f"), base.join("lf")).expect("symlink");
        assert!(open_file(&base.join("lf"), 0o600, false).is_err());
        let _ = fs::remove_dir_all(&base);
    }
}

/// A file in a tmpfs that is mounted nowhere (`fsopen`/`fsmount`): no
/// path reaches it, nothing of it is on disk, and it goes away with the
/// last descriptor, even when the process is killed. A child can attach
/// it over a file of its own mount namespace (see
/// [`super::exec::command_in_held`]): neither a `memfd` nor an
/// `O_TMPFILE` file can be, the first living on no mount of ours, the
/// second being unlinked.
#[derive(Debug)]
pub struct DetachedFile {
    /// The detached tmpfs, kept so the file's mount stays alive.
    _mount: OwnedFd,
    pub(super) file: OwnedFd,
}

impl DetachedFile {
    /// A new detached tmpfs holding one file `name` with `content`
    /// (mode 0644: programs in nodes read it).
    pub fn new(name: &str, content: &[u8]) -> io::Result<DetachedFile> {
        use std::io::Write;
        let cname = std::ffi::CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a file name"))?;
        // SAFETY: the new-mount-API syscalls on valid NUL-terminated
        // strings; every returned fd is owned right away.
        let mount = unsafe {
            let fs = libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), libc::FSOPEN_CLOEXEC);
            if fs < 0 {
                return Err(io::Error::last_os_error());
            }
            let fs = OwnedFd::from_raw_fd(fs as RawFd);
            let none = std::ptr::null::<libc::c_char>();
            if libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                libc::FSCONFIG_CMD_CREATE,
                none,
                none,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            let m = libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, 0);
            if m < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(m as RawFd)
        };
        // SAFETY: openat relative to the mount fd we own, on a valid
        // NUL-terminated name; the fd is owned right away.
        let file = unsafe {
            let fd = libc::openat(
                mount.as_raw_fd(),
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                0o644 as libc::c_uint,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        let mut f = File::from(file);
        f.write_all(content)?;
        Ok(DetachedFile {
            _mount: mount,
            file: f.into(),
        })
    }
}
