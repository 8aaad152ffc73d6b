//! Every int8 kernel against the scalar reference, through one macro: random shapes (odd widths,
//! 1×N, N×1, widths 1..=16 and past the widened-input buffer), random and extreme values, every
//! zero point class. The ARMv7E-M asm itself runs on the device (`tests/tests/kernels_qemu.rs`);
//! here its data layout runs as `pairs::Emulated`.

use super::*;
use crate::check::XorShift32;
use proptest::prelude::*;

/// A kernel under test: `(w, rows, x, zp, emit)`, as [`matvec_reference`].
type Kernel = fn(&[i8], usize, &[i8], i32, &mut dyn FnMut(usize, i32)) -> Result<(), ShapeError>;

/// Accumulators of `kernel` on `w` (`rows × x.len()`), checking the rows come once each, in order.
fn sums(kernel: Kernel, w: &[i8], rows: usize, x: &[i8], zp: i32) -> Vec<i32> {
    let mut out = Vec::new();
    kernel(w, rows, x, zp, &mut |o, a| {
        assert_eq!(o, out.len(), "rows out of order");
        out.push(a);
    })
    .unwrap();
    assert_eq!(out.len(), rows);
    out
}

fn reference(
    w: &[i8],
    rows: usize,
    x: &[i8],
    zp: i32,
    e: &mut dyn FnMut(usize, i32),
) -> Result<(), ShapeError> {
    matvec_reference(w, rows, x, zp, e)
}

/// Values in the full int8 range, or all at one extreme (the largest sums).
fn fill(rng: &mut XorShift32, n: usize, mode: u32) -> Vec<i8> {
    (0..n)
        .map(|_| match mode {
            0 => -128,
            1 => 127,
            _ => (rng.next_u32() >> 24) as i8,
        })
        .collect()
}

/// Generates the tests of one kernel `fn(w, rows, x, zp, emit)` against [`matvec_reference`].
macro_rules! int8_kernel_matches_reference {
    ($name:ident, $kernel:expr) => {
        mod $name {
            use super::*;

            fn kernel(
                w: &[i8],
                rows: usize,
                x: &[i8],
                zp: i32,
                e: &mut dyn FnMut(usize, i32),
            ) -> Result<(), ShapeError> {
                ($kernel)(w, rows, x, zp, e)
            }

            fn check(rows: usize, cols: usize, zp: i32, seed: u32, wmode: u32, xmode: u32) {
                let mut rng = XorShift32(seed | 1);
                let w = fill(&mut rng, rows * cols, wmode);
                let x = fill(&mut rng, cols, xmode);
                assert_eq!(
                    sums(kernel, &w, rows, &x, zp),
                    sums(reference, &w, rows, &x, zp),
                    "{rows}x{cols} zp {zp}"
                );
            }

            #[test]
            fn every_small_shape() {
                for rows in 1..=9 {
                    for cols in 0..=16 {
                        for zp in [-128, -3, 0, 127] {
                            check(rows, cols, zp, (rows * 131 + cols) as u32, 2, 2);
                        }
                    }
                }
            }

            #[test]
            fn edge_shapes_and_extremes() {
                for (rows, cols) in [(1, 1), (1, 257), (1, 1024), (257, 1), (4, 513), (7, 600)] {
                    for (wm, xm) in [(0, 0), (0, 1), (1, 0), (2, 2)] {
                        for zp in [-128, 127, 0] {
                            check(rows, cols, zp, 7, wm, xm);
                        }
                    }
                }
            }

            #[test]
            fn zero_points_outside_int8_and_bad_shapes() {
                check(3, 9, 1000, 5, 2, 2);
                check(3, 9, -40_000, 5, 2, 2);
                let mut e = |_: usize, _: i32| {};
                assert!(kernel(&[0; 5], 2, &[0; 3], 0, &mut e).is_err());
                assert!(kernel(&[0; 6], usize::MAX, &[0; 3], 0, &mut e).is_err());
                assert_eq!(sums(kernel, &[], 3, &[], 5), vec![0, 0, 0]);
                assert_eq!(sums(kernel, &[], 0, &[1, 2], 5), Vec::<i32>::new());
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(256))]
                #[test]
                fn random_shapes(rows in 1usize..40, cols in prop_oneof![1usize..=16, 17usize..700],
                                 zp in -128i32..=127, seed: u32, wm in 0u32..6, xm in 0u32..6) {
                    check(rows, cols, zp, seed, wm, xm);
                }
            }
        }
    };
}

int8_kernel_matches_reference!(
    dispatch,
    |w, r, x, z, e: &mut dyn FnMut(usize, i32)| matvec(w, r, x, z, e)
);
int8_kernel_matches_reference!(
    rows4_scalar,
    matvec_with::<scalar::Rows4<1>, { scalar::WORDS }>
);
int8_kernel_matches_reference!(
    rows4_scalar_groups_of_4,
    matvec_with::<scalar::Rows4<4>, { scalar::WORDS }>
);
int8_kernel_matches_reference!(rows4_scalar_tiny_buffer, matvec_with::<scalar::Rows4<1>, 3>);
int8_kernel_matches_reference!(
    rows4_scalar_groups_of_4_tiny_buffer,
    matvec_with::<scalar::Rows4<4>, 6>
);
int8_kernel_matches_reference!(
    pairs_emulated,
    matvec_with::<pairs::Emulated, { pairs::WORDS }>
);
int8_kernel_matches_reference!(
    pairs_emulated_tiny_buffer,
    matvec_with::<pairs::Emulated, 4>
);
int8_kernel_matches_reference!(
    pairs_emulated_no_full_group,
    matvec_with::<pairs::Emulated, 1>
);

#[test]
fn emulated_instructions_hand_cases() {
    // SXTB16: bytes 0 and 2 (and 1, 3 after ror 8), sign-extended.
    assert_eq!(pairs::sxtb16(0x80_7F_01_FF, 0), 0x007F_FFFF);
    assert_eq!(pairs::sxtb16(0x80_7F_01_FF, 8), 0xFF80_0001);
    // SMLAD: 3·(−2) + (−4)·5 + 100, and wrapping at the top.
    assert_eq!(pairs::smlad(0xFFFC_0003, 0x0005_FFFE, 100), 74);
    assert_eq!(
        pairs::smlad(0x8000_8000, 0x8000_8000, i32::MAX),
        i32::MAX.wrapping_add(1 << 31)
    );
}

#[test]
fn int8_dense_run_equals_run_reference() {
    let mut rng = XorShift32(99);
    for (rows, cols) in [(1, 1), (5, 13), (10, 64), (33, 300)] {
        let w = fill(&mut rng, rows * cols, 2);
        let x = fill(&mut rng, cols, 2);
        let bias: Vec<i32> = (0..rows).map(|_| rng.next_u32() as i32 >> 12).collect();
        let m: Vec<_> = (0..rows)
            .map(|_| super::super::QuantMultiplier {
                multiplier: (1 << 30) | (rng.next_u32() >> 2) as i32,
                shift: (rng.next_u32() % 12) as i32 - 10,
            })
            .collect();
        for relu in [false, true] {
            let layer = super::super::Int8Dense {
                weights: &w,
                bias: &bias,
                multipliers: &m,
                input_zero_point: -7,
                output_zero_point: 3,
                relu,
            };
            let (mut a, mut b) = (vec![0i8; rows], vec![0i8; rows]);
            layer.run(&x, &mut a).unwrap();
            layer.run_reference(&x, &mut b).unwrap();
            assert_eq!(a, b);
        }
    }
}
