//! From what was read and paired to the [`Wiring`] people see: names for
//! namespaces, peers and parents as names, bridge ports, TAP holders.

use super::names::{self, Container};
use super::pair::Joined;
use super::read::RawNs;
use super::{EndRef, IfaceWiring, NsWiring, ProcRef, Wiring};
use crate::kernel::link_detail::LinkDetail;
use crate::kernel::netns::parse_ns_name;
use crate::kernel::{nsscan, proc};
use std::collections::HashMap;

/// Whether some namespace could be a container's: one that is neither
/// the host's nor a lab node's. Asking the runtimes costs a process each,
/// so a host of nothing but labs is spared it.
pub fn may_hold_containers(nss: &[RawNs]) -> bool {
    nss.iter()
        .any(|n| !n.holders.initial && !n.holders.pins.iter().any(|p| parse_ns_name(p).is_some()))
}

/// Builds the wiring: `joined[n][i]` is what interface `i` of namespace
/// `n` is joined to; `taps` are (pid, device) of open TUN/TAP descriptors.
pub fn assemble(
    nss: &[RawNs],
    joined: &[Vec<Joined>],
    containers: &[Container],
    taps: &[(i32, String)],
) -> Wiring {
    let by_inode: HashMap<u64, &Container> = containers
        .iter()
        .filter_map(|c| Some((nsscan::inode_of_pid(c.pid)?, c)))
        .collect();
    let comm = |pid: i32| proc::comm(pid).unwrap_or_else(|| "?".into());
    let procs = names::ProcNames {
        comm: &comm,
        cmdline: &proc::cmdline,
    };
    let labels: Vec<names::NsName> = nss
        .iter()
        .map(|n| names::name(&n.holders, by_inode.get(&n.holders.inode).copied(), &procs))
        .collect();
    let holders = tap_holders(nss, taps);
    let mut out: Vec<NsWiring> = nss
        .iter()
        .enumerate()
        .map(|(n, ns)| {
            let l = &labels[n];
            let interfaces = ns
                .links
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut f = iface(ns, d, &joined[n][i], nss, &labels);
                    if let Some(pids) = holders.get(&(n, d.link.name.as_str())) {
                        f.holders = pids
                            .iter()
                            .map(|p| ProcRef {
                                pid: *p,
                                command: comm(*p),
                            })
                            .collect();
                    }
                    f
                })
                .collect();
            NsWiring {
                name: l.label.clone(),
                kind: l.kind,
                inode: ns.holders.inode,
                holder: l.holder.clone(),
                netns: ns.holders.pins.clone(),
                lab: l.lab.clone(),
                node: l.node.clone(),
                container: by_inode.get(&ns.holders.inode).map(|c| (*c).clone()),
                pids: ns.holders.pids.clone(),
                interfaces,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| crate::topo::natural_cmp(&a.name, &b.name))
    });
    Wiring {
        namespaces: out,
        unreadable: Vec::new(),
        elapsed_ms: 0.0,
    }
}

fn kind_of(d: &LinkDetail) -> String {
    match d.link.kind.as_deref() {
        Some("tun") => d.tun_type.unwrap_or("tun").to_string(),
        Some(k) => k.to_string(),
        None if d.link.name == "lo" => "loopback".into(),
        None => "device".into(),
    }
}

fn iface(
    ns: &RawNs,
    d: &LinkDetail,
    j: &Joined,
    nss: &[RawNs],
    labels: &[names::NsName],
) -> IfaceWiring {
    let l = &d.link;
    let name_here = |index: u32| ns.links.iter().find(|x| x.link.index == index);
    let end = match j {
        Joined::Found((m, i)) => Some(EndRef {
            namespace: Some(labels[*m].label.clone()),
            inode: Some(nss[*m].holders.inode),
            interface: Some(nss[*m].links[*i].link.name.clone()),
            index: nss[*m].links[*i].link.index,
        }),
        Joined::Unseen | Joined::Tie(_) => l.peer_index.map(|index| EndRef {
            namespace: None,
            inode: None,
            interface: ns.far.get(&l.index).map(|f| f.link.name.clone()),
            index,
        }),
        Joined::Nothing => None,
    };
    let veth = l.kind.as_deref() == Some("veth");
    IfaceWiring {
        name: l.name.clone(),
        index: l.index,
        kind: kind_of(d),
        mac: l.mac.map(|m| m.to_string()),
        mtu: l.mtu,
        up: l.up,
        oper: l.oper.clone(),
        master: l.master.and_then(name_here).map(|m| m.link.name.clone()),
        peer: if veth { end.clone() } else { None },
        parent: if veth { None } else { end },
        mode: d.mode,
        ports: if l.kind.as_deref() == Some("bridge") {
            ns.links
                .iter()
                .filter(|p| p.link.master == Some(l.index))
                .map(|p| p.link.name.clone())
                .collect()
        } else {
            Vec::new()
        },
        holders: Vec::new(),
    }
}

/// Which processes hold each TUN/TAP device, by (namespace, device). A
/// descriptor names its device by name only, and names repeat across
/// namespaces: a holder counts for the device of that name in its own
/// namespace, else for the only device of that name on the host.
fn tap_holders<'a>(
    nss: &'a [RawNs],
    taps: &[(i32, String)],
) -> HashMap<(usize, &'a str), Vec<i32>> {
    let mut pid_ns: HashMap<i32, usize> = HashMap::new();
    let mut devs: HashMap<&str, Vec<usize>> = HashMap::new();
    for (n, ns) in nss.iter().enumerate() {
        for p in &ns.holders.pids {
            pid_ns.insert(*p, n);
        }
        for l in ns
            .links
            .iter()
            .filter(|l| l.link.kind.as_deref() == Some("tun"))
        {
            devs.entry(l.link.name.as_str()).or_default().push(n);
        }
    }
    let mut out: HashMap<(usize, &str), Vec<i32>> = HashMap::new();
    for (pid, dev) in taps {
        let Some((name, at)) = devs.get_key_value(dev.as_str()) else {
            continue;
        };
        let n = match pid_ns.get(pid) {
            Some(n) if at.contains(n) => *n,
            _ if at.len() == 1 => at[0],
            _ => continue,
        };
        let pids = out.entry((n, *name)).or_default();
        if !pids.contains(pid) {
            pids.push(*pid);
        }
    }
    out
}
