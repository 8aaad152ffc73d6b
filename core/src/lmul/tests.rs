//! L-Mul against an independent value-domain model (SPEC §1.2, the three carry branches in f64)
//! and the special cases of SPEC §0.1.

use super::*;
use proptest::prelude::*;

/// Independent description of a format for the reference model: decoded with `f64` arithmetic,
/// not with the crate's own decoder.
#[derive(Clone, Copy)]
struct RefFormat {
    e: i32,
    m: i32,
    fnuz_e4m3: bool,
}

const R_E4M3: RefFormat = RefFormat {
    e: 4,
    m: 3,
    fnuz_e4m3: true,
};
const R_E5M2: RefFormat = RefFormat {
    e: 5,
    m: 2,
    fnuz_e4m3: false,
};
const R_F16: RefFormat = RefFormat {
    e: 5,
    m: 10,
    fnuz_e4m3: false,
};
const R_BF16: RefFormat = RefFormat {
    e: 8,
    m: 7,
    fnuz_e4m3: false,
};
const R_F32: RefFormat = RefFormat {
    e: 8,
    m: 23,
    fnuz_e4m3: false,
};

#[derive(Debug, PartialEq)]
enum Class {
    Nan,
    Inf(bool),
    Tiny(bool),
    Normal { neg: bool, exp: i32, frac: f64 },
}

impl RefFormat {
    fn bias(self) -> i32 {
        (1 << (self.e - 1)) - 1
    }
    fn classify(self, bits: u64) -> Class {
        let w = 1 + self.e + self.m;
        let neg = (bits >> (w - 1)) & 1 == 1;
        let ef = ((bits >> self.m) & ((1 << self.e) - 1)) as i32;
        let mf = bits & ((1 << self.m) - 1);
        let all_ones = (1 << self.e) - 1;
        if self.fnuz_e4m3 {
            if ef == all_ones && mf == (1 << self.m) - 1 {
                return Class::Nan;
            }
        } else if ef == all_ones {
            return if mf == 0 { Class::Inf(neg) } else { Class::Nan };
        }
        if ef == 0 {
            return Class::Tiny(neg);
        }
        Class::Normal {
            neg,
            exp: ef - self.bias(),
            frac: mf as f64 / (1u64 << self.m) as f64,
        }
    }
    /// Decodes a result pattern to f64 (for comparison).
    fn value(self, bits: u64) -> f64 {
        match self.classify(bits) {
            Class::Nan => f64::NAN,
            Class::Inf(n) => {
                if n {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            Class::Tiny(n) => {
                let mf = bits & ((1 << self.m) - 1);
                let v = mf as f64 * 2f64.powi(1 - self.bias() - self.m);
                if n { -v } else { v }
            }
            Class::Normal { neg, exp, frac } => {
                let v = (1.0 + frac) * 2f64.powi(exp);
                if neg { -v } else { v }
            }
        }
    }
    fn l(self) -> i32 {
        if self.m <= 3 {
            self.m
        } else if self.m == 4 {
            3
        } else {
            4
        }
    }
}

/// What the reference model predicts for a product.
#[derive(Debug)]
enum Expect {
    Nan,
    Value(f64),
}

fn reference(f: RefFormat, a: u64, b: u64) -> Expect {
    let (ca, cb) = (f.classify(a), f.classify(b));
    let w = 1 + f.e + f.m;
    let neg = ((a ^ b) >> (w - 1)) & 1 == 1;
    let signed = |v: f64| if neg { -v } else { v };
    if ca == Class::Nan || cb == Class::Nan {
        return Expect::Nan;
    }
    let tiny = |c: &Class| matches!(c, Class::Tiny(_));
    let inf = |c: &Class| matches!(c, Class::Inf(_));
    if inf(&ca) || inf(&cb) {
        return if tiny(&ca) || tiny(&cb) {
            Expect::Nan
        } else {
            Expect::Value(signed(f64::INFINITY))
        };
    }
    if tiny(&ca) || tiny(&cb) {
        return Expect::Value(signed(0.0));
    }
    let (
        Class::Normal {
            exp: xe, frac: xm, ..
        },
        Class::Normal {
            exp: ye, frac: ym, ..
        },
    ) = (ca, cb)
    else {
        unreachable!()
    };
    // SPEC §1.2: s = xm + ym + 2^-l, three carry branches.
    let s = xm + ym + 2f64.powi(-f.l());
    let p = 2f64.powi(xe + ye);
    let v = if s < 1.0 {
        (1.0 + s) * p
    } else if s < 2.0 {
        2.0 * s * p
    } else {
        4.0 * (s - 1.0) * p
    };
    let min_normal = 2f64.powi(1 - f.bias());
    let max_finite = if f.fnuz_e4m3 {
        448.0
    } else {
        (2.0 - 2f64.powi(-f.m)) * 2f64.powi((1 << f.e) - 2 - f.bias())
    };
    if v < min_normal {
        Expect::Value(signed(0.0))
    } else if v > max_finite {
        Expect::Value(signed(if f.fnuz_e4m3 { 448.0 } else { f64::INFINITY }))
    } else {
        Expect::Value(signed(v))
    }
}

fn check(f: RefFormat, a: u64, b: u64, got: u64) {
    let canonical_nan: u64 = match (f.e, f.m) {
        (4, 3) => 0x7F,
        (5, 2) => 0x7E,
        (5, 10) => 0x7E00,
        (8, 7) => 0x7FC0,
        _ => 0x7FC0_0000,
    };
    match reference(f, a, b) {
        Expect::Nan => assert_eq!(got, canonical_nan, "a={a:#x} b={b:#x}: want canonical NaN"),
        Expect::Value(v) => {
            let g = f.value(got);
            assert!(
                g == v && g.is_sign_negative() == v.is_sign_negative(),
                "a={a:#x} b={b:#x}: got {got:#x} = {g}, model says {v}"
            );
        }
    }
}

#[test]
fn offsets_match_spec_table() {
    assert_eq!(offset(Format::F32), 0x3F78_0000);
    assert_eq!(offset(Format::BF16), 0x3F78);
    assert_eq!(offset(Format::F16), 0x3BC0);
    assert_eq!(offset(Format::E4M3), 0x37);
    assert_eq!(offset(Format::E5M2), 0x3B);
    let ls: [u32; 9] = [1, 2, 3, 4, 5, 6, 7, 10, 23].map(offset_exponent);
    assert_eq!(ls, [1, 2, 3, 3, 4, 4, 4, 4, 4]);
}

#[test]
fn hand_checked_f32_values() {
    assert_eq!(lmul_f32(1.5, 1.5), 2.125);
    assert_eq!(lmul_f32(3.0, 5.0), 14.5);
    assert_eq!(lmul_f32(-2.0, 0.75), -1.5625);
    assert_eq!(lmul_f32(1.0, 1.0), 1.0625);
    assert_eq!(lmul_f32(0.0, 3.0).to_bits(), 0);
    assert_eq!(lmul_f32(-0.0, 3.0).to_bits(), 0x8000_0000);
    assert_eq!(lmul_f32_k(1.0, 1.0, 23), 1.0625);
}

#[test]
fn f32_special_cases() {
    let nan = 0x7FC0_0000;
    assert_eq!(lmul_f32(f32::NAN, 1.0).to_bits(), nan);
    assert_eq!(lmul_f32(-f32::NAN, -1.0).to_bits(), nan);
    assert_eq!(lmul_f32(f32::INFINITY, 0.0).to_bits(), nan);
    assert_eq!(lmul_f32(f32::INFINITY, 1e-40).to_bits(), nan);
    assert_eq!(lmul_f32(f32::NEG_INFINITY, 2.0), f32::NEG_INFINITY);
    assert_eq!(
        lmul_f32(f32::INFINITY, f32::NEG_INFINITY),
        f32::NEG_INFINITY
    );
    assert_eq!(lmul_f32(1e-40, 1e30).to_bits(), 0); // subnormal flushes
    assert_eq!(lmul_f32(-1e-20, 1e-20).to_bits(), 0x8000_0000); // underflow, signed
    assert_eq!(lmul_f32(1e20, 1e20), f32::INFINITY); // overflow
    assert_eq!(lmul_f32(-1e20, 1e20), f32::NEG_INFINITY);
    // A NaN whose payload sits only in bits that k-truncation drops must stay NaN.
    assert_eq!(
        lmul_f32_k(f32::from_bits(0x7F80_0001), 1.0, 3).to_bits(),
        nan
    );
}

#[test]
fn e4m3_saturates_and_has_no_inf() {
    // 448 * 2 saturates to 448, sign kept.
    assert_eq!(lmul_e4m3(0x7E, 0x40), 0x7E);
    assert_eq!(lmul_e4m3(0xFE, 0x40), 0xFE);
    // Exponent 1111 with mantissa < 111 is an ordinary number (256): 256 * 1 ≈ 256 * 1.125.
    assert_eq!(Fp8E4M3(0x78).to_f32(), 256.0);
    assert_eq!(lmul_e4m3(0x78, 0x38), 0x79);
    assert_eq!(lmul_e4m3(0x7F, 0x38), 0x7F);
    assert_eq!(lmul_e4m3(0xFF, 0x00), 0x7F);
}

#[test]
fn all_e4m3_pairs_match_value_model() {
    for a in 0..=255u64 {
        for b in 0..=255u64 {
            check(R_E4M3, a, b, lmul_e4m3(a as u8, b as u8) as u64);
        }
    }
}

#[test]
fn all_e5m2_pairs_match_value_model() {
    for a in 0..=255u64 {
        for b in 0..=255u64 {
            check(R_E5M2, a, b, lmul_e5m2(a as u8, b as u8) as u64);
        }
    }
}

#[test]
fn fp8_double_carry_is_impossible_and_f16_has_it() {
    // m <= 3 has l = m, so s < 2 always; m = 10 reaches s >= 2 (exponent + 2).
    // f16: 1.9990234375 * 1.9990234375: xm = ym = 1023/1024, s = 2046/1024 + 1/16 > 2.
    let a = 0x3FFF;
    check(R_F16, a, a, lmul_f16(a as u16, a as u16) as u64);
    let v = F16(lmul_f16(0x3FFF, 0x3FFF)).to_f32();
    assert!(v > 4.0, "double carry lands in [4, 8): {v}");
}

#[test]
fn k_truncation_puts_results_on_the_k_bit_grid() {
    for k in 1..=23 {
        let r = lmul_f32_k(1.234_567_9, -2.5, k).to_bits();
        let low = r & ((1 << (23 - k)) - 1);
        assert_eq!(low, 0, "k={k}");
    }
}

#[test]
fn dot_and_matvec_accumulate_in_order() {
    let a = [1.5f32, 3.0, -2.0, 1e-40, 0.25];
    let b = [1.5f32, 5.0, 0.75, 7.0, 0.5];
    let mut acc = 0.0f32;
    for i in 0..a.len() {
        acc += lmul_f32(a[i], b[i]);
    }
    assert_eq!(dot_lmul_f32(&a, &b).to_bits(), acc.to_bits());
    assert_eq!(dot_lmul_f32(&[], &[]).to_bits(), 0);
    let w = [1.5f32, 3.0, -2.0, 0.75, 1.0, 1.0];
    let mut y = [0.0f32; 2];
    matvec_lmul_f32(&w, &[1.5, 5.0, 0.75], &mut y).unwrap();
    assert_eq!(y[0], dot_lmul_f32(&w[..3], &[1.5, 5.0, 0.75]));
    assert_eq!(y[1], dot_lmul_f32(&w[3..], &[1.5, 5.0, 0.75]));
    assert_eq!(
        matvec_lmul_f32(&w, &[1.0; 4], &mut y),
        Err(ShapeError {
            expected: 8,
            found: 6
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn f32_matches_value_model(a in any::<u32>(), b in any::<u32>()) {
        let got = lmul_f32(f32::from_bits(a), f32::from_bits(b)).to_bits();
        check(R_F32, a as u64, b as u64, got as u64);
    }

    #[test]
    fn f32_normal_range_matches_value_model(a in 0x0080_0000u32..0x7F80_0000, b in 0x0080_0000u32..0x7F80_0000,
                                            sa in any::<bool>(), sb in any::<bool>()) {
        let a = a | (sa as u32) << 31;
        let b = b | (sb as u32) << 31;
        let got = lmul_f32(f32::from_bits(a), f32::from_bits(b)).to_bits();
        check(R_F32, a as u64, b as u64, got as u64);
    }

    #[test]
    fn f32_fast_path_equals_general_rule(a in any::<u32>(), b in any::<u32>()) {
        let general = lmul_bits(Format::F32, a, b);
        prop_assert_eq!(lmul_f32(f32::from_bits(a), f32::from_bits(b)).to_bits(), general);
    }

    #[test]
    fn bf16_matches_value_model(a in any::<u16>(), b in any::<u16>()) {
        check(R_BF16, a as u64, b as u64, lmul_bf16(a, b) as u64);
    }

    #[test]
    fn f16_matches_value_model(a in any::<u16>(), b in any::<u16>()) {
        check(R_F16, a as u64, b as u64, lmul_f16(a, b) as u64);
    }

    #[test]
    fn f32_k_equals_truncated_operand_model(a in 0x0080_0000u32..0x7F80_0000, b in 0x0080_0000u32..0x7F80_0000, k in 1u32..=23) {
        // Reference: truncate to k bits, then the value model of an m = k format with l(k).
        let mask = !((1u32 << (23 - k)) - 1);
        let (ta, tb) = (f32::from_bits(a & mask) as f64, f32::from_bits(b & mask) as f64);
        let (ea, eb) = (ta.log2().floor(), tb.log2().floor());
        let (xm, ym) = (ta / 2f64.powf(ea) - 1.0, tb / 2f64.powf(eb) - 1.0);
        let l = offset_exponent(k) as i32;
        let s = xm + ym + 2f64.powi(-l);
        let p = 2f64.powf(ea + eb);
        let v = if s < 1.0 { (1.0 + s) * p } else if s < 2.0 { 2.0 * s * p } else { 4.0 * (s - 1.0) * p };
        let got = lmul_f32_k(f32::from_bits(a), f32::from_bits(b), k) as f64;
        if v < f32::MIN_POSITIVE as f64 {
            prop_assert_eq!(got, 0.0);
        } else if v > f32::MAX as f64 {
            prop_assert_eq!(got, f64::INFINITY);
        } else {
            prop_assert_eq!(got, v);
        }
    }

    #[test]
    fn bf16_is_f32_on_the_bf16_grid(a in any::<u16>(), b in any::<u16>()) {
        // With k = 7 the fp32 rule on bf16 values equals bf16 L-Mul (same exponent range, l(7) = 4).
        let fa = Bf16(a);
        let fb = Bf16(b);
        prop_assume!(!fa.to_f32().is_nan() && !fb.to_f32().is_nan());
        let via_f32 = lmul_f32_k(fa.to_f32(), fb.to_f32(), 7).to_bits();
        prop_assert_eq!(via_f32 >> 16, lmul_bf16(a, b) as u32);
    }
}
