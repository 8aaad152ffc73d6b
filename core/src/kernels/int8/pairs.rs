//! The packed-int16-pair layout of the ARMv7E-M kernel, and a portable emulation of it.
//!
//! Four input bytes `x0 x1 x2 x3` are widened once to two words, `(x0 − zp) | (x2 − zp) << 16`
//! and `(x1 − zp) | (x3 − zp) << 16`: the halves SXTAB16 produces from one word and from the
//! word rotated by 8. A weight word `w0 w1 w2 w3` is split the same way by SXTB16 (`w0, w2` and,
//! rotated, `w1, w3`), so two SMLADs add the four products of a column group to an accumulator.

use super::Block;

/// Widened-input buffer of the ARMv7E-M path: 256 words hold 512 columns (1 KiB of stack).
pub(crate) const WORDS: usize = 256;

/// Packs two `i16` halves into a word (`lo` in bits 0–15).
#[inline]
fn pack(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xFFFF) | ((hi as u32) << 16)
}

/// Widens groups of four columns into pairs of words (see the module docs); `out` holds
/// `x.len() / 2` words, `x.len()` is a multiple of 4.
pub(crate) fn widen_pairs(x: &[i8], zp: i32, out: &mut [u32]) {
    for (g, o) in x.chunks_exact(4).zip(out.chunks_exact_mut(2)) {
        let v = |i: usize| g[i] as i32 - zp;
        o[0] = pack(v(0), v(2));
        o[1] = pack(v(1), v(3));
    }
}

/// SMLAD: `acc + lo(a)·lo(b) + hi(a)·hi(b)` (signed halves), wrapping.
#[inline]
pub(crate) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let lo = (a as i16 as i32) * (b as i16 as i32);
    let hi = ((a >> 16) as i16 as i32) * ((b >> 16) as i16 as i32);
    acc.wrapping_add(lo).wrapping_add(hi)
}

/// SXTB16 of a word rotated right by `rot` bits: bytes 0 and 2, sign-extended to halves.
#[inline]
pub(crate) fn sxtb16(w: u32, rot: u32) -> u32 {
    let r = w.rotate_right(rot);
    pack(r as u8 as i8 as i32, (r >> 16) as u8 as i8 as i32)
}

/// The ARMv7E-M kernel's data flow instruction by instruction, in portable Rust.
pub(crate) struct Emulated;

impl Block for Emulated {
    const COLS_PER_WORD: usize = 2;
    const GROUP: usize = 4;

    fn widen(x: &[i8], zp: i32, out: &mut [u32]) {
        widen_pairs(x, zp, out);
    }

    fn block4(r: [&[i8]; 4], xw: &[u32], acc: &mut [i32; 4]) {
        for (g, xp) in xw.chunks_exact(2).enumerate() {
            for (a, row) in acc.iter_mut().zip(&r) {
                let b = &row[4 * g..4 * g + 4];
                let w = u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]);
                *a = smlad(sxtb16(w, 0), xp[0], *a);
                *a = smlad(sxtb16(w, 8), xp[1], *a);
            }
        }
    }
}
