//! Deterministic helpers shared by the firmware's self-tests and benchmarks and by the host that
//! verifies them: both sides must generate the same inputs and digest results the same way.

/// FNV-1a over 32-bit words (little-endian bytes): a cheap digest of exhaustive result tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(pub u32);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0x811C_9DC5)
    }
}

impl Fnv1a {
    /// Mixes in one word.
    pub fn word(&mut self, w: u32) {
        for b in w.to_le_bytes() {
            self.0 = (self.0 ^ b as u32).wrapping_mul(0x0100_0193);
        }
    }
}

/// xorshift32 (Marsaglia): deterministic pseudo-random words. The state must be non-zero.
#[derive(Clone, Copy, Debug)]
pub struct XorShift32(pub u32);

impl XorShift32 {
    /// Next value.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// A float in `[-1, 1)` on a 2^-23 grid.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

/// Digest of L-Mul over every pair of fp8 patterns (`lmul(a, b)` for a, b in 0..=255, a major):
/// the firmware and the host compare it to prove the exhaustive table is identical.
pub fn fp8_exhaustive_digest(lmul: fn(u8, u8) -> u8) -> u32 {
    let mut h = Fnv1a::default();
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            h.word(lmul(a, b) as u32);
        }
    }
    h.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_value() {
        // FNV-1a of the bytes 'a' 0 0 0.
        let mut h = Fnv1a::default();
        h.word(0x61);
        let mut want: u32 = 0x811C_9DC5;
        for b in [0x61u8, 0, 0, 0] {
            want = (want ^ b as u32).wrapping_mul(0x0100_0193);
        }
        assert_eq!(h.0, want);
    }

    #[test]
    fn xorshift_sequence() {
        let mut r = XorShift32(1);
        assert_eq!(r.next_u32(), 270_369);
        assert_eq!(r.next_u32(), 67_634_689);
    }
}
