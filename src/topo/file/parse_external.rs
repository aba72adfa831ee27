//! Reading attached nodes and `host:` endpoints.
//!
//! ```yaml
//! nodes:
//!   ns1: {kind: external, netns: blue}            # `ip netns add blue`
//!   p1:  {kind: external, pid: 4242}              # or netns: /proc/4242/ns/net
//!   c1:  {kind: external, container: web}         # Docker or Podman
//!   b1:                                           # a container nlab runs
//!     image: localhost/busybox
//!     cmd: [sleep, infinity]                      # or "sleep infinity"
//!     entrypoint: /bin/sh                         # optional
//!     env: {MODE: lab}
//! links:
//!   - endpoints: ["h1:eth1", "host:veth-h1"]      # a veth end in the root namespace
//! ```
//!
//! `kind: ext-container` is containerlab's spelling of `external`; without
//! a source it attaches the container named like the node, as in
//! containerlab. `netns: /run/netns/NAME` is `netns: NAME`.

use super::reader::{Fields, Reader};
use super::yaml::{YNode, YVal};
use crate::topo::external::{Attach, HostLink, ImageSpec, HOST_NODE};
use crate::topo::model::{Loc, Topology};
use std::collections::BTreeMap;

/// Node keys read here (added to the builder's list of node keys).
pub(super) const ATTACH_KEYS: &[&str] = &[
    "netns",
    "pid",
    "container",
    "image",
    "cmd",
    "entrypoint",
    "env",
];

/// Kinds that mean "an existing namespace".
pub(super) const EXTERNAL_KINDS: &[&str] = &["external", "ext-container"];

const SOURCES: &[&str] = &["netns", "pid", "container", "image"];
// `env` is not among them: on any node it is the environment of the
// programs nlab starts there (see `node_run`), an image's container too.
const IMAGE_ONLY: &[&str] = &["cmd", "entrypoint"];

impl Reader<'_> {
    /// The node's attachment, if it has one. `kind`: as written; `loc`:
    /// where the node was written.
    pub fn attach(
        &mut self,
        f: &Fields,
        node: &str,
        kind: Option<&str>,
        loc: Loc,
    ) -> Option<Attach> {
        let external = kind.is_some_and(|k| EXTERNAL_KINDS.contains(&k));
        let given: Vec<(&str, &YNode)> = SOURCES
            .iter()
            .filter_map(|k| f.value(k).map(|v| (*k, v)))
            .collect();
        if let [(first, _), (second, v), ..] = given[..] {
            let msg = format!("node `{node}` has both `{first}` and `{second}`");
            let hint = "give exactly one of `netns`, `pid`, `container` (an existing namespace) \
                        or `image` (a container nlab starts)";
            self.err(v.loc, msg, Some(hint.into()));
            return None;
        }
        let image_only: Vec<(&str, &YNode)> = IMAGE_ONLY
            .iter()
            .filter_map(|k| f.get(k).map(|v| (*k, v)))
            .collect();
        let Some(&(key, v)) = given.first() else {
            // containerlab's ext-container names the container by the node.
            if kind == Some("ext-container") {
                self.image_only_keys(node, &image_only);
                return Some(Attach::Container(node.to_string()));
            }
            if external {
                let msg = format!("node `{node}` is `kind: external` but names no namespace");
                let hint = "add one of `netns: NAME`, `pid: N`, `netns: /proc/N/ns/net` \
                            or `container: NAME`";
                self.err(loc, msg, Some(hint.into()));
            }
            self.image_only_keys(node, &image_only);
            return None;
        };
        if key == "image" {
            if external {
                let msg = format!("node `{node}` has `image:` but is `kind: external`");
                let hint = "an `image:` node is a container nlab starts: drop `kind`, \
                            or use `container: NAME` to attach a running one";
                self.err(loc, msg, Some(hint.into()));
                return None;
            }
            return self.image(f, v);
        }
        self.image_only_keys(node, &image_only);
        match key {
            "pid" => self.pid(v, "`pid`").map(Attach::Pid),
            "container" => {
                let name = self.string(v, "`container`")?;
                self.non_empty(&name, v.loc, "`container`")?;
                Some(Attach::Container(name))
            }
            _ => self.netns(v),
        }
    }

    fn image_only_keys(&mut self, node: &str, keys: &[(&str, &YNode)]) {
        for (k, v) in keys {
            let msg = format!("`{k}` of node `{node}` is only for nodes with `image:`");
            self.err(
                v.loc,
                msg,
                Some(format!("add `image: NAME` or remove `{k}`")),
            );
        }
    }

    fn non_empty(&mut self, s: &str, loc: Loc, what: &str) -> Option<()> {
        if s.trim().is_empty() {
            self.err(loc, format!("{what} is empty"), None);
            return None;
        }
        Some(())
    }

    fn pid(&mut self, v: &YNode, what: &str) -> Option<i32> {
        let text = self.string(v, what)?;
        match text.parse::<i32>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                let msg =
                    format!("{what} should be a process id (a number above 0), found `{text}`");
                self.err(v.loc, msg, None);
                None
            }
        }
    }

    /// `netns: NAME` or `netns: /proc/PID/ns/net`.
    fn netns(&mut self, v: &YNode) -> Option<Attach> {
        let text = self.string(v, "`netns`")?;
        // A pin's path names it as well as its name does.
        let named = ["/run/netns/", "/var/run/netns/"]
            .iter()
            .find_map(|p| text.strip_prefix(p));
        if let Some(name) = named.filter(|n| !n.is_empty() && !n.contains('/')) {
            return Some(Attach::Netns(name.to_string()));
        }
        if let Some(rest) = text.strip_prefix("/proc/") {
            let pid = rest
                .strip_suffix("/ns/net")
                .and_then(|p| p.parse::<i32>().ok());
            return match pid {
                Some(p) if p > 0 => Some(Attach::Pid(p)),
                _ => {
                    let msg = format!("`netns: {text}` is neither a name nor /proc/PID/ns/net");
                    let hint = "write `netns: NAME` for a namespace of `ip netns list`, \
                                or `pid: N`";
                    self.err(v.loc, msg, Some(hint.into()));
                    None
                }
            };
        }
        let bad = text.is_empty() || text.contains('/') || text == "." || text == "..";
        if bad {
            let msg = format!("`netns: {text}` is not a namespace name");
            let hint = "a name as `ip netns list` shows it (a file under /run/netns), \
                        or /proc/PID/ns/net";
            self.err(v.loc, msg, Some(hint.into()));
            return None;
        }
        Some(Attach::Netns(text))
    }

    fn image(&mut self, f: &Fields, v: &YNode) -> Option<Attach> {
        let image = self.string(v, "`image`")?;
        self.non_empty(&image, v.loc, "`image`")?;
        let cmd = match f.value("cmd") {
            None => Vec::new(),
            Some(c) => self.words(c, "`cmd`")?,
        };
        let entrypoint = match f.value("entrypoint") {
            None => None,
            Some(e) => Some(self.string(e, "`entrypoint`")?),
        };
        let mut env = BTreeMap::new();
        if let Some(e) = f.value("env") {
            for (k, _, val) in self.entries(e, "`env`") {
                let text = self.string(val, &format!("`env.{k}`"))?;
                env.insert(k, text);
            }
        }
        Some(Attach::Image(ImageSpec {
            image,
            cmd,
            entrypoint,
            env,
            binds: Vec::new(),
        }))
    }

    /// A list of arguments, or one string split as a shell splits words
    /// (quotes and backslashes, as containerlab's `cmd: ash -c "…"`).
    fn words(&mut self, n: &YNode, what: &str) -> Option<Vec<String>> {
        if let YVal::Seq(items) = &n.val {
            return items.iter().map(|i| self.string(i, what)).collect();
        }
        let text = self.string(n, what)?;
        match super::clab::shell_words(&text) {
            Ok(w) => Some(w),
            Err(e) => {
                self.err(
                    n.loc,
                    format!("{what}: {e}"),
                    Some("close the quote".into()),
                );
                None
            }
        }
    }
}

/// Moves the links with a `host:IFNAME` end out of `t.links` into
/// `t.host_links` (unless the topology has a node named `host`: then
/// `host:` names that node, as it always did).
pub(super) fn split_host_links(r: &mut Reader, t: &mut Topology) {
    if t.nodes.contains_key(HOST_NODE) {
        return;
    }
    let links = std::mem::take(&mut t.links);
    for l in links {
        let hosts: Vec<usize> = (0..2)
            .filter(|&i| l.endpoints[i].node == HOST_NODE)
            .collect();
        let &[h] = &hosts[..] else {
            if hosts.len() == 2 {
                let msg = "a link cannot have `host:` at both ends";
                r.err(l.loc, msg, Some("link a node to the host".into()));
            } else {
                t.links.push(l);
            }
            continue;
        };
        let (he, ne) = (&l.endpoints[h], &l.endpoints[1 - h]);
        let plain = l.up && l.conditions.is_none() && l.schedule.is_empty();
        if !plain {
            let msg = format!(
                "the link to `host:{}` has conditions, a schedule or `up: false`",
                he.iface
            );
            let hint = "a `host:` link is a plain veth; put conditions on a link between lab nodes";
            r.err(l.loc, msg, Some(hint.into()));
            continue;
        }
        if ne.dhcp {
            let msg = format!("`{}` on a `host:` link asks for DHCP", ne.id());
            let hint = "give it a static address: the lab's DHCP servers do not serve the host";
            r.err(ne.loc, msg, Some(hint.into()));
            continue;
        }
        if !he.addrs.is_empty() || he.dhcp || he.mac.is_some() {
            let msg = format!("`host:{}` has addresses or a MAC", he.iface);
            let hint = "nlab never configures the root namespace: \
                        set addresses on the host side yourself";
            r.err(he.loc, msg, Some(hint.into()));
            continue;
        }
        t.host_links.push(HostLink {
            node: ne.node.clone(),
            iface: ne.iface.clone(),
            host_iface: he.iface.clone(),
            addrs: ne.addrs.clone(),
            mac: ne.mac,
            host_addrs: Vec::new(),
            mtu: ne.mtu.or(l.mtu),
            loc: l.loc,
        });
    }
}
