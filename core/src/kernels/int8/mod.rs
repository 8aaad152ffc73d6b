//! The int8 matrix-vector product behind [`super::Int8Dense`] and the dynamic int8
//! [`super::Linear`]: `acc[o] = Σ_i w[o, i] · (x[i] − zp)` in wrapping `i32`, one accumulator per
//! output row, handed to a callback in row order.
//!
//! Layering (generic reference → per architecture):
//! - [`matvec_reference`]: one row at a time, in index order. The definition.
//! - `matvec_with`: the multi-row driver (portable): widens the input once, runs a `Block` on
//!   four rows at a time, sums the tail columns, emits the rows.
//! - `scalar::Rows4` / `asm::Mla` (ARMv7-M, Cortex-M3, no SIMD): four rows per pass over an
//!   input widened once to `i32`, one LDRSB + MLA per MAC.
//! - `pairs::Emulated` / `asm::Smlad` (ARMv7E-M, Cortex-M4/M7): four rows per pass over an input
//!   widened once to packed int16 pairs, two MACs per SMLAD.
//!
//! `Rows4` and `Emulated` are the asm blocks' data flow in portable Rust, so the host tests the
//! driver, the packing, chunking and tails through them (`tests.rs`); the asm (the only `unsafe`
//! of the kernels, module `asm`) runs only on the device, where the firmware's `kernel_check`
//! compares it with the reference (`tests/tests/kernels_qemu.rs`).
//!
//! Every variant is bit-identical to the reference: the sum is taken modulo 2³² (wrapping, as the
//! reference), and addition modulo 2³² is associative and commutative, so the order of the
//! partial sums does not change a bit. `x − zp` fits an `i16` for `zp ∈ [-128, 127]` (the range
//! the model parser accepts); other zero points take the reference path.

use crate::shape::{ShapeError, check_len};

#[cfg(any(test, mote_arch = "armv7em"))]
pub(crate) mod pairs;
#[cfg(any(test, mote_arch = "armv7m"))]
pub(crate) mod scalar;

#[cfg(any(mote_arch = "armv7em", mote_arch = "armv7m"))]
mod asm;

/// Checks `w.len() == rows · x.len()` and returns `rows`.
fn rows_of(w: &[i8], cols: usize, rows: usize) -> Result<usize, ShapeError> {
    let n = rows.checked_mul(cols).ok_or(ShapeError {
        expected: usize::MAX,
        found: w.len(),
    })?;
    check_len(w.len(), n)?;
    Ok(rows)
}

/// The scalar reference: for each row `o` of `w` (row-major `[rows, x.len()]`), the wrapping
/// `i32` sum of `w[o, i] · (x[i] − zp)` in index order, passed to `emit(o, acc)`.
pub fn matvec_reference(
    w: &[i8],
    rows: usize,
    x: &[i8],
    zp: i32,
    mut emit: impl FnMut(usize, i32),
) -> Result<(), ShapeError> {
    let cols = x.len();
    rows_of(w, cols, rows)?;
    if cols == 0 {
        (0..rows).for_each(|o| emit(o, 0));
        return Ok(());
    }
    for (o, row) in w.chunks_exact(cols).enumerate() {
        let mut acc: i32 = 0;
        for (&wi, &xi) in row.iter().zip(x) {
            acc = acc.wrapping_add((wi as i32).wrapping_mul((xi as i32).wrapping_sub(zp)));
        }
        emit(o, acc);
    }
    Ok(())
}

/// The same sums as [`matvec_reference`] (bit for bit), by the fastest kernel of the target:
/// SMLAD on ARMv7E-M, the four-row scalar kernel on ARMv7-M, the reference elsewhere.
pub fn matvec(
    w: &[i8],
    rows: usize,
    x: &[i8],
    zp: i32,
    emit: impl FnMut(usize, i32),
) -> Result<(), ShapeError> {
    #[cfg(mote_arch = "armv7em")]
    {
        matvec_with::<asm::Smlad, { pairs::WORDS }>(w, rows, x, zp, emit)
    }
    #[cfg(mote_arch = "armv7m")]
    {
        matvec_with::<asm::Mla, { scalar::WORDS }>(w, rows, x, zp, emit)
    }
    #[cfg(not(any(mote_arch = "armv7em", mote_arch = "armv7m")))]
    {
        matvec_reference(w, rows, x, zp, emit)
    }
}

#[cfg(any(test, mote_arch = "armv7em", mote_arch = "armv7m"))]
/// A multi-row kernel over an input widened once into 32-bit words.
pub(crate) trait Block {
    /// Input columns per word of the widened buffer.
    const COLS_PER_WORD: usize;
    /// Columns the block consumes per step; chunks are multiples of it, the rest (fewer than
    /// `GROUP` columns) is summed in scalar code.
    const GROUP: usize;
    /// Widens `x` (a multiple of `GROUP` long) with zero point `zp ∈ [-128, 127]` into
    /// `out` (`x.len() / COLS_PER_WORD` words).
    fn widen(x: &[i8], zp: i32, out: &mut [u32]);
    /// `acc[k] += Σ_j r[k][j] · x[j]` over the widened words `xw`; every `r[k]` is
    /// `xw.len() · COLS_PER_WORD` long. The four rows are `w[o], w[o] + s, w[o'], w[o'] + s` for
    /// one stride `s` (the same row may repeat when fewer than four rows are left).
    fn block4(r: [&[i8]; 4], xw: &[u32], acc: &mut [i32; 4]);
}

#[cfg(any(test, mote_arch = "armv7em", mote_arch = "armv7m"))]
/// Row indices a block of `n` (1..=4) rows starting at `o` reads, as `[a, a + s, b, b + s]`, and
/// which of the four accumulators holds each of the `n` rows.
fn block_rows(o: usize, n: usize) -> ([usize; 4], &'static [usize]) {
    match n {
        4 => ([o, o + 1, o + 2, o + 3], &[0, 1, 2, 3]),
        3 => ([o, o + 1, o + 1, o + 2], &[0, 1, 3]),
        2 => ([o, o + 1, o, o + 1], &[0, 1]),
        _ => ([o, o, o, o], &[0]),
    }
}

#[cfg(any(test, mote_arch = "armv7em", mote_arch = "armv7m"))]
/// The multi-row driver: widens the input once (once per block and chunk when the input is
/// longer than the buffer's `WORDS · K::COLS_PER_WORD` columns), runs `K::block4` on four rows
/// at a time, sums the tail columns in scalar code, and emits the rows in order.
pub(crate) fn matvec_with<K: Block, const WORDS: usize>(
    w: &[i8],
    rows: usize,
    x: &[i8],
    zp: i32,
    mut emit: impl FnMut(usize, i32),
) -> Result<(), ShapeError> {
    let cols = x.len();
    rows_of(w, cols, rows)?;
    if !(-128..=127).contains(&zp) || cols == 0 || WORDS == 0 {
        return matvec_reference(w, rows, x, zp, emit);
    }
    // Columns per chunk: a multiple of GROUP that fits the buffer.
    let chunk = (WORDS * K::COLS_PER_WORD) / K::GROUP * K::GROUP;
    if chunk == 0 {
        return matvec_reference(w, rows, x, zp, emit);
    }
    let mut buf = [0u32; WORDS];
    let single = cols <= chunk;
    let body = cols / K::GROUP * K::GROUP; // columns the blocks cover; the rest is the tail
    if single {
        K::widen(&x[..body], zp, &mut buf[..body / K::COLS_PER_WORD]);
    }
    let mut o = 0;
    while o < rows {
        let n = (rows - o).min(4);
        let (idx, slots) = block_rows(o, n);
        let mut acc = [0i32; 4];
        if single {
            let r = idx.map(|i| &w[i * cols..i * cols + body]);
            K::block4(r, &buf[..body / K::COLS_PER_WORD], &mut acc);
        } else {
            let mut c0 = 0;
            while c0 < body {
                let len = (body - c0).min(chunk);
                let words = len / K::COLS_PER_WORD;
                K::widen(&x[c0..c0 + len], zp, &mut buf[..words]);
                let r = idx.map(|i| &w[i * cols + c0..i * cols + c0 + len]);
                K::block4(r, &buf[..words], &mut acc);
                c0 += len;
            }
        }
        // One call site of `emit`, so it is inlined.
        for (k, &slot) in slots.iter().enumerate() {
            let mut a = acc[slot];
            if body < cols {
                let row = &w[(o + k) * cols + body..(o + k + 1) * cols];
                for (&wi, &xi) in row.iter().zip(&x[body..]) {
                    a = a.wrapping_add((wi as i32).wrapping_mul(xi as i32 - zp));
                }
            }
            emit(o + k, a);
        }
        o += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
