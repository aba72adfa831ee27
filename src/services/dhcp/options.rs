//! The options a reply carries: lease times (51, T1 58, T2 59), subnet
//! mask, router, DNS servers, domain, MTU and classless static routes
//! (121, RFC 3442).

use super::pool::Subnet;
use dhcproto::v4::{DhcpOption, DhcpOptions, MessageType};
use std::net::{IpAddr, Ipv4Addr};

/// Renewal time (T1): half the lease, as RFC 2131 suggests.
pub fn t1(lease: u32) -> u32 {
    lease / 2
}

/// Rebinding time (T2): 7/8 of the lease.
pub fn t2(lease: u32) -> u32 {
    (u64::from(lease) * 7 / 8) as u32
}

/// Options of a reply of type `kind` from server `server_id` in `subnet`;
/// `lease` is `None` for an INFORM answer (no address, no times) and NAKs.
pub fn reply_options(
    kind: MessageType,
    server_id: Ipv4Addr,
    subnet: Option<&Subnet>,
    lease: Option<u32>,
) -> DhcpOptions {
    let mut o = DhcpOptions::new();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::ServerIdentifier(server_id));
    if kind == MessageType::Nak {
        return o;
    }
    if let Some(secs) = lease {
        o.insert(DhcpOption::AddressLeaseTime(secs));
        o.insert(DhcpOption::Renewal(t1(secs)));
        o.insert(DhcpOption::Rebinding(t2(secs)));
    }
    let Some(s) = subnet else { return o };
    o.insert(DhcpOption::SubnetMask(s.mask()));
    let sc = &s.scope;
    if let Some(r) = sc.router {
        o.insert(DhcpOption::Router(vec![r]));
    }
    if !sc.dns.is_empty() {
        o.insert(DhcpOption::DomainNameServer(sc.dns.clone()));
    }
    if let Some(d) = &sc.domain {
        o.insert(DhcpOption::DomainName(d.clone()));
    }
    if let Some(m) = sc.mtu {
        o.insert(DhcpOption::InterfaceMtu(m));
    }
    if !sc.routes.is_empty() {
        o.insert(DhcpOption::ClasslessStaticRoute(classless(s)));
    }
    o
}

/// Option 121's routes. A client that gets option 121 ignores option 3
/// (RFC 3442), so the router goes in as the default route too.
fn classless(s: &Subnet) -> Vec<(ipnet::Ipv4Net, Ipv4Addr)> {
    let mut v: Vec<(ipnet::Ipv4Net, Ipv4Addr)> = s
        .scope
        .routes
        .iter()
        .filter_map(|(dst, via)| match dst.network() {
            IpAddr::V4(n) => ipnet::Ipv4Net::new(n, dst.prefix).ok().map(|n| (n, *via)),
            IpAddr::V6(_) => None,
        })
        .collect();
    if let Some(r) = s.scope.router {
        if !v.iter().any(|(n, _)| n.prefix_len() == 0) {
            v.push((ipnet::Ipv4Net::default(), r));
        }
    }
    v
}
