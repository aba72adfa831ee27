//! Drawing a topology: Graphviz DOT, Mermaid, and a JSON shape for tools.
//!
//! Switches are drawn unlike hosts (ellipses in DOT, hexagons in Mermaid,
//! routers as octagons / circles) and every edge carries the interface
//! names at its two ends, so a picture answers "which port goes where".
//! Switches that will run STP are marked: in a looped lab that is the
//! first thing to check.

use super::conditions::spec;
use super::model::{natural_cmp, Endpoint, Link, Node, NodeKind, Topology};
use super::validate::stp_switches;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

/// Graphviz DOT (`nlab graph | dot -Tsvg > lab.svg`).
pub fn to_dot(t: &Topology) -> String {
    let stp = stp_switches(t);
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_dot(&mut o, t, &stp);
    o
}

fn write_dot(o: &mut String, t: &Topology, stp: &BTreeSet<String>) -> std::fmt::Result {
    writeln!(o, "graph {} {{", dq(&t.name))?;
    writeln!(o, "  graph [overlap=false, splines=true];")?;
    writeln!(o, "  node [fontname=\"Helvetica\", fontsize=11];")?;
    writeln!(o, "  edge [fontname=\"Helvetica\", fontsize=8];")?;
    for n in sorted_nodes(t) {
        let (shape, style) = match n.kind {
            NodeKind::Host => ("box", "rounded"),
            NodeKind::Router => ("octagon", "filled\", fillcolor=\"#fde2c4"),
            NodeKind::Nat => ("doubleoctagon", "filled\", fillcolor=\"#fde2c4"),
            NodeKind::Internet => ("doublecircle", "filled\", fillcolor=\"#e2e2e2"),
            NodeKind::Switch => ("ellipse", "filled\", fillcolor=\"#cfe2ff"),
        };
        let label = node_label(n, stp);
        writeln!(
            o,
            "  {} [shape={shape}, style=\"{style}\", label={}];",
            dq(&n.name),
            dq(&label)
        )?;
    }
    for l in &t.links {
        let [a, b] = &l.endpoints;
        let mut attrs = vec![
            format!("taillabel={}", dq(&end_label(a, "\n"))),
            format!("headlabel={}", dq(&end_label(b, "\n"))),
        ];
        if !l.up {
            attrs.push("style=dashed".into());
        }
        if let Some(c) = conditions_label(l) {
            attrs.push(format!("label={}", dq(&c)));
        }
        writeln!(
            o,
            "  {} -- {} [{}];",
            dq(&a.node),
            dq(&b.node),
            attrs.join(", ")
        )?;
    }
    writeln!(o, "}}")
}

/// Mermaid flowchart (renders in GitHub and GitLab markdown).
pub fn to_mermaid(t: &Topology) -> String {
    let stp = stp_switches(t);
    let mut o = String::new();
    let _ = write_mermaid(&mut o, t, &stp);
    o
}

fn write_mermaid(o: &mut String, t: &Topology, stp: &BTreeSet<String>) -> std::fmt::Result {
    writeln!(o, "graph LR")?;
    // Mermaid ids must be plain words; node names may hold `-` and `.`.
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut switches = Vec::new();
    for (i, n) in sorted_nodes(t).into_iter().enumerate() {
        let id = format!("n{i}");
        let label = mq(&node_label(n, stp));
        match n.kind {
            NodeKind::Host => writeln!(o, "  {id}[\"{label}\"]")?,
            NodeKind::Router | NodeKind::Nat => writeln!(o, "  {id}((\"{label}\"))")?,
            NodeKind::Internet => writeln!(o, "  {id}>\"{label}\"]")?,
            NodeKind::Switch => {
                writeln!(o, "  {id}{{{{\"{label}\"}}}}")?;
                switches.push(id.clone());
            }
        }
        ids.insert(&n.name, id);
    }
    for l in &t.links {
        let [a, b] = &l.endpoints;
        // A link to a node that does not exist still gets drawn, as itself.
        let id = |e: &Endpoint| {
            ids.get(e.node.as_str())
                .cloned()
                .unwrap_or_else(|| format!("missing_{}", word(&e.node)))
        };
        let arrow = if l.up { "---" } else { "-.-" };
        let mut label = format!("{} – {}", end_label(a, " "), end_label(b, " "));
        if let Some(c) = conditions_label(l) {
            label.push_str(&format!(" ({c})"));
        }
        writeln!(o, "  {} {arrow}|\"{}\"| {}", id(a), mq(&label), id(b))?;
    }
    if !switches.is_empty() {
        writeln!(o, "  classDef switch fill:#cfe2ff,stroke:#4a76b8;")?;
        writeln!(o, "  class {} switch;", switches.join(","))?;
    }
    Ok(())
}

/// Nodes and links with their kinds, interfaces and addresses: a stable
/// shape for `nlab graph --json` and web front ends.
pub fn to_json(t: &Topology) -> Value {
    let stp = stp_switches(t);
    let nodes: Vec<Value> = sorted_nodes(t)
        .into_iter()
        .map(|n| {
            let mut v = json!({ "name": n.name, "kind": n.kind.as_str() });
            if n.kind == NodeKind::Switch {
                v["stp"] = json!(stp.contains(&n.name));
            }
            if let Some(g) = n.gateway {
                v["gateway"] = json!(g.to_string());
            }
            if let Some(g) = n.gateway6 {
                v["gateway6"] = json!(g.to_string());
            }
            v
        })
        .collect();
    let links: Vec<Value> = t.links.iter().map(link_json).collect();
    json!({ "name": t.name, "nodes": nodes, "links": links })
}

fn link_json(l: &Link) -> Value {
    let end = |e: &Endpoint| {
        let mut v = json!({
            "node": e.node,
            "iface": e.iface,
            "addrs": e.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        });
        if let Some(m) = e.mac {
            v["mac"] = json!(m.to_string());
        }
        if let Some(m) = e.mtu.or(l.mtu) {
            v["mtu"] = json!(m);
        }
        v
    };
    let mut v = json!({
        "key": l.key(),
        "endpoints": [end(&l.endpoints[0]), end(&l.endpoints[1])],
        "up": l.up,
    });
    let form = spec::file_form(&l.conditions, ends(l).each_ref().map(|s| s.as_str()));
    if !form.is_empty() {
        v["conditions"] = Value::Object(form.into_iter().map(|(k, v)| (k, v.to_json())).collect());
    }
    if !l.schedule.is_empty() {
        v["schedule"] = serde_json::to_value(&l.schedule).unwrap_or(Value::Null);
    }
    v
}

fn sorted_nodes(t: &Topology) -> Vec<&Node> {
    let mut v: Vec<&Node> = t.nodes.values().collect();
    v.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    v
}

fn node_label(n: &Node, stp: &BTreeSet<String>) -> String {
    if stp.contains(&n.name) {
        format!("{} (stp)", n.name)
    } else {
        n.name.clone()
    }
}

/// `h1-eth0` plus its addresses, joined by `sep`.
fn end_label(e: &Endpoint, sep: &str) -> String {
    let mut parts = vec![e.iface.clone()];
    parts.extend(e.addrs.iter().map(|a| a.to_string()));
    parts.join(sep)
}

fn ends(l: &Link) -> [String; 2] {
    [l.endpoints[0].id(), l.endpoints[1].id()]
}

fn conditions_label(l: &Link) -> Option<String> {
    if l.conditions.is_none() {
        return None;
    }
    Some(spec::directed_summary(
        &l.conditions,
        ends(l).each_ref().map(|s| s.as_str()),
    ))
}

/// A DOT double-quoted string; `\n` in `s` becomes a DOT line break.
fn dq(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Text inside a Mermaid quoted label: quotes and markup as entities.
fn mq(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("#quot;"),
            '#' => o.push_str("#35;"),
            '<' => o.push_str("#lt;"),
            '>' => o.push_str("#gt;"),
            '|' => o.push_str("#124;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// `s` reduced to a Mermaid-safe word.
fn word(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topo::file::parse;
    use crate::topo::generate::from_spec;

    fn lab() -> Topology {
        let text = r#"
name: g
topology:
  nodes:
    h1: {}
    r1: {kind: router}
    s1: {kind: switch}
    s2: {kind: switch}
  links:
    - endpoints: [{node: h1, iface: eth0, ip: 10.0.0.1/24, mac: "02:00:00:00:00:01"}, "s1:p1"]
    - endpoints: [{node: r1, iface: eth0, ip: 10.0.0.254/24}, "s1:p2"]
      up: false
      mtu: 1400
      conditions: {delay: 10ms}
    - endpoints: ["s1:p3", "s2:p1"]
    - endpoints: ["s1:p4", "s2:p2"]
"#;
        parse(text, None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn dot() {
        let d = to_dot(&lab());
        assert!(d.starts_with("graph \"g\" {\n"), "{d}");
        assert!(d.ends_with("}\n"));
        assert!(d.contains("\"h1\" [shape=box,"), "{d}");
        assert!(d.contains("\"r1\" [shape=octagon,"), "{d}");
        assert!(d.contains("\"s1\" [shape=ellipse,"), "{d}");
        assert!(d.contains("label=\"s1 (stp)\""), "parallel links loop: {d}");
        assert!(
            d.contains("\"h1\" -- \"s1\" [taillabel=\"eth0\\n10.0.0.1/24\", headlabel=\"p1\"];"),
            "{d}"
        );
        assert!(d.contains("style=dashed, label=\"delay 10ms\""), "{d}");
        assert_eq!(d.matches(" -- ").count(), 4);
    }

    #[test]
    fn dot_escapes_names() {
        let mut t = Topology::new("q\"uote");
        t.nodes
            .insert("a\\b".into(), Node::new("a\\b", NodeKind::Host));
        let d = to_dot(&t);
        assert!(d.starts_with("graph \"q\\\"uote\" {"), "{d}");
        assert!(d.contains("\"a\\\\b\" [shape=box"), "{d}");
    }

    #[test]
    fn mermaid() {
        let m = to_mermaid(&lab());
        assert!(m.starts_with("graph LR\n"), "{m}");
        assert!(m.contains("  n0[\"h1\"]\n"), "{m}");
        assert!(m.contains("  n1((\"r1\"))\n"), "{m}");
        assert!(m.contains("  n2{{\"s1 (stp)\"}}\n"), "{m}");
        assert!(
            m.contains("  n0 ---|\"eth0 10.0.0.1/24 – p1\"| n2\n"),
            "{m}"
        );
        assert!(
            m.contains("  n1 -.-|\"eth0 10.0.0.254/24 – p2 (delay 10ms)\"| n2\n"),
            "{m}"
        );
        assert!(m.contains("class n2,n3 switch;"), "{m}");
        let mut t = Topology::new("x");
        t.nodes
            .insert("a\"b".into(), Node::new("a\"b", NodeKind::Host));
        assert!(to_mermaid(&t).contains("n0[\"a#quot;b\"]"));
    }

    #[test]
    fn json_shape() {
        let j = to_json(&lab());
        assert_eq!(j["name"], "g");
        let nodes = j["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0], json!({"name": "h1", "kind": "host"}));
        assert_eq!(
            nodes[2],
            json!({"name": "s1", "kind": "switch", "stp": true})
        );
        let l0 = &j["links"][0];
        assert_eq!(l0["key"], "h1:eth0--s1:p1");
        assert_eq!(l0["up"], true);
        assert_eq!(
            l0["endpoints"][0],
            json!({"node": "h1", "iface": "eth0", "addrs": ["10.0.0.1/24"], "mac": "02:00:00:00:00:01"})
        );
        assert_eq!(
            l0["endpoints"][1],
            json!({"node": "s1", "iface": "p1", "addrs": []})
        );
        let l1 = &j["links"][1];
        assert_eq!(l1["up"], false);
        assert_eq!(l1["endpoints"][0]["mtu"], 1400);
        assert_eq!(l1["conditions"], json!({"delay": "10ms"}));
    }

    #[test]
    fn generated_graphs() {
        let t = from_spec("torus,3,3", "t", false).unwrap();
        assert_eq!(to_dot(&t).matches(" -- ").count(), 27);
        assert_eq!(to_mermaid(&t).matches("(stp)").count(), 9);
        let t = from_spec("tree,2,2", "t", false).unwrap();
        assert!(!to_dot(&t).contains("(stp)"));
        assert_eq!(to_json(&t)["links"].as_array().map(Vec::len), Some(6));
    }
}
