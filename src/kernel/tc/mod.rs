//! Traffic control over rtnetlink: root qdiscs that carry link conditions.
//!
//! `netlink-packet-route` has no option types for tbf or netem, so their
//! `TCA_OPTIONS` payloads are encoded here byte for byte as the kernel's
//! `include/uapi/linux/pkt_sched.h` lays them out (native endianness, 4-byte
//! aligned attributes), and sent as a raw attribute.
//!
//! Each kind nlab installs has its own root handle (tbf `1:`, netem `2:`).
//! A `replace` with the handle of the qdisc already there changes it in
//! place (packets and connections flow on); with another handle the kernel
//! grafts the new qdisc in the old one's place. Either way one request.

pub mod dist;
pub mod links;
pub mod netem;
pub mod tbf;

use super::netlink::{Request, Socket};
use super::Result;
use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use netlink_packet_route::RouteNetlinkMessage;
use serde::Serialize;

/// `TCA_OPTIONS` in `enum TCA_*` of rtnetlink.h.
const TCA_OPTIONS: u16 = 2;
/// Nested-attribute flag.
pub(crate) const NLA_F_NESTED: u16 = 0x8000;

/// Length of a kernel scheduler tick in ns (`PSCHED_SHIFT` = 6): the unit
/// of the `buffer` and `latency` fields of the old fixed structs.
pub(crate) const TICK_NS: u64 = 64;

/// One netlink attribute: header, payload, padding to 4 bytes.
pub(crate) fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut v = Vec::with_capacity((len + 3) & !3);
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// Probability in percent as the kernel's u32 fraction of `u32::MAX`
/// (iproute2's `set_percent`: `rint(p * UINT32_MAX)`).
pub(crate) fn prob(percent: f64) -> u32 {
    ((percent / 100.0).clamp(0.0, 1.0) * u32::MAX as f64).round() as u32
}

/// A root qdisc to install: its kind, handle and encoded options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    pub kind: &'static str,
    pub handle_major: u16,
    pub options: Vec<u8>,
}

fn root_msg(index: u32, handle_major: u16) -> TcMessage {
    let mut m = TcMessage::default();
    m.header.index = index as i32;
    m.header.parent = TcHandle::ROOT;
    m.header.handle = TcHandle {
        major: handle_major,
        minor: 0,
    };
    m
}

/// Installs or changes the root qdisc of interface `index` (in the
/// socket's namespace). `exclusive` fails if a root qdisc of this kind is
/// already there (first setup); otherwise it replaces whatever is there.
pub fn set_root(index: u32, q: &Qdisc, exclusive: bool, what: String) -> Request {
    let mut m = root_msg(index, q.handle_major);
    m.attributes.push(TcAttribute::Kind(q.kind.to_string()));
    m.attributes.push(TcAttribute::Other(DefaultNla::new(
        TCA_OPTIONS,
        q.options.clone(),
    )));
    let flags = if exclusive {
        NLM_F_CREATE | NLM_F_EXCL
    } else {
        NLM_F_CREATE | NLM_F_REPLACE
    };
    Request::new(RouteNetlinkMessage::NewQueueDiscipline(m), flags, what)
}

/// Removes the root qdisc of `index`; the kernel answers ENOENT when there
/// is none of ours (a veth's default `noqueue` has handle 0).
pub fn delete_root(index: u32, what: String) -> Request {
    let m = root_msg(index, 0);
    Request::new(RouteNetlinkMessage::DelQueueDiscipline(m), 0, what)
}

/// Adds the ingress qdisc (used by the feature probe).
pub fn add_ingress(index: u32, what: String) -> Request {
    let mut m = TcMessage::default();
    m.header.index = index as i32;
    m.header.parent = TcHandle::INGRESS;
    m.header.handle = TcHandle {
        major: 0xffff,
        minor: 0,
    };
    m.attributes.push(TcAttribute::Kind("ingress".into()));
    m.attributes.push(TcAttribute::Options(vec![]));
    let _ = TcOption::Ingress;
    Request::new(
        RouteNetlinkMessage::NewQueueDiscipline(m),
        NLM_F_CREATE | NLM_F_EXCL,
        what,
    )
}

/// A plain packet FIFO of `limit` packets (`struct tc_fifo_qopt`): a
/// queue length with nothing else asked for.
pub fn pfifo(limit: u32) -> Qdisc {
    Qdisc {
        kind: "pfifo",
        handle_major: 4,
        options: limit.to_ne_bytes().to_vec(),
    }
}

/// The root qdisc that carries `imp` on the kernel: netem when anything
/// but a rate or limit is asked for (netem does rate and limit too), tbf
/// for a rate, pfifo for a bare queue limit; `None` for nothing.
pub fn for_impairment(imp: &crate::topo::conditions::Impairment) -> Option<Qdisc> {
    if imp.is_none() {
        return None;
    }
    if imp.needs_netem() {
        return Some(netem::build(imp));
    }
    tbf::build(imp).or_else(|| imp.limit.map(pfifo))
}

/// A root qdisc as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RootQdisc {
    pub index: u32,
    pub kind: String,
    /// Decoded settings (tbf and netem), for `nlab link show`.
    pub settings: Option<crate::topo::conditions::Impairment>,
}

/// Root qdiscs of every interface in the socket's namespace.
pub fn dump_roots(sock: &mut Socket, what: &str) -> Result<Vec<RootQdisc>> {
    let msgs = sock.dump(
        RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
        what,
    )?;
    let mut out = Vec::new();
    for m in msgs {
        let RouteNetlinkMessage::NewQueueDiscipline(m) = m else {
            continue;
        };
        if m.header.parent != TcHandle::ROOT {
            continue;
        }
        let mut kind = String::new();
        let mut raw: Option<Vec<u8>> = None;
        for a in &m.attributes {
            match a {
                TcAttribute::Kind(k) => kind = k.clone(),
                TcAttribute::Options(o) => {
                    if let [TcOption::Other(n)] = o.as_slice() {
                        let mut buf = vec![0u8; netlink_packet_core::Emitable::buffer_len(n)];
                        netlink_packet_core::Emitable::emit(n, &mut buf);
                        raw = Some(buf.get(4..).map(|b| b.to_vec()).unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        let settings = raw.as_deref().and_then(|r| match kind.as_str() {
            "tbf" => tbf::decode(r),
            "netem" => netem::decode(r),
            "pfifo" => r.get(..4).map(|b| crate::topo::conditions::Impairment {
                limit: Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
                ..Default::default()
            }),
            _ => None,
        });
        out.push(RootQdisc {
            index: m.header.index as u32,
            kind,
            settings,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded() {
        assert_eq!(nla(6, &[1, 2, 3, 4]), vec![8, 0, 6, 0, 1, 2, 3, 4]);
        assert_eq!(nla(1, &[9]), vec![5, 0, 1, 0, 9, 0, 0, 0]);
        assert_eq!(prob(100.0), u32::MAX);
        assert_eq!(prob(0.0), 0);
        assert_eq!(prob(50.0), 2_147_483_648);
        assert_eq!(prob(1.0), 42_949_673);
    }
}
