//! Test support: a request put on the wire as [`Socket::execute`] puts it,
//! and read back, so the request builders' tests check the bytes the
//! kernel would get rather than the structs they were built from.
//!
//! [`Socket::execute`]: super::netlink::Socket::execute

use super::netlink::Request;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;

/// What the kernel would read: the header fields, decoded by hand, and
/// the message, decoded by the parser the kernel's replies go through.
pub struct Wire {
    pub kind: u16,
    pub flags: u16,
    pub msg: RouteNetlinkMessage,
}

/// Encodes `req` as the socket does and decodes it again.
pub fn roundtrip(req: &Request) -> Wire {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_ACK | req.flags;
    hdr.sequence_number = 7;
    let mut m = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(req.msg.clone()));
    m.finalize();
    let mut buf = vec![0u8; m.buffer_len()];
    m.serialize(&mut buf);
    // struct nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid.
    assert!(buf.len() >= 16, "{} bytes is no netlink message", buf.len());
    let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap());
    assert_eq!(len as usize, buf.len(), "nlmsg_len covers the message");
    assert_eq!(u32::from_ne_bytes(buf[8..12].try_into().unwrap()), 7);
    let kind = u16::from_ne_bytes(buf[4..6].try_into().unwrap());
    let flags = u16::from_ne_bytes(buf[6..8].try_into().unwrap());
    let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf)
        .unwrap_or_else(|e| panic!("{}: does not decode: {e}", req.what));
    assert_eq!(back.header.message_type, kind);
    let NetlinkPayload::InnerMessage(msg) = back.payload else {
        panic!("{}: decodes to {:?}", req.what, back.payload);
    };
    Wire { kind, flags, msg }
}

/// `"10.0.0.1/24"` as an [`IpNet`](crate::topo::IpNet), for test requests.
pub fn net(s: &str) -> crate::topo::IpNet {
    let (a, p) = s.split_once('/').expect("addr/prefix");
    crate::topo::IpNet {
        addr: a.parse().expect("an address"),
        prefix: p.parse().expect("a prefix"),
    }
}
