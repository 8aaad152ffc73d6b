//! The fixed-point L-Mul against independent models: hand-worked products, the SPEC-tested
//! e4m3 L-Mul (`lmul_e4m3`) on every pair of patterns, the value-domain L-Mul rule of SPEC §1.2
//! summed exactly in `f64` (every product and sum is an integer below 2^53), and every fast path
//! against the reference through one macro (random shapes, odd widths, 1×N, N×1, chunk edges).

use super::*;
use crate::check::XorShift32;
use crate::lmul::{Fp8E4M3, lmul_e4m3};
use proptest::prelude::*;

#[test]
fn hand_worked_products() {
    // 1.0 (0x38) · 1.0 (0x38): r = 0x38 + 0x38 − 0x37 = 0x39 → 1.125 (SPEC: 1·1 → 1 + 2^−3),
    // in 2^−9: 1.125 · 512 = 576.
    assert_eq!(product(0x38, 0x38), 576);
    // 1.5 (0x3C) · 1.5: r = 0x41 = field 8, mantissa 1 → 2.25 → 1152 (value rule: s = .5 + .5 +
    // .125 ≥ 1 → 2s · 2^0 = 2.25).
    assert_eq!(product(0x3C, 0x3C), 1152);
    // −2 (0xC0) · 0.75 (0x30): r = 0x40 + 0x30 − 0x37 = 0x39 → −1.125 → −576.
    assert_eq!(product(0xC0, 0x30), -576);
    // zero, negative zero and subnormal operands flush.
    assert_eq!(product(0x00, 0x38), 0);
    assert_eq!(product(0x38, 0x80), 0);
    assert_eq!(product(0x07, 0x7E), 0);
    // Underflow: 2^−6 (0x08) · 2^−6: r = 0x10 − 0x37 < 8 → 0.
    assert_eq!(product(0x08, 0x08), 0);
    // Smallest non-zero result: r = 8 (2^−6, field 1) → 8 · 2^0 = 8 (units 2^−9 → 2^−6 ✓).
    assert_eq!(product(0x08, 0x37), 8);
    // Largest activation code 0x77 times the largest weight 448 (0x7E): r = 190 → field 23,
    // mantissa 6 → 14 · 2^22, no saturation (lmul_e4m3 would clamp to 448).
    assert_eq!(product(0x7E, 0x77), 14 << 22);
    assert_eq!(product(0xFE, 0x77), -(14 << 22));
}

/// The value of an e4m3 pattern in units of 2^−9, or `None` for NaN.
fn e4m3_units(p: u8) -> Option<f64> {
    let v = Fp8E4M3(p).to_f32();
    v.is_finite().then_some(v as f64 * 512.0)
}

#[test]
fn every_pair_equals_lmul_e4m3_where_it_does_not_saturate() {
    for w in 0..=255u8 {
        for c in 0..=255u8 {
            let (Some(_), Some(_)) = (e4m3_units(w), e4m3_units(c)) else {
                continue;
            };
            let r = (w & 0x7F) as i32 + (c & 0x7F) as i32 - OFFSET;
            if r >= 0x7F {
                continue;
            }
            let want = e4m3_units(lmul_e4m3(w, c)).unwrap();
            assert_eq!(product(w, c) as f64, want, "{w:#04x} · {c:#04x}");
        }
    }
}

/// SPEC §1.2 in the value domain: `(1 + s) 2^(xe+ye)` or `2s · 2^(xe+ye)` with
/// `s = xm + ym + 2^−3`, zero below the smallest normal, flush of zero/subnormal operands.
fn value_rule(w: u8, c: u8) -> f64 {
    let parts = |p: u8| {
        let e = ((p >> 3) & 0xF) as i32;
        (e, (p & 7) as f64 / 8.0, p & 0x80 != 0)
    };
    let ((ew, mw, sw), (ec, mc, sc)) = (parts(w), parts(c));
    if ew == 0 || ec == 0 {
        return 0.0;
    }
    let s = mw + mc + 0.125;
    let (sig, carry) = if s < 1.0 { (1.0 + s, 0) } else { (s, 1) };
    let exp = (ew - 7) + (ec - 7) + carry;
    if exp + 7 < 1 {
        return 0.0;
    }
    let v = sig * 2f64.powi(exp) * 512.0;
    if sw != sc { -v } else { v }
}

#[test]
fn every_pair_equals_the_value_domain_rule() {
    for w in 0..=255u8 {
        for c in 0..=255u8 {
            assert_eq!(
                product(w, c) as f64,
                value_rule(w, c),
                "{w:#04x} · {c:#04x}"
            );
            assert_eq!(
                lookup(w, CODE[c as usize]),
                product(w, c),
                "table {w:#04x} · {c:#04x}"
            );
        }
    }
}

#[test]
fn chunk_bound_holds_for_every_reachable_pair() {
    // Activation codes are at most 0x77 in magnitude (TOP_FIELD 14, mantissa 7).
    let max = (0..=255u8)
        .flat_map(|w| (0..=0x77u8).map(move |c| product(w, c).unsigned_abs() as u64))
        .max()
        .unwrap();
    assert_eq!(max, 15 << 22);
    assert!(CHUNK as u64 * max <= i32::MAX as u64);
}

#[test]
fn encoding_hand_cases() {
    let x = [
        3.0f32,
        -1.0,
        0.0,
        -0.0,
        1e-40,
        3.0 * 2f32.powi(-13),
        2f32.powi(-14),
        1.9375,
    ];
    let mut c = [0i8; 8];
    assert_eq!(encode(&x, &mut c), Ok(Encoded::Codes { exponent: 1 }));
    let c = c.map(|v| v as u8);
    // 3 = 1.5 · 2^1 → field 14, mantissa 4 (0x74); −1 → field 13 (0xE8); zeros and the
    // subnormal flush; 3 · 2^−13 = 1.5 · 2^−12 is 13 binades down → field 1 (0x0C), the
    // smallest kept; 2^−14 is 15 down → 0; 1.9375 = 1.1111b → mantissa truncated to 111b (0x6F).
    assert_eq!(c, [0x74, 0xE8, 0, 0, 0, 0x0C, 0, 0x6F]);
    let y = [3.0f32, 2f32.powi(-12)];
    let mut c = [0i8; 2];
    encode(&y, &mut c).unwrap();
    assert_eq!(c.map(|v| v as u8), [0x74, 0x08]); // 2^−12 is 13 binades below 3: field 1
    assert_eq!(
        encode(&[0.0, 1e-42], &mut c),
        Ok(Encoded::Codes { exponent: 0 })
    );
    assert_eq!(c, [0, 0]);
    assert_eq!(encode(&[1.0, f32::NAN], &mut c), Ok(Encoded::NonFinite));
    assert_eq!(
        encode(&[f32::NEG_INFINITY, 1.0], &mut c),
        Ok(Encoded::NonFinite)
    );
    assert!(encode(&[1.0], &mut c).is_err());
}

#[test]
fn scaled_conversion_equals_convert_then_scalbn() {
    let mut rng = XorShift32(23);
    let mut cases: Vec<i64> = vec![
        0,
        1,
        -1,
        (1 << 24) - 1,
        1 << 24,
        (1 << 24) + 1,
        (1 << 25) + 3,
    ];
    cases.extend([
        i64::MAX,
        i64::MIN,
        -(1 << 46),
        (1 << 47) - 1,
        0x0100_0001_8000_0000,
    ]);
    for _ in 0..20_000 {
        let v = ((rng.next_u32() as u64) << 32 | rng.next_u32() as u64) as i64;
        cases.push(v >> (rng.next_u32() % 63));
    }
    for v in cases {
        for n in [
            i32::MIN,
            -300,
            -170,
            -150,
            -149,
            -142,
            -126,
            -60,
            -16,
            0,
            37,
            100,
            111,
            127,
            200,
            i32::MAX,
        ] {
            let want = libm::scalbnf(v as f32, n);
            assert_eq!(scaled_f32(v, n).to_bits(), want.to_bits(), "{v} · 2^{n}");
        }
    }
}

/// An independent model of [`dense`]: codes from the value (f64: scale by a power of two,
/// truncate the mantissa by `floor`), products by [`value_rule`], exact f64 sum, the documented
/// rounding steps.
fn dense_model(q: &[u8], scale: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    let rows = scale.len();
    if x.iter().any(|v| !v.is_finite()) {
        return vec![f32::NAN; rows];
    }
    let normal = |v: f32| v != 0.0 && v.abs() >= f32::MIN_POSITIVE;
    let e = x
        .iter()
        .filter(|v| normal(**v))
        .map(|v| (v.abs() as f64).log2().floor() as i32)
        .max();
    let codes: Vec<u8> = x
        .iter()
        .map(|&v| {
            let Some(e) = e.filter(|_| normal(v)) else {
                return 0;
            };
            let a = v.abs() as f64 * 2f64.powi(7 - e); // exact
            let mut ea = 0i32;
            while 2f64.powi(ea + 1) <= a {
                ea += 1;
            }
            while 2f64.powi(ea) > a {
                ea -= 1;
            }
            let field = ea + 7;
            if field < 1 {
                return 0;
            }
            let m = ((a / 2f64.powi(ea) - 1.0) * 8.0).floor() as u8;
            (if v < 0.0 { 0x80 } else { 0 }) | (field as u8) << 3 | m
        })
        .collect();
    let e = e.unwrap_or(0);
    (0..rows)
        .map(|o| {
            let row = &q[o * x.len()..(o + 1) * x.len()];
            let acc: f64 = row
                .iter()
                .zip(&codes)
                .map(|(&w, &c)| value_rule(w, c))
                .sum();
            // f64 product of an f32 and a power of two is exact; one rounding to f32 (= scalbn).
            let v = ((acc as f32) as f64 * 2f64.powi(e - 16)) as f32;
            v * scale[o] + b[o]
        })
        .collect()
}

/// Random valid e4m3 weights (no NaN; subnormals and zeros included).
fn weights(rng: &mut XorShift32, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let p = (rng.next_u32() >> 24) as u8;
            if p & 0x7F == 0x7F { p ^ 1 } else { p }
        })
        .collect()
}

/// Activations over a wide range: mode 0 uniform in ±1, 1 log-uniform over 40 binades with
/// zeros and subnormals, 2 all zero.
fn activations(rng: &mut XorShift32, n: usize, mode: u32) -> Vec<f32> {
    (0..n)
        .map(|_| match mode {
            0 => rng.next_f32() * 2.0 - 1.0,
            1 => match rng.next_u32() % 8 {
                0 => 0.0,
                1 => f32::from_bits(rng.next_u32() & 0x807F_FFFF), // subnormal
                _ => {
                    let e = (rng.next_u32() % 40) as i32 - 20;
                    let s = if rng.next_u32() & 1 == 0 { 1.0 } else { -1.0 };
                    s * (1.0 + rng.next_f32()) * 2f32.powi(e)
                }
            },
            _ => 0.0,
        })
        .collect()
}

fn check_dense(rows: usize, cols: usize, seed: u32, mode: u32) {
    let mut rng = XorShift32(seed | 1);
    let q = weights(&mut rng, rows * cols);
    let x = activations(&mut rng, cols, mode);
    let scale: Vec<f32> = (0..rows).map(|_| 1e-3 * (1.0 + rng.next_f32())).collect();
    let b: Vec<f32> = (0..rows).map(|_| rng.next_f32() - 0.5).collect();
    let mut y = vec![0.0f32; rows];
    let mut codes = vec![0i8; cols];
    dense(&q, &scale, Some(&b), &x, &mut y, &mut codes).unwrap();
    let want = dense_model(&q, &scale, &b, &x);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&y), bits(&want), "{rows}x{cols} mode {mode}");
}

#[test]
fn dense_equals_the_exact_model_on_edge_shapes() {
    for (rows, cols) in [
        (1, 1),
        (1, 31),
        (1, 32),
        (1, 33),
        (5, 1),
        (4, 64),
        (9, 65),
        (3, 700),
    ] {
        for mode in 0..3 {
            check_dense(rows, cols, (rows * 7 + cols) as u32, mode);
        }
    }
}

#[test]
fn dense_non_finite_input_and_bad_shapes() {
    let q = [0x38u8; 6];
    let mut y = [0.0f32; 2];
    let mut c = [0i8; 3];
    dense(
        &q,
        &[1.0; 2],
        None,
        &[1.0, f32::INFINITY, 2.0],
        &mut y,
        &mut c,
    )
    .unwrap();
    assert!(y.iter().all(|v| v.is_nan()));
    // No bias, all-zero input: +0.
    dense(&q, &[1.0; 2], None, &[0.0; 3], &mut y, &mut c).unwrap();
    assert_eq!(y.map(f32::to_bits), [0, 0]);
    assert!(dense(&q, &[1.0; 2], None, &[1.0; 3], &mut y, &mut [0i8; 2]).is_err());
    assert!(dense(&q[..5], &[1.0; 2], None, &[1.0; 3], &mut y, &mut c).is_err());
    assert!(dense(&q, &[1.0; 1], None, &[1.0; 3], &mut y, &mut c).is_err());
    assert!(dense(&q, &[1.0; 2], Some(&[0.0]), &[1.0; 3], &mut y, &mut c).is_err());
    // 1 · 1 with bias 0.5 and scale 2: acc = 576 (1.125 · 2^9 relative to e = 0) → 2.25 + 0.5.
    // Any exponent is accepted by the epilogue (saturating, no overflow).
    assert_eq!(finish(5, i32::MIN, 1.0, 0.0), 0.0);
    assert_eq!(finish(5, i32::MAX, 1.0, 0.0), f32::INFINITY);
    let mut y1 = [0.0f32];
    dense(&[0x38], &[2.0], Some(&[0.5]), &[1.0], &mut y1, &mut [0i8]).unwrap();
    assert_eq!(y1, [2.75]);
}

#[test]
fn close_to_f32_lmul_e4m3_on_random_layers() {
    // Not a bit contract: the fixed scheme truncates activations to 3 bits, so it is a few per
    // cent from the f32-accumulating L-Mul per product, and much closer over a dot product.
    let mut rng = XorShift32(17);
    let (rows, cols) = (16, 256);
    let q: Vec<u8> = (0..rows * cols)
        .map(|_| Fp8E4M3::from_f32((rng.next_f32() - 0.5) * 400.0).0)
        .collect();
    let x: Vec<f32> = (0..cols).map(|_| rng.next_f32()).collect();
    let (scale, b) = (vec![1.0 / 448.0; rows], vec![0.0; rows]);
    let (mut a, mut f) = (vec![0.0; rows], vec![0.0; rows]);
    dense(&q, &scale, Some(&b), &x, &mut a, &mut vec![0i8; cols]).unwrap();
    crate::kernels::dense_lmul_e4m3(&q, &scale, &b, &x, &mut f).unwrap();
    let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
    let err = a
        .iter()
        .zip(&f)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f32>()
        .sqrt();
    assert!(err / norm < 0.05, "relative error {}", err / norm);
}

type Kernel = fn(&[u8], usize, &[i8], &mut dyn FnMut(usize, i64)) -> Result<(), ShapeError>;

fn sums(kernel: Kernel, w: &[u8], rows: usize, c: &[i8]) -> Vec<i64> {
    let mut out = Vec::new();
    kernel(w, rows, c, &mut |o, a| {
        assert_eq!(o, out.len(), "rows out of order");
        out.push(a);
    })
    .unwrap();
    assert_eq!(out.len(), rows);
    out
}

fn reference(
    w: &[u8],
    rows: usize,
    c: &[i8],
    e: &mut dyn FnMut(usize, i64),
) -> Result<(), ShapeError> {
    matvec_reference(w, rows, c, e)
}

/// Codes as [`encode`] makes them (mode 0), all at the largest magnitude with the largest
/// weights (mode 1: the chunk bound's worst case), or any byte ≤ 0x77 in magnitude (mode 2).
fn codes(rng: &mut XorShift32, n: usize, mode: u32) -> Vec<i8> {
    match mode {
        0 => {
            let x = activations(rng, n, 1);
            let mut c = vec![0i8; n];
            encode(&x, &mut c).unwrap();
            c
        }
        1 => vec![0x77; n],
        _ => (0..n)
            .map(|_| {
                let p = (rng.next_u32() >> 24) as u8;
                (if p & 0x7F > 0x77 { p & 0xB7 } else { p }) as i8
            })
            .collect(),
    }
}

macro_rules! fixed_kernel_matches_reference {
    ($name:ident, $kernel:expr) => {
        mod $name {
            use super::*;

            fn kernel(
                w: &[u8],
                rows: usize,
                c: &[i8],
                e: &mut dyn FnMut(usize, i64),
            ) -> Result<(), ShapeError> {
                ($kernel)(w, rows, c, e)
            }

            fn check(rows: usize, cols: usize, seed: u32, mode: u32) {
                let mut rng = XorShift32(seed | 1);
                let w = if mode == 1 {
                    vec![0x7E; rows * cols]
                } else {
                    weights(&mut rng, rows * cols)
                };
                let c = codes(&mut rng, cols, mode);
                assert_eq!(
                    sums(kernel, &w, rows, &c),
                    sums(reference, &w, rows, &c),
                    "{rows}x{cols} mode {mode}"
                );
            }

            #[test]
            fn every_small_shape() {
                for rows in 1..=9 {
                    for cols in 0..=40 {
                        check(rows, cols, (rows * 131 + cols) as u32, 0);
                    }
                }
            }

            #[test]
            fn edge_shapes_and_worst_case_sums() {
                for (rows, cols) in [(1, 1), (1, 1024), (257, 1), (4, 513), (7, 600), (8, 64)] {
                    for mode in 0..3 {
                        check(rows, cols, 7, mode);
                    }
                }
                // The worst case sum of a long row: 15 · 2^22 per product, no wrap.
                let s = sums(kernel, &vec![0x7F; 4096], 1, &vec![0x77; 4096]);
                assert_eq!(s, vec![4096 * (15i64 << 22)]);
            }

            #[test]
            fn bad_shapes() {
                let mut e = |_: usize, _: i64| {};
                assert!(kernel(&[0; 5], 2, &[0; 3], &mut e).is_err());
                assert!(kernel(&[0; 6], usize::MAX, &[0; 3], &mut e).is_err());
                assert_eq!(sums(kernel, &[], 3, &[]), vec![0, 0, 0]);
                assert_eq!(sums(kernel, &[], 0, &[1, 2]), Vec::<i64>::new());
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(256))]
                #[test]
                fn random_shapes(rows in 1usize..40, cols in prop_oneof![1usize..=40, 41usize..700],
                                 seed: u32, mode in 0u32..3) {
                    check(rows, cols, seed, mode);
                }
            }
        }
    };
}

fixed_kernel_matches_reference!(dispatch, |w, r, c, e: &mut dyn FnMut(usize, i64)| matvec(
    w, r, c, e
));
fixed_kernel_matches_reference!(rows1, |w, r, c, e: &mut dyn FnMut(usize, i64)| {
    matvec_with::<Rows1>(w, r, c, e)
});
fixed_kernel_matches_reference!(rows2, |w, r, c, e: &mut dyn FnMut(usize, i64)| {
    matvec_with::<Rows2>(w, r, c, e)
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn dense_equals_the_exact_model(rows in 1usize..12, cols in 1usize..300, seed: u32,
                                    mode in 0u32..3) {
        check_dense(rows, cols, seed, mode);
    }
}
