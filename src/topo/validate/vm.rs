//! Virtual machines and interfaces on host NICs: what the rest of the
//! topology must agree with. Types and ranges were checked by whoever
//! made the model (the file parser); this checks the combinations, for
//! every source.

use super::{check_iface_name, first_at, Checker};
use crate::topo::macvlan::MacvlanMode;
use crate::topo::model::{Loc, Node, NodeKind};
use crate::topo::vm::{reserved_iface, Vm, MAX_QUEUES};
use std::collections::HashMap;

pub(super) fn check(c: &mut Checker) {
    let t = c.t;
    let mut passthru: HashMap<&str, Loc> = HashMap::new();
    for node in t.nodes.values() {
        if let Some(vm) = &node.vm {
            vm_node(c, node, vm);
        }
        nics(c, node, &mut passthru);
    }
}

fn vm_node(c: &mut Checker, node: &Node, vm: &Vm) {
    let name = &node.name;
    let at = if vm.loc.is_known() { vm.loc } else { node.loc };
    if node.kind != NodeKind::Host {
        c.push(at, format!("`{name}` is a VM and a {}", node.kind), None);
    }
    // What nlab would have to configure inside the guest, which it cannot.
    let inside = [
        ("routes", !node.routes.is_empty()),
        ("ipv6_ra", node.ipv6_ra.is_some()),
        ("ip6: auto", node.ip6_auto),
        ("dhcp", node.dhcp.is_some()),
        ("dhcp_relay", node.dhcp_relay),
    ];
    for (key, set) in inside {
        if set {
            c.push(
                at,
                format!("`{key}` is set on VM `{name}`: nlab does not configure the guest's network stack"),
                Some("configure it inside the guest (its kernel command line carries the addresses and gateway nlab knows)".into()),
            );
        }
    }
    if c.t.endpoints_of(name).any(|e| e.dhcp) {
        c.push(
            at,
            format!("VM `{name}` has `ip: dhcp`: the guest runs its own DHCP client"),
            Some("leave `ip` out; the guest's client reaches the lab's DHCP server".into()),
        );
    }
    if !(1..=MAX_QUEUES).contains(&vm.queues) {
        c.push(
            at,
            format!(
                "`queues` of `{name}` is {}; from 1 to {MAX_QUEUES}",
                vm.queues
            ),
            None,
        );
    }
    for e in c.t.endpoints_of(name).collect::<Vec<_>>() {
        if reserved_iface(&e.iface) {
            c.push(
                e.loc,
                format!("`{}`: VM interfaces may not be named vtapN or vbrN, nlab names the TAPs and bridges inside the node so", e.id()),
                Some("rename the interface, e.g. eth0".into()),
            );
        }
    }
    if let Some(b) = &vm.boot {
        if b.kernel.is_none() && (b.initrd.is_some() || b.append.is_some()) {
            c.push(
                at,
                format!("VM `{name}` has `initrd` or `append` but no `kernel`"),
                Some("add `kernel:`, or boot from `disk:` alone".into()),
            );
        }
        if b.kernel.is_none() && b.disk.is_none() {
            c.push(
                at,
                format!("VM `{name}` has boot settings but nothing to boot"),
                Some("add `kernel:` or `disk:` (without either, `nlab up` prints the QEMU arguments for you to start it)".into()),
            );
        }
    }
}

fn nics<'t>(c: &mut Checker<'t>, node: &'t Node, passthru: &mut HashMap<&'t str, Loc>) {
    // Most nodes have none: no walk over every link for them.
    if node.macvlans.is_empty() {
        return;
    }
    let links: Vec<&str> =
        c.t.links
            .iter()
            .flat_map(|l| l.endpoints.iter())
            .filter(|e| e.node == node.name)
            .map(|e| e.iface.as_str())
            .collect();
    let mut seen: HashMap<&str, Loc> = HashMap::new();
    for m in &node.macvlans {
        let id = m.end.id();
        let at = m.end.loc;
        if let Err(msg) = check_iface_name(&m.end.iface) {
            c.push(at, format!("interface `{id}`: {msg}"), None);
        }
        if let Err(msg) = check_iface_name(&m.parent) {
            c.push(at, format!("parent of `{id}`: {msg}"), None);
        }
        if links.contains(&m.end.iface.as_str()) {
            c.push(
                at,
                format!("interface `{id}` is on a host NIC and also the end of a link"),
                Some("give one of them another name".into()),
            );
        }
        if let Some(first) = seen.insert(&m.end.iface, at) {
            c.push(
                at,
                format!("interface `{id}` is declared twice{}", first_at(first)),
                None,
            );
        }
        match (m.tap, node.vm.is_some(), node.kind) {
            (true, false, _) => c.push(
                at,
                format!("`macvtap` on `{id}`: only a VM (`kind: vm`) reads a macvtap"),
                Some("use `macvlan` for a host or router".into()),
            ),
            (false, true, _) => c.push(
                at,
                format!("`macvlan` on VM interface `{id}`: a guest needs a `macvtap`"),
                Some("write `macvtap:` instead".into()),
            ),
            (_, _, NodeKind::Switch) => c.push(
                at,
                format!("`{id}`: a switch takes no interfaces on host NICs"),
                Some("link the switch to a host or router that has one".into()),
            ),
            _ => {}
        }
        if m.mode == MacvlanMode::Passthru {
            if let Some(first) = passthru.insert(&m.parent, at) {
                c.push(
                    at,
                    format!("`{id}` takes parent {} in passthru mode, which another interface already took{}", m.parent, first_at(first)),
                    Some("passthru gives the whole NIC to one interface; use bridge mode to share it".into()),
                );
            }
        }
    }
}
