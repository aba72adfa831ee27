//! nlab's DHCP client (RFC 2131 section 4.4), pure: the state machine of
//! one interface, fed replies and the time, answering with what to send.
//! Times are milliseconds on any monotonic clock.
//!
//! INIT → (DISCOVER) SELECTING → (REQUEST) REQUESTING → BOUND → at T1
//! RENEWING (unicast REQUEST to the server) → at T2 REBINDING (broadcast)
//! → at expiry back to INIT. A NAK at any point starts over.

use crate::topo::{IpNet, MacAddr};
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};

/// First retransmission after this; doubled per try up to [`MAX_RETRY_MS`].
const FIRST_RETRY_MS: u64 = 250;
const MAX_RETRY_MS: u64 = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Selecting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
}

/// What an ACK gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Binding {
    pub addr: IpNet,
    pub server: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub mtu: Option<u16>,
    /// Option 121 when present (it replaces the router, RFC 3442).
    pub routes: Vec<(IpNet, Ipv4Addr)>,
    pub lease_secs: u32,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    Broadcast,
    Server(Ipv4Addr),
}

/// What the caller must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Nothing,
    Send(Message, To),
    /// Configure the interface (new or changed binding).
    Configure(Binding),
    /// Keep the configuration; the lease was extended.
    Renewed,
    /// Drop the address (NAK or expiry), then call [`Client::discover`].
    Unconfigure,
}

pub struct Client {
    pub mac: MacAddr,
    pub hostname: String,
    xid: u32,
    pub phase: Phase,
    pub binding: Option<Binding>,
    /// Selected offer while REQUESTING.
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
    next_ms: u64,
    retry_ms: u64,
    bound_ms: u64,
    pub naks: u32,
}

impl Client {
    pub fn new(mac: MacAddr, hostname: &str, xid: u32) -> Client {
        Client {
            mac,
            hostname: hostname.to_string(),
            xid,
            phase: Phase::Selecting,
            binding: None,
            offer: None,
            next_ms: 0,
            retry_ms: FIRST_RETRY_MS,
            bound_ms: 0,
            naks: 0,
        }
    }

    /// When [`Client::on_timer`] wants to run next.
    pub fn deadline(&self) -> u64 {
        self.next_ms
    }

    fn message(&self, kind: MessageType, ciaddr: Ipv4Addr) -> Message {
        let z = Ipv4Addr::UNSPECIFIED;
        let mut m = Message::new_with_id(self.xid, ciaddr, z, z, z, &self.mac.0);
        m.set_opcode(Opcode::BootRequest);
        // Ask for broadcast replies: the interface has no address to
        // receive unicasts on yet (and dnsmasq would unicast otherwise).
        if ciaddr.is_unspecified() {
            m.set_flags(Flags::default().set_broadcast());
        }
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(kind));
        o.insert(DhcpOption::Hostname(self.hostname.clone()));
        o.insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::DomainName,
            OptionCode::InterfaceMtu,
            OptionCode::ClasslessStaticRoute,
        ]));
        m
    }

    fn retry(&mut self, now: u64) {
        self.next_ms = now + self.retry_ms;
        self.retry_ms = (self.retry_ms * 2).min(MAX_RETRY_MS);
    }

    /// (Re)starts discovery.
    pub fn discover(&mut self, now: u64) -> Action {
        self.phase = Phase::Selecting;
        self.offer = None;
        self.xid = self.xid.wrapping_add(1);
        self.retry_ms = FIRST_RETRY_MS;
        self.retry(now);
        Action::Send(
            self.message(MessageType::Discover, Ipv4Addr::UNSPECIFIED),
            To::Broadcast,
        )
    }

    fn request(&self) -> Option<Message> {
        let (ip, server) = self.offer?;
        let mut m = self.message(MessageType::Request, Ipv4Addr::UNSPECIFIED);
        m.opts_mut().insert(DhcpOption::RequestedIpAddress(ip));
        m.opts_mut().insert(DhcpOption::ServerIdentifier(server));
        Some(m)
    }

    fn renew_msg(&self) -> Option<Message> {
        let b = self.binding.as_ref()?;
        let IpAddr::V4(ip) = b.addr.addr else {
            return None;
        };
        Some(self.message(MessageType::Request, ip))
    }

    /// A RELEASE of the current binding, to send before giving it up.
    pub fn release(&self) -> Option<(Message, To)> {
        let b = self.binding.as_ref()?;
        let IpAddr::V4(ip) = b.addr.addr else {
            return None;
        };
        let mut m = self.message(MessageType::Release, ip);
        m.opts_mut().insert(DhcpOption::ServerIdentifier(b.server));
        Some((m, To::Server(b.server)))
    }

    /// A timer ran out (`now >= deadline()`).
    pub fn on_timer(&mut self, now: u64) -> Action {
        if now < self.next_ms {
            return Action::Nothing;
        }
        match self.phase {
            // Retransmit, backing off (a lab of a thousand hosts whose
            // server is slow must not flood it at a fixed rate).
            Phase::Selecting => {
                self.retry(now);
                Action::Send(
                    self.message(MessageType::Discover, Ipv4Addr::UNSPECIFIED),
                    To::Broadcast,
                )
            }
            Phase::Requesting => match self.request() {
                Some(m) if self.retry_ms < MAX_RETRY_MS => {
                    self.retry(now);
                    Action::Send(m, To::Broadcast)
                }
                _ => self.discover(now),
            },
            Phase::Bound | Phase::Renewing | Phase::Rebinding => self.lease_timer(now),
        }
    }

    fn lease_timer(&mut self, now: u64) -> Action {
        let Some(b) = &self.binding else {
            return self.discover(now);
        };
        let lease = u64::from(b.lease_secs) * 1000;
        let (t1, t2, end) = (
            self.bound_ms + lease / 2,
            self.bound_ms + lease * 7 / 8,
            self.bound_ms + lease,
        );
        let server = b.server;
        if now >= end {
            self.binding = None;
            return Action::Unconfigure;
        }
        let (phase, to, next) = if now >= t2 {
            (Phase::Rebinding, To::Broadcast, end)
        } else if now >= t1 {
            (Phase::Renewing, To::Server(server), t2)
        } else {
            self.next_ms = t1;
            return Action::Nothing;
        };
        self.phase = phase;
        // RFC 2131: retransmit after half the remaining time, at least 60 s
        // in real deployments; a lab's short leases need a smaller floor.
        self.next_ms = (now + (next - now) / 2).max(now + 1000).min(next);
        match self.renew_msg() {
            Some(m) => Action::Send(m, to),
            None => Action::Nothing,
        }
    }

    /// A reply arrived.
    pub fn on_reply(&mut self, m: &Message, now: u64) -> Action {
        if m.opcode() != Opcode::BootReply
            || m.xid() != self.xid
            || m.chaddr().get(..6) != Some(&self.mac.0[..])
        {
            return Action::Nothing;
        }
        let server = match m.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(s)) => *s,
            _ => return Action::Nothing,
        };
        match (m.opts().msg_type(), self.phase) {
            (Some(MessageType::Offer), Phase::Selecting) => {
                self.offer = Some((m.yiaddr(), server));
                self.phase = Phase::Requesting;
                self.retry_ms = FIRST_RETRY_MS;
                self.retry(now);
                match self.request() {
                    Some(r) => Action::Send(r, To::Broadcast),
                    None => Action::Nothing,
                }
            }
            (Some(MessageType::Ack), Phase::Requesting | Phase::Renewing | Phase::Rebinding) => {
                self.ack(m, server, now)
            }
            (Some(MessageType::Nak), Phase::Requesting | Phase::Renewing | Phase::Rebinding) => {
                self.naks += 1;
                if self.binding.take().is_some() {
                    // The caller drops the address, then calls `discover`.
                    Action::Unconfigure
                } else {
                    self.discover(now)
                }
            }
            _ => Action::Nothing,
        }
    }

    fn ack(&mut self, m: &Message, server: Ipv4Addr, now: u64) -> Action {
        let b = binding_of(m, server);
        self.bound_ms = now;
        self.phase = Phase::Bound;
        self.next_ms = now + u64::from(b.lease_secs) * 500;
        let same = self.binding.as_ref().is_some_and(|old| {
            old.addr == b.addr && old.routes == b.routes && old.router == b.router
        });
        self.binding = Some(b.clone());
        if same {
            Action::Renewed
        } else {
            Action::Configure(b)
        }
    }
}

fn binding_of(m: &Message, server: Ipv4Addr) -> Binding {
    let o = m.opts();
    let mask = match o.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mk)) => u32::from(*mk).leading_ones() as u8,
        _ => 24,
    };
    let router = match o.get(OptionCode::Router) {
        Some(DhcpOption::Router(r)) => r.first().copied(),
        _ => None,
    };
    let routes = match o.get(OptionCode::ClasslessStaticRoute) {
        Some(DhcpOption::ClasslessStaticRoute(v)) => v
            .iter()
            .map(|(n, via)| {
                (
                    IpNet {
                        addr: IpAddr::V4(n.network()),
                        prefix: n.prefix_len(),
                    },
                    *via,
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Binding {
        addr: IpNet {
            addr: IpAddr::V4(m.yiaddr()),
            prefix: mask,
        },
        server,
        router,
        dns: match o.get(OptionCode::DomainNameServer) {
            Some(DhcpOption::DomainNameServer(d)) => d.clone(),
            _ => Vec::new(),
        },
        domain: match o.get(OptionCode::DomainName) {
            Some(DhcpOption::DomainName(d)) => Some(d.clone()),
            _ => None,
        },
        mtu: match o.get(OptionCode::InterfaceMtu) {
            Some(DhcpOption::InterfaceMtu(v)) => Some(*v),
            _ => None,
        },
        routes,
        lease_secs: match o.get(OptionCode::AddressLeaseTime) {
            Some(DhcpOption::AddressLeaseTime(s)) => (*s).max(10),
            _ => 3600,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::dhcp::leases::Leases;
    use crate::services::dhcp::pool::Subnet;
    use crate::services::dhcp::server::Server;
    use crate::topo::dhcp::Scope;

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn server(lease: u32) -> Server {
        let mut s = Scope::new(Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 101));
        s.lease_secs = lease;
        s.router = Some(Ipv4Addr::new(10, 0, 0, 1));
        s.mtu = Some(1400);
        let net = "10.0.0.0/24".parse().expect("net");
        Server::new(SERVER, vec![Subnet { net, scope: s }], Leases::new())
    }

    /// Sends what the client wants sent to the server, returns the
    /// client's reaction to the reply (if any).
    fn exchange(c: &mut Client, s: &mut Server, a: Action, now_ms: u64) -> Action {
        let Action::Send(m, _) = a else { return a };
        match s.handle(&m, now_ms / 1000) {
            Some(r) => c.on_reply(&r.msg, now_ms),
            None => Action::Nothing,
        }
    }

    fn bound(c: &mut Client, s: &mut Server, now: u64) -> Binding {
        let a = c.discover(now);
        let a = exchange(c, s, a, now);
        let Action::Configure(b) = exchange(c, s, a, now) else {
            panic!("no binding")
        };
        b
    }

    #[test]
    fn binds_renews_at_t1_rebinds_at_t2_and_lets_go_at_expiry() {
        let mut s = server(100);
        let mut c = Client::new(MacAddr::sequential(1), "h1", 1);
        let b = bound(&mut c, &mut s, 0);
        assert_eq!(b.addr, "10.0.0.100/24".parse().expect("net"));
        assert_eq!(
            (b.router, b.mtu, b.lease_secs, b.server),
            (Some(Ipv4Addr::new(10, 0, 0, 1)), Some(1400), 100, SERVER)
        );
        assert_eq!(c.phase, Phase::Bound);
        assert_eq!(c.deadline(), 50_000, "T1 is half the lease");
        assert_eq!(c.on_timer(49_999), Action::Nothing);
        // T1: a unicast REQUEST with ciaddr, answered: the lease goes on.
        let a = c.on_timer(50_000);
        let Action::Send(m, To::Server(to)) = &a else {
            panic!("{a:?}")
        };
        assert_eq!((*to, m.ciaddr()), (SERVER, Ipv4Addr::new(10, 0, 0, 100)));
        assert_eq!(c.phase, Phase::Renewing);
        assert_eq!(exchange(&mut c, &mut s, a, 50_000), Action::Renewed);
        assert_eq!(c.phase, Phase::Bound);
        // The server is gone: T1 (100 s) unanswered, T2 (137.5 s) broadcast.
        let a = c.on_timer(100_000);
        assert!(matches!(a, Action::Send(_, To::Server(_))));
        let mut t = 100_000;
        while c.phase != Phase::Rebinding {
            t = c.deadline();
            let _ = c.on_timer(t);
        }
        assert!(t >= 137_500, "rebinding from T2, not before: {t}");
        while t < 150_000 {
            t = c.deadline();
            if let Action::Unconfigure = c.on_timer(t) {
                break;
            }
        }
        assert_eq!(t, 150_000, "the address goes when the lease ends");
        assert!(c.binding.is_none());
    }

    #[test]
    fn a_nak_while_renewing_drops_the_address_and_starts_over() {
        let mut s = server(100);
        let mut c = Client::new(MacAddr::sequential(1), "h1", 1);
        bound(&mut c, &mut s, 0);
        // The server lost the lease to someone else meanwhile.
        s.leases.leases.clear();
        let other = Client::new(MacAddr::sequential(2), "h2", 9);
        let mut other = other;
        let got = bound(&mut other, &mut s, 10_000);
        assert_eq!(got.addr.addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)));
        let a = c.on_timer(50_000);
        assert_eq!(exchange(&mut c, &mut s, a, 50_000), Action::Unconfigure);
        assert_eq!(c.naks, 1);
        let b = bound(&mut c, &mut s, 50_000);
        assert_eq!(b.addr.addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 101)));
    }

    #[test]
    fn silence_is_retried_with_backoff_and_strangers_are_ignored() {
        let mut c = Client::new(MacAddr::sequential(1), "h1", 1);
        let _ = c.discover(0);
        let mut t = 0;
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let next = c.deadline();
            gaps.push(next - t);
            t = next;
            assert!(matches!(c.on_timer(t), Action::Send(_, To::Broadcast)));
        }
        assert_eq!(gaps, [250, 500, 1000, 2000, 4000, 4000]);
        // A reply for another client (other xid / MAC) changes nothing.
        let mut s = server(100);
        let mut other = Client::new(MacAddr::sequential(2), "h2", 77);
        let Action::Send(m, _) = other.discover(0) else {
            panic!()
        };
        let offer = s.handle(&m, 0).expect("offer");
        assert_eq!(c.on_reply(&offer.msg, t), Action::Nothing);
        assert_eq!(c.phase, Phase::Selecting);
    }
}
