//! Fixed-point requantization as in TFLite Micro and CMSIS-NN (gemmlowp arithmetic): a real
//! multiplier `M ∈ (0, 1)·2^shift` is stored as a Q31 integer plus a power-of-two shift, and
//! applied with a saturating rounding doubling high multiply followed by a rounding right shift.
//! Also the affine input quantization `f32 → int8` ([`quantize`]) of the model's quantize layer.

/// A real multiplier as `multiplier · 2^(shift − 31)` with `multiplier` in `[2^30, 2^31)` (Q31 in
/// `[0.5, 1)`), or zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct QuantMultiplier {
    /// Q31 mantissa.
    pub multiplier: i32,
    /// Power-of-two exponent (positive = left shift).
    pub shift: i32,
}

impl QuantMultiplier {
    /// Encodes a real multiplier (≥ 0). Values that would need a shift outside `-31..=30` are
    /// clamped to zero or the largest representable multiplier.
    pub fn from_real(real: f64) -> QuantMultiplier {
        if real <= 0.0 || real.is_nan() {
            return QuantMultiplier::default();
        }
        let (frac, mut shift) = libm::frexp(real); // real = frac · 2^shift, frac in [0.5, 1)
        let mut q = libm::round(frac * (1u64 << 31) as f64) as i64;
        if q == 1i64 << 31 {
            q /= 2;
            shift += 1;
        }
        if shift < -31 {
            return QuantMultiplier::default();
        }
        if shift > 30 {
            shift = 30;
            q = i32::MAX as i64;
        }
        QuantMultiplier {
            multiplier: q as i32,
            shift,
        }
    }

    /// The real value this multiplier represents.
    pub fn to_real(self) -> f64 {
        self.multiplier as f64 * libm::pow(2.0, (self.shift - 31) as f64)
    }
}

/// `round(a · b / 2^31)` with gemmlowp's rounding (half away from zero: a nudge of `±2^30`,
/// then a division truncating toward zero) and saturation of the single overflow case
/// `i32::MIN · i32::MIN`.
///
/// Computed as `(a · b + 2^30) >> 31` (one multiply-accumulate and a shift), which is the same
/// integer: for `ab ≥ 0` both are `⌊(ab + 2^30) / 2^31⌋`; for `ab < 0` gemmlowp truncates
/// `v = ab + 1 − 2^30 < 0` toward zero, i.e. `⌈v / 2^31⌉ = ⌊(v + 2^31 − 1) / 2^31⌋ =
/// ⌊(ab + 2^30) / 2^31⌋`. The tests compare it with gemmlowp's form.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp `RoundingDivideByPOT`).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    if exponent == 0 {
        return x;
    }
    let exponent = exponent.min(31);
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// Applies a [`QuantMultiplier`] to an `i32` accumulator (TFLM `MultiplyByQuantizedMultiplier`).
#[inline]
pub fn requantize(acc: i32, m: QuantMultiplier) -> i32 {
    let shifted = if m.shift > 0 {
        acc.saturating_mul(1i32.checked_shl(m.shift as u32).unwrap_or(i32::MAX))
    } else {
        acc
    };
    let right = if m.shift < 0 {
        m.shift.unsigned_abs()
    } else {
        0
    };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted, m.multiplier),
        right,
    )
}

/// `clamp(round(x / scale) + zero_point, -128, 127)`, rounding half away from zero (libm, so the
/// same bits everywhere). NaN maps to the zero point.
pub fn quantize(x: f32, scale: f32, zero_point: i32) -> i8 {
    let r = libm::roundf(x / scale);
    let v = if r.is_nan() {
        0.0
    } else {
        r.clamp(-1024.0, 1024.0)
    };
    (v as i32 + zero_point).clamp(-128, 127) as i8
}
