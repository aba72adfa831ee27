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
            Phase::Selecting => self.discover(now),
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
