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

/// One case of the int8 kernels' device check (`firmware/src/bin/kernel_check.rs`, checked by
/// the host): a shape, an input zero point and how the values are drawn, all from the case
/// number, so the firmware and the host generate the same weights and inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Case {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// Input zero point, in `-128..=127`.
    pub zp: i32,
    /// Seed of the values.
    pub seed: u32,
    /// Weights: 0 all −128, 1 all 127, otherwise uniform.
    pub wmode: u32,
    /// Inputs: as `wmode`.
    pub xmode: u32,
}

/// Cases of the int8 device check: every shape up to 9 × 16, edge shapes (1×N, N×1, past the
/// kernels' widened-input buffers, 256×256) at the extremes, then random shapes.
pub const INT8_CASES: u32 = 9 * 16 + 12 + 48;

/// The largest `rows · cols` of [`Int8Case::nth`].
pub const INT8_CASE_MAX_WEIGHTS: usize = 256 * 256;

/// The largest `cols` (and `rows`) of [`Int8Case::nth`].
pub const INT8_CASE_MAX_LEN: usize = 1024;

impl Int8Case {
    /// Case `i` of `0..INT8_CASES`.
    pub fn nth(i: u32) -> Int8Case {
        const ZPS: [i32; 5] = [-128, -3, 0, 5, 127];
        const EDGES: [(usize, usize, u32, u32, i32); 12] = [
            (1, 1, 0, 0, 127),
            (1, 1024, 0, 0, 127),
            (1, 1024, 1, 0, -128),
            (1, 257, 2, 2, -3),
            (257, 1, 2, 2, 5),
            (4, 513, 1, 1, -128),
            (7, 600, 0, 1, 127),
            (33, 300, 2, 2, 0),
            (10, 64, 2, 2, -128),
            (64, 64, 2, 2, 7),
            (3, 1000, 2, 2, -77),
            (256, 256, 2, 2, -3),
        ];
        let seed = i.wrapping_mul(0x9E37_79B9) | 1;
        let small = 9 * 16;
        if i < small {
            return Int8Case {
                rows: (i / 16) as usize + 1,
                cols: (i % 16) as usize + 1,
                zp: ZPS[(i % 5) as usize],
                seed,
                wmode: if i.is_multiple_of(23) { 0 } else { 2 },
                xmode: if i.is_multiple_of(29) { 1 } else { 2 },
            };
        }
        if let Some(&(rows, cols, wmode, xmode, zp)) = EDGES.get((i - small) as usize) {
            return Int8Case {
                rows,
                cols,
                zp,
                seed,
                wmode,
                xmode,
            };
        }
        let mut r = XorShift32(seed);
        Int8Case {
            rows: (r.next_u32() % 40) as usize + 1,
            cols: (r.next_u32() % 700) as usize + 1,
            zp: (r.next_u32() % 256) as i32 - 128,
            seed,
            wmode: r.next_u32() % 6,
            xmode: r.next_u32() % 6,
        }
    }

    /// Fills `w` (`rows · cols`) and `x` (`cols`), per-row `bias` and requantization `mult`
    /// (`rows` each) from the seed. Slices of other lengths are filled as far as they go.
    pub fn fill(
        &self,
        w: &mut [i8],
        x: &mut [i8],
        bias: &mut [i32],
        mult: &mut [crate::kernels::QuantMultiplier],
    ) {
        let mut r = XorShift32(self.seed);
        let draw = |mode: u32, r: &mut XorShift32| match mode {
            0 => -128,
            1 => 127,
            _ => (r.next_u32() >> 24) as i8,
        };
        w.iter_mut().for_each(|v| *v = draw(self.wmode, &mut r));
        x.iter_mut().for_each(|v| *v = draw(self.xmode, &mut r));
        for (b, m) in bias.iter_mut().zip(mult.iter_mut()) {
            *b = r.next_u32() as i32 >> 14;
            *m = crate::kernels::QuantMultiplier {
                multiplier: (1 << 30) | (r.next_u32() >> 2) as i32,
                shift: (r.next_u32() % 8) as i32 - 14,
            };
        }
    }
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
