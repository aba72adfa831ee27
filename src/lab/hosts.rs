//! Name resolution inside a lab: `ping h2` works in every node.
//!
//! One hosts file per lab (`/run/nlab/<lab>/hosts`) and, per node, a
//! symlink to it at `/etc/netns/<ns>/hosts`, which is what `ip netns exec`
//! (and `nlab exec`) bind-mounts over `/etc/hosts`. One file instead of a
//! copy per node keeps a 1,000-node lab from writing 1,000 × 1,000 lines.

use super::state::lab_dir;
use super::{Error, Result};
use crate::kernel::netns;
use crate::topo::{NodeKind, Topology};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// The hosts file content for a topology.
pub fn render(t: &Topology) -> String {
    let mut s = String::from(
        "# written by nlab for this lab; rewritten on every change\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
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

/// Writes the lab's hosts file and links it from each of `new_nodes`.
pub fn write(t: &Topology, new_nodes: &[String]) -> Result<()> {
    let dir = lab_dir(&t.name);
    fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join("hosts");
    let tmp = dir.join("hosts.tmp");
    fs::write(&tmp, render(t)).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    for node in new_nodes {
        let etc = Path::new(netns::ETC_NETNS).join(netns::ns_name(&t.name, node));
        fs::create_dir_all(&etc)
            .map_err(|e| Error::io(format!("creating {}", etc.display()), e))?;
        let link = etc.join("hosts");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link)
            .map_err(|e| Error::io(format!("linking {}", link.display()), e))?;
    }
    Ok(())
}
