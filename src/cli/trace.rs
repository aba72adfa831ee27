//! `nlab trace`: the path of a packet through the virtual networks, from
//! the model, confirmed by a real probe.

use super::output::{print_json, BadInput};
use crate::vnet::realize::{self, Desired};
use crate::vnet::trace::probe::{self, Outcome};
use crate::vnet::trace::{trace, Proto, Query, Trace, Verdict};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::net::IpAddr;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    nlab trace --port 3f2a9c1e --dst 10.0.2.10 --proto tcp --dport 22\n  \
    nlab trace --port i-3f2a9c1e --dst 198.51.100.7          (ICMP echo)\n  \
    nlab trace --port 3f2a9c1e --dst 10.0.2.10 --no-probe --json\n\n\
    Exit codes: 0 the probe agrees with the model (or no probe), 1 it does not, 2 bad input.")]
pub struct TraceArgs {
    /// The source port: its ID, a unique start of it, or its instance's
    /// node name (`i-3f2a9c1e`).
    #[arg(long)]
    port: String,
    /// The destination address.
    #[arg(long)]
    dst: IpAddr,
    /// tcp, udp or icmp.
    #[arg(long, default_value = "icmp")]
    proto: String,
    /// The destination port (tcp, udp).
    #[arg(long)]
    dport: Option<u16>,
    /// The lab that holds the virtual networks (`nlab serve --lab`).
    #[arg(long, default_value = "vnet")]
    lab: String,
    /// Trace through the model only; send no probe packet.
    #[arg(long)]
    no_probe: bool,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    port: &'a str,
    #[serde(flatten)]
    trace: &'a Trace,
    probe: Option<Outcome>,
    agrees: Option<bool>,
}

/// The port `spec` names: an id, a unique prefix of one, or `i-<id8>`.
fn resolve<'d>(d: &'d Desired, spec: &str) -> Result<&'d realize::Port> {
    let names = realize::Names::new(d);
    let want = spec.to_ascii_lowercase();
    let hits: Vec<&realize::Port> = d
        .ports
        .iter()
        .filter(|p| {
            p.id == spec
                || (want.len() >= 4 && p.id.replace('-', "").starts_with(&want.replace('-', "")))
                || names.port_node(p).as_deref() == Some(spec)
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(BadInput(format!(
            "no port `{spec}` in the virtual networks (see `nlab port list`)"
        ))
        .into()),
        many => Err(BadInput(format!(
            "`{spec}` names {} ports; give more of the ID",
            many.len()
        ))
        .into()),
    }
}

pub fn run(a: TraceArgs) -> Result<i32> {
    let proto = Proto::parse(&a.proto)
        .ok_or_else(|| BadInput(format!("--proto {}: use tcp, udp or icmp", a.proto)))?;
    if proto != Proto::Icmp && a.dport.is_none() {
        return Err(BadInput(format!("a {proto} trace needs --dport")).into());
    }
    let world = realize::record::load(&a.lab).map_err(BadInput)?;
    let port = resolve(&world, &a.port)?;
    let q = Query {
        port: port.id.clone(),
        dst: a.dst,
        proto,
        dport: a.dport,
    };
    let t = trace(&world, &q).map_err(BadInput)?;
    if port.binding == realize::Binding::Tap && !a.no_probe {
        return Err(BadInput(format!(
            "port {} is a VM's TAP: the guest's network stack is not nlab's, so no probe              can leave it; add --no-probe for the model's path",
            port.id
        ))
        .into());
    }
    let probe = match a.no_probe {
        true => None,
        false => {
            let node = realize::Names::new(&world)
                .port_node(port)
                .unwrap_or_default();
            Some(
                probe::probe(&a.lab, &node, t.src, a.dst, proto, a.dport)
                    .map_err(anyhow::Error::msg)?,
            )
        }
    };
    let agrees = probe.as_ref().map(|o| o.agrees(&t.verdict));
    if a.json {
        print_json(&Report {
            port: &port.id,
            trace: &t,
            probe,
            agrees,
        })?;
    } else {
        print_text(&port.id, &q, &t, probe.as_ref(), agrees);
    }
    Ok(if agrees == Some(false) { 1 } else { 0 })
}

fn print_text(port: &str, q: &Query, t: &Trace, probe: Option<&Outcome>, agrees: Option<bool>) {
    let what = match q.dport {
        Some(p) => format!("{} port {p}", q.proto),
        None => q.proto.to_string(),
    };
    println!("trace: port {port} ({}) → {} {what}", t.src, q.dst);
    let width = t.hops.iter().map(|h| h.node.len()).max().unwrap_or(0);
    for (i, h) in t.hops.iter().enumerate() {
        println!("  {:>2}  {:<width$}  {}", i + 1, h.node, h.what);
    }
    let verdict = match &t.verdict {
        Verdict::Delivered { node, port } if port.is_empty() => format!("delivered to {node}"),
        Verdict::Delivered { node, port } => format!("delivered to port {port} in {node}"),
        Verdict::LeavesWorld { node } => format!("leaves the virtual networks through {node}"),
        Verdict::Dropped { node, why } => format!("dropped in {node}: {why}"),
    };
    println!("model:  {verdict}");
    if t.final_src != t.src || t.final_dst != q.dst {
        println!("        arrives as {} → {}", t.final_src, t.final_dst);
    }
    if let Some(o) = probe {
        let seen = match o {
            Outcome::Answered(d) => format!("answered ({d})"),
            Outcome::Unreachable(d) => format!("unreachable ({d})"),
            Outcome::NoAnswer => format!("no answer in {} s", probe::WAIT.as_secs()),
        };
        let word = if agrees == Some(true) {
            "agrees with the model"
        } else {
            "DIFFERS from the model: the kernel does not match what was applied \
             (nlab inspect vnet shows drift)"
        };
        println!("kernel: {seen}: {word}");
    }
}
