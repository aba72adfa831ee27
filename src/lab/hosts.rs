//! Name resolution inside a lab: `ping h2` works in every node.
//!
//! One directory per lab, `/run/nlab/<lab>/etc/`, holds the `hosts` file;
//! each node's `/etc/netns/<ns>` is a symlink to it. `ip netns exec` (and
//! `nlab exec`) bind-mount the files found there over `/etc`. A symlink per
//! node instead of a directory and a file per node matters: on a journaled
//! root filesystem each directory operation costs ~1 ms, and removing a
//! directory waits for an RCU grace period.

use super::{Error, Result};
use crate::kernel::{files, netns};
use crate::store::{lab_dir, write_atomic_as};
use crate::topo::{NodeKind, Topology};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The lab's directory of files that cover `/etc` inside its nodes.
pub fn etc_dir(lab: &str) -> PathBuf {
    lab_dir(lab).join("etc")
}

/// The hosts file content for a topology.
fn machine_hostname() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim().to_string();
    (!h.is_empty() && h != "localhost").then_some(h)
}

pub fn render(t: &Topology) -> String {
    let mut s = String::from(
        "# written by nlab for this lab; rewritten on every change\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    // Nodes share the machine's hostname (one UTS namespace). Without a
    // line for it, programs that look it up (Python's http.server does)
    // wait seconds for the machine's DNS server, which is not in the lab.
    if let Some(h) = machine_hostname() {
        if !t.nodes.contains_key(&h) {
            let _ = writeln!(s, "127.0.1.1\t{h}");
        }
    }
    for n in t.hosts() {
        if n.kind == NodeKind::Switch {
            continue;
        }
        for v6 in [false, true] {
            if let Some(a) = t.primary_addr(&n.name, v6) {
                let _ = writeln!(s, "{a}\t{}", n.name);
            }
        }
    }
    s
}

/// Writes the lab's hosts file and links `/etc/netns/<ns>` of each of
/// `new_nodes` to the lab's directory.
///
/// Modes are set, never left to the umask: `exec` binds every file of the
/// directory over a node's `/etc`, so only root may write there. The hosts
/// file is 0644 in a 0755 directory (a node's non-root programs read it
/// through the bind mount); `/etc/netns` loses any group or world write bit,
/// since whoever can replace a link there chooses a node's `/etc`.
pub fn write(t: &Topology, new_nodes: &[String]) -> Result<()> {
    crate::store::ensure_lab_dir(&t.name)?;
    let dir = etc_dir(&t.name);
    files::ensure_dir(&dir, 0o755)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join("hosts");
    // /etc has no `.hosts.tmp`, so `exec` never binds the temp file.
    let tmp = dir.join(".hosts.tmp");
    write_atomic_as(&path, &tmp, render(t).as_bytes(), 0o644)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    files::ensure_shared_dir(Path::new(netns::ETC_NETNS), 0o755)
        .map_err(|e| Error::io(format!("creating {}", netns::ETC_NETNS), e))?;
    for node in new_nodes {
        let link = Path::new(netns::ETC_NETNS).join(netns::ns_name(&t.name, node));
        remove_entry(&link)?;
        std::os::unix::fs::symlink(&dir, &link)
            .map_err(|e| Error::io(format!("linking {}", link.display()), e))?;
    }
    Ok(())
}

/// Removes `/etc/netns/<ns>`: our symlink, or a directory someone made.
pub fn remove_entry(p: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
    };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", p.display()), e))
        }
        _ => Ok(()),
    }
}
