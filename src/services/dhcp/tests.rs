//! The server fed packets, replies checked: no sockets, no root.

use super::leases::{LeaseState, Leases};
use super::pool::Subnet;
use super::server::{Dest, Server};
use crate::topo::dhcp::{Reservation, Scope};
use crate::topo::MacAddr;
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use std::net::Ipv4Addr;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn mac(n: u64) -> MacAddr {
    MacAddr::sequential(n)
}

fn server() -> Server {
    let mut own = Scope::new(ip("10.0.0.100"), ip("10.0.0.102"));
    own.router = Some(ip("10.0.0.1"));
    own.dns = vec![ip("10.0.0.53")];
    own.domain = Some("lab.test".into());
    own.mtu = Some(1400);
    own.lease_secs = 600;
    own.routes = vec![("10.9.0.0/16".parse().unwrap(), ip("10.0.0.254"))];
    own.reservations.push(Reservation {
        mac: mac(0x99),
        ip: ip("10.0.0.50"),
        loc: Default::default(),
    });
    let mut far = Scope::new(ip("10.2.0.100"), ip("10.2.0.199"));
    far.router = Some(ip("10.2.0.1"));
    let subnets = vec![
        Subnet {
            net: "10.0.0.0/24".parse().unwrap(),
            scope: own,
        },
        Subnet {
            net: "10.2.0.0/24".parse().unwrap(),
            scope: far,
        },
    ];
    Server::new(SERVER, subnets, Leases::new())
}

/// A client request, through the wire format and back (as the socket
/// would deliver it).
fn req(kind: MessageType, m: &MacAddr, opts: &[DhcpOption]) -> Message {
    let mut msg = Message::new_with_id(
        7,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &m.0,
    );
    msg.set_opcode(Opcode::BootRequest);
    msg.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        msg.opts_mut().insert(o.clone());
    }
    wire(&msg)
}

fn wire(m: &Message) -> Message {
    let bytes = m.to_vec().expect("encode");
    Message::from_bytes(&bytes).expect("decode")
}

fn opt(m: &Message, c: OptionCode) -> Option<DhcpOption> {
    m.opts().get(c).cloned()
}

/// DISCOVER, then REQUEST of what was offered: the ACK.
fn lease(s: &mut Server, m: &MacAddr, now: u64) -> Message {
    let offer = s
        .handle(&req(MessageType::Discover, m, &[]), now)
        .expect("offer");
    assert_eq!(offer.kind(), Some(MessageType::Offer));
    let yi = offer.msg.yiaddr();
    let ack = s
        .handle(
            &req(
                MessageType::Request,
                m,
                &[
                    DhcpOption::ServerIdentifier(SERVER),
                    DhcpOption::RequestedIpAddress(yi),
                ],
            ),
            now,
        )
        .expect("ack");
    assert_eq!(ack.kind(), Some(MessageType::Ack));
    assert_eq!(ack.dest, Dest::Broadcast);
    wire(&ack.msg)
}

#[test]
fn discover_offer_request_ack_with_every_option() {
    let mut s = server();
    let ack = lease(&mut s, &mac(1), 1000);
    assert_eq!(ack.yiaddr(), ip("10.0.0.100"));
    assert_eq!(ack.opcode(), Opcode::BootReply);
    assert_eq!(ack.xid(), 7);
    assert_eq!(
        opt(&ack, OptionCode::ServerIdentifier),
        Some(DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(
        opt(&ack, OptionCode::AddressLeaseTime),
        Some(DhcpOption::AddressLeaseTime(600))
    );
    assert_eq!(
        opt(&ack, OptionCode::Renewal),
        Some(DhcpOption::Renewal(300))
    );
    assert_eq!(
        opt(&ack, OptionCode::Rebinding),
        Some(DhcpOption::Rebinding(525))
    );
    assert_eq!(
        opt(&ack, OptionCode::SubnetMask),
        Some(DhcpOption::SubnetMask(ip("255.255.255.0")))
    );
    assert_eq!(
        opt(&ack, OptionCode::Router),
        Some(DhcpOption::Router(vec![ip("10.0.0.1")]))
    );
    assert_eq!(
        opt(&ack, OptionCode::DomainNameServer),
        Some(DhcpOption::DomainNameServer(vec![ip("10.0.0.53")]))
    );
    assert_eq!(
        opt(&ack, OptionCode::DomainName),
        Some(DhcpOption::DomainName("lab.test".into()))
    );
    assert_eq!(
        opt(&ack, OptionCode::InterfaceMtu),
        Some(DhcpOption::InterfaceMtu(1400))
    );
    let Some(DhcpOption::ClasslessStaticRoute(routes)) =
        opt(&ack, OptionCode::ClasslessStaticRoute)
    else {
        panic!("no option 121 in {ack:?}");
    };
    let shown: Vec<String> = routes.iter().map(|(n, v)| format!("{n} via {v}")).collect();
    assert_eq!(
        shown,
        ["10.9.0.0/16 via 10.0.0.254", "0.0.0.0/0 via 10.0.0.1"]
    );
    let l = &s.leases.leases[&ip("10.0.0.100")];
    assert_eq!(
        (l.state, l.expires, l.mac),
        (LeaseState::Bound, 1600, Some(mac(1)))
    );
    assert!(s.take_dirty() && !s.take_dirty());
}

#[test]
fn a_reservation_is_given_to_its_mac_only() {
    let mut s = server();
    assert_eq!(lease(&mut s, &mac(0x99), 0).yiaddr(), ip("10.0.0.50"));
    // Another client asking for the reserved address is refused.
    let nak = s
        .handle(
            &req(
                MessageType::Request,
                &mac(2),
                &[DhcpOption::RequestedIpAddress(ip("10.0.0.50"))],
            ),
            0,
        )
        .expect("nak");
    assert_eq!(nak.kind(), Some(MessageType::Nak));
    assert_eq!(nak.dest, Dest::Broadcast);
}

#[test]
fn renewal_extends_the_lease_and_is_answered_by_unicast() {
    let mut s = server();
    let yi = lease(&mut s, &mac(1), 0).yiaddr();
    let mut renew = req(MessageType::Request, &mac(1), &[]);
    renew.set_ciaddr(yi);
    let ack = s.handle(&renew, 400).expect("renewal ack");
    assert_eq!(ack.kind(), Some(MessageType::Ack));
    assert_eq!(ack.dest, Dest::Client(yi));
    assert_eq!(ack.msg.ciaddr(), yi);
    assert_eq!(s.leases.leases[&yi].expires, 1000);
    // Someone else renewing that address: NAK.
    let mut theft = req(MessageType::Request, &mac(2), &[]);
    theft.set_ciaddr(yi);
    assert_eq!(
        s.handle(&theft, 400).and_then(|r| r.kind()),
        Some(MessageType::Nak)
    );
}

#[test]
fn foreign_addresses_and_other_servers() {
    let mut s = server();
    // INIT-REBOOT with an address of another subnet, or outside the pool.
    for a in ["192.168.1.5", "10.0.0.200"] {
        let r = s.handle(
            &req(
                MessageType::Request,
                &mac(1),
                &[DhcpOption::RequestedIpAddress(ip(a))],
            ),
            0,
        );
        assert_eq!(r.and_then(|r| r.kind()), Some(MessageType::Nak), "{a}");
    }
    // SELECTING another server's offer: silence, and our offer is freed.
    s.handle(&req(MessageType::Discover, &mac(1), &[]), 0)
        .expect("offer");
    let other = [
        DhcpOption::ServerIdentifier(ip("10.0.0.3")),
        DhcpOption::RequestedIpAddress(ip("10.0.0.100")),
    ];
    assert!(s
        .handle(&req(MessageType::Request, &mac(1), &other), 0)
        .is_none());
    assert!(s.leases.leases.is_empty());
}

#[test]
fn release_and_decline_free_or_quarantine_the_address() {
    let mut s = server();
    let yi = lease(&mut s, &mac(1), 0).yiaddr();
    let mut rel = req(MessageType::Release, &mac(1), &[]);
    rel.set_ciaddr(yi);
    assert!(s.handle(&rel, 10).is_none());
    assert!(s.leases.leases.is_empty());
    assert!(s.take_dirty());
    let yi = lease(&mut s, &mac(2), 20).yiaddr();
    assert_eq!(yi, ip("10.0.0.100"));
    assert!(s
        .handle(
            &req(
                MessageType::Decline,
                &mac(2),
                &[DhcpOption::RequestedIpAddress(yi)]
            ),
            30
        )
        .is_none());
    assert_eq!(s.leases.leases[&yi].state, LeaseState::Declined);
    // The declining client gets another address.
    assert_eq!(lease(&mut s, &mac(2), 40).yiaddr(), ip("10.0.0.101"));
}

#[test]
fn inform_gets_options_without_an_address() {
    let mut s = server();
    let mut inf = req(MessageType::Inform, &mac(5), &[]);
    inf.set_ciaddr(ip("10.0.0.7"));
    let r = s.handle(&inf, 0).expect("ack");
    assert_eq!(r.kind(), Some(MessageType::Ack));
    assert_eq!(r.dest, Dest::Client(ip("10.0.0.7")));
    assert_eq!(r.msg.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(opt(&r.msg, OptionCode::AddressLeaseTime).is_none());
    assert!(opt(&r.msg, OptionCode::Router).is_some());
    assert!(s.leases.leases.is_empty());
}

#[test]
fn relayed_requests_get_their_subnet_and_go_back_to_the_relay() {
    let mut s = server();
    let mut d = req(MessageType::Discover, &mac(1), &[]);
    d.set_giaddr(ip("10.2.0.1"));
    let offer = s.handle(&d, 0).expect("offer");
    assert_eq!(offer.msg.yiaddr(), ip("10.2.0.100"));
    assert_eq!(offer.dest, Dest::Relay(ip("10.2.0.1")));
    assert_eq!(offer.msg.giaddr(), ip("10.2.0.1"));
    assert_eq!(
        opt(&offer.msg, OptionCode::Router),
        Some(DhcpOption::Router(vec![ip("10.2.0.1")]))
    );
    // A relay we serve no subnet for: ignored.
    let mut d = req(MessageType::Discover, &mac(1), &[]);
    d.set_giaddr(ip("172.16.0.1"));
    assert!(s.handle(&d, 0).is_none());
}

#[test]
fn an_exhausted_pool_offers_nothing_and_expired_leases_come_back() {
    let mut s = server();
    for n in 1..=3 {
        lease(&mut s, &mac(n), 0);
    }
    assert!(s
        .handle(&req(MessageType::Discover, &mac(4), &[]), 10)
        .is_none());
    assert_eq!(lease(&mut s, &mac(4), 700).yiaddr(), ip("10.0.0.100"));
}

#[test]
fn a_restarted_server_keeps_every_lease_and_never_gives_one_twice() {
    let d = tempfile::tempdir().expect("tmp");
    let p = d.path().join("s.leases.json");
    let mut s = server();
    let a = lease(&mut s, &mac(1), 0).yiaddr();
    let b = lease(&mut s, &mac(2), 0).yiaddr();
    s.leases.save(&p).expect("save");
    // "kill -9": a new server from the file alone.
    let mut s2 = server();
    s2.leases = Leases::load(&p).expect("load");
    let c = lease(&mut s2, &mac(3), 5).yiaddr();
    assert!(c != a && c != b, "{c} handed out twice");
    assert_eq!(
        lease(&mut s2, &mac(1), 5).yiaddr(),
        a,
        "a client keeps its address"
    );
}

/// A reserved-only scope (as a virtual network's server runs) with
/// reservations for `macs` (10.0.0.1x for mac(x)).
fn static_subnets(macs: &[u64]) -> Vec<Subnet> {
    let mut own = Scope::new(ip("10.0.0.100"), ip("10.0.0.102"));
    own.reserved_only = true;
    own.reservations = macs
        .iter()
        .map(|m| Reservation {
            mac: mac(*m),
            ip: Ipv4Addr::new(10, 0, 0, 10 + *m as u8),
            loc: Default::default(),
        })
        .collect();
    vec![Subnet {
        net: "10.0.0.0/24".parse().unwrap(),
        scope: own,
    }]
}

#[test]
fn new_scopes_while_running_keep_the_leases_and_the_exchanges_in_flight() {
    let mut s = Server::new(SERVER, static_subnets(&[1, 2]), Leases::new());
    assert_eq!(lease(&mut s, &mac(1), 0).yiaddr(), ip("10.0.0.11"));
    // mac(2) is between its OFFER and its REQUEST when the scopes change.
    let offer = s
        .handle(&req(MessageType::Discover, &mac(2), &[]), 0)
        .expect("offer");
    assert_eq!(offer.msg.yiaddr(), ip("10.0.0.12"));
    assert_eq!(
        s.handle(&req(MessageType::Discover, &mac(3), &[]), 0)
            .map(|r| r.kind()),
        None,
        "no reservation, no offer"
    );
    // mac(3) reserved, mac(1) gone; mac(2) unchanged.
    s.set_subnets(static_subnets(&[2, 3]));
    assert_eq!(s.counters.reloads, 1);
    let ack = s
        .handle(
            &req(
                MessageType::Request,
                &mac(2),
                &[
                    DhcpOption::ServerIdentifier(SERVER),
                    DhcpOption::RequestedIpAddress(ip("10.0.0.12")),
                ],
            ),
            1,
        )
        .expect("the exchange in flight ends in an ACK");
    assert_eq!(ack.kind(), Some(MessageType::Ack));
    assert_eq!(lease(&mut s, &mac(3), 2).yiaddr(), ip("10.0.0.13"));
    // The removed reservation is no longer offered, and its holder's
    // renewal is refused: it starts over (and finds nothing).
    assert!(s
        .handle(&req(MessageType::Discover, &mac(1), &[]), 3)
        .is_none());
    let mut renew = req(MessageType::Request, &mac(1), &[]);
    renew.set_ciaddr(ip("10.0.0.11"));
    assert_eq!(
        s.handle(&renew, 3).and_then(|r| r.kind()),
        Some(MessageType::Nak)
    );
    // The lease table is the one the server had: no lease lost.
    let held: Vec<Ipv4Addr> = s.leases.leases.keys().copied().collect();
    assert_eq!(held, [ip("10.0.0.11"), ip("10.0.0.12"), ip("10.0.0.13")]);
    let mut renew = req(MessageType::Request, &mac(2), &[]);
    renew.set_ciaddr(ip("10.0.0.12"));
    assert_eq!(
        s.handle(&renew, 4).and_then(|r| r.kind()),
        Some(MessageType::Ack)
    );
}
