//! Writing a topology back as a file `parse` reads, e.g. to turn
//! `--topo tree,2,2` into a file to edit. Written by hand rather than through
//! a serializer so the file looks like one a person would write: one line
//! per node and per simple endpoint.

use crate::topo::conditions::spec::{self, FileValue};
use crate::topo::conditions::{units, StepAction};
use crate::topo::external::{Attach, HOST_NODE};
use crate::topo::model::{natural_cmp, Endpoint, Link, Node, Route, Topology};
use crate::topo::vm::{Accel, Vm};
use std::fmt::Write;

/// The topology in nlab's file format; `parse` of the result equals `t`.
pub fn to_yaml(t: &Topology) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail; `let _` keeps that out of the API.
    let _ = write_topology(&mut o, t);
    o
}

fn write_topology(o: &mut String, t: &Topology) -> std::fmt::Result {
    writeln!(o, "name: {}", q(&t.name))?;
    writeln!(o, "topology:")?;
    writeln!(o, "  nodes:")?;
    let mut nodes: Vec<&Node> = t.nodes.values().collect();
    nodes.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    for n in nodes {
        node(o, n)?;
    }
    if t.links.is_empty() && t.host_links.is_empty() {
        writeln!(o, "  links: []")?;
    } else {
        writeln!(o, "  links:")?;
        for l in &t.links {
            link(o, l)?;
        }
        for h in &t.host_links {
            let mut ep = Endpoint::new(h.node.clone(), h.iface.clone());
            ep.addrs = h.addrs.clone();
            ep.mac = h.mac;
            ep.mtu = h.mtu;
            let host = q(&format!("{HOST_NODE}:{}", h.host_iface));
            writeln!(o, "    - endpoints: [{}, {host}]", endpoint(&ep))?;
        }
    }
    Ok(())
}

/// An attached node's keys, one `key: value` each.
fn attach(a: &Attach) -> Vec<String> {
    match a {
        Attach::Netns(n) => vec![format!("netns: {}", q(n))],
        Attach::Pid(p) => vec![format!("pid: {p}")],
        Attach::Container(c) => vec![format!("container: {}", q(c))],
        Attach::Image(i) => {
            let mut v = vec![format!("image: {}", q(&i.image))];
            if !i.cmd.is_empty() {
                let words: Vec<String> = i.cmd.iter().map(|w| q(w)).collect();
                v.push(format!("cmd: [{}]", words.join(", ")));
            }
            if let Some(e) = &i.entrypoint {
                v.push(format!("entrypoint: {}", q(e)));
            }
            if !i.env.is_empty() {
                let kv: Vec<String> = i
                    .env
                    .iter()
                    .map(|(k, x)| format!("{}: {}", q(k), q(x)))
                    .collect();
                v.push(format!("env: {{{}}}", kv.join(", ")));
            }
            v
        }
    }
}

/// A VM's keys (`kind: vm` is written by the caller): `queues`, and how
/// nlab boots it. `memory`/`cpus` only with a boot, where they belong
/// (alone, `memory:` on a VM would be read as a boot setting).
fn vm_keys(vm: &Vm) -> Vec<String> {
    let mut v = Vec::new();
    if vm.queues != 1 {
        v.push(format!("queues: {}", vm.queues));
    }
    let Some(b) = &vm.boot else { return v };
    for (key, p) in [
        ("kernel", &b.kernel),
        ("initrd", &b.initrd),
        ("disk", &b.disk),
    ] {
        if let Some(p) = p {
            v.push(format!("{key}: {}", q(&p.to_string_lossy())));
        }
    }
    if let Some(a) = &b.append {
        v.push(format!("append: {}", q(a)));
    }
    v.push(format!("memory: {}", b.memory_mib));
    v.push(format!("cpus: {}", b.cpus));
    match b.accel {
        Accel::Auto => {}
        Accel::Kvm => v.push("accel: kvm".into()),
        Accel::Tcg => v.push("accel: tcg".into()),
    }
    v
}

/// `interfaces: {eth1: {macvtap: {parent: enp1s0, mode: bridge}, ip: …}}`
/// for a node's interfaces on host NICs, if it has any.
fn nic_interfaces(n: &Node) -> Option<String> {
    if n.macvlans.is_empty() {
        return None;
    }
    let items: Vec<String> = n
        .macvlans
        .iter()
        .map(|m| {
            let mut parts = vec![format!(
                "{}: {{parent: {}, mode: {}}}",
                m.kind(),
                q(&m.parent),
                m.mode
            )];
            let a: Vec<String> = m.end.addrs.iter().map(|a| q(&a.to_string())).collect();
            match a.as_slice() {
                [] => {}
                [one] => parts.push(format!("ip: {one}")),
                many => parts.push(format!("ip: [{}]", many.join(", "))),
            }
            if let Some(mac) = m.end.mac {
                parts.push(format!("mac: {}", q(&mac.to_string())));
            }
            if let Some(mtu) = m.end.mtu {
                parts.push(format!("mtu: {mtu}"));
            }
            format!("{}: {{{}}}", q(&m.end.iface), parts.join(", "))
        })
        .collect();
    Some(format!("interfaces: {{{}}}", items.join(", ")))
}

fn node(o: &mut String, n: &Node) -> std::fmt::Result {
    let kind = if n.vm.is_some() {
        "vm".to_string()
    } else {
        n.kind.to_string()
    };
    let mut simple = vec![format!("kind: {kind}")];
    if let Some(vm) = &n.vm {
        simple.extend(vm_keys(vm));
    }
    simple.extend(nic_interfaces(n));
    if let Some(g) = n.gateway {
        simple.push(format!("gateway: {}", q(&g.to_string())));
    }
    if let Some(g) = n.gateway6 {
        simple.push(format!("gateway6: {}", q(&g.to_string())));
    }
    if let Some(s) = n.stp {
        simple.push(format!("stp: {s}"));
    }
    if let Some(ra) = &n.ipv6_ra {
        simple.push(format!("ipv6_ra: {}", super::parse_ra::ra_yaml(ra)));
    }
    if n.ip6_auto {
        simple.push("ip6: auto".into());
    }
    let mut run = super::parse_limits::run_yaml(&n.run);
    if matches!(n.attach, Some(crate::topo::external::Attach::Image(_))) {
        // One `env:` key feeds both; the image's writes it back.
        run.retain(|l| !l.starts_with("env: "));
    }
    simple.extend(run);
    if let Some(a) = &n.attach {
        simple.extend(attach(a));
    }
    if n.routes.is_empty() {
        return writeln!(o, "    {}: {{{}}}", q(&n.name), simple.join(", "));
    }
    writeln!(o, "    {}:", q(&n.name))?;
    for s in simple {
        writeln!(o, "      {s}")?;
    }
    writeln!(o, "      routes:")?;
    for r in &n.routes {
        writeln!(o, "        - {}", route(r))?;
    }
    Ok(())
}

fn route(r: &Route) -> String {
    let mut parts = vec![format!("dst: {}", q(&r.dst.to_string()))];
    if let Some(v) = r.via {
        parts.push(format!("via: {}", q(&v.to_string())));
    }
    if let Some(d) = &r.dev {
        parts.push(format!("dev: {}", q(d)));
    }
    format!("{{{}}}", parts.join(", "))
}

fn link(o: &mut String, l: &Link) -> std::fmt::Result {
    let [a, b] = &l.endpoints;
    if is_plain(a) && is_plain(b) {
        writeln!(o, "    - endpoints: [{}, {}]", endpoint(a), endpoint(b))?;
    } else {
        writeln!(o, "    - endpoints:")?;
        for ep in &l.endpoints {
            writeln!(o, "        - {}", endpoint(ep))?;
        }
    }
    if let Some(m) = l.mtu {
        writeln!(o, "      mtu: {m}")?;
    }
    if !l.up {
        writeln!(o, "      up: false")?;
    }
    let ends = [l.endpoints[0].id(), l.endpoints[1].id()];
    let ends = [ends[0].as_str(), ends[1].as_str()];
    let form = spec::file_form(&l.conditions, ends);
    if !form.is_empty() {
        writeln!(o, "      conditions: {}", flow_map(&form))?;
    }
    if !l.schedule.is_empty() {
        writeln!(o, "      schedule:")?;
        for s in &l.schedule {
            let at = format!("at: {}", units::fmt_time(s.at));
            match &s.action {
                StepAction::Up => writeln!(o, "        - {{{at}, up: true}}")?,
                StepAction::Down => writeln!(o, "        - {{{at}, down: true}}")?,
                StepAction::Set(d) => {
                    let mut form = spec::file_form(d, ends);
                    form.insert(0, ("at".into(), FileValue::Text(units::fmt_time(s.at))));
                    writeln!(o, "        - {}", flow_map(&form))?;
                }
            }
        }
    }
    if let Some(c) = &l.capture {
        let yaml = super::parse_capture::capture_yaml(c);
        writeln!(o, "      capture: {yaml}")?;
    }
    Ok(())
}

/// `{delay: 20ms, "h1:eth0": {rate: 1mbit}}`
fn flow_map(form: &[(String, FileValue)]) -> String {
    let parts: Vec<String> = form
        .iter()
        .map(|(k, v)| match v {
            FileValue::Text(t) => format!("{}: {}", q(k), cq(t)),
            FileValue::Map(m) => {
                let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {}", cq(v))).collect();
                format!("{}: {{{}}}", q(k), inner.join(", "))
            }
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A condition's text (`1mbit`, `2ms 25% normal`) needs no quotes in a
/// flow mapping: digits, letters, `.`, `%`, `-` and spaces only.
fn cq(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '%' | '-' | ' '));
    if plain {
        s.to_string()
    } else {
        q(s)
    }
}

/// An endpoint with nothing but its name, written `"node:iface"`.
fn is_plain(ep: &Endpoint) -> bool {
    ep.addrs.is_empty() && ep.mac.is_none() && ep.mtu.is_none()
}

fn endpoint(ep: &Endpoint) -> String {
    if is_plain(ep) {
        return q(&ep.id());
    }
    let mut parts = vec![
        format!("node: {}", q(&ep.node)),
        format!("iface: {}", q(&ep.iface)),
    ];
    let a: Vec<String> = ep.addrs.iter().map(|a| q(&a.to_string())).collect();
    match a.as_slice() {
        [] => {}
        [one] => parts.push(format!("ip: {one}")),
        many => parts.push(format!("ip: [{}]", many.join(", "))),
    }
    if let Some(m) = ep.mac {
        parts.push(format!("mac: {}", q(&m.to_string())));
    }
    if let Some(m) = ep.mtu {
        parts.push(format!("mtu: {m}"));
    }
    format!("{{{}}}", parts.join(", "))
}

/// A scalar, quoted unless it is plainly a name YAML cannot read as
/// anything else. JSON string syntax is valid YAML double-quoted syntax.
fn q(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::q;

    #[test]
    fn quoting() {
        assert_eq!(q("h1"), "h1");
        assert_eq!(q("h1-eth0"), "h1-eth0");
        assert_eq!(q("on"), "\"on\"");
        assert_eq!(q("1"), "\"1\"");
        assert_eq!(q("h1:eth0"), "\"h1:eth0\"");
        assert_eq!(q("a\"b"), "\"a\\\"b\"");
        assert_eq!(q(".nan"), "\".nan\"");
    }
}
