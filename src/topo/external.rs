//! Nodes whose namespace nlab does not make (`kind: external`, `image:`)
//! and links to the root namespace (containerlab's `host:IFNAME`): plain
//! data, kept apart from `model` so the rest of the model stays small.

use super::model::{IpNet, Loc, MacAddr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The node name containerlab reserves for the root namespace in
/// endpoints (`host:veth-h1`). A topology with a node of that name keeps
/// it as a node.
pub const HOST_NODE: &str = "host";

/// Where an attached node's namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attach {
    /// `netns: NAME`: a namespace pinned by `ip netns add NAME`.
    Netns(String),
    /// `pid: N` or `netns: /proc/N/ns/net`: the namespace of a process.
    Pid(i32),
    /// `container: NAME`: the namespace of a running Docker or Podman
    /// container.
    Container(String),
    /// `image: NAME`: a container nlab starts (and removes on `down`).
    Image(ImageSpec),
}

impl Attach {
    /// An existing namespace that nlab wires but does not own: `down`
    /// never ends its processes.
    pub fn is_external(&self) -> bool {
        !matches!(self, Attach::Image(_))
    }
}

impl fmt::Display for Attach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attach::Netns(n) => write!(f, "netns {n}"),
            Attach::Pid(p) => write!(f, "pid {p}"),
            Attach::Container(c) => write!(f, "container {c}"),
            Attach::Image(i) => write!(f, "image {}", i.image),
        }
    }
}

/// A container nlab runs for a node (containerlab's `kind: linux` with an
/// `image`), with network mode `none`: its only network is the lab's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The image, as the runtime names it (`localhost/busybox`); nlab
    /// never pulls it.
    pub image: String,
    /// `cmd:`: the command (after the image's entrypoint), one argument
    /// per item; a string is split on whitespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// `entrypoint:` replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    /// `env:`: environment variables of the container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `binds:` of a containerlab file's image node: mounted into the
    /// container (`--volume SRC:DST[:ro]`), not the node's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<super::limits::Bind>,
}

/// A veth with one end in a node (`iface`) and the other in the root
/// namespace, named `host_iface` there and tagged as the lab's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostLink {
    /// The lab node at the other end.
    pub node: String,
    /// The interface's name inside that node.
    pub iface: String,
    /// The name of the end in the root namespace (`host:IFNAME`).
    pub host_iface: String,
    /// Addresses of the node's end (the root end gets none from nlab).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs: Vec<IpNet>,
    /// MAC of the node's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Addresses of the root end: empty for a `host:` endpoint (yours
    /// to configure); a containerlab management network's gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_addrs: Vec<IpNet>,
    /// MTU of both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Where the link was written (file parser only), for errors.
    #[serde(default, skip)]
    pub loc: Loc,
}

impl PartialEq for HostLink {
    fn eq(&self, o: &Self) -> bool {
        self.node == o.node
            && self.iface == o.iface
            && self.host_iface == o.host_iface
            && self.addrs == o.addrs
            && self.host_addrs == o.host_addrs
            && self.mac == o.mac
            && self.mtu == o.mtu
    }
}

impl HostLink {
    /// `node:iface--host:IFNAME`, as links are keyed.
    pub fn key(&self) -> String {
        format!(
            "{}:{}--{HOST_NODE}:{}",
            self.node, self.iface, self.host_iface
        )
    }
}

/// The interface alias that marks what nlab made outside the lab's own
/// namespaces (a `host:` end in the root namespace, a veth end inside an
/// attached namespace), so `down` and `cleanup` find it without the
/// journal and never take an interface of someone else.
pub fn owner_tag(lab: &str) -> String {
    format!("nlab:{lab}")
}
