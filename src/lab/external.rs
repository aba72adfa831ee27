//! Attaching namespaces nlab does not make (`kind: external`) and
//! starting `image:` nodes: resolved before anything is touched, pinned
//! as `nlab-<lab>-<node>` during apply (so `nlab exec` and `ip netns exec`
//! reach them like any node), and recorded (see `attached`) so that
//! `down` removes only what nlab added.
//!
//! The pin holds the namespace for the lab's lifetime: if the attached
//! process exits, the namespace, its interfaces and the lab's links live
//! on until `down`, which unpins it (the kernel then frees it if nothing
//! else holds it).

use super::attached::{self, Pinned};
use super::handles::NodeIndex;
use super::{Error, Result};
use crate::kernel::attach::{self, ProcId};
use crate::kernel::container::{self, Runtime};
use crate::kernel::link;
use crate::kernel::netlink::Socket;
use crate::kernel::netns::{self, NetNs};
use crate::topo::external::{Attach, ImageSpec};
use crate::topo::{Node, Topology};
use std::collections::BTreeMap;

/// Where each attached node of a plan comes from, found before `up`
/// touched anything.
#[derive(Default)]
pub struct Resolved {
    nodes: BTreeMap<String, Source>,
}

enum Source {
    /// An existing namespace, held open since it was resolved.
    Held { ns: NetNs, proc: Option<ProcId> },
    /// A container to start.
    Image(Runtime),
}

fn refuse(node: &Node, msg: String) -> Error {
    let at = if node.loc.is_known() {
        format!("line {}: ", node.loc.line)
    } else {
        String::new()
    };
    Error::Attach(format!(
        "{at}node `{}`: {msg}; nothing was changed",
        node.name
    ))
}

/// Whether podman or docker has `image` in its local store (nlab never
/// pulls): `--images namespace` runs the `image:` nodes whose image is
/// not here as plain namespace nodes.
pub fn image_available(image: &str) -> bool {
    container::available()
        .into_iter()
        .any(|rt| container::image_exists(rt, image))
}

/// The container name of an `image:` node.
pub fn container_name(lab: &str, node: &str) -> String {
    format!("nlab-{lab}-{node}")
}

/// Opens every namespace the plan attaches and checks every image node
/// can start, so that a missing process, namespace, container or image
/// fails `up` before the lab exists. Also refuses `host:` names the root
/// namespace has already.
pub fn resolve(t: &Topology, create: &[String], new_host_links: &[String]) -> Result<Resolved> {
    let mut r = Resolved::default();
    let mut runtimes: Option<Vec<Runtime>> = None;
    let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
    for name in create {
        let Some(node) = t.nodes.get(name) else {
            continue;
        };
        let Some(a) = &node.attach else { continue };
        let src = match a {
            Attach::Pid(pid) => {
                let (ns, p) = attach::open_pid(*pid).map_err(|e| refuse(node, e.to_string()))?;
                Source::Held { ns, proc: Some(p) }
            }
            Attach::Netns(n) => {
                let ns = attach::open_named(n).map_err(|e| refuse(node, e.to_string()))?;
                Source::Held { ns, proc: None }
            }
            Attach::Container(c) => {
                let rts = runtimes.get_or_insert_with(container::available);
                let (ns, p) = open_container(node, rts, c)?;
                Source::Held { ns, proc: Some(p) }
            }
            Attach::Image(spec) => {
                let rts = runtimes.get_or_insert_with(container::available);
                Source::Image(pick_runtime(&t.name, node, rts, spec)?)
            }
        };
        if let Source::Held { ns, .. } = &src {
            let ino = check_foreign(&t.name, node, ns)?;
            if let Some(other) = seen.insert(ino, name.as_str()) {
                let msg = format!("{} is also attached as node `{other}`", ns.name);
                return Err(refuse(node, msg));
            }
        }
        r.nodes.insert(name.clone(), src);
    }
    check_host_names(t, new_host_links)?;
    check_emulated(t)?;
    Ok(r)
}

/// Refuses links to attached nodes that the userspace emulator would
/// carry: their TAPs would outlive `down` inside a namespace nlab does
/// not own.
fn check_emulated(t: &Topology) -> Result<()> {
    for l in &t.links {
        let attached = l.endpoints.iter().find_map(|e| {
            let n = t.nodes.get(&e.node)?;
            n.attach.is_some().then_some(n)
        });
        if let (Some(node), true) = (attached, super::emulated::needs_emulator(l)) {
            let msg = format!(
                "link {} needs the userspace link emulator (its conditions), which cannot \
                 run into an attached namespace; put a switch or router of the lab between \
                 them and give that link the conditions",
                l.key()
            );
            return Err(refuse(node, msg));
        }
    }
    Ok(())
}

fn open_container(node: &Node, rts: &[Runtime], name: &str) -> Result<(NetNs, ProcId)> {
    if rts.is_empty() {
        return Err(refuse(
            node,
            format!("container `{name}`: {}", container::why_none()),
        ));
    }
    for rt in rts {
        let Some(st) = container::inspect(*rt, name) else {
            continue;
        };
        if !st.running || st.pid <= 0 {
            let msg = format!(
                "{} container `{name}` is not running (start it with `{} start {name}`)",
                rt.program(),
                rt.program()
            );
            return Err(refuse(node, msg));
        }
        return attach::open_pid(st.pid).map_err(|e| refuse(node, e.to_string()));
    }
    let tried: Vec<&str> = rts.iter().map(|r| r.program()).collect();
    Err(refuse(
        node,
        format!("no container named `{name}` in {}", tried.join(" or ")),
    ))
}

fn pick_runtime(lab: &str, node: &Node, rts: &[Runtime], spec: &ImageSpec) -> Result<Runtime> {
    if rts.is_empty() {
        let msg = format!(
            "asks for image {}: {}; or run the node as a plain namespace with `--images namespace`",
            spec.image,
            container::why_none()
        );
        return Err(refuse(node, msg));
    }
    let Some(rt) = rts
        .iter()
        .copied()
        .find(|rt| container::image_exists(*rt, &spec.image))
    else {
        let stores = rts
            .iter()
            .map(|r| format!("{}'s", r.program()))
            .collect::<Vec<_>>()
            .join(" or ");
        let msg = format!(
            "asks for image {}: it is not in {stores} local store, and this machine cannot pull \
             it (nlab never pulls: pull, load or `podman import` it first, or run the node as a \
             plain namespace with `--images namespace`)",
            spec.image
        );
        return Err(refuse(node, msg));
    };
    let cname = container_name(lab, &node.name);
    if container::inspect(rt, &cname).is_some() {
        let msg = format!(
            "a container named `{cname}` exists already (`{} rm -f {cname}`, or `nlab cleanup` \
             if a lab of this name left it)",
            rt.program()
        );
        return Err(refuse(node, msg));
    }
    Ok(rt)
}

/// Refuses the root namespace (nlab's own, or init's) and a namespace that
/// already is a node of a lab; returns its inode.
fn check_foreign(lab: &str, node: &Node, ns: &NetNs) -> Result<u64> {
    let (ino, _) = attach::identity(ns).map_err(|e| refuse(node, e.to_string()))?;
    if attach::root_inodes().contains(&ino) {
        let msg = format!(
            "{} is the root network namespace; link nodes to it with `host:IFNAME` endpoints",
            ns.name
        );
        return Err(refuse(node, msg));
    }
    // Its own pin, when `up` attaches it again (the node changed), goes
    // in this very apply.
    let own = netns::ns_name(lab, &node.name);
    for pin in netns::list_pinned(netns::PREFIX)
        .into_iter()
        .filter(|p| *p != own)
    {
        if netns::pinned_inode(&pin) == Some(ino) {
            return Err(refuse(
                node,
                format!("{} is already pinned as {pin}", ns.name),
            ));
        }
    }
    Ok(ino)
}

fn check_host_names(t: &Topology, new: &[String]) -> Result<()> {
    if new.is_empty() {
        return Ok(());
    }
    let mut sock = Socket::new()?;
    let have = link::dump(&mut sock, "reading the links of the root namespace")?;
    for h in t.host_links.iter().filter(|h| new.contains(&h.key())) {
        if have.iter().any(|l| l.name == h.host_iface) {
            let at = if h.loc.is_known() {
                format!("line {}: ", h.loc.line)
            } else {
                String::new()
            };
            return Err(Error::Attach(format!(
                "{at}`host:{}` exists already in the root namespace; pick another name \
                 (nlab never takes over an interface it did not make); nothing was changed",
                h.host_iface
            )));
        }
    }
    Ok(())
}

/// The request tagging end `iface` (index `idx`) of `node` as the lab's,
/// when `node` is attached (in its own namespaces nlab needs no tag).
pub fn tag(
    t: &Topology,
    node: &str,
    iface: &str,
    idx: u32,
) -> Option<crate::kernel::netlink::Request> {
    is_attached(t, node).then(|| {
        let what = format!("tagging {iface} in {}", netns::ns_name(&t.name, node));
        let tag = crate::topo::external::owner_tag(&t.name);
        crate::kernel::tagged::set_alias(idx, &tag, what)
    })
}

/// Whether `node` is attached rather than made by nlab.
pub fn is_attached(t: &Topology, node: &str) -> bool {
    t.nodes.get(node).is_some_and(|n| n.attach.is_some())
}

/// Pins the plan's attached nodes (starting image nodes first), each
/// recorded before it is pinned. Returns what apply knows of each.
pub fn attach_nodes(
    t: &Topology,
    resolved: &mut Resolved,
    create: &[String],
) -> Result<Vec<(String, NodeIndex)>> {
    let mut out = Vec::new();
    for name in create.iter().filter(|n| is_attached(t, n)) {
        let Some(src) = resolved.nodes.remove(name) else {
            return Err(Error::Internal(format!("node {name} was not resolved")));
        };
        out.push((name.clone(), attach_one(t, name, src)?));
    }
    Ok(out)
}

fn attach_one(t: &Topology, name: &str, src: Source) -> Result<NodeIndex> {
    let lab = &t.name;
    let pin = netns::ns_name(lab, name);
    let (ns, proc, image) = match src {
        Source::Held { ns, proc } => (ns, proc, false),
        Source::Image(rt) => {
            let (ns, p) = start_image(t, name, rt)?;
            (ns, Some(p), true)
        }
    };
    let (links, (inode, cookie)) = ns.run(|| -> Result<_, crate::kernel::Error> {
        let mut sock = Socket::new()?;
        let links = link::dump(&mut sock, &format!("reading links of {}", ns.name))?;
        Ok((links, attach::identity(&ns)?))
    })??;
    let next_index = links.iter().map(|l| l.index).max().unwrap_or(1) + 1;
    let rec = Pinned {
        pin: pin.clone(),
        image,
        inode,
        cookie,
        first_index: next_index,
    };
    if let Some(p) = proc.filter(|p| !p.alive()) {
        return Err(Error::Attach(format!(
            "node `{name}`: process {} exited during up; nothing of the lab is kept",
            p.pid
        )));
    }
    attached::append(lab, &[attached::ns_line(&rec)])?;
    if !image {
        attached::mark(&pin, inode, cookie)?;
    }
    if let Err(e) = attach::pin(&ns, &pin) {
        attached::unmark(&pin)?;
        return Err(e.into());
    }
    Ok(NodeIndex {
        index_of: links.into_iter().map(|l| (l.name, l.index)).collect(),
        next_index,
        made: None,
    })
}

fn start_image(t: &Topology, name: &str, rt: Runtime) -> Result<(NetNs, ProcId)> {
    let lab = &t.name;
    let Some(Attach::Image(spec)) = t.nodes.get(name).and_then(|n| n.attach.as_ref()) else {
        return Err(Error::Internal(format!("node {name} has no image")));
    };
    let cname = container_name(lab, name);
    attached::append(lab, &[format!("container {} {cname}", rt.program())])?;
    let host = attach::root_inodes()
        .first()
        .copied()
        .unwrap_or(0)
        .to_string();
    let run = container::RunSpec {
        name: &cname,
        image: &spec.image,
        labels: vec![
            (container::LAB_LABEL.into(), lab.clone()),
            (container::HOST_LABEL.into(), host),
            ("nlab.node".into(), name.to_string()),
        ],
        cmd: &spec.cmd,
        entrypoint: spec.entrypoint.as_deref(),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        volumes: spec.binds.iter().map(|b| b.to_string()).collect(),
    };
    container::run(rt, &run)?;
    let st = container::inspect(rt, &cname).filter(|s| s.running && s.pid > 0);
    let Some(st) = st else {
        let at = t.nodes.get(name).map(|n| n.loc).filter(|l| l.is_known());
        let at = at.map(|l| format!("line {}: ", l.line)).unwrap_or_default();
        return Err(Error::Attach(format!(
            "{at}node `{name}`: container {cname} exited right after it started: an image \
             node's command must keep running (e.g. `cmd: [sleep, infinity]`); try it with \
             `{} run --rm {} ...`",
            rt.program(),
            spec.image
        )));
    };
    let (ns, p) = attach::open_pid(st.pid)?;
    // `--network none` gives the container a namespace of its own: never
    // wire the host's (a runtime that ignored it, or answered early).
    let (ino, _) = attach::identity(&ns)?;
    if attach::root_inodes().contains(&ino) {
        return Err(Error::Attach(format!(
            "node `{name}`: container {cname} (pid {}) is in the host's network namespace, \
             not one of its own; check that `{} run --network none` works here",
            st.pid,
            rt.program()
        )));
    }
    Ok((ns, p))
}

/// Records the interface names the plan is about to make inside attached
/// namespaces, before they exist (see `attached`).
pub fn record_planned(t: &Topology, plan: &super::plan::Plan) -> Result<()> {
    let mut lines = Vec::new();
    for l in t
        .links
        .iter()
        .filter(|l| plan.create_links.contains(&l.key()))
    {
        for e in &l.endpoints {
            if is_attached(t, &e.node) {
                lines.push(format!(
                    "iface {} {}",
                    netns::ns_name(&t.name, &e.node),
                    e.iface
                ));
            }
        }
    }
    for h in t
        .host_links
        .iter()
        .filter(|h| plan.create_host_links.contains(&h.key()))
    {
        if is_attached(t, &h.node) {
            let pin = netns::ns_name(&t.name, &h.node);
            lines.push(format!("iface {pin} {}", h.iface));
            lines.push(format!("iface {pin} nlhost*"));
        }
    }
    attached::append(&t.name, &lines)
}
