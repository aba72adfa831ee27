//! A byte-counting token bucket, shaped after Firecracker's rate limiter:
//! the bucket holds at most `size` bytes of credit, refills with elapsed
//! time at the configured rate, and an optional one-time burst is spent
//! before the bucket (it never refills).
//!
//! Unlike Firecracker, which refuses an operation the bucket cannot pay
//! for, an emulated link must still carry the frame, later: the bucket may
//! go into debt, and the frame's departure time is when the debt is paid.
//! That keeps frames in order and makes the long-run rate exact, including
//! for 64 KiB GSO frames larger than the bucket.

/// Credit is kept in byte·nanoseconds so refill is exact integer math.
const NS: i128 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    bytes_per_sec: i128,
    size: i128,
    credit: i128,
    one_time: i128,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket of `size` bytes refilled at `bits_per_sec`.
    pub fn new(bits_per_sec: u64, size: u32, one_time_burst: u32, now_ns: u64) -> TokenBucket {
        TokenBucket {
            bytes_per_sec: (bits_per_sec / 8).max(1) as i128,
            size: size as i128 * NS,
            credit: size as i128 * NS,
            one_time: one_time_burst as i128 * NS,
            last_ns: now_ns,
        }
    }

    /// The bucket size when the user gave none: 5 ms of line rate, but
    /// never less than two full-size Ethernet frames.
    pub fn default_size(bits_per_sec: u64) -> u32 {
        ((bits_per_sec / 8 / 200).max(3028)).min(u32::MAX as u64) as u32
    }

    /// Changes the rate and size, keeping the credit (capped) and debt.
    pub fn reconfigure(&mut self, bits_per_sec: u64, size: u32) {
        self.bytes_per_sec = (bits_per_sec / 8).max(1) as i128;
        self.size = size as i128 * NS;
        self.credit = self.credit.min(self.size);
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let dt = (now_ns - self.last_ns) as i128;
            self.credit = (self.credit + dt * self.bytes_per_sec).min(self.size);
            self.last_ns = now_ns;
        }
    }

    /// Charges `bytes` and returns when the frame may leave (≥ `now_ns`).
    pub fn reserve(&mut self, now_ns: u64, bytes: usize) -> u64 {
        self.refill(now_ns);
        let mut cost = bytes as i128 * NS;
        let from_burst = cost.min(self.one_time);
        self.one_time -= from_burst;
        cost -= from_burst;
        self.credit -= cost;
        if self.credit >= 0 {
            now_ns
        } else {
            let wait = (-self.credit + self.bytes_per_sec - 1) / self.bytes_per_sec;
            now_ns + wait as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_passes_then_frames_are_paced_at_the_rate() {
        // 8 Mbit/s = 1 byte per µs; 3,000-byte bucket.
        let mut b = TokenBucket::new(8_000_000, 3_000, 0, 0);
        assert_eq!(b.reserve(0, 1_500), 0);
        assert_eq!(b.reserve(0, 1_500), 0);
        assert_eq!(b.reserve(0, 1_000), 1_000_000);
        assert_eq!(b.reserve(0, 1_000), 2_000_000);
        // A steady sender at twice the rate is held to the rate.
        let mut b = TokenBucket::new(8_000_000, 1_000, 0, 0);
        let mut last = 0;
        for i in 0..1_000u64 {
            last = b.reserve(i * 500_000, 1_000);
        }
        // 1,000 kB at 1 byte/µs: the last leaves ≈1 s after the start.
        assert!((last as i64 - 999_000_000).abs() < 2_000_000, "last {last}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_size() {
        let mut b = TokenBucket::new(8_000_000, 2_000, 0, 0);
        assert_eq!(b.reserve(0, 2_000), 0);
        // A long pause refills 2,000 bytes, not 10 s worth.
        assert_eq!(b.reserve(10_000_000_000, 2_000), 10_000_000_000);
        assert_eq!(b.reserve(10_000_000_000, 1_000), 10_001_000_000);
    }

    #[test]
    fn one_time_burst_is_spent_once() {
        let mut b = TokenBucket::new(8_000_000, 1_000, 10_000, 0);
        for _ in 0..11 {
            assert_eq!(b.reserve(0, 1_000), 0);
        }
        assert_eq!(b.reserve(0, 1_000), 1_000_000);
    }

    #[test]
    fn frames_larger_than_the_bucket_still_pass_at_the_rate() {
        let mut b = TokenBucket::new(8_000_000, 3_028, 0, 0);
        assert_eq!(b.reserve(0, 65_000), 61_972_000);
        assert_eq!(b.reserve(0, 65_000), 126_972_000);
    }
}
