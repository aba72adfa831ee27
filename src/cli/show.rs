//! Read commands: `list`, `inspect`, `graph`.

use super::output::{print_json, table, BadInput};
use super::root::require_root;
use crate::lab::{self, inspect::LabView, Lab};
use crate::topo;
use anyhow::Context;

pub fn list(json: bool) -> anyhow::Result<i32> {
    let labs = lab::list();
    if json {
        print_json(&labs)?;
        return Ok(0);
    }
    if labs.is_empty() {
        println!("No labs. Start one with `nlab up --topo minimal` or `nlab demo`.");
        return Ok(0);
    }
    let mut t = table(&[
        "lab",
        "status",
        "nodes",
        "links",
        "namespaces",
        "source",
        "age",
    ]);
    let now = crate::store::now();
    let supervised: Vec<String> = labs
        .iter()
        .filter_map(|l| Some(format!("{} (pid {})", l.name, l.supervisor?)))
        .collect();
    let reasons: Vec<String> = labs
        .iter()
        .filter_map(|l| {
            Some(format!(
                "{} is {}: {}",
                l.name,
                l.status,
                l.reason.as_ref()?
            ))
        })
        .collect();
    for l in labs {
        t.add_row(vec![
            l.name,
            l.status,
            l.node_count.to_string(),
            l.link_count.to_string(),
            l.namespaces.to_string(),
            l.source.unwrap_or_else(|| "-".into()),
            if l.created > 0 {
                age(now.saturating_sub(l.created))
            } else {
                "-".into()
            },
        ]);
    }
    println!("{t}");
    for r in &reasons {
        println!("{r}");
    }
    if !supervised.is_empty() {
        println!(
            "Supervisor running for: {} (see `nlab supervisor status LAB`)",
            supervised.join(", ")
        );
    }
    Ok(0)
}

fn age(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

pub fn inspect(name: &str, json: bool) -> anyhow::Result<i32> {
    require_root()?;
    let lab = Lab::open(name)?;
    let view = lab
        .inspect()
        .with_context(|| format!("reading lab {name} from the kernel"))?;
    if json {
        print_json(&view)?;
    } else {
        print_inspect(&view);
    }
    Ok(if view.drift.is_empty() { 0 } else { 1 })
}

pub fn print_inspect(v: &LabView) {
    let mut t = table(&[
        "node",
        "kind",
        "iface",
        "mac",
        "mtu",
        "state",
        "addresses",
        "peer / bridge",
    ]);
    for n in &v.nodes {
        if !n.present {
            t.add_row(vec![
                n.name.clone(),
                n.kind.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "MISSING".into(),
                "-".into(),
                format!("namespace {} is gone", n.namespace),
            ]);
            continue;
        }
        if n.interfaces.is_empty() {
            t.add_row(vec![n.name.clone(), n.kind.to_string()]);
        }
        for (i, f) in n.interfaces.iter().enumerate() {
            let state = if !f.up {
                "down".to_string()
            } else {
                f.oper.clone()
            };
            let rel = match (&f.peer, &f.master, f.kind.as_deref()) {
                (Some(p), Some(m), _) => format!("{p} (port of {m})"),
                (Some(p), None, _) => p.clone(),
                (None, Some(m), _) => format!("port of {m}"),
                (None, None, Some("bridge")) => "bridge".into(),
                _ => "-".into(),
            };
            t.add_row(vec![
                if i == 0 {
                    n.name.clone()
                } else {
                    String::new()
                },
                if i == 0 {
                    n.kind.to_string()
                } else {
                    String::new()
                },
                f.name.clone(),
                f.mac.clone().unwrap_or_default(),
                f.mtu.to_string(),
                state,
                f.addrs
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                rel,
            ]);
        }
    }
    println!("{t}");
    if v.drift.is_empty() {
        println!("Lab {}: kernel matches the topology.", v.lab);
    } else {
        println!(
            "Lab {}: {} difference(s) from the topology (`nlab up` repairs them):",
            v.lab,
            v.drift.len()
        );
        for d in &v.drift {
            println!("  ! {d}");
        }
    }
}

pub fn graph(target: &str, format: &str) -> anyhow::Result<i32> {
    let path = std::path::Path::new(target);
    let t = if path.exists() {
        topo::file::load(path)?
    } else if let Ok(lab) = Lab::open(target) {
        lab.topology().clone()
    } else {
        return Err(BadInput(format!(
            "`{target}` is neither a topology file nor a running lab (see `nlab list`)"
        ))
        .into());
    };
    match format {
        "dot" => print!("{}", topo::graph::to_dot(&t)),
        "mermaid" => print!("{}", topo::graph::to_mermaid(&t)),
        _ => print_json(&topo::graph::to_json(&t))?,
    }
    Ok(0)
}
