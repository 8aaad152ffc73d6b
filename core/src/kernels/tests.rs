use super::quant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};
use super::*;
use crate::lmul::{Format, Fp8E4M3};
use proptest::prelude::*;

#[test]
fn e4m3_table_matches_generic_decoder() {
    for b in 0..=255u8 {
        let t = e4m3_to_f32(b);
        let g = Format::E4M3.decode_f32(b as u32);
        if g.is_nan() {
            assert_eq!(t.to_bits(), 0x7FC0_0000);
        } else {
            assert_eq!(t.to_bits(), g.to_bits(), "{b:#x}");
        }
    }
}

#[test]
fn dense_f32_hand_case() {
    let w = [1.0, 2.0, 3.0, -1.0, 0.5, 0.25];
    let mut y = [0.0; 2];
    dense_f32(&w, &[0.5, -1.0], &[1.0, 2.0, 4.0], &mut y).unwrap();
    assert_eq!(y, [1.0 + 4.0 + 12.0 + 0.5, -1.0 + 1.0 + 1.0 - 1.0]);
    assert!(dense_f32(&w, &[0.5], &[1.0, 2.0, 4.0], &mut y).is_err());
}

#[test]
fn dense_lmul_e4m3_hand_case() {
    // weights 1.5 and 3 (e4m3 0x3C, 0x44); inputs 1.5 and 5: L-Mul gives 2.125 + 14.5.
    let q = [Fp8E4M3::from_f32(1.5).0, Fp8E4M3::from_f32(3.0).0];
    assert_eq!(q, [0x3C, 0x44]);
    let mut y = [0.0];
    dense_lmul_e4m3(&q, &[2.0], &[1.0], &[1.5, 5.0], &mut y).unwrap();
    assert_eq!(y[0], (2.125 + 14.5) * 2.0 + 1.0);
}

#[test]
fn gemmlowp_primitives_hand_cases() {
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
        i32::MAX
    );
    assert_eq!(
        saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
        1 << 29
    );
    assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 → 3 (away from zero)
    assert_eq!(rounding_divide_by_pot(-5, 1), -3);
    assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 → 2
    assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 → -2
    let half = QuantMultiplier::from_real(0.5);
    assert_eq!(
        half,
        QuantMultiplier {
            multiplier: 1 << 30,
            shift: 0
        }
    );
    assert_eq!(requantize(100, half), 50);
    assert_eq!(requantize(101, half), 51);
    // gemmlowp nudges negative ties toward zero in the high multiply: -50.5 → -50 (as TFLM).
    assert_eq!(requantize(-101, half), -50);
    assert_eq!(requantize(3, QuantMultiplier::from_real(4.0)), 12);
}

#[test]
fn quantize_rounds_half_away_from_zero_and_saturates() {
    // x / scale = 1.5 → 2, -1.5 → -2, 0.25 → 0; then the zero point is added.
    assert_eq!(quantize(0.75, 0.5, 0), 2);
    assert_eq!(quantize(-0.75, 0.5, 0), -2);
    assert_eq!(quantize(0.125, 0.5, 10), 10);
    assert_eq!(quantize(0.75, 0.5, -128), -126);
    // Saturation at both ends, also with a zero point pushing past them and for infinities.
    assert_eq!(quantize(1e6, 0.5, 0), 127);
    assert_eq!(quantize(-1e6, 0.5, 0), -128);
    assert_eq!(quantize(100.0, 1.0, 100), 127);
    assert_eq!(quantize(f32::INFINITY, 1.0, 0), 127);
    assert_eq!(quantize(f32::NEG_INFINITY, 1.0, 0), -128);
    // NaN maps to the zero point.
    assert_eq!(quantize(f32::NAN, 1.0, -7), -7);
}

#[test]
fn int8_dense_hand_case() {
    // s_x = 0.5, zp_x = -128; s_w = 0.25; s_y = 1, zp_y = 0.
    // x real = [1.0, 2.0] → q = [-126, -124]; w real = [1.0, -0.5] → q = [4, -2].
    // acc = 4·2 + (-2)·4 = 0; bias real 0.75 → 0.75 / (0.5·0.25) = 6 → y = 6 · 0.125 = 0.75 → 1.
    let m = [QuantMultiplier::from_real(0.5 * 0.25 / 1.0)];
    let layer = Int8Dense {
        weights: &[4, -2],
        bias: &[6],
        multipliers: &m,
        input_zero_point: -128,
        output_zero_point: 0,
        relu: false,
    };
    let mut y = [0i8];
    layer.run(&[-126, -124], &mut y).unwrap();
    assert_eq!(y[0], 1);
    let neg = Int8Dense {
        bias: &[-20],
        relu: true,
        ..layer
    };
    neg.run(&[-126, -124], &mut y).unwrap();
    assert_eq!(y[0], 0, "fused ReLU clamps at the output zero point");
}

#[test]
fn linear_schemes_agree_with_kernels() {
    let w = [0.5f32, -1.25, 2.0, 0.125, 3.0, -0.75];
    let b = [0.1f32, -0.2];
    let x = [1.5f32, -0.5, 0.25];
    let mut scratch = [0i8; 3];
    let mut y1 = [0.0; 2];
    let mut y2 = [0.0; 2];
    Linear {
        rows: 2,
        cols: 3,
        weights: Weights::F32(&w),
        bias: Some(&b),
    }
    .forward(&x, &mut y1, &mut scratch)
    .unwrap();
    dense_f32(&w, &b, &x, &mut y2).unwrap();
    assert_eq!(y1, y2);
    let q: [u8; 6] = w.map(|v| Fp8E4M3::from_f32(v).0);
    Linear {
        rows: 2,
        cols: 3,
        weights: Weights::LmulE4m3 {
            q: &q,
            scale: &[1.0, 1.0],
        },
        bias: Some(&b),
    }
    .forward(&x, &mut y1, &mut scratch)
    .unwrap();
    dense_lmul_e4m3(&q, &[1.0, 1.0], &b, &x, &mut y2).unwrap();
    assert_eq!(y1, y2);
    // int8: integers exact → compare with the f32 formula on the quantized values.
    let qw = [64i8, -127, 100, 3, 127, -50];
    let sw = [0.01f32, 0.02];
    Linear {
        rows: 2,
        cols: 3,
        weights: Weights::Int8 { q: &qw, scale: &sw },
        bias: None,
    }
    .forward(&x, &mut y1, &mut scratch)
    .unwrap();
    let mut xq = [0i8; 3];
    let sx = quantize_dynamic(&x, &mut xq).unwrap();
    assert_eq!(xq, [127, -42, 21]);
    for o in 0..2 {
        let acc: i32 = (0..3).map(|i| qw[o * 3 + i] as i32 * xq[i] as i32).sum();
        assert_eq!(y1[o], acc as f32 * (sx * sw[o]));
    }
    assert!(
        Linear {
            rows: 2,
            cols: 3,
            weights: Weights::Int8 { q: &qw, scale: &sw },
            bias: None
        }
        .forward(&x, &mut y1, &mut [0i8; 2])
        .is_err()
    );
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` as written there (nudge, then a division
/// truncating toward zero), against which the shorter form in `quant.rs` is checked.
fn srdhm_gemmlowp(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// The requantization as first written (TFLM `MultiplyByQuantizedMultiplier`).
fn requantize_tflm(acc: i32, m: QuantMultiplier) -> i32 {
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u32;
    let shifted = acc.saturating_mul(1i32.checked_shl(left).unwrap_or(i32::MAX));
    rounding_divide_by_pot(srdhm_gemmlowp(shifted, m.multiplier), right)
}

#[test]
fn srdhm_equals_gemmlowp_at_the_rounding_edges() {
    let edges = [
        i32::MIN,
        i32::MIN + 1,
        -(1 << 30) - 1,
        -(1 << 30),
        -(1 << 30) + 1,
        -3,
        -2,
        -1,
        0,
        1,
        2,
        3,
        (1 << 30) - 1,
        1 << 30,
        (1 << 30) + 1,
        i32::MAX - 1,
        i32::MAX,
    ];
    for &a in &edges {
        for &b in &edges {
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                srdhm_gemmlowp(a, b),
                "{a} {b}"
            );
        }
    }
    // Products at the ties ab = k·2^31 ± 2^30 and next to them (a = 2: ab = 2b).
    for k in -1i64..=1 {
        for side in [-1i64, 1] {
            for d in -2i64..=2 {
                let b = (k * (1 << 30) + side * (1 << 29) + d) as i32;
                assert_eq!(
                    saturating_rounding_doubling_high_mul(2, b),
                    srdhm_gemmlowp(2, b),
                    "2 · {b}"
                );
            }
        }
    }
}

proptest! {
    #[test]
    fn srdhm_equals_gemmlowp(a: i32, b: i32) {
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), srdhm_gemmlowp(a, b));
    }

    #[test]
    fn requantize_equals_tflm(acc: i32, multiplier: i32, shift in -40i32..40) {
        let m = QuantMultiplier { multiplier, shift };
        prop_assert_eq!(requantize(acc, m), requantize_tflm(acc, m));
    }

    #[test]
    fn requantize_is_within_one_of_real_product(acc in -(1i32 << 24)..(1 << 24), real in 1e-6f64..4.0) {
        let m = QuantMultiplier::from_real(real);
        prop_assert!((m.to_real() - real).abs() <= real * 1e-9);
        let want = (acc as f64 * m.to_real()).round();
        let got = requantize(acc, m) as f64;
        prop_assert!((got - want).abs() <= 1.0, "acc {} real {} got {} want {}", acc, real, got, want);
    }

    #[test]
    fn dense_f32_is_sequential_sum(w in proptest::collection::vec(-10.0f32..10.0, 12), x in proptest::collection::vec(-10.0f32..10.0, 4)) {
        let mut y = [0.0f32; 3];
        dense_f32(&w, &[0.0; 3], &x, &mut y).unwrap();
        for o in 0..3 {
            let mut acc = 0.0f32;
            for i in 0..4 { acc += w[o * 4 + i] * x[i]; }
            prop_assert_eq!(y[o].to_bits(), (acc + 0.0).to_bits());
        }
    }
}
