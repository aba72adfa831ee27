//! Which address a client gets: its reservation, else the address it
//! held, else the one it asks for, else the lowest free one of the pool.

use super::leases::{LeaseState, Leases};
use crate::topo::dhcp::Scope;
use crate::topo::{IpNet, MacAddr};
use std::net::{IpAddr, Ipv4Addr};

/// A scope with its subnet known (the server's own one comes from its
/// interface).
#[derive(Debug, Clone)]
pub struct Subnet {
    pub net: IpNet,
    pub scope: Scope,
}

impl Subnet {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.net.contains(&IpAddr::V4(ip))
    }

    pub fn mask(&self) -> Ipv4Addr {
        let p = u32::from(self.net.prefix.min(32));
        Ipv4Addr::from(if p == 0 { 0 } else { u32::MAX << (32 - p) })
    }

    /// The address reserved for `mac`, if any.
    pub fn reserved_for(&self, mac: &MacAddr) -> Option<Ipv4Addr> {
        self.scope
            .reservations
            .iter()
            .find(|r| r.mac == *mac)
            .map(|r| r.ip)
    }

    /// Whether `ip` is reserved for a client other than `mac`.
    fn reserved_for_other(&self, ip: Ipv4Addr, mac: &MacAddr) -> bool {
        self.scope
            .reservations
            .iter()
            .any(|r| r.ip == ip && r.mac != *mac)
    }

    /// Whether `mac` may hold `ip` now: its reservation, or a pool address
    /// nobody else holds or has reserved.
    pub fn allowed(&self, ip: Ipv4Addr, mac: &MacAddr, leases: &Leases, now: u64) -> bool {
        if let Some(r) = self.reserved_for(mac) {
            return r == ip;
        }
        !self.scope.reserved_only
            && self.scope.in_pool(ip)
            && !self.reserved_for_other(ip, mac)
            && leases.free_for(ip, mac, now)
    }

    /// The address to offer `mac`, or `None` when the pool is exhausted.
    pub fn pick(
        &self,
        mac: &MacAddr,
        requested: Option<Ipv4Addr>,
        leases: &Leases,
        now: u64,
    ) -> Option<Ipv4Addr> {
        if let Some(r) = self.reserved_for(mac) {
            return Some(r);
        }
        if self.scope.reserved_only {
            return None;
        }
        if let Some(l) = leases.of_client(mac) {
            if self.contains(l.ip) && self.allowed(l.ip, mac, leases, now) {
                return Some(l.ip);
            }
        }
        if let Some(r) = requested.filter(|r| self.allowed(*r, mac, leases, now)) {
            return Some(r);
        }
        let (first, last) = (u32::from(self.scope.pool.0), u32::from(self.scope.pool.1));
        // Never-used addresses first, then expired ones (oldest first), so
        // a returning client whose lease expired still likely finds its
        // old address free.
        let unused = (first..=last)
            .map(Ipv4Addr::from)
            .find(|ip| !leases.leases.contains_key(ip) && !self.reserved_for_other(*ip, mac));
        unused.or_else(|| {
            leases
                .leases
                .values()
                .filter(|l| self.scope.in_pool(l.ip) && !l.active(now))
                .filter(|l| !self.reserved_for_other(l.ip, mac))
                .min_by_key(|l| (l.state != LeaseState::Declined, l.expires))
                .map(|l| l.ip)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::dhcp::leases::Lease;
    use crate::topo::dhcp::Reservation;

    fn subnet() -> Subnet {
        let mut scope = Scope::new("10.0.0.10".parse().unwrap(), "10.0.0.12".parse().unwrap());
        scope.reservations.push(Reservation {
            mac: mac(9),
            ip: "10.0.0.50".parse().unwrap(),
            loc: Default::default(),
        });
        Subnet {
            net: "10.0.0.0/24".parse().unwrap(),
            scope,
        }
    }

    fn mac(n: u64) -> MacAddr {
        MacAddr::sequential(n)
    }

    fn bound(ip: &str, m: u64, expires: u64) -> Lease {
        Lease {
            ip: ip.parse().unwrap(),
            mac: Some(mac(m)),
            hostname: None,
            state: LeaseState::Bound,
            expires,
            since: 0,
        }
    }

    #[test]
    fn reservations_old_leases_requests_then_the_lowest_free() {
        let s = subnet();
        let mut l = Leases::new();
        assert_eq!(s.pick(&mac(9), None, &l, 0), "10.0.0.50".parse().ok());
        assert_eq!(s.pick(&mac(1), None, &l, 0), "10.0.0.10".parse().ok());
        assert_eq!(
            s.pick(&mac(1), "10.0.0.12".parse().ok(), &l, 0),
            "10.0.0.12".parse().ok()
        );
        // Outside the pool: not honoured.
        assert_eq!(
            s.pick(&mac(1), "10.0.0.99".parse().ok(), &l, 0),
            "10.0.0.10".parse().ok()
        );
        l.insert(bound("10.0.0.10", 1, 100));
        l.insert(bound("10.0.0.11", 2, 100));
        assert_eq!(s.pick(&mac(2), None, &l, 50), "10.0.0.11".parse().ok());
        assert_eq!(s.pick(&mac(3), None, &l, 50), "10.0.0.12".parse().ok());
        l.insert(bound("10.0.0.12", 3, 100));
        assert_eq!(s.pick(&mac(4), None, &l, 50), None, "pool exhausted");
        // Once leases expire, the oldest is reused.
        l.insert(bound("10.0.0.11", 2, 60));
        assert_eq!(s.pick(&mac(4), None, &l, 70), "10.0.0.11".parse().ok());
        assert!(!s.allowed("10.0.0.50".parse().unwrap(), &mac(1), &l, 0));
        assert!(s.allowed("10.0.0.50".parse().unwrap(), &mac(9), &l, 0));
        assert_eq!(s.mask(), Ipv4Addr::new(255, 255, 255, 0));
    }
}
