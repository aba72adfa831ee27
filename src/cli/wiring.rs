//! `nlab wiring` (every namespace of the host) and `nlab inspect LAB
//! --wiring` (one lab): which interface is joined to which, as the kernel
//! has it.

use super::output::{print_json, table, BadInput};
use super::root::require_root;
use crate::lab::wiring::{self, IfaceWiring, NsWiring, Wiring};
use crate::lab::Lab;
use anyhow::Context;

/// Which namespaces `nlab wiring` shows.
pub struct Filter {
    pub ns: Option<String>,
    pub pid: Option<i32>,
    pub all: bool,
}

pub fn wiring(f: Filter, json: bool) -> anyhow::Result<i32> {
    require_root()?;
    let inode = match f.pid {
        Some(pid) => Some(wiring::ns_of_pid(pid).ok_or_else(|| {
            BadInput(format!(
                "no process with pid {pid} (or its namespace cannot be read): see `ps`"
            ))
        })?),
        None => None,
    };
    let w = wiring::read_host();
    let w = match (&f.ns, inode) {
        (Some(name), _) => {
            let w = w.only(|n| n.answers_to(name));
            if w.namespaces.is_empty() {
                return Err(BadInput(format!(
                    "no network namespace is named `{name}` (names are `root`, `ip netns` \
                     names and container names: see `nlab wiring`)"
                ))
                .into());
            }
            w
        }
        (None, Some(ino)) => w.only(|n| n.inode == ino),
        (None, None) => w,
    };
    if json {
        print_json(&w)?;
    } else {
        print_table(&w.namespaces, f.all);
        summary(&w);
    }
    Ok(0)
}

fn summary(w: &Wiring) {
    let ifaces: usize = w.namespaces.iter().map(|n| n.interfaces.len()).sum();
    let veths = w
        .namespaces
        .iter()
        .flat_map(|n| &n.interfaces)
        .filter(|i| i.peer.is_some())
        .count();
    println!(
        "{} namespace(s), {ifaces} interface(s), {veths} veth end(s), read from the kernel in {:.1} ms.",
        w.namespaces.len(),
        w.elapsed_ms
    );
    for u in &w.unreadable {
        println!("  (not read: {u})");
    }
}

pub fn inspect_wiring(name: &str, json: bool) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(name)?;
    let w = wiring::of_lab(&lab).with_context(|| format!("reading lab {name} from the kernel"))?;
    if json {
        print_json(&w)?;
    } else {
        print_table(&w.namespaces, false);
        if w.drift.is_empty() {
            println!("Lab {name}: the kernel's wiring matches the topology.");
        } else {
            println!(
                "Lab {name}: {} difference(s) from the topology (`nlab up` repairs them; do \
                 first what a note asks):",
                w.drift.len()
            );
            for d in &w.drift {
                println!("  ! {d}");
            }
        }
    }
    Ok(if w.drift.is_empty() { 0 } else { 1 })
}

/// One row per interface (loopbacks only with `all`), the namespace named
/// on its first row.
fn print_table(nss: &[NsWiring], all: bool) {
    let mut t = table(&[
        "namespace",
        "held by",
        "iface",
        "kind",
        "state",
        "joined to",
    ]);
    for n in nss {
        let shown: Vec<&IfaceWiring> = n
            .interfaces
            .iter()
            .filter(|i| all || i.kind != "loopback")
            .collect();
        if shown.is_empty() {
            t.add_row(vec![n.name.as_str(), n.holder.as_str(), "-", "", "", ""]);
        }
        for (k, i) in shown.iter().enumerate() {
            let state = if i.up { i.oper.clone() } else { "down".into() };
            let (ns, holder) = if k == 0 {
                (n.name.clone(), n.holder.clone())
            } else {
                (String::new(), String::new())
            };
            t.add_row(vec![
                ns,
                holder,
                i.name.clone(),
                i.kind.clone(),
                state,
                joined(i, &n.name),
            ]);
        }
    }
    println!("{t}");
}

/// `peer s1-eth1 @ nlab-demo-s1, port of br0` and the like.
fn joined(i: &IfaceWiring, here: &str) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &i.peer {
        parts.push(p.describe(here));
    }
    if let Some(p) = &i.parent {
        let mode = i.mode.map(|m| format!(" ({m})")).unwrap_or_default();
        parts.push(format!("on {}{mode}", p.describe(here)));
    }
    if i.kind == "bridge" {
        parts.push(match i.ports.len() {
            0 => "bridge, no ports".to_string(),
            _ => format!("bridge of {}", i.ports.join(" ")),
        });
    }
    if let Some(m) = &i.master {
        parts.push(format!("port of {m}"));
    }
    if matches!(i.kind.as_str(), "tap" | "tun") {
        parts.push(if i.holders.is_empty() {
            "held by no process".to_string()
        } else {
            let h: Vec<String> = i
                .holders
                .iter()
                .map(|p| format!("pid {} ({})", p.pid, p.command))
                .collect();
            format!("held by {}", h.join(", "))
        });
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// `nlab graph LAB --wiring`: the lab's namespaces as the kernel wires
/// them (and every namespace a veth of theirs reaches), as DOT, Mermaid
/// or the JSON of `inspect --wiring`.
pub fn graph(name: &str, format: &str) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(name)?;
    let w = wiring::of_lab(&lab).with_context(|| format!("reading lab {name} from the kernel"))?;
    let edges = edges(&w.namespaces);
    match format {
        "json" => print_json(&w)?,
        "mermaid" => {
            println!("graph LR");
            for (a, b, label, dashed) in &edges {
                let arrow = if *dashed { "-.-" } else { "---" };
                println!("  {}{arrow}|{label}|{}", mermaid_id(a), mermaid_id(b));
            }
        }
        _ => {
            println!("graph \"{}\" {{", name);
            println!("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];");
            println!("  edge [fontname=\"Helvetica\", fontsize=8];");
            for (a, b, label, dashed) in &edges {
                let style = if *dashed { ", style=dashed" } else { "" };
                println!("  {a:?} -- {b:?} [label={label:?}{style}];");
            }
            println!("}}");
        }
    }
    Ok(0)
}

/// One edge per veth pair (named once, from the end that sorts first) and
/// per lower device: (namespace, namespace, `ifA -- ifB`, dashed).
fn edges(nss: &[NsWiring]) -> Vec<(String, String, String, bool)> {
    let mut out = Vec::new();
    for n in nss {
        for i in &n.interfaces {
            if let Some(p) = &i.peer {
                let far = p.namespace.clone().unwrap_or_else(|| "?".into());
                let far_if = p.interface.clone().unwrap_or_default();
                // The far end of a pair inside the lab draws it too.
                let both_here = nss.iter().any(|m| Some(&m.name) == p.namespace.as_ref());
                if both_here && (far.as_str(), far_if.as_str()) < (n.name.as_str(), i.name.as_str())
                {
                    continue;
                }
                out.push((
                    n.name.clone(),
                    far,
                    format!("{} -- {far_if}", i.name),
                    false,
                ));
            }
            if let Some(p) = &i.parent {
                let far = p.namespace.clone().unwrap_or_else(|| "?".into());
                let label = format!("{} on {}", i.name, p.interface.clone().unwrap_or_default());
                out.push((n.name.clone(), far, label, true));
            }
        }
    }
    out
}

fn mermaid_id(ns: &str) -> String {
    let id: String = ns
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{id}[\"{}\"]", ns.replace('"', "'"))
}
