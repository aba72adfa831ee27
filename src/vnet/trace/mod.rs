//! `nlab trace`, in the spirit of `ovn-trace`: the path a packet from a
//! port takes through the virtual world, read from the model alone
//! ([`Desired`]): which security-group rule lets it out, which route (the
//! subnet's, a host route, a router's) carries it, which NAT rewrites it,
//! and which rule at the far port lets it in or drops it. `probe` then
//! sends a real packet the same way to confirm it.

pub mod probe;
mod route;
mod rules;

use super::realize::{Desired, Names, Port};
use serde::Serialize;
use std::net::IpAddr;

pub use rules::Proto;

/// What to trace: a packet from `port` to `dst` (`dport` for TCP/UDP).
#[derive(Debug, Clone)]
pub struct Query {
    /// The source port's id.
    pub port: String,
    /// The destination address.
    pub dst: IpAddr,
    /// The protocol.
    pub proto: Proto,
    /// The destination port (TCP/UDP).
    pub dport: Option<u16>,
}

/// One step of the path: where the packet is and what decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// The lab node (namespace `nlab-<lab>-<node>`) it is in.
    pub node: String,
    /// What happens there, in words.
    pub what: String,
}

/// How the trace ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// It reaches a port (or a router's own address).
    Delivered {
        /// The node it ends in.
        node: String,
        /// The port's id (empty for a router's own address).
        port: String,
    },
    /// It leaves the virtual world through an external network.
    LeavesWorld {
        /// The external network's outside stand-in node.
        node: String,
    },
    /// It is dropped.
    Dropped {
        /// Where.
        node: String,
        /// Why, and what would let it through.
        why: String,
    },
}

/// The whole trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The source address the packet starts with.
    pub src: IpAddr,
    /// The addresses it ends with, after any NAT.
    pub final_src: IpAddr,
    /// The destination it ends with, after any NAT.
    pub final_dst: IpAddr,
    /// Each step.
    pub hops: Vec<Hop>,
    /// How it ends.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// A packet on its way: the addresses as they are now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Proto,
    pub dport: Option<u16>,
}

/// Traces `q` through `d`. Errors name what the query refers to that the
/// world does not have.
pub fn trace(d: &Desired, q: &Query) -> Result<Trace, String> {
    let names = Names::new(d);
    let port = d
        .ports
        .iter()
        .find(|p| p.id == q.port)
        .ok_or_else(|| format!("no port {} in the virtual networks", q.port))?;
    let node = names.port_node(port).ok_or_else(|| {
        format!(
            "port {} is not bound, so no packet can leave it: bind it first \
             (nlab instance create --port {})",
            port.id, port.id
        )
    })?;
    let src = source_address(port, &q.dst)?;
    let pkt = Packet {
        src,
        dst: q.dst,
        proto: q.proto,
        dport: q.dport,
    };
    let mut walk = route::Walk::new(d, &names);
    let verdict = walk.leave_port(port, &node, pkt);
    Ok(Trace {
        src,
        final_src: walk.last.src,
        final_dst: walk.last.dst,
        hops: walk.hops,
        verdict,
    })
}

/// The port's fixed address of `dst`'s family.
fn source_address(port: &Port, dst: &IpAddr) -> Result<IpAddr, String> {
    port.fixed_ips
        .iter()
        .map(|f| f.ip_address)
        .find(|a| a.is_ipv4() == dst.is_ipv4())
        .ok_or_else(|| {
            format!(
                "port {} has no IPv{} address to send to {dst} from",
                port.id,
                if dst.is_ipv4() { 4 } else { 6 }
            )
        })
}

#[cfg(test)]
mod tests;
