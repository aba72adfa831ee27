//! Per-packet randomness that survives background traffic.
//!
//! Every decision about a packet comes from a hash of (seed, link,
//! direction, flow, index of the packet within its flow), never from one
//! shared RNG stream: an ARP request, an IPv6 neighbour solicitation or a
//! timer firing a little earlier cannot shift the fate of any other flow's
//! packets. The hash is SplitMix64's finaliser chained over the inputs,
//! which passes as a uniform source for the rates an emulator needs.

/// What a draw is for; each purpose reads its own independent value.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Purpose {
    Loss = 1,
    LossState = 2,
    Duplicate = 3,
    Corrupt = 4,
    CorruptBit = 5,
    Reorder = 6,
    Jitter = 7,
    JitterExtra = 8,
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijective avalanche mix.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a folded through [`mix64`]: a stable hash of a name (the link key),
/// the same in every build and on every machine.
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// The key of one direction of one link under one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FateKey(u64);

impl FateKey {
    /// `direction` is 0 for a→b, 1 for b→a.
    pub fn new(seed: u64, link: &str, direction: u8) -> FateKey {
        FateKey(mix64(
            mix64(seed) ^ hash_bytes(link.as_bytes()) ^ mix64(direction as u64 + 1),
        ))
    }

    /// The draws of packet number `index` (0-based) of `flow`.
    pub fn packet(&self, flow: u64, index: u64) -> Draws {
        Draws(mix64(self.0 ^ mix64(flow ^ mix64(index))))
    }
}

/// The independent uniform values of one packet.
#[derive(Debug, Clone, Copy)]
pub struct Draws(u64);

impl Draws {
    pub fn bits(&self, p: Purpose) -> u64 {
        mix64(self.0 ^ (p as u64).wrapping_mul(GOLDEN))
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&self, p: Purpose) -> f64 {
        (self.bits(p) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&self, p: Purpose, percent: f64) -> bool {
        percent > 0.0 && self.uniform(p) * 100.0 < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_on_every_input() {
        let k = FateKey::new(1, "h1:eth0-s1:eth1", 0);
        let base = k.packet(7, 3).bits(Purpose::Loss);
        assert_eq!(base, k.packet(7, 3).bits(Purpose::Loss));
        assert_ne!(base, k.packet(7, 4).bits(Purpose::Loss));
        assert_ne!(base, k.packet(8, 3).bits(Purpose::Loss));
        assert_ne!(base, k.packet(7, 3).bits(Purpose::Duplicate));
        assert_ne!(
            base,
            FateKey::new(2, "h1:eth0-s1:eth1", 0)
                .packet(7, 3)
                .bits(Purpose::Loss)
        );
        assert_ne!(
            base,
            FateKey::new(1, "h1:eth0-s1:eth1", 1)
                .packet(7, 3)
                .bits(Purpose::Loss)
        );
        assert_ne!(
            base,
            FateKey::new(1, "other", 0).packet(7, 3).bits(Purpose::Loss)
        );
    }

    #[test]
    fn uniform_is_flat() {
        let k = FateKey::new(42, "l", 0);
        let mut bins = [0u32; 10];
        let n = 100_000;
        for i in 0..n {
            let u = k.packet(1, i).uniform(Purpose::Loss);
            assert!((0.0..1.0).contains(&u));
            bins[(u * 10.0) as usize] += 1;
        }
        // 10,000 expected per bin, sd ≈ 95: ±500 is over 5 sd.
        for b in bins {
            assert!((9_500..10_500).contains(&b), "bins {bins:?}");
        }
    }
}
