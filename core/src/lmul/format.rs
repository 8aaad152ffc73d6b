//! Bit-level descriptions of the floating-point formats L-Mul works on, and exact conversions.
//!
//! Every format is a sign bit, `exp_bits` of biased exponent and `man_bits` of mantissa. The
//! descriptor drives one generic implementation of L-Mul ([`super::lmul_bits`]) and of
//! round-to-nearest-even conversion from `f32` ([`Format::encode_f32`]).

/// How a format uses its all-ones exponent field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Specials {
    /// IEEE 754 style: all-ones exponent is ±inf (mantissa 0) or NaN (mantissa ≠ 0).
    Ieee,
    /// OCP fp8 e4m3 "FN": no infinities; only `S.1111.111` is NaN, all other patterns are finite.
    /// Overflow saturates to the largest finite magnitude.
    FiniteNanOnly,
}

/// A binary floating-point format: `1 + exp_bits + man_bits` bits, bias `2^(exp_bits-1) - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// Width of the exponent field.
    pub exp_bits: u32,
    /// Width of the mantissa (fraction) field.
    pub man_bits: u32,
    /// Meaning of the all-ones exponent.
    pub specials: Specials,
}

impl Format {
    /// IEEE binary32.
    pub const F32: Format = Format {
        exp_bits: 8,
        man_bits: 23,
        specials: Specials::Ieee,
    };
    /// bfloat16 (e8m7).
    pub const BF16: Format = Format {
        exp_bits: 8,
        man_bits: 7,
        specials: Specials::Ieee,
    };
    /// IEEE binary16 (e5m10).
    pub const F16: Format = Format {
        exp_bits: 5,
        man_bits: 10,
        specials: Specials::Ieee,
    };
    /// OCP fp8 e4m3 FN.
    pub const E4M3: Format = Format {
        exp_bits: 4,
        man_bits: 3,
        specials: Specials::FiniteNanOnly,
    };
    /// OCP fp8 e5m2 (IEEE-like).
    pub const E5M2: Format = Format {
        exp_bits: 5,
        man_bits: 2,
        specials: Specials::Ieee,
    };

    /// Total width in bits.
    pub const fn width(self) -> u32 {
        1 + self.exp_bits + self.man_bits
    }
    /// Exponent bias.
    pub const fn bias(self) -> u32 {
        (1 << (self.exp_bits - 1)) - 1
    }
    /// Mask of the sign bit.
    pub const fn sign_mask(self) -> u32 {
        1 << (self.width() - 1)
    }
    /// Mask of the exponent and mantissa fields.
    pub const fn mag_mask(self) -> u32 {
        self.sign_mask() - 1
    }
    /// Biased exponent field of a pattern.
    pub const fn exp_field(self, bits: u32) -> u32 {
        (bits & self.mag_mask()) >> self.man_bits
    }
    /// All-ones exponent field.
    pub const fn exp_all_ones(self) -> u32 {
        (1 << self.exp_bits) - 1
    }
    /// The canonical quiet NaN, sign 0 (SPEC §0.1 rule 2).
    pub const fn canonical_nan(self) -> u32 {
        match self.specials {
            Specials::Ieee => (self.exp_all_ones() << self.man_bits) | (1 << (self.man_bits - 1)),
            Specials::FiniteNanOnly => self.mag_mask(),
        }
    }
    /// Positive infinity (IEEE formats) or, for e4m3, the largest finite magnitude (448).
    pub const fn overflow_magnitude(self) -> u32 {
        match self.specials {
            Specials::Ieee => self.exp_all_ones() << self.man_bits,
            Specials::FiniteNanOnly => self.mag_mask() - 1,
        }
    }
    /// Whether a pattern is NaN.
    pub const fn is_nan(self, bits: u32) -> bool {
        let mag = bits & self.mag_mask();
        match self.specials {
            Specials::Ieee => {
                self.exp_field(bits) == self.exp_all_ones()
                    && (mag & ((1 << self.man_bits) - 1)) != 0
            }
            Specials::FiniteNanOnly => mag == self.mag_mask(),
        }
    }
    /// Whether a pattern is ±inf (never true for e4m3).
    pub const fn is_inf(self, bits: u32) -> bool {
        match self.specials {
            Specials::Ieee => (bits & self.mag_mask()) == self.exp_all_ones() << self.man_bits,
            Specials::FiniteNanOnly => false,
        }
    }

    /// Exact value of a pattern as `f32` (every format here is a subset of binary32).
    pub fn decode_f32(self, bits: u32) -> f32 {
        if self == Format::F32 {
            return f32::from_bits(bits);
        }
        let negative = bits & self.sign_mask() != 0;
        let magnitude = if self.is_nan(bits) {
            f32::NAN
        } else if self.is_inf(bits) {
            f32::INFINITY
        } else {
            let e = self.exp_field(bits);
            let m = bits & ((1 << self.man_bits) - 1);
            // value = sig * 2^(exp - bias - man_bits); the product is exact in f32 because both
            // factors are exact and the result lies in binary32's range (normal or subnormal).
            let (sig, exp) = if e == 0 {
                (m, 1)
            } else {
                (m | (1 << self.man_bits), e as i32)
            };
            sig as f32 * pow2(exp - self.bias() as i32 - self.man_bits as i32)
        };
        if negative { -magnitude } else { magnitude }
    }

    /// Rounds an `f32` to this format, round-to-nearest-even. NaN becomes the canonical NaN.
    /// Overflow gives ±inf for IEEE formats and saturates to ±448 for e4m3 (the OCP "saturating"
    /// conversion, which is what quantisation wants). Results below the smallest subnormal round
    /// to signed zero.
    pub fn encode_f32(self, x: f32) -> u32 {
        let b = x.to_bits();
        let sign = if b >> 31 != 0 { self.sign_mask() } else { 0 };
        if self == Format::F32 {
            return b;
        }
        if x.is_nan() {
            return self.canonical_nan();
        }
        if x.is_infinite() {
            return sign | self.overflow_magnitude();
        }
        let e32 = (b >> 23) & 0xFF;
        let m32 = b & 0x7F_FFFF;
        let (mut sig, mut e_unb) = if e32 == 0 {
            (m32 as u64, -126i32)
        } else {
            ((m32 | 1 << 23) as u64, e32 as i32 - 127)
        };
        if sig == 0 {
            return sign;
        }
        while sig < 1 << 23 {
            sig <<= 1;
            e_unb -= 1;
        }
        // sig in [2^23, 2^24): value = sig * 2^(e_unb - 23).
        let ef = e_unb + self.bias() as i32;
        let base_shift = 23 - self.man_bits as i32;
        let shift = if ef >= 1 {
            base_shift
        } else {
            base_shift + (1 - ef)
        };
        let q = round_shift_rne(sig, shift as u32) as u32;
        // Normal: (ef << m) + (q - 2^m); subnormal: q (a round-up to 2^m lands on the smallest
        // normal, which is the same integer encoding).
        let mag = if ef >= 1 {
            (((ef - 1) as u32) << self.man_bits) + q
        } else {
            q
        };
        let limit = match self.specials {
            Specials::Ieee => self.exp_all_ones() << self.man_bits,
            Specials::FiniteNanOnly => self.mag_mask(),
        };
        if mag >= limit {
            sign | self.overflow_magnitude()
        } else {
            sign | mag
        }
    }
}

/// `value >> shift` rounded to nearest, ties to even.
fn round_shift_rne(value: u64, shift: u32) -> u64 {
    if shift == 0 {
        return value;
    }
    if shift >= 63 {
        return 0;
    }
    let q = value >> shift;
    let rem = value & ((1 << shift) - 1);
    let half = 1u64 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// Exact `2^e` for e in the range the decoders need (−149..=127), built from bits.
fn pow2(e: i32) -> f32 {
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1 << (e + 149))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants() {
        assert_eq!(Format::E4M3.canonical_nan(), 0x7F);
        assert_eq!(Format::E5M2.canonical_nan(), 0x7E);
        assert_eq!(Format::F16.canonical_nan(), 0x7E00);
        assert_eq!(Format::BF16.canonical_nan(), 0x7FC0);
        assert_eq!(Format::F32.canonical_nan(), 0x7FC0_0000);
        assert_eq!(Format::E4M3.decode_f32(0x7E), 448.0);
        assert_eq!(Format::E5M2.decode_f32(0x7B), 57344.0);
        assert_eq!(Format::F16.decode_f32(0x7BFF), 65504.0);
        assert_eq!(Format::E4M3.decode_f32(0x01), 2f32.powi(-9));
        assert_eq!(Format::F16.decode_f32(0x0001), 2f32.powi(-24));
        assert_eq!(Format::BF16.decode_f32(0x0001), f32::from_bits(0x0001_0000));
    }

    #[test]
    fn every_fp8_and_f16_pattern_round_trips() {
        for fmt in [Format::E4M3, Format::E5M2, Format::F16, Format::BF16] {
            for bits in 0..(1u32 << fmt.width()) {
                if fmt.is_nan(bits) {
                    assert!(fmt.decode_f32(bits).is_nan());
                    continue;
                }
                let v = fmt.decode_f32(bits);
                assert_eq!(fmt.encode_f32(v), bits, "{fmt:?} {bits:#x} {v}");
            }
        }
    }

    #[test]
    fn rounding_ties_to_even_and_saturation() {
        // 1 + 1/16 is halfway between 1 and 1.125 in e4m3: ties to even (1.0).
        assert_eq!(Format::E4M3.encode_f32(1.0625), 0x38);
        // 1 + 3/16 is halfway between 1.125 and 1.25: ties to even (1.25).
        assert_eq!(Format::E4M3.encode_f32(1.1875), 0x3A);
        assert_eq!(Format::E4M3.encode_f32(1000.0), 0x7E);
        assert_eq!(Format::E4M3.encode_f32(-1000.0), 0xFE);
        assert_eq!(Format::E4M3.encode_f32(f32::INFINITY), 0x7E);
        assert_eq!(Format::E5M2.encode_f32(1e6), 0x7C);
        assert_eq!(Format::F16.encode_f32(65520.0), 0x7C00); // rounds past max finite
        assert_eq!(Format::F16.encode_f32(65519.0), 0x7BFF);
        assert_eq!(Format::E4M3.encode_f32(2f32.powi(-11)), 0x00); // below half the min subnormal
        assert_eq!(Format::E4M3.encode_f32(-2f32.powi(-10) * 1.5), 0x81);
    }
}
