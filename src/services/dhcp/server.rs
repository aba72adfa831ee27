//! The DHCPv4 server's protocol (RFC 2131), pure: a request and the time
//! in, a reply (and where it goes) out, the lease table updated. No
//! sockets here, so every exchange is tested without root.
//!
//! The server is authoritative for its subnets: a REQUEST for an address
//! it cannot give that client (another subnet, outside the pool, someone
//! else's) gets a NAK, so a client moved between segments starts over at
//! once instead of waiting for its old lease to run out.

use super::leases::{Lease, LeaseState, Leases};
use super::options::reply_options;
use super::pool::Subnet;
use crate::topo::MacAddr;
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use serde::Serialize;
use std::net::Ipv4Addr;

/// How long an offered address is held for the client it was offered to.
pub const OFFER_HOLD_SECS: u64 = 30;

/// Where a reply goes (RFC 2131 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// 255.255.255.255:68 on the server's interface.
    Broadcast,
    /// A client that has its address (renewing, INFORM): `ip`:68.
    Client(Ipv4Addr),
    /// The relay agent that forwarded the request: `giaddr`:67.
    Relay(Ipv4Addr),
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub msg: Message,
    pub dest: Dest,
}

impl Reply {
    pub fn kind(&self) -> Option<MessageType> {
        self.msg.opts().msg_type()
    }
}

/// What the server did, for `nlab leases` and the log.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Counters {
    pub discover: u64,
    pub offer: u64,
    pub request: u64,
    pub ack: u64,
    pub nak: u64,
    pub release: u64,
    pub decline: u64,
    pub inform: u64,
    pub ignored: u64,
    /// New scopes taken while running (see [`Server::set_subnets`]).
    #[serde(default)]
    pub reloads: u64,
}

pub struct Server {
    pub server_id: Ipv4Addr,
    /// `subnets[0]` is the server's own segment.
    pub subnets: Vec<Subnet>,
    pub leases: Leases,
    pub counters: Counters,
    /// Bound leases changed since the last [`Server::take_dirty`]: the
    /// table must be saved before the replies go out.
    dirty: bool,
}

impl Server {
    pub fn new(server_id: Ipv4Addr, subnets: Vec<Subnet>, leases: Leases) -> Server {
        Server {
            server_id,
            subnets,
            leases,
            counters: Counters::default(),
            dirty: false,
        }
    }

    /// Takes new scopes (reservations added or gone, options changed)
    /// while running: the lease table stays. A lease whose reservation
    /// went away is no longer renewed (the server is authoritative, the
    /// client gets a NAK); a removed MAC in a reserved-only scope gets no
    /// offer.
    pub fn set_subnets(&mut self, subnets: Vec<Subnet>) {
        self.subnets = subnets;
        self.counters.reloads += 1;
    }

    /// Whether the table changed since the last call (and must be saved).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Answers one request received at unix time `now`; `None` when the
    /// request gets no answer (not for us, malformed, pool exhausted).
    pub fn handle(&mut self, req: &Message, now: u64) -> Option<Reply> {
        let r = self.dispatch(req, now);
        if r.is_none() {
            self.counters.ignored += 1;
        }
        r
    }

    fn dispatch(&mut self, req: &Message, now: u64) -> Option<Reply> {
        if req.opcode() != Opcode::BootRequest || req.chaddr().len() < 6 {
            return None;
        }
        let mac = mac_of(req)?;
        let si = self.subnet_index(req)?;
        match req.opts().msg_type()? {
            MessageType::Discover => {
                self.counters.discover += 1;
                self.discover(req, mac, si, now)
            }
            MessageType::Request => {
                self.counters.request += 1;
                self.request(req, mac, si, now)
            }
            MessageType::Release => {
                self.counters.release += 1;
                self.release(req, mac);
                None
            }
            MessageType::Decline => {
                self.counters.decline += 1;
                self.decline(req, mac, si, now);
                None
            }
            MessageType::Inform => {
                self.counters.inform += 1;
                Some(self.inform(req, si))
            }
            _ => None,
        }
    }

    /// The subnet a request is for: the relay's (`giaddr`) or our own.
    fn subnet_index(&self, req: &Message) -> Option<usize> {
        let gi = req.giaddr();
        if gi.is_unspecified() {
            return Some(0);
        }
        self.subnets.iter().position(|s| s.contains(gi))
    }

    fn discover(&mut self, req: &Message, mac: MacAddr, si: usize, now: u64) -> Option<Reply> {
        let s = &self.subnets[si];
        let ip = s.pick(&mac, requested(req), &self.leases, now)?;
        let lease_secs = s.scope.lease_secs;
        // A bound lease stays bound (the client is only re-discovering);
        // anything else becomes an offer held for a moment.
        let keep = self
            .leases
            .leases
            .get(&ip)
            .filter(|l| l.state == LeaseState::Bound && l.active(now) && l.mac == Some(mac))
            .cloned();
        self.leases.drop_others(&mac, ip);
        self.leases.insert(keep.unwrap_or(Lease {
            ip,
            mac: Some(mac),
            hostname: hostname(req),
            state: LeaseState::Offered,
            expires: now + OFFER_HOLD_SECS,
            since: now,
        }));
        self.counters.offer += 1;
        Some(self.reply(req, MessageType::Offer, ip, si, Some(lease_secs)))
    }

    fn request(&mut self, req: &Message, mac: MacAddr, si: usize, now: u64) -> Option<Reply> {
        let server_id = req
            .opts()
            .get(OptionCode::ServerIdentifier)
            .and_then(|o| match o {
                DhcpOption::ServerIdentifier(a) => Some(*a),
                _ => None,
            });
        let wanted = match (server_id, requested(req)) {
            // SELECTING: the client chose another server's offer.
            (Some(id), _) if id != self.server_id => {
                self.forget_offer(&mac);
                return None;
            }
            // SELECTING (ours) or INIT-REBOOT: option 50 names the address.
            (_, Some(ip)) => ip,
            // RENEWING / REBINDING: the client's own address in ciaddr.
            (None, None) if !req.ciaddr().is_unspecified() => req.ciaddr(),
            _ => return Some(self.nak(req, si)),
        };
        let s = &self.subnets[si];
        if !s.contains(wanted) || !s.allowed(wanted, &mac, &self.leases, now) {
            return Some(self.nak(req, si));
        }
        let lease_secs = s.scope.lease_secs;
        self.leases.drop_others(&mac, wanted);
        self.leases.insert(Lease {
            ip: wanted,
            mac: Some(mac),
            hostname: hostname(req),
            state: LeaseState::Bound,
            expires: now + u64::from(lease_secs),
            since: now,
        });
        self.dirty = true;
        self.counters.ack += 1;
        Some(self.reply(req, MessageType::Ack, wanted, si, Some(lease_secs)))
    }

    fn forget_offer(&mut self, mac: &MacAddr) {
        self.leases
            .leases
            .retain(|_, l| !(l.state == LeaseState::Offered && l.mac.as_ref() == Some(mac)));
    }

    fn release(&mut self, req: &Message, mac: MacAddr) {
        let ip = req.ciaddr();
        if self
            .leases
            .leases
            .get(&ip)
            .is_some_and(|l| l.mac == Some(mac))
        {
            self.leases.leases.remove(&ip);
            self.dirty = true;
        }
    }

    fn decline(&mut self, req: &Message, mac: MacAddr, si: usize, now: u64) {
        let Some(ip) = requested(req) else { return };
        let ours = self
            .leases
            .leases
            .get(&ip)
            .is_some_and(|l| l.mac == Some(mac));
        if !ours || !self.subnets[si].contains(ip) {
            return;
        }
        self.leases.insert(Lease {
            ip,
            mac: None,
            hostname: None,
            state: LeaseState::Declined,
            expires: now + u64::from(self.subnets[si].scope.lease_secs),
            since: now,
        });
        self.dirty = true;
    }

    fn inform(&mut self, req: &Message, si: usize) -> Reply {
        let mut r = self.reply(req, MessageType::Ack, Ipv4Addr::UNSPECIFIED, si, None);
        if req.giaddr().is_unspecified() && !req.ciaddr().is_unspecified() {
            r.dest = Dest::Client(req.ciaddr());
        }
        r
    }

    fn nak(&mut self, req: &Message, si: usize) -> Reply {
        self.counters.nak += 1;
        let mut r = self.reply(req, MessageType::Nak, Ipv4Addr::UNSPECIFIED, si, None);
        // A NAK is broadcast (or sent to the relay): the client may not
        // have the address it asked about.
        if !matches!(r.dest, Dest::Relay(_)) {
            r.dest = Dest::Broadcast;
        }
        r
    }

    fn reply(
        &self,
        req: &Message,
        kind: MessageType,
        yiaddr: Ipv4Addr,
        si: usize,
        lease: Option<u32>,
    ) -> Reply {
        let mut m = Message::new_with_id(
            req.xid(),
            if kind == MessageType::Ack {
                req.ciaddr()
            } else {
                Ipv4Addr::UNSPECIFIED
            },
            yiaddr,
            Ipv4Addr::UNSPECIFIED,
            req.giaddr(),
            req.chaddr(),
        );
        m.set_opcode(Opcode::BootReply);
        m.set_flags(req.flags());
        let subnet = (kind != MessageType::Nak).then(|| &self.subnets[si]);
        m.set_opts(reply_options(kind, self.server_id, subnet, lease));
        let dest = if !req.giaddr().is_unspecified() {
            Dest::Relay(req.giaddr())
        } else if !req.ciaddr().is_unspecified() && kind == MessageType::Ack {
            Dest::Client(req.ciaddr())
        } else {
            // No address on the client yet: broadcast, whatever the
            // broadcast flag says, so no ARP entry must be forged.
            Dest::Broadcast
        };
        Reply { msg: m, dest }
    }
}

fn mac_of(req: &Message) -> Option<MacAddr> {
    let c = req.chaddr();
    let b: [u8; 6] = c.get(..6)?.try_into().ok()?;
    Some(MacAddr(b))
}

fn requested(req: &Message) -> Option<Ipv4Addr> {
    match req.opts().get(OptionCode::RequestedIpAddress)? {
        DhcpOption::RequestedIpAddress(a) => Some(*a),
        _ => None,
    }
}

fn hostname(req: &Message) -> Option<String> {
    match req.opts().get(OptionCode::Hostname)? {
        DhcpOption::Hostname(h) => Some(h.chars().filter(|c| !c.is_control()).take(64).collect()),
        _ => None,
    }
}
