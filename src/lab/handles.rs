//! Handles on the namespaces of a lab: what an apply knows of each node's
//! interfaces (kept for the whole apply), and the descriptors that reach it
//! (a namespace fd and a netlink socket bound inside it), opened for one
//! batch of work and closed after it. Keeping two descriptors per node for
//! the whole apply made a 10,000-node lab run out of descriptors.

use super::Result;
use crate::kernel::link::{self, LinkState};
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{addr, route, Error as KError};
use std::collections::BTreeMap;

/// One node's interfaces as far as this apply knows: no descriptor.
#[derive(Debug, Clone, Default)]
pub struct NodeIndex {
    /// Interface name → index.
    pub index_of: BTreeMap<String, u32>,
    /// Next free interface index to ask the kernel for.
    pub next_index: u32,
    /// The namespace as this apply made it, for the lab's record of its
    /// namespaces (`None` for nodes that existed before).
    pub made: Option<super::held::NsRecord>,
}

impl NodeIndex {
    /// Reads the links of the namespace `conn` reaches.
    pub fn read(conn: &mut NodeConn) -> Result<NodeIndex> {
        let links = link::dump(
            &mut conn.sock,
            &format!("reading links of {}", conn.ns.name),
        )?;
        let next_index = links.iter().map(|l| l.index).max().unwrap_or(1) + 1;
        let index_of = links.into_iter().map(|l| (l.name, l.index)).collect();
        Ok(NodeIndex {
            index_of,
            next_index,
            made: None,
        })
    }

    pub fn alloc_index(&mut self, name: &str) -> u32 {
        let i = self.next_index;
        self.next_index += 1;
        self.index_of.insert(name.to_string(), i);
        i
    }
}

/// The two descriptors that reach one node: open them for a batch of work
/// and drop them after it.
pub struct NodeConn {
    pub ns: NetNs,
    pub sock: Socket,
}

impl NodeConn {
    /// Opens a pinned namespace and a netlink socket inside it.
    pub fn open(ns_name: &str) -> Result<NodeConn> {
        let ns = NetNs::open(ns_name)?;
        let sock = ns.run(Socket::new)??;
        Ok(NodeConn { ns, sock })
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
