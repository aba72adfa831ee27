//! Running programs inside a node, the way `ip netns exec` does.
//!
//! The child process enters the node's network namespace, gets a private
//! mount namespace (a recursive slave of the host's, so nothing it mounts
//! propagates back), sees a fresh `/sys` (so `/sys/class/net` lists the
//! node's interfaces) and has every file of `/etc/netns/<ns>/` bind-mounted
//! over the same name in `/etc/` (so a per-node `hosts` file makes `ping h2`
//! resolve).
//!
//! Entering a mount namespace is refused in a multi-threaded process, so this
//! happens in the forked child, which is single-threaded, before `exec`.
//! Everything that allocates (paths, the list of files to bind) is prepared
//! in the parent before the fork; the child only makes raw syscalls.
//!
//! The namespace is opened before it is entered, and `nlab down` may remove
//! the lab in between: a program started then would live on in an unpinned
//! namespace nobody sees. So right after `setns` the child checks that the
//! lab is not closing (a marker `down` writes first) and that the pin still
//! names the namespace it entered; otherwise it refuses (`ESTALE`). A child
//! that passed the check was inside before `down` looked, so `down`'s scan
//! of `/proc` finds it.

use super::exec_node::{NodeEntry, NodeSpec};
use super::netns::{ns_name, ns_path, ETC_NETNS};
use super::{Error, Result};
use std::ffi::{CStr, CString, OsStr};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Environment variable naming the namespace a program runs in.
pub const ENV_NS: &str = "NLAB_NS";
/// Environment variable naming the lab (set by the `*_node` helpers).
pub const ENV_LAB: &str = "NLAB_LAB";
/// Environment variable naming the node (set by the `*_node` helpers).
pub const ENV_NODE: &str = "NLAB_NODE";

const ROOT: &CStr = c"/";
const SYS: &CStr = c"/sys";
const SYSFS: &CStr = c"sysfs";
const NONE: &CStr = c"none";
const EMPTY: &CStr = c"";
const HOSTS: &CStr = c"/etc/hosts";

/// The file `nlab down` creates in the lab's directory before it removes
/// anything: while it exists, nothing may enter the lab's namespaces.
pub const CLOSING_MARKER: &str = "closing";

/// Everything the child needs to enter a node, prepared before the fork.
struct Entry {
    /// The namespace file, opened close-on-exec before the fork.
    netns: OwnedFd,
    /// Name of the namespace, used as the source of the fresh sysfs mount.
    name: CString,
    /// `(/etc/netns/<ns>/<file>, /etc/<file>)` pairs to bind-mount.
    binds: Vec<(CString, CString)>,
    /// `/run/netns/<ns>`, which must still name the namespace entered
    /// (`None` for a namespace held by this process's descriptors).
    pin: Option<CString>,
    /// Inode of the namespace opened.
    inode: u64,
    /// The lab's closing marker, if the namespace belongs to a lab.
    closing: Option<CString>,
    /// For a process that must die with ours (ephemeral labs): our pid,
    /// checked after `PR_SET_PDEATHSIG` in case we died before it was set.
    parent: Option<libc::pid_t>,
    /// A detached mount of the lab's hosts file (`open_tree`), attached
    /// over `/etc/hosts` in the child's mount namespace (`move_mount`):
    /// a file opened before the child's `unshare` lives on a mount of the
    /// old namespace, which a plain bind refuses (`EINVAL`).
    hosts_tree: Option<OwnedFd>,
    /// Limits and isolation the node asks for (see `exec_node`).
    node: Option<NodeEntry>,
}

impl Entry {
    /// For a namespace of an ephemeral lab (held by this process, see
    /// [`super::fd_held`]): no pin to check, `hosts` (a descriptor of the
    /// lab's hosts file) bound over `/etc/hosts`, and the child dies with
    /// the thread that spawns it.
    fn prepare_held(ns: &str, hosts: Option<&super::files::DetachedFile>) -> Result<Entry> {
        let netns = super::fd_held::open(ns).ok_or_else(|| {
            Error::protocol(
                format!("namespace {ns}"),
                "is not held by this process (its ephemeral lab is down)",
            )
        })??;
        let inode = File::from(
            netns
                .try_clone()
                .map_err(|e| Error::io(format!("duplicating the fd of namespace {ns}"), e))?,
        )
        .metadata()
        .map_err(|e| Error::io(format!("stat of namespace {ns}"), e))?
        .ino();
        let hosts_tree = hosts.map(|h| detached_mount_of(&h.file)).transpose()?;
        Ok(Entry {
            netns,
            name: cstring(ns.as_bytes(), || format!("namespace name {ns:?}"))?,
            binds: Vec::new(),
            pin: None,
            inode,
            closing: None,
            parent: Some(std::process::id() as libc::pid_t),
            hosts_tree,
            node: None,
        })
    }

    fn prepare(ns: &str, lab_dir: Option<&Path>, node: Option<&NodeSpec>) -> Result<Entry> {
        let path = ns_path(ns);
        let file = File::open(&path)
            .map_err(|e| Error::io(format!("opening namespace {ns} to run a program in it"), e))?;
        let inode = file
            .metadata()
            .map_err(|e| Error::io(format!("stat of namespace {ns}"), e))?
            .ino();
        let name = cstring(ns.as_bytes(), || format!("namespace name {ns:?}"))?;
        let binds = etc_binds(ns)?;
        let pin = cstring(path.as_os_str().as_bytes(), || {
            format!("path {}", path.display())
        })?;
        let closing = lab_dir
            .map(|d| {
                let m = d.join(CLOSING_MARKER);
                cstring(m.as_os_str().as_bytes(), || format!("path {}", m.display()))
            })
            .transpose()?;
        Ok(Entry {
            netns: file.into(),
            name,
            binds,
            pin: Some(pin),
            inode,
            closing,
            parent: None,
            hosts_tree: None,
            node: node
                .filter(|n| !n.is_empty())
                .map(|n| NodeEntry::prepare(n, ns))
                .transpose()?,
        })
    }

    /// After `setns`: whether the lab is still there to be entered (see
    /// the module docs). Raw syscalls only, like [`Entry::enter`].
    fn still_the_labs(&self) -> io::Result<()> {
        // SAFETY: access/stat on valid NUL-terminated paths into a zeroed
        // struct; nothing is allocated.
        unsafe {
            if let Some(m) = &self.closing {
                if libc::access(m.as_ptr(), libc::F_OK) == 0 {
                    return Err(refuse(b"nlab exec: the lab is being removed (nlab down); not starting the program\n"));
                }
            }
            if let Some(pin) = &self.pin {
                let mut st: libc::stat = std::mem::zeroed();
                if libc::stat(pin.as_ptr(), &mut st) != 0 || st.st_ino != self.inode {
                    return Err(refuse(b"nlab exec: the node's namespace was removed (nlab down); not starting the program\n"));
                }
            }
        }
        Ok(())
    }

    /// What `ip netns exec` does between fork and exec. Raw syscalls only:
    /// this runs in a forked child of a possibly multi-threaded parent, where
    /// allocating could deadlock.
    ///
    /// Every step must succeed before the next one runs: bind-mounting over
    /// `/etc` without a private mount namespace would change the host's view.
    fn enter(&self) -> io::Result<()> {
        // SAFETY: plain syscalls on valid NUL-terminated strings and an open
        // fd that `self` owns; no memory is allocated or freed.
        unsafe {
            if let Some(parent) = self.parent {
                // Dies with the spawning thread, so with the test process
                // even on `kill -9`; if that happened before the prctl,
                // we were reparented already.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                    || libc::getppid() != parent
                {
                    return Err(fail(b"nlab exec: the parent process is gone\n"));
                }
            }
            if libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(fail(b"nlab exec: entering the network namespace failed\n"));
            }
        }
        self.still_the_labs()?;
        // SAFETY: as above.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(fail(b"nlab exec: creating a mount namespace failed\n"));
            }
            let slave = libc::MS_SLAVE | libc::MS_REC;
            if libc::mount(
                EMPTY.as_ptr(),
                ROOT.as_ptr(),
                NONE.as_ptr(),
                slave,
                std::ptr::null(),
            ) != 0
            {
                return Err(fail(b"nlab exec: making / a recursive slave failed\n"));
            }
            // A sysfs mounted now describes the namespace we just entered.
            let mut flags: libc::c_ulong = 0;
            if libc::umount2(SYS.as_ptr(), libc::MNT_DETACH) != 0 {
                // Nothing to unmount, or we cannot: mount over it. A
                // read-only sysfs can only be shadowed by a read-only one.
                let mut st: libc::statvfs = std::mem::zeroed();
                if libc::statvfs(SYS.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0 {
                    flags = libc::MS_RDONLY;
                }
            }
            if libc::mount(
                self.name.as_ptr(),
                SYS.as_ptr(),
                SYSFS.as_ptr(),
                flags,
                std::ptr::null(),
            ) != 0
            {
                return Err(fail(b"nlab exec: mounting /sys failed\n"));
            }
            for (src, dst) in &self.binds {
                if libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    NONE.as_ptr(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(fail(
                        b"nlab exec: bind-mounting a file of /etc/netns failed\n",
                    ));
                }
            }
            if let Some(tree) = &self.hosts_tree {
                if libc::syscall(
                    libc::SYS_move_mount,
                    tree.as_raw_fd(),
                    EMPTY.as_ptr(),
                    libc::AT_FDCWD,
                    HOSTS.as_ptr(),
                    libc::MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
                {
                    return Err(fail(
                        b"nlab exec: mounting the lab's hosts file over /etc/hosts failed\n",
                    ));
                }
            }
        }
        match &self.node {
            Some(n) => n.apply(),
            None => Ok(()),
        }
    }
}

/// A detached mount of the file `f` (`open_tree(OPEN_TREE_CLONE)`), to
/// attach in another mount namespace; unmounted when its last descriptor
/// closes unattached.
fn detached_mount_of(f: &OwnedFd) -> Result<OwnedFd> {
    // SAFETY: open_tree on a valid fd with an empty NUL-terminated path;
    // the returned fd is owned right away.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_open_tree,
            f.as_raw_fd(),
            EMPTY.as_ptr(),
            libc::OPEN_TREE_CLONE
                | libc::OPEN_TREE_CLOEXEC as libc::c_uint
                | libc::AT_EMPTY_PATH as libc::c_uint,
        );
        if fd < 0 {
            return Err(Error::io(
                "making a detached mount of the lab's hosts file",
                io::Error::last_os_error(),
            ));
        }
        Ok(OwnedFd::from_raw_fd(fd as RawFd))
    }
}

/// Captures errno, then says which step failed on stderr (the error that
/// reaches the parent through `spawn` only carries the errno).
fn fail(msg: &'static [u8]) -> io::Error {
    let err = io::Error::last_os_error();
    // SAFETY: writing a static buffer to fd 2; the result does not matter.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
    err
}

/// Says why the child refuses to start the program; the error is
/// `ESTALE`, which [`refused`] recognises.
fn refuse(msg: &'static [u8]) -> io::Error {
    // SAFETY: writing a static buffer to fd 2; the result does not matter.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
    io::Error::from_raw_os_error(libc::ESTALE)
}

/// Whether entering failed because the lab was removed meanwhile.
pub fn refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ESTALE)
}

fn cstring(bytes: &[u8], what: impl FnOnce() -> String) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::protocol(what(), "contains a NUL byte"))
}

/// The files of `/etc/netns/<ns>/` with the `/etc` file each one covers.
/// Like `ip netns exec`, a file whose counterpart in `/etc` is missing (or
/// of another kind) cannot be bound; it is skipped with a warning rather
/// than failing every command in the node.
fn etc_binds(ns: &str) -> Result<Vec<(CString, CString)>> {
    let dir = Path::new(ETC_NETNS).join(ns);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        names.push(entry.file_name());
    }
    names.sort();
    let mut binds = Vec::with_capacity(names.len());
    for name in names {
        let src = dir.join(&name);
        let dst = Path::new("/etc").join(&name);
        let src_meta =
            fs::metadata(&src).map_err(|e| Error::io(format!("reading {}", src.display()), e))?;
        match fs::metadata(&dst) {
            Ok(m) if m.is_dir() == src_meta.is_dir() => {}
            Ok(_) => {
                tracing::warn!(
                    "not binding {} over {}: one is a directory, the other is not",
                    src.display(),
                    dst.display()
                );
                continue;
            }
            Err(e) => {
                tracing::warn!("not binding {} over {}: {e}", src.display(), dst.display());
                continue;
            }
        }
        let what = || format!("path {}", src.display());
        binds.push((
            cstring(src.as_os_str().as_bytes(), what)?,
            cstring(dst.as_os_str().as_bytes(), || {
                format!("path {}", dst.display())
            })?,
        ));
    }
    Ok(binds)
}

/// A [`Command`] that runs `program args…` inside namespace `ns_name`
/// (e.g. `nlab-demo-h1`) exactly as `ip netns exec` would, with
/// `NLAB_NS=<ns_name>` in its environment. Spawn it as usual; a failure to
/// enter the node is reported by `spawn` (with the failed step on stderr).
pub fn command_in<S: AsRef<OsStr>>(ns_name: &str, program: &str, args: &[S]) -> Result<Command> {
    command_in_lab(ns_name, None, None, program, args)
}

/// [`command_in`] for a namespace of the lab whose runtime directory is
/// `lab_dir`: the child refuses to start once that lab is closing. `node`:
/// the node's limits and isolation, if it has any.
pub fn command_in_lab<S: AsRef<OsStr>>(
    ns_name: &str,
    lab_dir: Option<&Path>,
    node: Option<&NodeSpec>,
    program: &str,
    args: &[S],
) -> Result<Command> {
    let entry = Entry::prepare(ns_name, lab_dir, node)?;
    let mut cmd = Command::new(program);
    cmd.args(args).env(ENV_NS, ns_name);
    // SAFETY: `Entry::enter` only makes async-signal-safe syscalls and does
    // not allocate; everything it touches was prepared before the fork.
    unsafe {
        cmd.pre_exec(move || entry.enter());
    }
    Ok(cmd)
}

/// [`command_in_lab`] for a program that must die with this process (a
/// console's node shell): it gets `SIGKILL` when the thread that spawns
/// it ends, `kill -9` included, and so does the program behind a node's
/// PID-namespace parent.
pub fn command_in_lab_tied<S: AsRef<OsStr>>(
    ns_name: &str,
    lab_dir: Option<&Path>,
    node: Option<&NodeSpec>,
    program: &str,
    args: &[S],
) -> Result<Command> {
    let mut entry = Entry::prepare(ns_name, lab_dir, node)?;
    entry.parent = Some(std::process::id() as libc::pid_t);
    let mut cmd = Command::new(program);
    cmd.args(args).env(ENV_NS, ns_name);
    // SAFETY: as in `command_in_lab`.
    unsafe {
        cmd.pre_exec(move || entry.enter());
    }
    Ok(cmd)
}

/// [`command_in`] for a namespace of an ephemeral lab (held by this
/// process's descriptors): `hosts` is bound over `/etc/hosts`, and the
/// program gets `SIGKILL` when the thread that spawns it ends (so when
/// this process dies, even by `kill -9`).
pub fn command_in_held<S: AsRef<OsStr>>(
    ns_name: &str,
    hosts: Option<&super::files::DetachedFile>,
    program: &str,
    args: &[S],
) -> Result<Command> {
    let entry = Entry::prepare_held(ns_name, hosts)?;
    let mut cmd = Command::new(program);
    cmd.args(args).env(ENV_NS, ns_name);
    // SAFETY: as in `command_in_lab`.
    unsafe {
        cmd.pre_exec(move || entry.enter());
    }
    Ok(cmd)
}

/// [`command_in`] for node `node` of lab `lab`, also setting `NLAB_LAB` and
/// `NLAB_NODE`.
pub fn command_in_node<S: AsRef<OsStr>>(
    lab: &str,
    node: &str,
    program: &str,
    args: &[S],
) -> Result<Command> {
    let mut cmd = command_in(&ns_name(lab, node), program, args)?;
    cmd.env(ENV_LAB, lab).env(ENV_NODE, node);
    Ok(cmd)
}

/// Enters namespace `ns_name` like [`command_in`] and replaces the current
/// process with `program args…` (for `nlab shell`). Only valid in a
/// single-threaded process: a multi-threaded one cannot enter a new mount
/// namespace, which is checked first. Returns only on error; if entering
/// succeeded but `execvp` failed, the process is left inside the node.
pub fn exec_replace<S: AsRef<OsStr>>(ns_name: &str, program: &str, args: &[S]) -> Error {
    exec_replace_env(ns_name, None, None, program, args, &[(ENV_NS, ns_name)])
}

/// [`exec_replace`] for a namespace of the lab whose runtime directory is
/// `lab_dir`: refuses once that lab is closing. `node` as in
/// [`command_in_lab`].
pub fn exec_replace_lab<S: AsRef<OsStr>>(
    ns_name: &str,
    lab_dir: &Path,
    node: Option<&NodeSpec>,
    program: &str,
    args: &[S],
) -> Error {
    exec_replace_env(
        ns_name,
        Some(lab_dir),
        node,
        program,
        args,
        &[(ENV_NS, ns_name)],
    )
}

/// [`exec_replace`] for node `node` of lab `lab`, also setting `NLAB_LAB`
/// and `NLAB_NODE`.
pub fn exec_replace_node<S: AsRef<OsStr>>(
    lab: &str,
    node: &str,
    program: &str,
    args: &[S],
) -> Error {
    let ns = ns_name(lab, node);
    exec_replace_env(
        &ns,
        None,
        None,
        program,
        args,
        &[(ENV_NS, ns.as_str()), (ENV_LAB, lab), (ENV_NODE, node)],
    )
}

fn exec_replace_env<S: AsRef<OsStr>>(
    ns: &str,
    lab_dir: Option<&Path>,
    node: Option<&NodeSpec>,
    program: &str,
    args: &[S],
    extra_env: &[(&str, &str)],
) -> Error {
    match try_exec_replace(ns, (lab_dir, node), program, args, extra_env) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_exec_replace<S: AsRef<OsStr>>(
    ns: &str,
    (lab_dir, node): (Option<&Path>, Option<&NodeSpec>),
    program: &str,
    args: &[S],
    extra_env: &[(&str, &str)],
) -> Result<std::convert::Infallible> {
    let what = || format!("running {program} in {ns}");
    let threads = fs::read_dir("/proc/self/task")
        .map_err(|e| Error::io(format!("{}: counting threads", what()), e))?
        .count();
    if threads > 1 {
        return Err(Error::protocol(
            what(),
            format!(
                "the process has {threads} threads; only a single-threaded process can enter \
                 a mount namespace (use command_in instead)"
            ),
        ));
    }
    let entry = Entry::prepare(ns, lab_dir, node)?;
    let prog = cstring(program.as_bytes(), || format!("program name {program:?}"))?;
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(prog.clone());
    for a in args {
        argv.push(cstring(a.as_ref().as_bytes(), || {
            format!("argument {:?} of {program}", a.as_ref())
        })?);
    }
    let mut envp = Vec::new();
    for (k, v) in std::env::vars_os() {
        if extra_env.iter().any(|(ek, _)| OsStr::new(ek) == k) {
            continue;
        }
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        // A variable with a NUL cannot exist in the environment; skip it.
        if let Ok(c) = CString::new(kv) {
            envp.push(c);
        }
    }
    for (k, v) in extra_env {
        envp.push(cstring(format!("{k}={v}").as_bytes(), || {
            format!("environment variable {k}")
        })?);
    }
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());

    // The race with `nlab down` opens here: the namespace is open, not
    // yet entered.
    crate::pause::at("exec-opened");
    entry.enter().map_err(|e| {
        if refused(&e) {
            Error::protocol(
                format!("entering {ns} to run {program}"),
                "the lab was removed meanwhile (nlab down); nothing was started",
            )
        } else {
            Error::io(format!("entering {ns} to run {program}"), e)
        }
    })?;
    // Inside and checked: `down`'s scan of /proc finds this process now.
    crate::pause::at("exec-entered");
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to live
    // NUL-terminated strings.
    unsafe {
        libc::execvpe(prog.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
    }
    Err(Error::Exec {
        what: format!("executing {program} in {ns}"),
        source: io::Error::last_os_error(),
    })
}
