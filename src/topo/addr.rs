//! Address allocation for generated topologies.
//!
//! Mininet numbers hosts from one base network: the n-th host gets
//! `base + n` with the base's prefix length (`10.0.0.1/8`, `10.0.0.2/8`, …,
//! `10.0.1.0/8` after `10.0.0.255/8`). We hand out the same addresses so
//! scripts and muscle memory carry over.

use super::model::{IpNet, MacAddr};
use std::net::{IpAddr, Ipv4Addr};

/// An IPv4 network that hands out its n-th host address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Pool {
    network: u32,
    prefix: u8,
}

impl Ipv4Pool {
    /// Mininet's default `--ipbase 10.0.0.0/8`.
    pub fn mininet() -> Self {
        Ipv4Pool {
            network: u32::from(Ipv4Addr::new(10, 0, 0, 0)),
            prefix: 8,
        }
    }

    /// A pool over `net` (host bits of `net` are ignored).
    #[cfg(test)]
    pub fn new(net: IpNet) -> Result<Self, String> {
        match net.network() {
            IpAddr::V4(a) if net.prefix <= 30 => Ok(Ipv4Pool {
                network: u32::from(a),
                prefix: net.prefix,
            }),
            IpAddr::V4(_) => Err(format!("{net} is too small to hand out host addresses")),
            IpAddr::V6(_) => Err(format!("{net} is not an IPv4 network")),
        }
    }

    /// How many host addresses there are: all but the network and the
    /// broadcast address.
    pub fn capacity(&self) -> u64 {
        (1u64 << (32 - self.prefix)) - 2
    }

    /// The n-th host address (n from 1), carrying into higher octets.
    pub fn nth(&self, n: u64) -> Result<IpNet, String> {
        if n == 0 || n > self.capacity() {
            return Err(format!(
                "host number {n} does not fit in {}/{}: it has room for hosts 1 to {}",
                Ipv4Addr::from(self.network),
                self.prefix,
                self.capacity()
            ));
        }
        // n ≤ capacity < 2^32, so the addition stays inside the network.
        let addr = Ipv4Addr::from(self.network + n as u32);
        Ok(IpNet {
            addr: IpAddr::V4(addr),
            prefix: self.prefix,
        })
    }
}

/// The address Mininet gives its n-th host: `10.0.0.0/8` + n.
pub fn mininet_host_ip(n: u64) -> Result<IpNet, String> {
    Ipv4Pool::mininet().nth(n)
}

/// The MAC Mininet's `--mac` gives its n-th host (matching its IP number).
pub fn mininet_host_mac(n: u64) -> MacAddr {
    MacAddr::sequential(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mininet_numbering() {
        let ip = |n| mininet_host_ip(n).map(|a| a.to_string());
        assert_eq!(ip(1).as_deref(), Ok("10.0.0.1/8"));
        assert_eq!(ip(2).as_deref(), Ok("10.0.0.2/8"));
        assert_eq!(ip(255).as_deref(), Ok("10.0.0.255/8"));
        assert_eq!(ip(256).as_deref(), Ok("10.0.1.0/8"));
        assert_eq!(ip(65_536).as_deref(), Ok("10.1.0.0/8"));
        assert_eq!(ip(16_777_214).as_deref(), Ok("10.255.255.254/8"));
        let past = mininet_host_ip(16_777_215).unwrap_err();
        assert!(past.contains("10.0.0.0/8"), "{past}");
        assert!(past.contains("16777214"), "{past}");
        assert!(mininet_host_ip(0).is_err());
        assert_eq!(mininet_host_mac(258).to_string(), "00:00:00:00:01:02");
    }

    #[test]
    fn other_pools() {
        let p = Ipv4Pool::new("192.168.7.9/24".parse().unwrap()).unwrap();
        assert_eq!(p.capacity(), 254);
        assert_eq!(p.nth(1).unwrap().to_string(), "192.168.7.1/24");
        assert!(p.nth(255).is_err());
        assert!(Ipv4Pool::new("10.0.0.0/31".parse().unwrap()).is_err());
        assert!(Ipv4Pool::new("fd00::/64".parse().unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn nth_is_inside_and_distinct(a in 1u64..16_777_214, b in 1u64..16_777_214) {
            let pool = Ipv4Pool::mininet();
            let (x, y) = (pool.nth(a).unwrap(), pool.nth(b).unwrap());
            let net: IpNet = "10.0.0.0/8".parse().unwrap();
            prop_assert!(net.contains(&x.addr));
            prop_assert_eq!(a == b, x == y);
        }
    }
}
