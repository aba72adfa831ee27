//! Applying a plan to the kernel, fast.
//!
//! Order: remove what goes, create namespaces (on both cores), create every
//! veth in place from one pipelined socket, then addresses and routes over
//! one socket per namespace. Interface indexes are chosen by us for fresh
//! namespaces, so no read-back is needed between phases.
//!
//! Descriptors are held per batch, never per lab: a namespace fd or a
//! socket is opened for the batch of work that needs it and closed after,
//! so a 10,000-node lab fits in the default descriptor limit.

use super::handles::{NodeConn, NodeIndex};
use super::plan::{effective_stp, Plan};
use super::{held, hosts, teardown, Error, Progress, Result};
use crate::kernel::link::{self, BridgeOpts, VethEnd};
use crate::kernel::netlink::{Request, Socket};
use crate::kernel::netns::{self, NetNs};
use crate::kernel::{addr, route, Error as KError};
use crate::topo::{Link, NodeKind, Topology};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::RawFd;
use std::time::Instant;

/// First free interface index in a fresh namespace: a switch's bridge gets
/// it, ports and host interfaces follow. A fresh namespace holds only `lo`
/// (index 1) unless the kernel adds fallback tunnel devices (sit0, …) to
/// every namespace, so the first namespace of a run is asked once.
static FRESH_BASE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

fn fresh_base(sock: &mut Socket, ns_name: &str) -> Result<u32, KError> {
    if let Some(b) = FRESH_BASE.get() {
        return Ok(*b);
    }
    let links = link::dump(sock, &format!("reading links of {ns_name}"))?;
    let base = links.iter().map(|l| l.index).max().unwrap_or(1) + 1;
    Ok(*FRESH_BASE.get_or_init(|| base))
}

/// How long each phase took, for the summary and the benchmarks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    /// Phase name → seconds, in the order the phases ran.
    pub phases: Vec<(String, f64)>,
}

impl Timings {
    fn mark(&mut self, name: &str, since: &mut Instant) {
        let now = Instant::now();
        self.phases
            .push((name.to_string(), (now - *since).as_secs_f64()));
        *since = now;
    }
}

/// Links created per batch: each holds the namespace fds of its two ends
/// until the batch is sent. Sized to half the soft descriptor limit, so a
/// lowered limit (`ulimit -n 512`) still leaves room for everything else.
fn link_batch() -> usize {
    let soft = crate::kernel::limits::open_files_soft().unwrap_or(1024);
    let budget = soft.saturating_sub(96) / 2;
    usize::try_from(budget / 2).unwrap_or(1024).clamp(16, 1024)
}

/// Sysctls each new namespace gets before any interface exists (so that
/// `default` applies to them). `v6`: the topology gives the node IPv6;
/// `slaac`: it takes addresses from router advertisements (`ip6: auto`).
fn node_sysctls(kind: NodeKind, v6: bool, slaac: bool) -> &'static [(&'static str, &'static str)] {
    match kind {
        // A host without IPv6 in the topology gets no link-local address
        // either (`link::no_link_local` on each interface, see
        // `port_and_up`): joining its solicited-node group sends MLD
        // reports, which a bridge without a querier floods to every port,
        // so on a shared segment every host hears ~3 frames from every
        // other in the lab's first seconds (N² work that competed with
        // `down`). Without an address there is no DAD and no router
        // solicitation either, so it needs no sysctl at all.
        NodeKind::Host if !v6 => &[],
        // A bridge and its ports need no IPv6 of their own: no link-local
        // addresses, no MLD or router solicitations on every port.
        NodeKind::Switch => &[
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
        ],
        // SLAAC: solicit routers and take their prefixes (the kernel's
        // defaults, set so a changed host default cannot break it). The
        // addresses derive from MACs, which the topology keeps unique:
        // skip DAD, so they are usable the moment the advert arrives.
        NodeKind::Host if slaac => &[
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_ra", "1"),
            ("net.ipv6.conf.default.autoconf", "1"),
        ],
        // Addresses come from the topology, which guarantees they are
        // unique: skip duplicate address detection and solicitations.
        // Nor adverts: only `ip6: auto` hosts take them.
        NodeKind::Host | NodeKind::Internet => &[
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.default.router_solicitations", "0"),
            ("net.ipv6.conf.default.accept_ra", "0"),
        ],
        NodeKind::Router | NodeKind::Nat => &[
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.default.router_solicitations", "0"),
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
        ],
    }
}

const BRIDGE_NF_SYSCTLS: [&str; 3] = [
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
];

/// The requests that set up a fresh namespace `ns_name` whose first free
/// interface index is `base`: `lo` up and, for a switch, its bridge. Also
/// the indexes they take and the next free one.
fn fresh_node_requests(
    name: &str,
    ns_name: &str,
    kind: NodeKind,
    stp: bool,
    base: u32,
) -> (Vec<Request>, BTreeMap<String, u32>, u32) {
    let mut reqs = vec![link::set_up(1, true, format!("setting lo up in {ns_name}"))];
    let mut index_of = BTreeMap::new();
    let mut next = base;
    if kind == NodeKind::Switch {
        reqs.push(link::new_bridge(
            name,
            None,
            next,
            BridgeOpts { stp },
            format!("creating bridge {name} in {ns_name}"),
        ));
        index_of.insert(name.to_string(), next);
        next += 1;
    }
    (reqs, index_of, next)
}

/// Creates one node's namespace and what lives in it from the start.
fn create_node(
    lab: &str,
    name: &str,
    kind: NodeKind,
    stp: bool,
    (v6, slaac): (bool, bool),
) -> Result<NodeIndex, KError> {
    let ns_name = netns::ns_name(lab, name);
    // The namespace fd and the socket close on return: the pin keeps the
    // namespace, and later phases open what they need per batch.
    let (ns, (index_of, next, cookie)) = netns::create_pinned(&ns_name, |_| {
        for (k, v) in node_sysctls(kind, v6, slaac) {
            netns::write_sysctl(k, v, &ns_name)?;
        }
        if kind == NodeKind::Switch {
            // A switch forwards frames; with br_netfilter built in, every
            // bridged packet would also walk the namespace's (empty) IP
            // firewall hooks. Kernels without br_netfilter lack the keys.
            for k in BRIDGE_NF_SYSCTLS {
                match netns::write_sysctl(k, "0", &ns_name) {
                    Err(KError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    other => other?,
                }
            }
        }
        let mut sock = Socket::new()?;
        let base = fresh_base(&mut sock, &ns_name)?;
        let (reqs, index_of, next) = fresh_node_requests(name, &ns_name, kind, stp, base);
        if let Some(e) = sock.execute(reqs).into_iter().next() {
            return Err(e);
        }
        Ok((index_of, next, netns::current_cookie().unwrap_or(0)))
    })?;
    Ok(NodeIndex {
        index_of,
        next_index: next,
        made: Some(held::NsRecord {
            inode: ns.inode()?,
            cookie,
        }),
    })
}

/// What one creation worker made, and what it failed to make.
type Created = (Vec<(String, NodeIndex)>, Vec<KError>);

/// Creates namespaces on `workers` threads.
fn create_nodes(
    lab: &str,
    topo: &Topology,
    names: &[String],
    stp: &BTreeMap<String, bool>,
    v6: &BTreeSet<&str>,
    progress: &Progress<'_>,
) -> (BTreeMap<String, NodeIndex>, Vec<KError>) {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = names.len().div_ceil(workers).max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = names.len();
    let results: Vec<Created> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| {
                let done = &done;
                s.spawn(move || {
                    let mut ok = Vec::new();
                    let mut errs = Vec::new();
                    for name in part {
                        let Some(node) = topo.nodes.get(name) else {
                            continue;
                        };
                        let stp = stp.get(name).copied().unwrap_or(false);
                        let v6 = v6.contains(name.as_str());
                        match create_node(lab, name, node.kind, stp, (v6, node.ip6_auto)) {
                            Ok(h) => ok.push((name.clone(), h)),
                            Err(e) => errs.push(e),
                        }
                        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if d % 64 == 0 || d == total {
                            progress("namespaces", d, total);
                        }
                    }
                    (ok, errs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| (Vec::new(), Vec::new())))
            .collect()
    });
    let mut map = BTreeMap::new();
    let mut errs = Vec::new();
    for (ok, e) in results {
        map.extend(ok);
        errs.extend(e);
    }
    (map, errs)
}

/// The effective MTU of an endpoint.
fn mtu_of(l: &Link, i: usize) -> Option<u32> {
    l.endpoints[i].mtu.or(l.mtu)
}

/// Requests that must run inside one node after the links exist.
#[derive(Default)]
pub(crate) struct NodeWork {
    pub(crate) reqs: Vec<Request>,
}

/// Applies `plan` (computed from `desired` and the recorded topology).
/// Returns per-phase timings. On error the journal stays in `Applying`.
pub fn apply(
    desired: &Topology,
    recorded: Option<&Topology>,
    plan: &Plan,
    progress: &Progress<'_>,
    resolved: &mut super::external::Resolved,
) -> Result<Timings> {
    let lab = desired.name.as_str();
    let mut t = Timings::default();
    let mut since = Instant::now();
    // An ephemeral lab keeps nothing on disk: no pins, no files.
    let ephemeral = crate::kernel::fd_held::is_held_lab(lab);
    if !ephemeral {
        netns::prepare_run_dir()?;
    }

    // 1. Remove what goes.
    let mut handles: BTreeMap<String, NodeIndex> = BTreeMap::new();
    remove(lab, recorded, plan, &mut handles)?;
    t.mark("remove", &mut since);

    // Name resolution files touch the root filesystem (~1 ms per entry on
    // a journaled one): write them beside the kernel work, not after it.
    let hosts_job = (plan.rewrite_hosts && !ephemeral).then(|| {
        let t = desired.clone();
        let nodes = plan.create_nodes.clone();
        std::thread::spawn(move || hosts::write(&t, &nodes))
    });

    // 2. Namespaces, each with its sysctls, lo and (switches) bridge.
    let stp = effective_stp(desired);
    let v6 = desired.ipv6_nodes();
    let own: Vec<String> = plan
        .create_nodes
        .iter()
        .filter(|n| !super::external::is_attached(desired, n))
        .cloned()
        .collect();
    let (created, errs) = create_nodes(lab, desired, &own, &stp, &v6, progress);
    record_created(lab, created, errs, &mut handles)?;
    // Attached namespaces and image nodes: pinned, not made.
    handles.extend(super::external::attach_nodes(
        desired,
        resolved,
        &plan.create_nodes,
    )?);
    t.mark("namespaces", &mut since);

    // 3. Veth pairs, both ends in place, from pipelined sockets.
    let links: BTreeMap<String, &Link> = desired.links.iter().map(|l| (l.key(), l)).collect();
    let mut work: BTreeMap<String, NodeWork> = BTreeMap::new();
    create_links(
        desired,
        plan,
        &links,
        &v6,
        &mut handles,
        &mut work,
        progress,
    )?;
    // Interfaces on host NICs, before the routes that may use them.
    super::macvlan::create(desired, &plan.create_nodes, &mut work)?;
    t.mark("links", &mut since);

    // 4. Routes, after the addresses that make their gateways reachable.
    queue_routes(desired, plan, &mut handles, &mut work)?;

    // 5. Per-namespace work, spread over both cores.
    let errs = run_node_jobs(node_jobs(lab, work), progress);
    if !errs.is_empty() {
        return Err(Error::Apply(errs));
    }
    // VMs: each linked interface bridged to the TAP of a guest NIC.
    super::vm::wire(desired, &plan.create_nodes)?;
    super::host_links::create_all(desired, &plan.create_host_links, &mut handles)?;
    t.mark("addresses", &mut since);

    // 6. Links whose conditions alone changed (new links got theirs with
    //    the node work above).
    replace_conditions(lab, plan, &links)?;
    t.mark("conditions", &mut since);

    // 7. Name resolution inside the lab.
    if let Some(job) = hosts_job {
        job.join()
            .map_err(|_| Error::Internal("the hosts-file writer panicked".into()))??;
    }
    t.mark("hosts", &mut since);
    Ok(t)
}

/// Phase 1: explicit link deletes, then node deletes. Links go first:
/// their surviving ends would otherwise linger until the kernel frees the
/// old namespace, and clash with the names we create next.
fn remove(
    lab: &str,
    recorded: Option<&Topology>,
    plan: &Plan,
    handles: &mut BTreeMap<String, NodeIndex>,
) -> Result<()> {
    delete_links(lab, recorded, plan, handles)?;
    if !plan.delete_host_links.is_empty() {
        super::detach::remove_host_ends(lab, Some(&plan.delete_host_links))?;
    }
    if !plan.delete_nodes.is_empty() {
        let names: Vec<String> = plan
            .delete_nodes
            .iter()
            .map(|n| netns::ns_name(lab, n))
            .collect();
        for n in &plan.delete_nodes {
            handles.remove(n);
        }
        teardown::remove_namespaces(&names)?;
    }
    Ok(())
}

/// Records the namespaces phase 2 made before anything can enter them, so
/// `down` and `cleanup` find processes in them even once they are
/// unpinned; then fails if any could not be made.
fn record_created(
    lab: &str,
    created: BTreeMap<String, NodeIndex>,
    errs: Vec<KError>,
    handles: &mut BTreeMap<String, NodeIndex>,
) -> Result<()> {
    let made: Vec<(String, held::NsRecord)> = created
        .iter()
        .filter_map(|(n, h)| Some((netns::ns_name(lab, n), h.made?)))
        .collect();
    handles.extend(created);
    if !crate::kernel::fd_held::is_held_lab(lab) {
        held::record(lab, &made)?;
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Apply(errs))
    }
}

/// What this apply knows of `node`'s interfaces, read from the kernel the
/// first time (the descriptors used to read it close right after).
fn index_of<'a>(
    lab: &str,
    node: &str,
    handles: &'a mut BTreeMap<String, NodeIndex>,
) -> Result<&'a mut NodeIndex> {
    if !handles.contains_key(node) {
        let mut conn = NodeConn::open(&netns::ns_name(lab, node))?;
        handles.insert(node.to_string(), NodeIndex::read(&mut conn)?);
    }
    handles
        .get_mut(node)
        .ok_or_else(|| Error::Internal(format!("no handle for {node}")))
}

/// Explicit link deletes go before node deletes: their surviving ends
/// would otherwise linger until the kernel frees the old namespace, and
/// clash with the names created next.
fn delete_links(
    lab: &str,
    recorded: Option<&Topology>,
    plan: &Plan,
    handles: &mut BTreeMap<String, NodeIndex>,
) -> Result<()> {
    let old = recorded.map(|r| &r.links[..]).unwrap_or(&[]);
    // Only what nlab made: the journal's word is not enough.
    let mut seen = super::owned::Seen::default();
    for key in &plan.delete_links {
        if let Some(l) = old.iter().find(|l| &l.key() == key) {
            super::owned::delete_link(lab, l, &plan.delete_nodes, handles, &mut seen)?;
        }
    }
    Ok(())
}

/// Creates the plan's new links: veths in batches (each batch opens the
/// namespace fds of its ends, sends, and closes them), then TAP pairs.
/// Queues what each end needs afterwards in `work`.
fn create_links(
    desired: &Topology,
    plan: &Plan,
    links: &BTreeMap<String, &Link>,
    v6: &BTreeSet<&str>,
    handles: &mut BTreeMap<String, NodeIndex>,
    work: &mut BTreeMap<String, NodeWork>,
    progress: &Progress<'_>,
) -> Result<()> {
    let lab = desired.name.as_str();
    for key in &plan.create_links {
        let Some(l) = links.get(key) else { continue };
        for e in &l.endpoints {
            index_of(lab, &e.node, handles)?;
        }
    }
    super::external::record_planned(desired, plan)?;
    let (veths, tap_links) = partition_links(plan, links);
    let total = veths.len();
    progress("links", 0, total);
    let mut root = Socket::new_in_scratch_ns()?;
    let mut done = 0;
    for batch in veths.chunks(link_batch()) {
        let mut fds: BTreeMap<&str, NetNs> = BTreeMap::new();
        for l in batch {
            for e in &l.endpoints {
                if !fds.contains_key(e.node.as_str()) {
                    fds.insert(&e.node, NetNs::open(&netns::ns_name(lab, &e.node))?);
                }
            }
        }
        let raw: BTreeMap<&str, RawFd> = fds.iter().map(|(n, ns)| (*n, ns.raw_fd())).collect();
        let mut reqs = Vec::with_capacity(batch.len());
        for l in batch {
            let kernel = super::link_conditions::kernel_carries(&l.conditions)?;
            reqs.push(veth_request(desired, v6, l, kernel, &raw, handles, work)?);
        }
        let errs = create_links_parallel(&mut root, reqs);
        drop(fds);
        if !errs.is_empty() {
            return Err(Error::Apply(errs));
        }
        done += batch.len();
        progress("links", done, total);
    }
    for l in tap_links {
        create_tap_link(lab, desired, v6, l, handles, work)?;
    }
    Ok(())
}

/// The plan's new links by how they are made: veth pairs, and TAP pairs
/// for the links the userspace emulator carries.
fn partition_links<'a>(
    plan: &Plan,
    links: &BTreeMap<String, &'a Link>,
) -> (Vec<&'a Link>, Vec<&'a Link>) {
    plan.create_links
        .iter()
        .filter_map(|key| links.get(key).copied())
        .partition(|l| !super::emulated::needs_emulator(l))
}

/// The request creating veth `l` with both ends in place (their namespace
/// fds from `fds`), and the node work each end needs after it exists:
/// bridge port, up, egress qdisc (`kernel`: the kernel carries the link's
/// conditions), addresses.
fn veth_request(
    desired: &Topology,
    v6: &BTreeSet<&str>,
    l: &Link,
    kernel: bool,
    fds: &BTreeMap<&str, RawFd>,
    handles: &mut BTreeMap<String, NodeIndex>,
    work: &mut BTreeMap<String, NodeWork>,
) -> Result<Request> {
    let lab = desired.name.as_str();
    let kind = |n: &str| desired.nodes.get(n).map(|n| n.kind);
    // The switch end goes first: only the first end can be enslaved at
    // creation time.
    let (m, p) = if kind(&l.endpoints[1].node) == Some(NodeKind::Switch)
        && kind(&l.endpoints[0].node) != Some(NodeKind::Switch)
    {
        (1, 0)
    } else {
        (0, 1)
    };
    let (me, pe) = (&l.endpoints[m], &l.endpoints[p]);
    // Each end: its index, its namespace, and its bridge if it is a
    // switch port.
    let mut end = |node: &str, iface: &str| -> Result<(u32, i32, Option<u32>)> {
        let h = handles
            .get_mut(node)
            .ok_or_else(|| Error::Internal(format!("no handle for {node}")))?;
        let fd = *fds
            .get(node)
            .ok_or_else(|| Error::Internal(format!("no namespace fd for {node}")))?;
        let master = if kind(node) == Some(NodeKind::Switch) {
            h.index_of.get(node).copied()
        } else {
            None
        };
        Ok((h.alloc_index(iface), fd, master))
    };
    let (m_idx, m_fd, m_master) = end(&me.node, &me.iface)?;
    let (p_idx, p_fd, p_master) = end(&pe.node, &pe.iface)?;
    // An end without a link-local address must get its mode before it
    // comes up, so it cannot come up in the creating request.
    let m_no_ll = without_link_local(desired, v6, &me.node);
    let a = VethEnd {
        name: &me.iface,
        ns_fd: m_fd,
        index: m_idx,
        mac: super::vm::ns_mac(desired, me),
        mtu: mtu_of(l, m),
        up: l.up && !m_no_ll,
        master: m_master,
    };
    let b = VethEnd {
        name: &pe.iface,
        ns_fd: p_fd,
        index: p_idx,
        mac: super::vm::ns_mac(desired, pe),
        mtu: mtu_of(l, p),
        up: l.up,
        master: None,
    };
    let what = format!(
        "creating veth {}:{} <-> {}:{}",
        me.node, me.iface, pe.node, pe.iface
    );
    let req = link::new_veth(&a, &b, what);
    if m_no_ll {
        let m_ns = netns::ns_name(lab, &me.node);
        let m_work = &mut work.entry(me.node.clone()).or_default().reqs;
        port_and_up(m_work, m_idx, None, l.up, true, me, &m_ns);
    }
    for (e, idx) in [(me, m_idx), (pe, p_idx)] {
        if let Some(r) = super::external::tag(desired, &e.node, &e.iface, idx) {
            work.entry(e.node.clone()).or_default().reqs.push(r);
        }
    }
    let p_ns = netns::ns_name(lab, &pe.node);
    let p_work = &mut work.entry(pe.node.clone()).or_default().reqs;
    let p_no_ll = without_link_local(desired, v6, &pe.node);
    port_and_up(p_work, p_idx, p_master, l.up, p_no_ll, pe, &p_ns);
    for (e, idx, end) in [(me, m_idx, m), (pe, p_idx, p)] {
        let sends = if end == 0 {
            &l.conditions.a_to_b
        } else {
            &l.conditions.b_to_a
        };
        let guest = super::vm::is_vm(desired, &e.node);
        let reqs = &mut work.entry(e.node.clone()).or_default().reqs;
        queue_qdisc_and_addrs(lab, e, idx, kernel.then_some(sends), guest, reqs);
    }
    Ok(req)
}

/// Queues, after the veth exists, the egress qdisc of end `e` (which
/// carries what it `sends`, when the kernel carries the link) and its
/// addresses (none for a `guest`'s end: they are the VM's).
fn queue_qdisc_and_addrs(
    lab: &str,
    e: &crate::topo::Endpoint,
    idx: u32,
    sends: Option<&crate::topo::conditions::Impairment>,
    guest: bool,
    reqs: &mut Vec<Request>,
) {
    let ns_name = netns::ns_name(lab, &e.node);
    if let Some(q) = sends.and_then(crate::kernel::tc::for_impairment) {
        let what = format!("setting {} on {} in {ns_name}", q.kind, e.iface);
        reqs.push(crate::kernel::tc::set_root(idx, &q, false, what));
    }
    for a in e.addrs.iter().filter(|_| !guest) {
        reqs.push(addr::add(
            idx,
            a,
            format!("adding {a} to {} in {ns_name}", e.iface),
        ));
    }
}

/// Each node's queued work as a job for its namespace.
fn node_jobs(lab: &str, work: BTreeMap<String, NodeWork>) -> Vec<(String, Vec<Request>)> {
    work.into_iter()
        .map(|(name, w)| (netns::ns_name(lab, &name), w.reqs))
        .collect()
}

/// Phase 6: the qdiscs of links whose conditions alone changed, replaced
/// in place. The supervisor's emulator carries emulated ones.
fn replace_conditions(lab: &str, plan: &Plan, links: &BTreeMap<String, &Link>) -> Result<()> {
    for key in &plan.condition_links {
        let Some(l) = links.get(key) else { continue };
        if super::emulated::needs_emulator(l) {
            continue;
        }
        super::link_conditions::apply_link(lab, l, &l.conditions, false)?;
    }
    Ok(())
}

/// Queues the default gateways and static routes of the plan's route nodes.
fn queue_routes(
    desired: &Topology,
    plan: &Plan,
    handles: &mut BTreeMap<String, NodeIndex>,
    work: &mut BTreeMap<String, NodeWork>,
) -> Result<()> {
    let lab = desired.name.as_str();
    for name in &plan.route_nodes {
        if !desired.nodes.contains_key(name) {
            continue;
        }
        let h = index_of(lab, name, handles)?;
        let ns_name = netns::ns_name(lab, name);
        let w = work.entry(name.clone()).or_default();
        // Not through a link that is down: the kernel refuses those (and
        // deletes them when a link goes down); bringing the link up adds
        // them (`links::restore_routes`).
        for r in desired.live_routes_of(name, |l| l.up) {
            let oif = r.dev.as_ref().and_then(|d| h.index_of.get(d).copied());
            w.reqs.push(route::replace(
                &r.dst,
                r.via,
                oif,
                format!("adding {} in {ns_name}", r.describe()),
            ));
        }
    }
    Ok(())
}

/// True for a host the topology gives no IPv6: its interfaces get no
/// link-local address (see `node_sysctls`).
fn without_link_local(t: &Topology, v6: &BTreeSet<&str>, node: &str) -> bool {
    t.nodes.get(node).map(|n| n.kind) == Some(NodeKind::Host) && !v6.contains(node)
}

/// Queues what an end needs once it exists: joining its bridge (switch
/// ports), no link-local address (`no_ll`), and coming up.
fn port_and_up(
    reqs: &mut Vec<Request>,
    idx: u32,
    master: Option<u32>,
    up: bool,
    no_ll: bool,
    e: &crate::topo::Endpoint,
    ns_name: &str,
) {
    if no_ll {
        reqs.push(link::no_link_local(
            idx,
            format!(
                "turning off the IPv6 link-local address of {} in {ns_name}",
                e.iface
            ),
        ));
    }
    if let Some(m) = master {
        reqs.push(link::set_master(
            idx,
            m,
            format!("adding {} to bridge {} in {ns_name}", e.iface, e.node),
        ));
    }
    if up {
        reqs.push(link::set_up(
            idx,
            true,
            format!("setting {} up in {ns_name}", e.iface),
        ));
    }
}

/// Makes a link of two persistent TAPs (the userspace emulator joins them
/// later) and queues what a veth end gets at creation: MAC, MTU, bridge
/// port, up, addresses. TAPs come after every veth of the batch: their
/// indexes are the kernel's choice, which must not take one of ours.
fn create_tap_link(
    lab: &str,
    desired: &Topology,
    v6: &BTreeSet<&str>,
    l: &Link,
    handles: &mut BTreeMap<String, NodeIndex>,
    work: &mut BTreeMap<String, NodeWork>,
) -> Result<()> {
    for (i, e) in l.endpoints.iter().enumerate() {
        let ns_name = netns::ns_name(lab, &e.node);
        crate::kernel::tap::create(&ns_name, &e.iface)?;
        let h = handles
            .get_mut(&e.node)
            .ok_or_else(|| Error::Internal(format!("no handle for {}", e.node)))?;
        // The kernel chose the index (TUNSETIFF takes none): ask it.
        let mut conn = NodeConn::open(&ns_name)?;
        let idx = link::index_of(&mut conn.sock, &e.iface, &ns_name)?;
        h.index_of.insert(e.iface.clone(), idx);
        let is_switch = desired.nodes.get(&e.node).map(|n| n.kind) == Some(NodeKind::Switch);
        let master = if is_switch {
            h.index_of.get(&e.node).copied()
        } else {
            None
        };
        let reqs = &mut work.entry(e.node.clone()).or_default().reqs;
        if let Some(mac) = super::vm::ns_mac(desired, e) {
            reqs.push(link::set_mac(
                idx,
                mac,
                format!("setting the MAC of {} in {ns_name}", e.iface),
            ));
        }
        if let Some(mtu) = mtu_of(l, i) {
            reqs.push(link::set_mtu(
                idx,
                mtu,
                format!("setting the MTU of {} in {ns_name}", e.iface),
            ));
        }
        let no_ll = without_link_local(desired, v6, &e.node);
        port_and_up(reqs, idx, master, l.up, no_ll, e, &ns_name);
        let guest = super::vm::is_vm(desired, &e.node);
        queue_qdisc_and_addrs(lab, e, idx, None, guest, reqs);
    }
    Ok(())
}

/// Sends veth requests over two sockets at once. Most of a veth's creation
/// runs under the one rtnl lock, but the parts outside it (allocating the
/// devices, the netlink round trips) overlap on a second core.
fn create_links_parallel(root: &mut Socket, mut reqs: Vec<Request>) -> Vec<KError> {
    if reqs.len() < 64 {
        return root.execute(reqs);
    }
    let second = reqs.split_off(reqs.len() / 2);
    std::thread::scope(|s| {
        let h = s.spawn(move || match Socket::new_in_scratch_ns() {
            Ok(mut sock) => sock.execute(second),
            Err(e) => vec![e],
        });
        let mut errs = root.execute(reqs);
        errs.extend(h.join().unwrap_or_default());
        errs
    })
}

/// Runs each node's requests over a socket opened in the node for that
/// job alone (at most one per worker is open at a time).
fn run_node_jobs(jobs: Vec<(String, Vec<Request>)>, progress: &Progress<'_>) -> Vec<KError> {
    let total = jobs.len();
    if total == 0 {
        return Vec::new();
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = total.div_ceil(workers).max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut jobs = jobs;
    let mut parts: Vec<Vec<(String, Vec<Request>)>> = Vec::new();
    while !jobs.is_empty() {
        let rest = jobs.split_off(jobs.len().min(chunk));
        parts.push(std::mem::replace(&mut jobs, rest));
    }
    std::thread::scope(|s| {
        let hs: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let done = &done;
                s.spawn(move || {
                    let mut errs = Vec::new();
                    for (ns_name, reqs) in part {
                        match NetNs::open(&ns_name).and_then(|ns| ns.run(Socket::new)?) {
                            Ok(mut sock) => errs.extend(sock.execute(reqs)),
                            Err(e) => errs.push(e),
                        }
                        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if d % 64 == 0 || d == total {
                            progress("addresses", d, total);
                        }
                    }
                    errs
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests;
