//! Four rows per pass in portable Rust: the input is widened once to `x − zp` in `i32` words, so
//! each widened input is loaded once per four rows and each weight once. On ARMv7-M (no SIMD)
//! this is one `ldrsb` and one `mla` per MAC plus a quarter of an input load.

use super::Block;

/// Widened-input buffer of the ARMv7-M path: 256 columns (1 KiB of stack).
pub(crate) const WORDS: usize = 256;

/// Four rows per pass, one `i32` word per input column; the driver hands it `G` columns at a
/// time (the ARMv7-M asm, `asm::Mla`, takes groups of 4).
pub(crate) struct Rows4<const G: usize>;

impl<const G: usize> Block for Rows4<G> {
    const COLS_PER_WORD: usize = 1;
    const GROUP: usize = G;

    fn widen(x: &[i8], zp: i32, out: &mut [u32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v as i32 - zp) as u32;
        }
    }

    #[inline]
    fn block4(r: [&[i8]; 4], xw: &[u32], acc: &mut [i32; 4]) {
        let n = xw.len();
        let (r0, r1, r2, r3) = (&r[0][..n], &r[1][..n], &r[2][..n], &r[3][..n]);
        let [mut a0, mut a1, mut a2, mut a3] = *acc;
        for i in 0..n {
            let x = xw[i] as i32;
            a0 = a0.wrapping_add((r0[i] as i32).wrapping_mul(x));
            a1 = a1.wrapping_add((r1[i] as i32).wrapping_mul(x));
            a2 = a2.wrapping_add((r2[i] as i32).wrapping_mul(x));
            a3 = a3.wrapping_add((r3[i] as i32).wrapping_mul(x));
        }
        *acc = [a0, a1, a2, a3];
    }
}
