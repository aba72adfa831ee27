//! Open handles on the namespaces of a lab: the namespace fd, a netlink
//! socket bound inside it, and the interfaces it holds.

use super::Result;
use crate::kernel::link::{self, LinkState};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{addr, route, Error as KError};
use std::collections::BTreeMap;

/// One node's namespace, ready for requests.
pub struct NodeHandle {
    pub ns: NetNs,
    pub sock: Socket,
    /// Interface name → index, as far as this apply knows.
    pub index_of: BTreeMap<String, u32>,
    /// Next free interface index to ask the kernel for.
    pub next_index: u32,
}

impl NodeHandle {
    /// Opens an existing pinned namespace and reads its links.
    pub fn open(ns_name: &str) -> Result<NodeHandle> {
        let ns = NetNs::open(ns_name)?;
        let mut sock = ns.run(Socket::new)??;
        let links = link::dump(&mut sock, &format!("reading links of {ns_name}"))?;
        let next_index = links.iter().map(|l| l.index).max().unwrap_or(1) + 1;
        let index_of = links.into_iter().map(|l| (l.name, l.index)).collect();
        Ok(NodeHandle {
            ns,
            sock,
            index_of,
            next_index,
        })
    }

    pub fn alloc_index(&mut self, name: &str) -> u32 {
        let i = self.next_index;
        self.next_index += 1;
        self.index_of.insert(name.to_string(), i);
        i
    }
}

/// What the kernel holds in one node's namespace.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub links: Vec<LinkState>,
    pub addrs: Vec<addr::AddrState>,
    /// Unicast routes of the main table.
    pub routes: Vec<route::RouteState>,
}

/// Reads links and addresses of a pinned namespace; `Ok(None)` when the
/// namespace is not there.
pub fn read_view(ns_name: &str) -> Result<Option<NodeView>> {
    if !netns::exists(ns_name) {
        return Ok(None);
    }
    let ns = match NetNs::open(ns_name) {
        Ok(ns) => ns,
        Err(e) if e.raw_errno() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // A pin file whose mount is gone (a crash between creating the file
    // and mounting on it) is a plain file: entering it fails with EINVAL.
    let view = match ns.run(|| -> Result<NodeView, KError> {
        let mut sock = Socket::new()?;
        let links = link::dump(&mut sock, &format!("reading links of {ns_name}"))?;
        let addrs = addr::dump(&mut sock, &format!("reading addresses of {ns_name}"))?;
        let routes = route::dump(&mut sock, &format!("reading routes of {ns_name}"))?;
        Ok(NodeView {
            links,
            addrs,
            routes,
        })
    }) {
        Err(e) if e.raw_errno() == Some(libc::EINVAL) => return Ok(None),
        other => other??,
    };
    Ok(Some(view))
}
