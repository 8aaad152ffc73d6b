//! L-Mul: a floating-point multiply approximated by one integer addition of the bit patterns
//! (Luo & Sun 2024; SPEC §0.1 and §1).
//!
//! ```text
//! L-Mul(x, y) = (-1)^(sx ^ sy) · (1 + xm + ym + 2^-l(m)) · 2^(xe + ye)
//! bits:        r = |a| + |b| - OFFSET,   OFFSET = (bias << m) - (1 << (m - l(m)))
//! ```
//! The mantissa carry of the integer add propagates into the exponent, which is what makes the
//! bit-level operation a good approximator (SPEC §1.2). Special cases follow SPEC §0.1: NaN in →
//! canonical NaN; inf × (zero or subnormal) → NaN, inf × finite → inf; zero or subnormal operands
//! flush to signed zero; underflow → signed zero; overflow → inf (e4m3: saturate to ±448).
//!
//! Dot products accumulate the products in `f32` **sequentially in index order from +0.0**: that
//! order is the contract that makes the host simulator and the microcontroller bit-identical.

mod format;

pub use format::{Format, Specials};

use crate::shape::ShapeError;

/// `l(m)`, the L-Mul offset exponent for an `m`-bit mantissa (SPEC §1.2).
pub const fn offset_exponent(m: u32) -> u32 {
    if m <= 3 {
        m
    } else if m == 4 {
        3
    } else {
        4
    }
}

/// The combined bias-and-offset constant subtracted from the sum of the magnitudes (SPEC §1.3).
pub const fn offset(fmt: Format) -> u32 {
    (fmt.bias() << fmt.man_bits) - (1 << (fmt.man_bits - offset_exponent(fmt.man_bits)))
}

/// L-Mul of two patterns of `fmt` with an explicit offset constant (SPEC §0.1 rules 1–5).
#[inline]
fn lmul_with_offset(fmt: Format, a: u32, b: u32, offset: u32) -> u32 {
    let sign = (a ^ b) & fmt.sign_mask();
    if fmt.is_nan(a) || fmt.is_nan(b) {
        return fmt.canonical_nan();
    }
    let a_tiny = fmt.exp_field(a) == 0;
    let b_tiny = fmt.exp_field(b) == 0;
    if fmt.is_inf(a) || fmt.is_inf(b) {
        return if a_tiny || b_tiny {
            fmt.canonical_nan()
        } else {
            sign | fmt.overflow_magnitude()
        };
    }
    if a_tiny || b_tiny {
        return sign;
    }
    // The one integer add (plus a constant). i64 so the sum cannot wrap before the range checks.
    let r = (a & fmt.mag_mask()) as i64 + (b & fmt.mag_mask()) as i64 - offset as i64;
    if r < (1i64 << fmt.man_bits) {
        return sign;
    }
    let overflow_at = match fmt.specials {
        Specials::Ieee => (fmt.exp_all_ones() as i64) << fmt.man_bits,
        Specials::FiniteNanOnly => fmt.mag_mask() as i64,
    };
    if r >= overflow_at {
        return sign | fmt.overflow_magnitude();
    }
    sign | r as u32
}

/// L-Mul of two patterns of any [`Format`], with that format's own offset.
#[inline]
pub fn lmul_bits(fmt: Format, a: u32, b: u32) -> u32 {
    lmul_with_offset(fmt, a, b, offset(fmt))
}

/// fp32 L-Mul with a given offset: a branch-light fast path when both operands are normal and
/// finite (the common case in a kernel), the general rule otherwise. Same results as
/// [`lmul_bits`] on every input (tested).
#[inline]
fn lmul_f32_bits(a: u32, b: u32, offset: u32) -> u32 {
    const MIN_NORMAL: u32 = 0x0080_0000;
    const INF: u32 = 0x7F80_0000;
    let (ma, mb) = (a & 0x7FFF_FFFF, b & 0x7FFF_FFFF);
    // Exponent field in 1..=254 ⟺ magnitude - MIN_NORMAL < INF - MIN_NORMAL (unsigned).
    if ma.wrapping_sub(MIN_NORMAL) < INF - MIN_NORMAL
        && mb.wrapping_sub(MIN_NORMAL) < INF - MIN_NORMAL
    {
        let sign = (a ^ b) & 0x8000_0000;
        // Both magnitudes are below 0x7F80_0000, so the sum fits in u32.
        let s = ma + mb;
        return if s < offset + MIN_NORMAL {
            sign
        } else if s - offset >= INF {
            sign | INF
        } else {
            sign | (s - offset)
        };
    }
    lmul_with_offset(Format::F32, a, b, offset)
}

/// L-Mul of two `f32` values (OFFSET 0x3F780000).
#[inline]
pub fn lmul_f32(a: f32, b: f32) -> f32 {
    f32::from_bits(lmul_f32_bits(a.to_bits(), b.to_bits(), offset(Format::F32)))
}

/// L-Mul with `k`-bit mantissas (SPEC §0.1 rule 6): each operand's mantissa is truncated to its top
/// `k` bits, then the fp32 rule applies with `OFFSET_k = 0x3F800000 - (1 << (23 - l(k)))`.
/// The result lies on the `k`-bit grid and is not re-rounded. `k` is clamped to `1..=23`.
#[inline]
pub fn lmul_f32_k(a: f32, b: f32, k: u32) -> f32 {
    let k = k.clamp(1, 23);
    let (a, b) = (a.to_bits(), b.to_bits());
    // Truncation must not turn a NaN into an infinity, so specials bypass it.
    let fmt = Format::F32;
    let keep = if fmt.is_nan(a) || fmt.is_nan(b) || fmt.is_inf(a) || fmt.is_inf(b) {
        u32::MAX
    } else {
        !((1u32 << (23 - k)) - 1)
    };
    let off = (127u32 << 23) - (1 << (23 - offset_exponent(k)));
    f32::from_bits(lmul_f32_bits(a & keep, b & keep, off))
}

/// L-Mul of two bfloat16 patterns.
#[inline]
pub fn lmul_bf16(a: u16, b: u16) -> u16 {
    lmul_bits(Format::BF16, a as u32, b as u32) as u16
}

/// L-Mul of two IEEE half-precision patterns.
#[inline]
pub fn lmul_f16(a: u16, b: u16) -> u16 {
    lmul_bits(Format::F16, a as u32, b as u32) as u16
}

/// L-Mul of two fp8 e4m3 (OCP FN) patterns; overflow saturates to ±448.
#[inline]
pub fn lmul_e4m3(a: u8, b: u8) -> u8 {
    lmul_bits(Format::E4M3, a as u32, b as u32) as u8
}

/// L-Mul of two fp8 e5m2 patterns.
#[inline]
pub fn lmul_e5m2(a: u8, b: u8) -> u8 {
    lmul_bits(Format::E5M2, a as u32, b as u32) as u8
}

/// Dot product with L-Mul products, accumulated in `f32` sequentially from +0.0.
/// Extra elements of the longer slice are ignored.
#[inline]
pub fn dot_lmul_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = 0.0f32;
    for (&x, &y) in a.iter().zip(b) {
        acc += lmul_f32(x, y);
    }
    acc
}

/// `y = W x` with L-Mul products: `w` is row-major `[y.len(), x.len()]`, each row a
/// [`dot_lmul_f32`] (same order, so the same bits on every target).
pub fn matvec_lmul_f32(w: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    let cols = x.len();
    let expected = y.len().saturating_mul(cols);
    if w.len() != expected {
        return Err(ShapeError {
            expected,
            found: w.len(),
        });
    }
    if cols == 0 {
        y.fill(0.0);
        return Ok(());
    }
    for (row, out) in w.chunks_exact(cols).zip(y.iter_mut()) {
        *out = dot_lmul_f32(row, x);
    }
    Ok(())
}

macro_rules! narrow_float {
    ($(#[$doc:meta])* $name:ident, $repr:ty, $fmt:expr, $lmul:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub $repr);

        impl $name {
            /// The format descriptor.
            pub const FORMAT: Format = $fmt;
            /// Wraps a raw bit pattern.
            pub const fn from_bits(bits: $repr) -> Self {
                Self(bits)
            }
            /// The raw bit pattern.
            pub const fn to_bits(self) -> $repr {
                self.0
            }
            /// Rounds an `f32` to this format (round to nearest, ties to even; see
            /// [`Format::encode_f32`] for overflow).
            pub fn from_f32(x: f32) -> Self {
                Self($fmt.encode_f32(x) as $repr)
            }
            /// The exact value as `f32`.
            pub fn to_f32(self) -> f32 {
                $fmt.decode_f32(self.0 as u32)
            }
            /// L-Mul product.
            pub fn lmul(self, rhs: Self) -> Self {
                Self($lmul(self.0, rhs.0))
            }
        }
    };
}

narrow_float!(
    /// bfloat16 (e8m7).
    Bf16, u16, Format::BF16, lmul_bf16
);
narrow_float!(
    /// IEEE 754 binary16 (e5m10).
    F16, u16, Format::F16, lmul_f16
);
narrow_float!(
    /// OCP fp8 e4m3 "FN": no infinities, NaN = `S.1111.111`, largest finite 448.
    Fp8E4M3, u8, Format::E4M3, lmul_e4m3
);
narrow_float!(
    /// OCP fp8 e5m2 (IEEE-like, with inf and NaN).
    Fp8E5M2, u8, Format::E5M2, lmul_e5m2
);

/// L-Mul of an fp8 e4m3 weight with an `f32` activation: the weight is widened exactly to `f32`
/// and the fp32 rule applies (this is the `lmul-e4m3` numeric scheme of the model file).
#[inline]
pub fn lmul_e4m3_f32(w: Fp8E4M3, x: f32) -> f32 {
    lmul_f32(w.to_f32(), x)
}

#[cfg(test)]
mod tests;
